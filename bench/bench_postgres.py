"""The store on PostgreSQL beside SQLite, in one run (issue 16 item 4):

* authorize+settle cycles per second with 1 and with 2 daemons (processes, each with the
  daemon's 4 worker threads, every call on the same 20 shared extensions), the store on a
  throwaway PostgreSQL 15 server over loopback TCP (fsync on, as a real server) and on a
  SQLite file (full durability, the box's default);
* authorize latency p50/p99 under that load;
* the CPU a cycle costs, in the daemons and in the server, and what that makes the
  machine's ceiling: its cores divided by the CPU of a cycle (the daemons and the server
  share this machine's cores; on a real site each box and the server have their own).

The raw limit of each PostgreSQL figure is the SQLite figure of the same run, so its ratio
is PostgreSQL / SQLite.  Every process checks nothing was lost: ``accounts.verify()`` on the
store afterwards, and the calls counted equal the calls in the store.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import List

from billing_addon import accounts, calls, money, rates, settings, store

from .results_file import figure, record, sized

T0 = 1795441378
EXTENSIONS = [str(n) for n in range(1001, 1021)]
WORKERS = 4  # the daemon's default [agi] workers
SECONDS = sized(6.0, 0.5)
CYCLES_TARGET = 1000  # per daemon, on PostgreSQL (issue 16)


HISTORY = sized(100_000, 2_000)  # calls of the months before: a store in use has them


def prepare(target: str) -> None:
    """20 billed extensions with money enough, one rate: the same as bench_core's; and a
    history of calls, as a store in use has (on PostgreSQL analyzed, as the server's
    autovacuum does with a table in use: its plans are made for the tables as they are)."""
    store.init_db(target)
    for number in EXTENSIONS:
        accounts.ensure_extension(number, f"Room {number}")
    accounts.edit(EXTENSIONS, billing_enabled=True, credit=money.parse_amount("100"))
    accounts.recharge(EXTENSIONS, money.parse_amount("1000000"), "bench")
    rates.add(rates.validate({"prefix": "9", "length": "0", "rate": "0.01", "unit": "6",
                              "all_extensions": True}))
    settings.put("timezone", "Asia/Shanghai")
    ids = [row[0] for row in store.sql("SELECT id FROM extension").fetchall()]
    with store.money_txn():
        store.sql_many(
            "INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, "
            "reason, rate_snapshot, reserved, source, settled_utc, boot_id, call_type, site, "
            "answered_s, cost) VALUES (?, ?, '912345678', ?, '2026-01-01', 'charged', '', '', "
            "0, 'agi', ?, '', '', '', 60, 10)",
            [(f"history-{n}", ids[n % len(ids)], T0 - 10_000_000 + n, T0 - 10_000_000 + n)
             for n in range(HISTORY)])
    if store.postgres():
        store.sql("ANALYZE")
    store.close_db()


def worker(target: str, seconds: float, tag: str) -> dict:
    """One daemon: WORKERS threads authorizing and settling back to back for ``seconds``."""
    store.init_db(target)
    latencies: List[float] = []
    done = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(t: int) -> None:
        rnd, mine, count = random.Random(f"{tag}-{t}"), [], 0
        while time.perf_counter() < stop_at:
            uid = f"{tag}-{t}-{count}"
            begin = time.perf_counter()
            auth = calls.authorize(rnd.choice(EXTENSIONS), "912345678", T0 + count, uid)
            mine.append(time.perf_counter() - begin)
            assert auth.result == calls.ALLOWED, auth
            calls.settle(uid, rnd.randint(0, 300), "ANSWER", T0 + count + 300)
            count += 1
        with lock:
            latencies.extend(mine)
            done[0] += count

    threads = [threading.Thread(target=run, args=(t,)) for t in range(WORKERS)]
    cpu = time.process_time()
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    store.close_db()
    return {"cycles": done[0], "seconds": elapsed, "latencies": latencies, "cpu_s": cpu}


def run_daemons(target: str, daemons: int, server=None) -> dict:
    """``daemons`` worker processes at once on ``target``; their figures together
    (``server``: the PostgreSQL server, whose CPU is counted too)."""
    server_cpu = server.cpu_seconds() if server else 0.0
    procs = [subprocess.Popen([sys.executable, "-m", "bench.bench_postgres", "worker", target,
                               str(SECONDS), f"d{daemons}-{i}"],
                              stdout=subprocess.PIPE, text=True) for i in range(daemons)]
    outs = [json.loads(p.communicate(timeout=SECONDS * 20 + 120)[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a bench worker failed on {target}")
    server_cpu = server.cpu_seconds() - server_cpu if server else 0.0
    latencies = sorted(x for out in outs for x in out["latencies"])
    q = statistics.quantiles(latencies, n=100)
    cycles = sum(out["cycles"] for out in outs)
    per_s = sum(out["cycles"] / out["seconds"] for out in outs)
    store.init_db(target)
    try:
        problems = accounts.verify()
        charged = store.sql_one("SELECT count(*) FROM call WHERE status = 'charged'")[0]
    finally:
        store.close_db()
    if problems or charged < cycles:
        raise RuntimeError(f"{target}: verify {problems}, {charged} charged of {cycles}")
    daemon_ms = sum(out["cpu_s"] for out in outs) * 1000 / cycles
    server_ms = server_cpu * 1000 / cycles
    return {"daemons": daemons, "cycles": cycles, "per_s": per_s,
            "per_daemon": per_s / daemons, "daemon_cpu_ms": round(daemon_ms, 3),
            "server_cpu_ms": round(server_ms, 3),
            "ceiling": int((os.cpu_count() or 1) * 1000 / (daemon_ms + server_ms)),
            "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2)}


def main() -> None:
    from tests.pg_server import throwaway_server  # the same server the tests use

    figures: dict = {"workers_per_daemon": WORKERS, "seconds": SECONDS,
                     "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as folder, throwaway_server(folder, fsync=True) as server:
        for daemons in (1, 2):
            sqlite_target = os.path.join(folder, f"bench-{daemons}.db")
            pg_target = server.create_database(f"bench_{daemons}")
            results = {}
            for name, target in (("sqlite", sqlite_target), ("postgresql", pg_target)):
                prepare(target)
                results[name] = run_daemons(target, daemons,
                                            server if name == "postgresql" else None)
            lite, pg = results["sqlite"], results["postgresql"]
            figures[f"daemons_{daemons}"] = {
                "postgresql_cycles_per_s_per_daemon": figure(
                    int(pg["per_daemon"]), "cycles/s", raw_limit=int(lite["per_daemon"]),
                    target=CYCLES_TARGET),
                "postgresql_cycles_per_s": figure(int(pg["per_s"]), "cycles/s",
                                                  raw_limit=int(lite["per_s"])),
                "postgresql_authorize_p50_ms": figure(pg["p50_ms"], "ms",
                                                      raw_limit=lite["p50_ms"]),
                "postgresql_authorize_p99_ms": figure(pg["p99_ms"], "ms",
                                                      raw_limit=lite["p99_ms"]),
                # the CPU of a cycle here, and the cycles/s that makes this machine's
                # ceiling (all its cores busy with the daemons and the server)
                "postgresql_cpu_ms_per_cycle": {"daemons": pg["daemon_cpu_ms"],
                                                "server": pg["server_cpu_ms"]},
                "postgresql_machine_ceiling_cycles_per_s": pg["ceiling"],
                "sqlite_cpu_ms_per_cycle": lite["daemon_cpu_ms"],
                "sqlite_cycles_per_s": int(lite["per_s"]),
                "sqlite_authorize_p99_ms": lite["p99_ms"],
                "calls": {"sqlite": lite["cycles"], "postgresql": pg["cycles"]},
            }
    figures["note"] = (f"run at {dt.datetime.now(dt.timezone.utc):%Y-%m-%d}; PostgreSQL over "
                       "127.0.0.1 TCP, fsync on; raw limit = SQLite in the same run")
    record("postgres", figures)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        print(json.dumps(worker(sys.argv[2], float(sys.argv[3]), sys.argv[4])))
    else:
        main()
