"""Billing core benchmarks (issue 2):

* rate matching with a 30,000-rate deck: lookups per second;
* authorize+settle cycles per second on a SQLite file, beside a raw sqlite3 loop doing
  one minimal transaction per call with the same pragmas (the floor of the store), and
  the cycle's own statements on the same schema by bare sqlite3 (the floor of a cycle);
* 20 threads authorizing at once: p50/p99 authorize latency, beside the same threads
  doing one raw sqlite3 transaction per authorize and per settle.

Each figure carries its raw limit from the same run (bench/results_file.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from typing import Iterator

from billing_addon import accounts, calls, money, rating, settings, store

from .results_file import figure, record, sized

T0 = 1795441378
CYCLES_TARGET = {"full": 5000, "normal": 10000}  # issue 17
P99_TARGET_MS = 3  # issue 17
THREADS = sized(20, 4)
PER_THREAD = sized(100, 10)


@contextlib.contextmanager
def as_in_the_daemon() -> Iterator[None]:
    """Threads share the interpreter lock as in the daemon (``daemon.SWITCH_INTERVAL_S``):
    for the benchmarks of work the daemon does beside its calls (the web UI's)."""
    from billing_addon import daemon

    before = sys.getswitchinterval()
    sys.setswitchinterval(daemon.SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def make_deck(n: int, rnd: random.Random) -> list:
    """A realistic deck: country codes, area codes, mobile ranges; some rates only for
    part of the day, some for named extensions; lengths 0 or exact."""
    countries = ["1", "44", "49", "33", "86", "91", "81", "7", "61", "55", "234", "971", "852", "65"]
    deck = []
    blocks = [(0, 86400), (8 * 3600, 20 * 3600), (20 * 3600, 8 * 3600), (22 * 3600, 6 * 3600)]
    for i in range(1, n + 1):
        cc = rnd.choice(countries)
        prefix = "900" + cc + str(rnd.randint(1, 9999)).rjust(rnd.choice((2, 3, 4)), "0")
        start, end = rnd.choice(blocks)
        named = rnd.random() < 0.2
        deck.append(rating.Rate(
            id=i, prefix=prefix, length=rnd.choice((0, 0, len(prefix) + 6, len(prefix) + 7)),
            initial_cost=rnd.randint(0, 500), initial_time=rnd.choice((0, 30, 60)),
            rate=rnd.randint(1, 5000), unit=rnd.choice((1, 6, 30, 60)), start=start, end=end,
            extensions=frozenset({"1001", "1002"}) if named else frozenset(),
            all_extensions=not named, active=rnd.random() > 0.05))
    # the national dial rules the manual describes
    deck.append(rating.Rate(id=n + 1, prefix="9", length=9, rate=500, all_extensions=True))
    deck.append(rating.Rate(id=n + 2, prefix="9", length=12, rate=1500, all_extensions=True))
    return deck


def bench_matching(seconds: float = sized(3.0, 0.2)) -> dict:
    rnd = random.Random(1)
    deck = make_deck(sized(30_000, 2_000), rnd)
    built = time.perf_counter()
    index = rating.RateIndex(deck)
    build_s = time.perf_counter() - built
    queries = []
    for _ in range(20_000):
        rate = rnd.choice(deck)
        tail = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(4, 9)))
        number = rate.prefix + tail if rnd.random() < 0.8 else "9" + tail.ljust(8, "5")
        queries.append((rnd.choice(("1001", "1003", "2001")), number, rnd.randint(0, 86399)))
    count, hits = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for ext, number, sod in queries:
            if index.match(ext, number, sod) is not None:
                hits += 1
        count += len(queries)
    elapsed = time.perf_counter() - start
    return {"deck_rates": len(deck), "index_build_s": round(build_s, 3),
            "lookups_per_s": figure(int(count / elapsed), "lookups/s",
                                    raw_limit=int(_dict_lookups(deck, queries, seconds)),
                                    target=300_000),
            "hit_ratio": round(hits / count, 3)}


def _dict_lookups(deck: list, queries: list, seconds: float) -> float:
    """The raw limit of a lookup: the same loop over the same queries, one dict get each
    (an exact-number table: no prefix, extension or time of day)."""
    table = {rate.prefix: rate for rate in deck}
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ext, number, _sod in queries:
            table.get(number)
        count += len(queries)
    return count / (time.perf_counter() - start)


def _fresh_db(folder: str, durability: str = "full") -> str:
    path = os.path.join(folder, "bench.db")
    store.init_db(path, durability=durability)
    for n in range(1001, 1021):
        accounts.ensure_extension(str(n), f"Room {n}")
    numbers = [str(n) for n in range(1001, 1021)]
    accounts.edit(numbers, billing_enabled=True, credit=money.parse_amount("100"))
    accounts.recharge(numbers, money.parse_amount("100000"), "bench")
    from billing_addon import rates

    rates.add(rates.validate({"prefix": "9", "length": "0", "rate": "0.01", "unit": "6",
                              "all_extensions": True}))
    settings.put("timezone", "Asia/Shanghai")
    return path


