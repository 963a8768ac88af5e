"""The settlement queue for the central store (docs/scale-failures.md):

* what a settle AGI costs while the central store is out of reach: one ``put`` into the
  queue file (WAL, synchronous=FULL), p50/p99; raw limit: the same INSERT into a bare
  SQLite file with the same pragmas, without the project;
* how fast a backlog drains once the store is back: queued settlements delivered per
  second to PostgreSQL (throwaway server over loopback, fsync on) and to a SQLite store;
  raw limit: the same calls settled straight by ``calls.settle`` on the same store, so the
  ratio is what going through the queue costs.

Every run checks the ledger: ``accounts.verify()`` and one ledger row per charged call.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import statistics
import tempfile
import time
from typing import Callable, List

from billing_addon import accounts, calls, money, rates, settings, settle_queue, store

from .results_file import figure, record, sized

T0 = 1795441378
CALLS = sized(2000, 40)
EXTENSIONS = [str(n) for n in range(1001, 1021)]


def prepare(target: str) -> None:
    store.init_db(target)
    for number in EXTENSIONS:
        accounts.ensure_extension(number, f"Room {number}")
    accounts.edit(EXTENSIONS, billing_enabled=True)
    accounts.recharge(EXTENSIONS, money.parse_amount("1000000"), "bench")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1",
                              "all_extensions": True}))
    settings.put("max_call_seconds", "600")


def authorized(tag: str) -> List[str]:
    uids = [f"{tag}-{i}" for i in range(CALLS)]
    for i, uid in enumerate(uids):
        assert calls.authorize(EXTENSIONS[i % len(EXTENSIONS)], "912345", T0 + i, uid).result \
            == calls.ALLOWED
    return uids


def per_s(count: int, run: Callable[[], None]) -> float:
    began = time.perf_counter()
    run()
    return count / (time.perf_counter() - began)


def check(count: int) -> None:
    charged = store.sql_one("SELECT count(*) FROM ledger WHERE kind = 'call'")[0]
    problems = accounts.verify()
    if problems or charged != count:
        raise RuntimeError(f"verify {problems}, {charged} ledger rows for {count} calls")


def drain(target: str, folder: str, name: str) -> dict:
    """Settled straight, then the same number queued and delivered, on ``target``."""
    prepare(target)
    try:
        direct = authorized("direct")
        straight = per_s(CALLS, lambda: [calls.settle(uid, 30, "ANSWER") for uid in direct])
        queue = settle_queue.SettleQueue(os.path.join(folder, f"queue-{name}.db"))
        try:
            for i, uid in enumerate(authorized("queued")):
                queue.put(calls.SettleRequest(uid, 30, "ANSWER"), T0 + i)
            delivered = per_s(CALLS, lambda: settle_queue.deliver(queue))
            if queue.count():
                raise RuntimeError(f"{queue.count()} left in the queue")
        finally:
            queue.close()
        check(2 * CALLS)
    finally:
        store.close_db()
    return {"straight": straight, "delivered": delivered}


def put_latency(folder: str) -> dict:
    queue = settle_queue.SettleQueue(os.path.join(folder, "put.db"))
    bare = sqlite3.connect(os.path.join(folder, "bare.db"), isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    bare.execute("CREATE TABLE t (uniqueid TEXT, answered_s INTEGER, dial_status TEXT, at INTEGER)")
    ours: List[float] = []
    raw: List[float] = []
    try:
        for i in range(CALLS):
            began = time.perf_counter()
            queue.put(calls.SettleRequest(f"{T0}.{i}", 30, "ANSWER", "1001", "912345", T0), T0)
            ours.append(time.perf_counter() - began)
            began = time.perf_counter()
            bare.execute("INSERT INTO t VALUES (?, ?, ?, ?)", (f"{T0}.{i}", 30, "ANSWER", T0))
            raw.append(time.perf_counter() - began)
    finally:
        queue.close()
        bare.close()
    q_ours, q_raw = statistics.quantiles(ours, n=100), statistics.quantiles(raw, n=100)
    return {"put_p50_ms": figure(round(q_ours[49] * 1000, 3), "ms",
                                 raw_limit=round(q_raw[49] * 1000, 3)),
            "put_p99_ms": figure(round(q_ours[98] * 1000, 3), "ms",
                                 raw_limit=round(q_raw[98] * 1000, 3))}


def main() -> None:
    from tests.pg_server import throwaway_server  # the same server the tests use

    figures: dict = {"calls": CALLS}
    with tempfile.TemporaryDirectory() as folder:
        figures.update(put_latency(folder))
        lite = drain(os.path.join(folder, "store.db"), folder, "sqlite")
        with tempfile.TemporaryDirectory() as pg_folder, \
                throwaway_server(pg_folder, fsync=True) as server:
            pg = drain(server.create_database("bench_queue"), folder, "postgresql")
    for name, result in (("sqlite", lite), ("postgresql", pg)):
        figures[f"{name}_delivered_per_s"] = figure(int(result["delivered"]), "settlements/s",
                                                    raw_limit=int(result["straight"]))
    figures["note"] = (f"run at {dt.datetime.now(dt.timezone.utc):%Y-%m-%d}; one delivery thread, "
                       f"{settle_queue.BATCH} settlements a store transaction; PostgreSQL over "
                       "127.0.0.1 TCP, fsync on; "
                       "raw limit = the same settlements by calls.settle straight")
    record("settle_queue", figures)


if __name__ == "__main__":
    main()
