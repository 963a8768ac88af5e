"""What a site name costs the call path (issue #16 item 3), figures under "sites":

authorize + settle, one after the other on a SQLite file at durability normal, by a
box on its own (site '') and by a box with a site name (every lookup then carries the
site conditions of sites.py), in alternating rounds of the same run so that other load
on a shared machine falls on both alike.  The box on its own is the raw limit: the
ratio is what the site conditions add.
"""

from __future__ import annotations

import random
import tempfile
import time

from billing_addon import accounts, calls, sites, store

from . import bench_core
from .results_file import figure, record, sized

CYCLES = sized(1000, 50)  # a round
ROUNDS = sized(5, 1)


def _round(site: str, n: int, first: int) -> float:
    """Seconds of ``n`` cycles on a fresh file of a box of ``site``."""
    sites.set_current(site)
    with tempfile.TemporaryDirectory() as folder:
        bench_core._fresh_db(folder, "normal")
        rnd = random.Random(first)
        try:
            start = time.perf_counter()
            for i in range(first, first + n):
                auth = calls.authorize(str(1001 + i % 20), "912345678", bench_core.T0 + i, f"c{i}")
                assert auth.result == calls.ALLOWED, auth
                calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", bench_core.T0 + i + 300)
            elapsed = time.perf_counter() - start
            assert not accounts.verify()
            assert {e.site for e in store.Extension.select()} == {site}
        finally:
            store.close_db()
            sites.set_current("")
    return elapsed


def main() -> None:
    took = {"": 0.0, "lisbon": 0.0}
    for r in range(ROUNDS):
        for site in (("", "lisbon") if r % 2 == 0 else ("lisbon", "")):
            took[site] += _round(site, CYCLES, r * CYCLES)
    n = ROUNDS * CYCLES
    alone, with_site = took[""] / n * 1e6, took["lisbon"] / n * 1e6
    record("sites", {"cycle_us_with_site": figure(round(with_site, 1), "us",
                                                  raw_limit=round(alone, 1)),
                     "cycle_us_on_its_own": figure(round(alone, 1), "us"),
                     "cycles": n})


if __name__ == "__main__":
    main()
