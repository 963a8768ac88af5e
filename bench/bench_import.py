"""Imports, figures under "rate_import" and "cdr_import":

* rate import beside calls (issue 13 item 14): authorize latency while a 40,000-row
  deck is imported in the same process (the web UI runs in the daemon); its raw limit
  is the same callers with no import running.  Target: p99 under 50 ms during the import.
* CDR import (issue 17 item 4): rows per second from a 100,000-row Master.csv (25,000
  calls of 4 rows each, as the recordings show), first import (every call charged from
  the CDR) and replay (every call already settled); the raw limit of both is parsing
  the same file alone (``cdr.billable_rows``).  Target: first import >= 150k rows/s.
  Beside it, the first import's floor in this design: the parse plus what the import
  wrote (its calls, ledger rows, balances and daily counts, batch by batch, at the
  money level) written again by bare sqlite3 into a fresh copy of the schema
  (``writes_alone_s``): what is left above it is the importer's own Python.
  Both again into a box that keeps a year of other calls (KEPT_CALLS): a batch must
  cost no more there (SQLite once walked every call of the file for each batch).
  Then the same first import in a fresh database while callers authorize and settle in
  the same process (as the daemon's follower settles the same batches beside its calls):
  authorize latency, its raw limit the same callers with no import.  And the daemon
  answering calls (C load generator, BESIDE_RATE a second) while ``billing-addon cdr
  import`` runs in a process of its own: authorize latency, its raw limit the same load
  before the import.

Both share the interpreter lock between threads as the daemon does (``as_in_the_daemon``).
``python -m bench.run_all bench_import``.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List

from billing_addon import accounts, calls, rates, store

from .bench_core import T0, _fresh_db, as_in_the_daemon, make_deck
from .results_file import figure, record, sized

ROOT = Path(__file__).resolve().parents[1]
CALLERS = 4
TALK_MS = 20
DECK_ROWS = sized(40_000, 500)
QUIET_S = sized(3, 0.3)
CDR_CALLS = sized(25_000, 500)  # x 4 rows
CDR_EXTENSIONS = [str(n) for n in range(1001, 1051)]
KEPT_CALLS = sized(1_000_000, 2_000)


def deck_csv(rows: int) -> str:
    lines = ["active,prefix,length,initial_cost,initial_time,rate,unit,start,end,extensions"]
    for r in make_deck(rows - 2, random.Random(3)):
        lines.append(",".join(str(x) for x in (
            int(r.active), r.prefix, r.length, f"0.{r.initial_cost:04d}", r.initial_time,
            f"{r.rate // 10000}.{r.rate % 10000:04d}", r.unit, rates.format_time_of_day(r.start),
            rates.format_time_of_day(r.end), "*" if r.all_extensions else " ".join(sorted(r.extensions)))))
    return "\n".join(lines) + "\n"


def _callers(stop: threading.Event, latencies: list, prefix: str) -> list:
    """CALLERS threads: authorize, talk 0..TALK_MS ms, settle, until ``stop``."""

    def caller(t: int) -> None:
        rnd = random.Random(t)
        i = 0
        while not stop.is_set():
            uid = f"{prefix}-{t}-{i}"
            started = time.perf_counter()
            auth = calls.authorize(str(1001 + t), "912345678", T0 + i, uid)
            latencies.append(time.perf_counter() - started)
            assert auth.result == calls.ALLOWED, auth
            time.sleep(rnd.random() * TALK_MS / 1000)
            calls.settle(uid, rnd.randint(1, 300), "ANSWER", T0 + i + 300)
            i += 1

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(CALLERS)]
    for thread in threads:
        thread.start()
    return threads


def _quiet_latencies() -> list:
    """The callers' authorize latencies for QUIET_S seconds with nothing else running:
    the raw limit of the same run."""
    stop, quiet = threading.Event(), []
    threads = _callers(stop, quiet, "quiet")
    time.sleep(QUIET_S)
    stop.set()
    for thread in threads:
        thread.join()
    return quiet


def _quantiles(latencies: list) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    return {"authorizes": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[max(0, int(len(ms) * 0.99) - 1)], 2), "max_ms": round(ms[-1], 2)}


def _figures(during: list, quiet: list) -> dict:
    """The latencies during the import, each beside the same one with no import."""
    now, raw = _quantiles(during), _quantiles(quiet)
    return {"authorizes": now["authorizes"],
            "p50_ms": figure(now["p50_ms"], "ms", raw_limit=raw["p50_ms"]),
            "p99_ms": figure(now["p99_ms"], "ms", raw_limit=raw["p99_ms"], target=50),
            "max_ms": figure(now["max_ms"], "ms", raw_limit=raw["max_ms"])}


def bench_import(folder: str, rows: int) -> dict:
    _fresh_db(folder)
    text = deck_csv(rows)
    quiet = _quiet_latencies()
    stop, during = threading.Event(), []
    threads = _callers(stop, during, "import")
    time.sleep(0.5)
    started = time.perf_counter()
    rates.import_csv(text, replace=True)
    import_s = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    assert len(rates.load_all()) == rows and not accounts.verify()
    store.close_db()
    return {"rows": rows, "import_s": round(import_s, 2), "callers": CALLERS,
            "talk_ms": TALK_MS, "during_import": _figures(during, quiet)}


def _master_csv(path: Path, rnd: random.Random) -> int:
    """CDR_CALLS calls x 4 rows in the recorded layout (Dial row, hangup-handler Return
    row, originate side, callee side), in the recorded interleaved order."""
    from zoneinfo import ZoneInfo

    sys.path.insert(0, str(ROOT))
    from tests.pbx_support import cdr_rows

    zone = ZoneInfo("Asia/Shanghai")
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(CDR_CALLS):
            ext = CDR_EXTENSIONS[i % len(CDR_EXTENSIONS)]
            dialed = "9" + "".join(rnd.choice("0123456789") for _ in range(8))
            answered = rnd.choice([0, rnd.randint(1, 60)])
            text = cdr_rows(f"{T0 + i}.{i}", ext, dialed, T0 + i, answered, zone, seq=4 * i,
                            disposition="ANSWERED" if answered else "NO ANSWER")
            first = text.split("\n", 1)[0]
            callee = first.replace('"Dial"', '"Wait"').replace(f'"{T0 + i}.{i}"', f'"{T0 + i}.{i + 1}"', 1)
            fh.write(callee + "\n" + text)
            rows += 4
    return rows


def _cdr_db(path: Path) -> None:
    from billing_addon import money, settings

    store.init_db(path)
    settings.put("timezone", "Asia/Shanghai")
    settings.put("max_call_seconds", "60")
    for number in CDR_EXTENSIONS:
        accounts.ensure_extension(number, f"Ext {number}")
    accounts.edit(CDR_EXTENSIONS, billing_enabled=True)
    accounts.recharge(CDR_EXTENSIONS, money.parse_amount("100000"), "bench")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))


def bench_cdr() -> dict:
    from billing_addon.pbx import cdr

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        master = folder / "Master.csv"
        rows = _master_csv(master, random.Random(3))
        _cdr_db(folder / "billing.db")
        try:
            started = time.perf_counter()
            first = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            again = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
            again_s = time.perf_counter() - started
            started = time.perf_counter()
            stats = cdr.Stats()
            parsed = sum(1 for _ in cdr.billable_rows(cdr.read_lines(str(master)), stats))
            parse_s = time.perf_counter() - started
            assert first.errors == 0 and first.charged == CDR_CALLS and again.charged == 0
            assert parsed == CDR_CALLS and accounts.verify() == []
        finally:
            store.close_db()
        _cdr_db(folder / "writes-alone.db")
        store.close_db()
        writes_s = _writes_alone(folder / "billing.db", folder / "writes-alone.db")
        beside_calls = _cdr_beside_calls(folder, master)
        beside_daemon = _cli_import_beside_the_daemon(folder, master, first_s)
        parse = round(rows / parse_s)
        kept = _cdr_with_calls_kept(folder, master, rows, parse)
    return {
        "rows": rows,
        "first_import_calls_charged": first.charged,
        "first_import_rows_per_s": figure(round(rows / first_s), "rows/s", raw_limit=parse,
                                          target=150_000),
        "replay_rows_per_s": figure(round(rows / again_s), "rows/s", raw_limit=parse),
        "parse_s": round(parse_s, 3), "writes_alone_s": round(writes_s, 3),
        "first_import_floor_rows_per_s": round(rows / (parse_s + writes_s)),
        "callers": CALLERS, "talk_ms": TALK_MS,
        "authorize_during_first_import": beside_calls,
        "authorize_beside_a_cdr_import_process": beside_daemon,
        "with_calls_kept": kept,
    }


def _writes_alone(imported: Path, fresh: Path) -> float:
    """Seconds to write what the first import wrote into ``imported`` again into
    ``fresh`` (the same schema, extensions and rate), with bare sqlite3: per batch of
    ``cdr.BATCH`` calls, one transaction at the money level holding their call rows,
    their ledger rows, one balance update per extension and the daily counts."""
    from billing_addon.pbx import cdr

    source = sqlite3.connect(imported)
    call_rows = source.execute("SELECT * FROM call ORDER BY id").fetchall()
    call_columns = [row[1] for row in source.execute("PRAGMA table_info(call)")]
    ledger_columns = [row[1] for row in source.execute("PRAGMA table_info(ledger)")]
    ledger_of = {row[ledger_columns.index("call_id")]: row for row in
                 source.execute("SELECT * FROM ledger WHERE kind = 'call'")}
    balances = source.execute(_BALANCES).fetchall()
    source.close()
    at = {name: n for n, name in enumerate(call_columns)}
    insert_call = _insert_all("call", call_columns)
    insert_ledger = _insert_all("ledger", ledger_columns)
    conn = sqlite3.connect(fresh, isolation_level=None)
    conn.execute(f"PRAGMA synchronous={store.DURABILITY['full']}")
    started = time.perf_counter()
    for first in range(0, len(call_rows), cdr.BATCH):
        batch = call_rows[first:first + cdr.BATCH]
        daily: dict = {}
        spent: dict = {}
        for row in batch:
            ext, answered, cost = row[at["extension_id"]], row[at["answered_s"]], row[at["cost"]]
            counts = daily.setdefault((row[at["local_day"]], ext, row[at["call_type"]]), [0] * 4)
            counts[0] += 1
            counts[1] += answered > 0
            counts[2] += answered
            counts[3] += cost
            spent[ext] = spent.get(ext, 0) + cost
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert_call, batch)
        conn.executemany(insert_ledger, [ledger_of[row[0]] for row in batch if row[0] in ledger_of])
        conn.executemany("UPDATE extension SET balance = balance - ? WHERE id = ?",
                         [(cost, ext) for ext, cost in sorted(spent.items())])
        conn.executemany(calls._COUNT_DAILY, [key + tuple(counts) for key, counts
                                              in sorted(daily.items())])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    assert conn.execute(_BALANCES).fetchall() == balances  # the same writes, the same money
    conn.close()
    return elapsed


_BALANCES = "SELECT id, balance, reserved FROM extension ORDER BY id"


def _insert_all(table: str, columns: List[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _keep_calls(count: int) -> None:
    """``count`` settled calls of the CDR extensions, one a minute up to the CDR file's
    first call, as a box keeps them (with their ledger rows, as settling writes)."""
    from billing_addon.store import sql

    sql("INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, "
        "reason, reserved, cost, answered_s, settled_utc, source) "
        "WITH RECURSIVE kept(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM kept WHERE n < ?) "
        "SELECT 'kept-' || n, 1 + n % ?, '91234567', ? - 60 * n, "
        "date(? - 60 * n, 'unixepoch'), 'charged', '', 0, 3, 20, ? - 60 * n + 30, 'agi' "
        "FROM kept", (count, len(CDR_EXTENSIONS), T0, T0, T0))
    sql("INSERT INTO ledger (extension_id, kind, amount, balance_after, call_id, created_utc) "
        "SELECT c.extension_id, 'call', -c.cost, e.balance - SUM(c.cost) OVER "
        "(PARTITION BY c.extension_id ORDER BY c.id), c.id, c.settled_utc "
        "FROM call c JOIN extension e ON e.id = c.extension_id ORDER BY c.id")
    sql("UPDATE extension SET balance = balance "
        "- (SELECT COALESCE(SUM(cost), 0) FROM call WHERE extension_id = extension.id)")


def _cdr_with_calls_kept(folder: Path, master: Path, rows: int, parse: int) -> dict:
    from billing_addon.pbx import cdr

    _cdr_db(folder / "kept.db")
    try:
        with store.money_txn():
            _keep_calls(KEPT_CALLS)
        timings = []
        for _ in range(2):  # the first import, then its replay
            started = time.perf_counter()
            stats = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
            timings.append(time.perf_counter() - started)
            assert stats.errors == 0
        problems = accounts.verify()
        assert problems == [], problems[:3]
    finally:
        store.close_db()
    return {"calls_kept": KEPT_CALLS,
            "first_import_rows_per_s": figure(round(rows / timings[0]), "rows/s", raw_limit=parse),
            "replay_rows_per_s": figure(round(rows / timings[1]), "rows/s", raw_limit=parse)}


def _cdr_beside_calls(folder: Path, master: Path) -> dict:
    from billing_addon import settings
    from billing_addon.pbx import cdr

    _cdr_db(folder / "beside-calls.db")
    settings.put("max_call_seconds", "3600")  # the callers talk up to 300 s
    try:
        quiet = _quiet_latencies()
        stop, during = threading.Event(), []
        threads = _callers(stop, during, "import")
        stats = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
        stop.set()
        for thread in threads:
            thread.join()
        assert stats.charged == CDR_CALLS and accounts.verify() == []
    finally:
        store.close_db()
    return _figures(during, quiet)


BESIDE_RATE = 300  # calls/s offered to the daemon while `cdr import` runs beside it
BESIDE_RUNS = sized(3, 1)  # this machine varies a lot from run to run: medians are kept


def _cli_import_beside_the_daemon(folder: Path, master: Path, import_s: float) -> dict:
    """The daemon authorizing calls (the C load generator, paced) while `billing-addon cdr
    import` imports ``master`` into its database from a process of its own: authorize
    latency for about the import's length, its raw limit the same load before it
    (medians of BESIDE_RUNS runs, each into a fresh database)."""
    from . import bench_pbx

    client, kind = bench_pbx._load_generator(folder)
    if kind != "c":
        print("bench_import: no C compiler; the figures beside the daemon are skipped")
        return {}
    runs = [_beside_the_daemon(folder / f"beside-{n}", master, import_s, client)
            for n in range(BESIDE_RUNS)]
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {"offered_per_s": BESIDE_RATE, "runs": BESIDE_RUNS,
            "p99_ms_each": [run["p99_ms"] for run in runs],
            "p50_ms": figure(median["p50_ms"], "ms", raw_limit=median["quiet_p50_ms"]),
            "p99_ms": figure(median["p99_ms"], "ms", raw_limit=median["quiet_p99_ms"],
                             target=50)}


def _beside_the_daemon(home: Path, master: Path, import_s: float, client: List[str]) -> dict:
    import json
    import subprocess

    from . import bench_call, bench_pbx

    ini = bench_pbx._ini(home, cdr={"enabled": "no", "mark": ""}, web={"enabled": "no"},
                         log={"level": "INFO"})
    bench_pbx._prepare_db(home / "data" / "billing.db")
    daemon = subprocess.Popen([sys.executable, "-m", "bench.bench_pbx", "--serve", str(ini)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = round(1.5 + 2 * import_s, 1)  # the child's start, the import, some after
    load = None
    try:
        port = bench_pbx._wait_port(home / "log" / "daemon.log")
        bench_call._load(client, port, 1.0, BESIDE_RATE, 100_000, "BILLING_ANSWER")
        quiet = bench_call._load(client, port, seconds, BESIDE_RATE, 200_000, "BILLING_ANSWER")
        load = subprocess.Popen(client + [str(port), str(bench_pbx.CONNECTIONS), str(seconds),
                                          str(BESIDE_RATE), "300000", "BILLING_ANSWER"],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        started = time.perf_counter()
        imported = subprocess.run(
            [sys.executable, "-c", "import sys; from billing_addon.cli import main; sys.exit(main())",
             "--config", str(ini), "cdr", "import", str(master)],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        import_took = time.perf_counter() - started
        during = json.loads(load.communicate(timeout=seconds + 120)[0])
    finally:
        for process in (load, daemon):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert imported.returncode == 0 and f"charged={CDR_CALLS}" in imported.stdout, imported
    assert quiet["not_allowed"] == 0 and during["not_allowed"] == 0, (quiet, during)
    # the load must have lasted the whole import, or its figures say less than they seem
    assert import_took < seconds, (import_took, seconds)
    return {"p50_ms": during["p50_ms"], "p99_ms": during["p99_ms"],
            "quiet_p50_ms": quiet["p50_ms"], "quiet_p99_ms": quiet["p99_ms"]}


def main() -> None:
    with as_in_the_daemon(), tempfile.TemporaryDirectory() as folder:
        record("rate_import", bench_import(folder, DECK_ROWS))
    with as_in_the_daemon():
        record("cdr_import", bench_cdr())


if __name__ == "__main__":
    main()