def raw_sqlite_floor(folder: str, n: int, durability: str) -> float:
    """One minimal write transaction per call, same pragmas, no library around it."""
    path = os.path.join(folder, f"raw-{durability}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(f"PRAGMA synchronous={store.DURABILITY[durability]}")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, uniqueid TEXT UNIQUE, v INTEGER)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (uniqueid, v) VALUES (?, ?)", (f"u{i}", i))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


# The statements an authorize+settle cycle runs, as a trace of the library shows them
# (2026-12-01): the reservation at synchronous=NORMAL, the charge at the money level.
_FLOOR_LOOKUP = ("SELECT e.id, e.balance, e.reserved, e.credit, c.status FROM extension e "
                 "LEFT JOIN call c ON c.uniqueid = ? AND c.site = '' "
                 "WHERE e.number = ? AND e.site = ''")
_FLOOR_SETTLE_LOOKUP = ("SELECT c.id, c.extension_id, c.status, c.reserved, c.rate_snapshot, "
                        "e.balance FROM call c LEFT JOIN plan_call p ON p.call_id = c.id "
                        "JOIN extension e ON e.id = c.extension_id "
                        "WHERE c.uniqueid = ? AND c.site = ''")
_FLOOR_SNAPSHOT = ('{"id":1,"prefix":"9","length":0,"initial_cost":0,"initial_time":0,'
                   '"rate":100,"unit":6,"remarks":"","call_type":"other","start":0,"end":0}')


def cycle_statements_floor(folder: str, n: int, durability: str, batch: int = 1) -> tuple:
    """(cycles a second, CPU microseconds a cycle) of the cycle's own statements on a
    fresh copy of the schema, by bare sqlite3 with no library around them: what the
    store itself costs a call.  ``batch`` cycles share each transaction (their
    reservations one, their charges the next), as the daemon's rounds and commit groups
    share them: with 1 it is the floor of ``bench_cycles``, with 64 of any grouping."""
    sub = os.path.join(folder, f"statements-{durability}-{batch}")
    os.makedirs(sub, exist_ok=True)
    path = _fresh_db(sub, durability)
    store.close_db()
    conn = sqlite3.connect(path, isolation_level=None)
    money_level = store.DURABILITY[durability]
    day = dt.date.fromtimestamp(T0).isoformat()
    n -= n % batch
    start, cpu = time.perf_counter(), time.process_time()
    for first in range(0, n, batch):
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for i in range(first, first + batch):
            ext_id = conn.execute(_FLOOR_LOOKUP, (f"f{i}", str(1001 + i % 20))).fetchone()[0]
            conn.execute(calls._INSERT_CALL, (f"f{i}", ext_id, "912345678", T0 + i, day,
                                              "in-progress", "", 1, _FLOOR_SNAPSHOT, 120100,
                                              7200000, T0 + i + 7260, "agi", None, "", None,
                                              "other", ""))
            conn.execute("UPDATE extension SET reserved = reserved + ? WHERE id = ?",
                         (120100, ext_id))
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA synchronous={money_level}")
        conn.execute("BEGIN IMMEDIATE")
        for i in range(first, first + batch):
            call_id, ext_id, _, reserved, _, balance = conn.execute(_FLOOR_SETTLE_LOOKUP,
                                                                    (f"f{i}",)).fetchone()
            cost, at = 1100, T0 + i + 300
            conn.execute("INSERT INTO ledger (extension_id, kind, amount, balance_after, "
                         "call_id, created_utc) VALUES (?, 'call', ?, ?, ?, ?)",
                         (ext_id, -cost, balance - cost, call_id, at))
            conn.execute("UPDATE extension SET balance = balance - ?, reserved = reserved - ?, "
                         "updated_utc = ? WHERE id = ?", (cost, reserved, at, ext_id))
            conn.execute("UPDATE call SET status = 'charged', answered_s = 61, "
                         "dial_status = 'ANSWER', cost = ?, free_s = 0, reserved = 0, "
                         "settled_utc = ? WHERE id = ?", (cost, at, call_id))
            conn.execute(calls._COUNT_DAILY, (day, ext_id, "other", 1, 1, 61, cost))
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert conn.execute("SELECT COUNT(*) FROM call WHERE status = 'charged'").fetchone()[0] == n
    conn.close()
    return n / elapsed, cpu / n * 1e6


def bench_cycles(folder: str, durability: str, n: int = sized(3000, 100)) -> dict:
    _fresh_db(folder, durability)
    rnd = random.Random(2)
    start = time.perf_counter()
    for i in range(n):
        ext = str(1001 + i % 20)
        auth = calls.authorize(ext, "912345678", T0 + i, f"c{i}")
        assert auth.result == calls.ALLOWED, auth
        calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", T0 + i + 300)
    elapsed = time.perf_counter() - start
    assert not accounts.verify()
    store.close_db()
    ours = n / elapsed
    floor = raw_sqlite_floor(folder, n, durability)
    statements, statements_cpu = cycle_statements_floor(folder, n, durability)
    return {"cycles": n, "durability": durability,
            "authorize_settle_cycles_per_s": figure(int(ours), "cycles/s", raw_limit=int(floor),
                                                    target=CYCLES_TARGET[durability]),
            "statements_floor_cycles_per_s": int(statements),
            "statements_floor_cpu_us": round(statements_cpu, 1)}


