"""Group commit (issue 17 item 1): authorize+settle cycles with 20 threads at once, each
figure measured with group commit off (every call its own transaction, the code before
it) and on, in the same run, at both durability levels; beside the raw limit of the
store (one minimal transaction per call, no library around it), and the cycle's own
statements by bare sqlite3 with 64 cycles a transaction (what SQLite alone costs a
cycle when grouped: the rest of a cycle's cost is the library's Python).

BENCH_TINY=1: a few calls each, to check that the benchmark runs (seconds); the figures
go to BENCH_RESULTS like every module's (bench/run_all.py).
"""

from __future__ import annotations

import datetime as dt
import tempfile

from billing_addon import store

from .bench_core import bench_threads, cycle_statements_floor, raw_sqlite_floor
from .results_file import figure, record, sized

THREADS = 20
PER_THREAD = sized(150, 5)


def _threads(durability: str, talk_ms: int, grouped: bool) -> dict:
    store.GROUP_COMMIT = grouped
    groups = (store.money_group, store.reservation_group)
    before = [(g.batches, g.members) for g in groups]
    try:
        with tempfile.TemporaryDirectory() as folder:
            figures = bench_threads(folder, durability, talk_ms, THREADS, PER_THREAD)
    finally:
        store.GROUP_COMMIT = True
    for name, group, (batches, members) in zip(("settle", "authorize"), groups, before):
        if grouped and group.batches > batches:
            figures[f"{name}_calls_per_commit"] = round(
                (group.members - members) / (group.batches - batches), 2)
    return {k: v for k, v in figures.items() if not k.startswith("target")}


def bench_durability(durability: str) -> dict:
    figures: dict = {}
    for talk_ms in (0, 20):
        off = _threads(durability, talk_ms, grouped=False)
        on = _threads(durability, talk_ms, grouped=True)
        figures[f"talk{talk_ms}ms"] = {
            "group_commit_off": off, "group_commit_on": on,
            "cycles_ratio_on_to_off": round(on["cycles_per_s"]["value"]
                                            / off["cycles_per_s"]["value"], 2),
        }
    with tempfile.TemporaryDirectory() as folder:
        raw = raw_sqlite_floor(folder, sized(3000, 200), durability)
        statements, statements_cpu = cycle_statements_floor(folder, sized(3008, 128), durability,
                                                            batch=64)
    # the cycle's own statements, 64 cycles a transaction: what SQLite alone does
    figures["statements_floor_64_a_transaction"] = {"cycles_per_s": int(statements),
                                                    "cpu_us_per_cycle": round(statements_cpu, 1)}
    saturated = figures["talk0ms"]["group_commit_on"]["cycles_per_s"]["value"]
    # the target, beside the raw one-transaction-per-call limit of the same run
    figures["saturated_cycles_per_s"] = figure(
        saturated, "cycles/s", raw_limit=int(raw), target=5000 if durability == "full" else 10000)
    return figures


def main() -> None:
    figures: dict = {f"durability_{d}": bench_durability(d) for d in ("full", "normal")}
    figures["threads"] = THREADS
    figures["calls_per_thread"] = PER_THREAD
    figures["note"] = (f"run at {dt.datetime.now(dt.timezone.utc):%Y-%m-%d}; talk0ms: every "
                       "thread back to back (saturation); talk20ms: 0-20 ms between authorize "
                       "and settle")
    record("commit", figures)


if __name__ == "__main__":
    main()
