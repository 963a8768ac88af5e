"""What call types and barring (issue #15.3) add to a call, figures under "call_types".

The authorize+settle cycle of bench_call (microseconds per cycle, wall clock and the
process's CPU) in three set-ups, alternated round by round in one process so that the
load of a shared machine falls on each alike:

* ``without``: the cycle with the barring check taken out, the raw limit of the others
  (the per-type day totals are no step of their own: the call type is part of
  call_daily's key, migration 0014, one row a call as before #15.3; bench_plans
  compares the whole call path with the steps of #15 taken out);
* ``types``: as shipped, nothing barred (a box without barring);
* ``barring``: as shipped, with the calls' type barred for some other extension, so that
  every authorize reads the barring of its extension and department.

The target ("call types and plans keep authorize+settle within 10% of today's cycle
rate"): each at most 1.1 x ``without``, by CPU (the wall clock of a shared machine moves
by more than that from one run to the next).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from typing import Dict, List

from billing_addon import accounts, barring, calls, store

from . import bench_core
from .results_file import figure, record, sized

CYCLES = sized(1500, 50)
ROUNDS = sized(7, 1)
SETUPS = ("without", "types", "barring")


def _round(durability: str, setup: str, n: int = CYCLES) -> Dict[str, float]:
    real_barred = barring.is_barred
    if setup == "without":
        calls.barring.is_barred = lambda *args: False  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as folder:
            bench_core._fresh_db(folder, durability)
            if setup == "barring":
                accounts.ensure_extension("2000", "Barred")
                barring.bar_extensions(["2000"], ["other"])  # the type of the bench's calls
            rnd = random.Random(2)
            try:
                start, cpu = time.perf_counter(), time.process_time()
                for i in range(n):
                    auth = calls.authorize(str(1001 + i % 20), "912345678",
                                           bench_core.T0 + i, f"c{i}")
                    assert auth.result == calls.ALLOWED, auth
                    calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", bench_core.T0 + i + 300)
                wall = (time.perf_counter() - start) / n * 1e6
                cpu = (time.process_time() - cpu) / n * 1e6
                assert not accounts.verify()
            finally:
                store.close_db()
    finally:
        calls.barring.is_barred = real_barred
    return {"wall": wall, "cpu": cpu}


def measure(durability: str) -> dict:
    runs: Dict[str, List[Dict[str, float]]] = {setup: [] for setup in SETUPS}
    for _ in range(ROUNDS):
        for setup in SETUPS:
            runs[setup].append(_round(durability, setup))
    median = {setup: {key: round(statistics.median(r[key] for r in rs), 1)
                      for key in ("wall", "cpu")} for setup, rs in runs.items()}
    base = median["without"]
    out: dict = {"without_cycle_us": figure(base["wall"], "us"),
                 "without_cycle_cpu_us": figure(base["cpu"], "us")}
    for setup in ("types", "barring"):
        out[f"{setup}_cycle_us"] = figure(median[setup]["wall"], "us", raw_limit=base["wall"])
        out[f"{setup}_cycle_cpu_us"] = figure(median[setup]["cpu"], "us", raw_limit=base["cpu"],
                                              target=round(base["cpu"] * 1.1, 1))
    return out


def main() -> None:
    figures = {f"cycle_{durability}": measure(durability) for durability in ("normal", "full")}
    figures.update(cycles_per_round=CYCLES, rounds=ROUNDS)
    record("call_types", figures)


if __name__ == "__main__":
    main()