def _quantiles_ms(latencies: list) -> tuple:
    q = statistics.quantiles(sorted(latencies), n=100)
    return round(q[49] * 1000, 2), round(q[98] * 1000, 2)

def _run_threads(worker, threads: int) -> float:
    """Seconds for ``threads`` threads of ``worker(t)`` to finish."""
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return time.perf_counter() - start


def raw_sqlite_threads(folder: str, durability: str, talk_ms: int, threads: int,
                       per_thread: int) -> dict:
    """The raw limit of ``bench_threads``: the same threads, talk and pragmas, each
    call one minimal sqlite3 transaction to authorize (timed) and one to settle, the
    writers queued on one lock as the store's are (SQLite's busy handler sleeps)."""
    path = os.path.join(folder, f"raw-threads-{durability}.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=wal")
    setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, uniqueid TEXT UNIQUE, v INTEGER)")
    setup.close()
    latencies: list = []
    lock, writer = threading.Lock(), threading.Lock()
    barrier = threading.Barrier(threads)

    def txn(conn: sqlite3.Connection, query: str, params: tuple) -> None:
        with writer:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(query, params)
            conn.execute("COMMIT")

    def worker(t: int) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_S,
                               check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={store.DURABILITY[durability]}")
        rnd, mine = random.Random(t), []
        barrier.wait()
        for i in range(per_thread):
            begin = time.perf_counter()
            txn(conn, "INSERT INTO t (uniqueid, v) VALUES (?, 0)", (f"t{t}-{i}",))
            mine.append(time.perf_counter() - begin)
            if talk_ms:
                time.sleep(rnd.random() * talk_ms / 1000)
            txn(conn, "UPDATE t SET v = ? WHERE uniqueid = ?", (i, f"t{t}-{i}"))
        conn.close()
        with lock:
            latencies.extend(mine)

    elapsed = _run_threads(worker, threads)
    p50, p99 = _quantiles_ms(latencies)
    return {"p50_ms": p50, "p99_ms": p99, "per_s": int(len(latencies) / elapsed)}


BUSY_S = 10



def bench_threads(folder: str, durability: str, talk_ms: int, threads: int = THREADS,
                  per_thread: int = PER_THREAD) -> dict:
    """20 callers at once.  ``talk_ms`` > 0: each call "talks" a random 0..talk_ms ms
    between authorize and settle (the shape of real traffic, compressed); 0: every
    thread hammers back to back (saturation: latency is then mostly queueing)."""
    _fresh_db(folder, durability)
    latencies: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(t: int) -> None:
        mine = []
        rnd = random.Random(t)
        barrier.wait()
        for i in range(per_thread):
            uid = f"t{t}-{i}"
            ext = str(1001 + (t + i) % 20)
            begin = time.perf_counter()
            auth = calls.authorize(ext, "912345678", T0 + i, uid)
            mine.append(time.perf_counter() - begin)
            if talk_ms:
                time.sleep(rnd.random() * talk_ms / 1000)
            if auth.result == calls.ALLOWED:
                calls.settle(uid, rnd.randint(0, 300))
        with lock:
            latencies.extend(mine)

    elapsed = _run_threads(worker, threads)
    assert not accounts.verify()
    store.close_db()
    p50, p99 = _quantiles_ms(latencies)
    raw = raw_sqlite_threads(folder, durability, talk_ms, threads, per_thread)
    return {"threads": threads, "calls": len(latencies), "durability": durability,
            "talk_ms": talk_ms,
            "authorize_p50_ms": figure(p50, "ms", raw_limit=raw["p50_ms"]),
            "authorize_p99_ms": figure(p99, "ms", raw_limit=raw["p99_ms"], target=P99_TARGET_MS),
            "cycles_per_s": figure(int(len(latencies) / elapsed), "cycles/s",
                                   raw_limit=raw["per_s"])}


def main() -> None:
    figures = {"matching": bench_matching()}
    for durability in ("full", "normal"):
        with tempfile.TemporaryDirectory() as folder:
            figures[f"sequential_{durability}"] = bench_cycles(folder, durability)
        for talk_ms in (20, 0):
            with tempfile.TemporaryDirectory() as folder:
                figures[f"threads_{durability}_talk{talk_ms}ms"] = bench_threads(folder, durability, talk_ms)
    figures["note"] = f"run at {dt.datetime.now(dt.timezone.utc):%Y-%m-%d}"
    record("core", figures)


if __name__ == "__main__":
    main()
