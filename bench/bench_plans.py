"""Calling plans and the call path (issue #15: "call types and plans keep authorize+settle
within 10% of today's cycle rate"), figures under "plans".

authorize + settle, one after the other on a SQLite file (bench_call's cycle, typed
rates), in three ways in the same run, interleaved and repeated (the median counts):

* ``today``: the call path with the plan steps taken out (the code before plans);
* ``no_plan``: the plan steps in, nobody has a plan (each call looks for one);
* ``with_plan``: every extension on a plan that gives free seconds, so each call
  reserves them and settles them (a department's shared pool for half of them).

Each is a figure in cycles/s whose raw limit is ``today``'s rate of the same run, so its
ratio is the part of today's rate kept; the target is 90% of it.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from types import SimpleNamespace
from typing import Dict, List

from billing_addon import accounts, calls, plans, store

from . import bench_core
from .results_file import figure, record, sized

CYCLES = sized(2000, 60)
ROUNDS = sized(3, 1)
DURABILITIES = ("normal", "full")


class _NoPlans:
    """The plan steps of the call path doing nothing: today's call path."""

    def __init__(self, call_ids):
        pass

    def free_seconds(self, *args) -> int:
        return 0

    def write(self, charged) -> None:
        pass


_TODAY = SimpleNamespace(allowance=lambda *args: None, reserve=lambda *args: None,
                         release=lambda *args: None, Settling=_NoPlans)


def _give_plans() -> None:
    with store.money_txn():
        store.Rate.update(call_type="national").execute()
        from billing_addon import rates

        rates._bump_version()
    numbers = [str(n) for n in range(1001, 1021)]
    own = plans.create("bench own", {"national": 10**8})
    plans.assign(own, numbers[:10])
    shared = plans.create("bench shared", {"national": 10**8})
    department = store.Department.create(name="bench", created_utc=0, updated_utc=0)
    store.Extension.update(department=department.id).where(
        store.Extension.number.in_(numbers[10:])).execute()
    plans.assign(shared, department_ids=[department.id])


def _cycles(way: str, durability: str, n: int) -> float:
    """authorize+settle cycles a second, ``way`` one of today, no_plan, with_plan."""
    with tempfile.TemporaryDirectory() as folder:
        bench_core._fresh_db(folder, durability)
        if way == "with_plan":
            _give_plans()
        rnd = random.Random(2)
        real = calls.plans
        if way == "today":
            calls.plans = _TODAY  # type: ignore[assignment]
        try:
            start = time.perf_counter()
            for i in range(n):
                auth = calls.authorize(str(1001 + i % 20), "912345678", bench_core.T0 + i, f"c{i}")
                assert auth.result == calls.ALLOWED, auth
                calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", bench_core.T0 + i + 300)
            elapsed = time.perf_counter() - start
        finally:
            calls.plans = real
        try:
            assert not accounts.verify()
            if way == "with_plan":
                free = store.sql_one("SELECT COUNT(*) FROM call WHERE free_s > 0")[0]
                assert free > n // 2, free  # the plan's path was taken
        finally:
            store.close_db()
    return n / elapsed


def measure(durability: str, n: int = CYCLES, rounds: int = ROUNDS) -> Dict[str, object]:
    runs: Dict[str, List[float]] = {"today": [], "no_plan": [], "with_plan": []}
    for _ in range(rounds):
        for way in runs:
            runs[way].append(_cycles(way, durability, n))
    today = round(statistics.median(runs["today"]), 1)
    figures: Dict[str, object] = {"today_cycles_s": today}
    for way in ("no_plan", "with_plan"):
        figures[f"{way}_cycles_s"] = figure(round(statistics.median(runs[way]), 1), "cycles/s",
                                            raw_limit=today, target=round(0.9 * today, 1))
    figures["cycles"], figures["rounds"] = n, rounds
    return figures


def main() -> None:
    record("plans", {f"cycle_{d}": measure(d) for d in DURABILITIES})


if __name__ == "__main__":
    main()
