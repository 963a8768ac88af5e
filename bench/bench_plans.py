"""Calling plans, call types and the call path (issue #15: "call types and plans keep
authorize+settle within 10% of today's cycle rate"), figures under "plans".

authorize + settle, one after the other on a SQLite file (bench_call's cycle, its rate
typed 'national'), in these ways in the same run, interleaved and repeated (medians):

* ``today``: the call path with the steps of #15 that can be taken out taken out: the
  plan steps (the pool looked for at authorize, the free seconds handed out at settle)
  and the barring check.  The per-type day totals are no step of their own any more
  (the call type is part of call_daily's key, migration 0014: one row a call as before
  #15), so nothing of them is taken out;
* ``no_plan``: as shipped, nobody has a plan (a call of a type no plan covers looks for
  no pool: plans.IN_USE);
* ``with_plan``: every extension on a plan (half of them through a department's shared
  pool), calls of one month whose free minutes run out halfway: free calls, a call
  partly free at the boundary, then paid calls that still look for free seconds;
* ``split``: the worst case, each call partly free and partly paid (each call in a
  month of its own, a minute free a month): every step of the plan path and of a
  charge; compared with ``today`` on the same months (``today_split``).

Figures: cycles/s whose raw limit is today's rate of the same run and layout (the ratio
is the part of today's rate kept; target 90%), and the process's CPU microseconds a
cycle against today's (target: at most today's / 0.9), which the other load of a shared
machine disturbs less than the wall clock.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from types import SimpleNamespace
from typing import Dict, List, Tuple

from billing_addon import accounts, calls, plans, rates, store

from . import bench_core
from .results_file import figure, record, sized

CYCLES = sized(1000, 60)
ROUNDS = sized(7, 1)
DURABILITIES = ("normal", "full")
MONTH_APART = 32 * 86400
MAX_ANSWERED = 300


class _NoPlans:
    """The plan steps of the call path doing nothing: today's call path."""

    def __init__(self, held):
        pass

    def free_seconds(self, *args) -> int:
        return 0

    def write(self, charged) -> None:
        pass


_TODAY = SimpleNamespace(in_use=lambda *args: False, allowance=lambda *args: None,
                         reserve=lambda *args: None, Settling=_NoPlans)


def _give_plans(n: int, split: bool) -> None:
    with store.money_txn():
        store.Rate.update(call_type="national").execute()
        rates._bump_version()
    numbers = [str(x) for x in range(1001, 1021)]
    # a month's calls of an extension answer n / 20 * MAX_ANSWERED / 2 s on average:
    # half of that is free (a minute a month when each call has a month of its own)
    own_s = 60 if split else n // 20 * MAX_ANSWERED // 4
    own = plans.create("bench own", {"national": own_s})
    plans.assign(own, numbers[:10])
    shared = plans.create("bench shared", {"national": 60 if split else own_s * 10})
    department = store.Department.create(name="bench", created_utc=0, updated_utc=0)
    store.Extension.update(department=department.id).where(
        store.Extension.number.in_(numbers[10:])).execute()
    plans.assign(shared, department_ids=[department.id])


def _cycles(way: str, durability: str, n: int) -> Tuple[float, float]:
    """(cycles a second, CPU microseconds a cycle) of authorize+settle."""
    split = way in ("split", "today_split")
    apart = MONTH_APART if split else 1
    with tempfile.TemporaryDirectory() as folder:
        bench_core._fresh_db(folder, durability)
        if way in ("with_plan", "split"):
            _give_plans(n, split)
        rnd = random.Random(2)
        real, real_barred = calls.plans, calls.barring.is_barred
        if way in ("today", "today_split"):
            calls.plans = _TODAY  # type: ignore[assignment]
            calls.barring.is_barred = lambda *args: False  # type: ignore[assignment]
        try:
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                at = bench_core.T0 + i * apart
                auth = calls.authorize(str(1001 + i % 20), "912345678", at, f"c{i}")
                assert auth.result == calls.ALLOWED, auth
                calls.settle(f"c{i}", rnd.randint(0, MAX_ANSWERED), "ANSWER", at + 300)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        finally:
            calls.plans, calls.barring.is_barred = real, real_barred
        try:
            assert not accounts.verify()
            free, paid = store.sql_one("SELECT COALESCE(SUM(free_s > 0), 0), "
                                       "COALESCE(SUM(cost > 0), 0) FROM call")
            if way == "split":  # each call partly free, partly paid
                assert free > n // 2 and paid > n // 2, (free, paid)
            elif way == "with_plan":
                assert n // 5 < free < n and paid > n // 5, (free, paid)
        finally:
            store.close_db()
    return n / elapsed, cpu / n * 1e6


def measure(durability: str, n: int = CYCLES, rounds: int = ROUNDS) -> Dict[str, object]:
    """Every way, interleaved, ``rounds`` times: medians (a shared machine's load moves
    single runs by tens of percent)."""
    ways = ("today", "no_plan", "with_plan", "today_split", "split")
    rate: Dict[str, List[float]] = {way: [] for way in ways}
    cpu: Dict[str, List[float]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way in ways:
            r, c = _cycles(way, durability, n)
            rate[way].append(r)
            cpu[way].append(c)
    med = {way: (round(statistics.median(rate[way]), 1), round(statistics.median(cpu[way]), 1))
           for way in ways}
    figures: Dict[str, object] = {"cycles": n, "rounds": rounds}
    for way, base in (("today", None), ("no_plan", "today"), ("with_plan", "today"),
                      ("today_split", None), ("split", "today_split")):
        if base is None:
            figures[f"{way}_cycles_s"], figures[f"{way}_cpu_us"] = med[way]
            continue
        base_rate, base_cpu = med[base]
        figures[f"{way}_cycles_s"] = figure(med[way][0], "cycles/s", raw_limit=base_rate,
                                            target=round(0.9 * base_rate, 1))
        figures[f"{way}_cpu_us"] = figure(med[way][1], "us", raw_limit=base_cpu,
                                          target=round(base_cpu / 0.9, 1))
    return figures


def main() -> None:
    record("plans", {f"cycle_{d}": measure(d) for d in DURABILITIES})


if __name__ == "__main__":
    main()
