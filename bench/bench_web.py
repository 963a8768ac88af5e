"""Web UI benchmark: 500 extensions, 1,000 rates, 1,000,000 calls (one year), a tenth
of them re-rated (100,000 adjustments in the Recharge History).

Pages (in-process WSGI, signed in as a billing user, p50 over repeated requests):
Extensions, Call Log first page, Call Log keyword searches, Statistics by Year and by
Day over the whole year.  Export: the .xlsx (and .csv) of 100,000 calls, both streamed,
timed to the first byte and to the last in a fresh process whose peak RSS growth is
measured (sampled).  Raw limits in the same run: a bare SUM over the 1M calls (what
Statistics would cost without the per-day tables), the per-extension GROUP BY that
Statistics ran before ``call_day_total``, and reading the export's 100,000 rows
without writing them.  Every page's figure has for raw limit the cheapest page the same
signed-in client gets (the password form: session, routing and layout, no table read);
an export's time, the reading of its rows; its first byte, that cheapest page.

``python -m bench.bench_web`` (or ``make bench``); figures go to bench/results.json
under "web".  Data is generated with executemany in one transaction (~1 minute).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from billing_addon import config, store

from .memory import RssPeak
from .results_file import figure, percentile, record, sized

EXTENSIONS = 500
RATES = 1000
CALLS = sized(1_000_000, 5_000)
RUNS = sized(25, 2)  # requests per page for its p50
DAYS = 365
EXPORT_EXTENSIONS = 50  # named "Block A ...": 50 x 2,000 calls = 100,000 rows
START = 1704067200  # 2024-01-01 00:00 UTC
TARGET_MS = 100
STATISTICS_TARGET_MS = 30  # issue 17: Statistics by year and by day over a year, at 1M calls
FLOOR_PAGE = "/account/password"


def generate(path: Path) -> None:
    store.init_db(path)
    db = store.db
    db.execute_sql("PRAGMA synchronous=OFF")
    rnd = random.Random(7)
    now = store.now_utc()
    with db.atomic():
        db.execute_sql("DELETE FROM call")
        ext_rows = []
        for i in range(EXTENSIONS):
            name = f"Block A {i:03d}" if i < EXPORT_EXTENSIONS else f"Room {i:03d}"
            ext_rows.append((str(1000 + i), name, 1, "prepaid", "unlocked", 0, 1_000_000, 0,
                             1_000_000, 0, "pbx", 0, now, now))
        db.connection().executemany(
            "INSERT INTO extension (number, name, billing_enabled, payment_type, status, credit, "
            "balance, reserved, total_recharges, recharges_since, source, missing, created_utc, "
            "updated_utc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", ext_rows)
        rate_rows = [(1, f"Route {i}", f"9{i:03d}", rnd.choice((0, 9, 12)), 0, 0, rnd.randint(100, 2000),
                      60, 0, 86400, 1, now, now) for i in range(RATES)]
        db.connection().executemany(
            "INSERT INTO rate (active, remarks, prefix, length, initial_cost, initial_time, rate, unit, "
            "start_s, end_s, all_extensions, created_utc, updated_utc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rate_rows)
        snapshots = [json.dumps({"id": i + 1, "prefix": r[2], "length": r[3], "initial_cost": 0,
                                 "initial_time": 0, "rate": r[6], "unit": 60, "remarks": r[1]},
                                separators=(",", ":")) for i, r in enumerate(rate_rows[:50])]
        span = DAYS * 86400

        def calls():
            for i in range(CALLS):
                ext = i % EXTENSIONS + 1
                started = START + (i * span) // CALLS
                answered = rnd.randint(0, 600)
                rate = i % 50
                cost = -(-answered // 60) * rate_rows[rate][6]
                day = time.strftime("%Y-%m-%d", time.gmtime(started))
                yield (f"bench-{i}", ext, f"9{rate:03d}{i % 10000000:08d}", started, day, "charged", "",
                       rate + 1, snapshots[rate], 0, None, answered, "ANSWER", cost, "agi", None,
                       started + answered)

        db.connection().executemany(
            "INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, reason, "
            "rate_id, rate_snapshot, reserved, limit_ms, answered_s, dial_status, cost, source, "
            "expires_utc, settled_utc) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", calls())
        db.execute_sql(
            "INSERT INTO call_daily (local_day, extension_id, calls, answered_calls, answered_s, cost) "
            "SELECT local_day, extension_id, count(*), sum(answered_s > 0), sum(answered_s), sum(cost) "
            "FROM call GROUP BY local_day, extension_id")
        db.connection().executemany(
            "INSERT INTO ledger (extension_id, kind, amount, balance_after, reason, operator, created_utc) "
            "VALUES (?, 'recharge', 1000000, 1000000, '', 'bench', ?)",
            [(e + 1, START + e * 60) for e in range(EXTENSIONS)])
        # a re-rate of a tenth of the calls: an adjustment each (Recharge History lists them)
        db.execute_sql(
            "INSERT INTO ledger (extension_id, kind, amount, balance_after, reason, operator, "
            "created_utc) SELECT extension_id, 'adjustment', 0, 0, 're-rating', 'bench', "
            "settled_utc + 86400 FROM call WHERE id % 10 = 0")
    # no ANALYZE: a box never runs it, so its SQLite plans without statistics
    db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def signed_in_client(app):
    from billing_addon.web import auth

    from tests.webclient import Client

    _, password = auth.create_billing_user("bench-password-1")
    user = auth.list_users()[-1].username
    client = Client(app)
    client.login(user, password)
    return client


class AlwaysActive:
    """A licensed box, as the web UI asks it (sign-in, and the trial notice's status)."""

    def may_sign_in(self):
        return True, ""

    def status(self):
        from hwlicense.activation import Status

        return Status(activated=True, first_activation=None, expiration=None, licensed=True,
                      days_left=None, state="active")


def p50_ms(client, path: str, runs: int = RUNS) -> float:
    client.get(path, check=200)  # warm the caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(path, check=200)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def export_child(db_path: str, kind: str) -> None:
    """Run in a fresh process: one export request, its body streamed to a file; prints
    time, size, rows and the RSS growth (sampled every 5 ms) over the RSS before."""
    import io

    from billing_addon.web.app import make_app

    store.init_db(db_path)
    app = make_app(config.load(None), AlwaysActive())
    client = signed_in_client(app)
    client.get("/calls?q=Block%20A", check=200)
    environ_client = client
    memory = RssPeak().start()  # sampled until the export is complete
    out = io.BytesIO() if kind == "xlsx" else None
    size = 0
    lines = 0
    t0 = time.perf_counter()
    status = {}
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": f"/calls/export.{kind}", "QUERY_STRING": "q=Block%20A",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
        "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in environ_client.cookies.items()),
    }
    body = app(environ, lambda s, h, e=None: status.update(status=s, headers=dict(h)))
    first_response_s = None
    for chunk in body:  # a socket would take these; lines are counted
        if first_response_s is None:
            first_response_s = time.perf_counter() - t0
        size += len(chunk)
        if out is not None:
            out.write(chunk)
        else:
            lines += chunk.count(b"\r\n")
    if hasattr(body, "close"):
        body.close()
    seconds = time.perf_counter() - t0
    memory.stop()
    assert status["status"].startswith("200"), status
    if kind == "xlsx":
        import openpyxl

        # a streamed sheet has no <dimension> (written before its rows): count them
        sheet = openpyxl.load_workbook(out, read_only=True).active
        rows = sum(1 for _ in sheet.iter_rows(values_only=True)) - 1
    else:
        rows = lines - 1
    print(json.dumps({"seconds": round(seconds, 2), "first_response_s": round(first_response_s or 0, 3),
                      "bytes": size, "rows": rows,
                      "rss_before_mb": round(memory.before, 1),
                      "rss_growth_mb": round(memory.growth_mb - (size / 1048576 if out else 0), 1)}))


def _p50_call_ms(work, runs: int = 9) -> float:
    work()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1)


def raw_limits() -> dict:
    """What the figures are compared with, measured in the same run."""
    from billing_addon import reports

    def old_statistics() -> None:  # what Statistics by year ran before call_day_total
        store.db.execute_sql(
            "SELECT local_day, sum(calls), sum(answered_calls), sum(answered_s), sum(cost) "
            "FROM call_daily GROUP BY local_day ORDER BY local_day").fetchall()

    ids = reports.extension_ids_matching("Block A")
    return {
        "sum_over_1m_calls": _p50_call_ms(lambda: store.db.execute_sql(
            "SELECT count(*), sum(answered_s), sum(cost) FROM call").fetchall(), runs=3),
        "old_statistics_group_by_per_extension_day": _p50_call_ms(old_statistics),
        "statistics_query_by_year": _p50_call_ms(lambda: reports.statistics("year")),
        "read_export_100k_rows": _p50_call_ms(lambda: store.db.execute_sql(
            "SELECT c.id, c.started_utc, e.number, e.name, c.dialed, c.answered_s, c.cost, c.status, "
            "c.reason, c.rate_snapshot FROM call c JOIN extension e ON e.id = c.extension_id "
            f"WHERE c.extension_id IN ({','.join(map(str, ids))}) "
            "ORDER BY c.started_utc DESC, c.id DESC").fetchall(), runs=3),
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--export-child":
        export_child(sys.argv[2], sys.argv[3])
        return
    from billing_addon.web.app import make_app

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        path = Path(tmp) / "billing.db"
        t0 = time.perf_counter()
        generate(path)
        generate_s = time.perf_counter() - t0
        print(f"data generated in {generate_s:.1f} s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
        store.init_db(path)
        app = make_app(config.load(None), AlwaysActive())
        client = signed_in_client(app)
        pages = {
            "extensions": "/extensions",
            "extensions_page_10": "/extensions?page=10",
            "call_log_first_page": "/calls",
            "call_log_keyword_one_extension": "/calls?q=1234",
            "call_log_keyword_name_11_extensions": "/calls?q=Room%2012",
            "call_log_keyword_name_111_extensions": "/calls?q=Room%201",
            "call_log_keyword_and_dates": "/calls?q=1234&from=2024-06-01&to=2024-06-30",
            "statistics_by_year": "/statistics?by=year",
            "statistics_by_month_one_extension": "/statistics?by=month&extension=1234&from=2024-01-01",
            "statistics_by_day": "/statistics?by=day&from=2024-12-01&to=2024-12-31",
            "statistics_by_day_whole_year": "/statistics?by=day&from=2024-01-01&to=2024-12-31",
            "recharge_history": "/recharges",
        }
        figures = {name: p50_ms(client, path_) for name, path_ in pages.items()}
        for name, value in figures.items():
            print(f"{name:40} p50 {value:7.1f} ms", flush=True)
        raw = raw_limits()
        raw["cheapest_page"] = p50_ms(client, FLOOR_PAGE)
        for name, value in raw.items():
            print(f"raw {name:36} p50 {value:7.1f} ms", flush=True)
        store.close_db()
        exports = {}
        for kind in ("xlsx", "csv"):
            out = subprocess.run([sys.executable, "-m", "bench.bench_web", "--export-child", str(path), kind],
                                 capture_output=True, text=True,
                                 cwd=str(Path(__file__).resolve().parent.parent))
            if out.returncode:
                sys.exit(f"export {kind} failed:\n{out.stderr}")
            exports[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"export {kind}: {exports[kind]}", flush=True)
        beside_exports = calls_beside_exports(path)
        print(f"calls beside the exports: {beside_exports}", flush=True)
    floor = raw["cheapest_page"]
    record("web", {
        "data": {"extensions": EXTENSIONS, "rates": RATES, "calls": CALLS, "days": DAYS,
                 "generate_s": round(generate_s, 1)},
        "pages_p50": {name: figure(value, "ms", raw_limit=floor,
                                   target=STATISTICS_TARGET_MS if name.startswith("statistics_by_")
                                   else TARGET_MS)
                      for name, value in figures.items()},
        "raw_p50_ms": raw,
        "ratios": {
            "statistics_by_year_to_sum_over_calls": round(
                figures["statistics_by_year"] / raw["sum_over_1m_calls"], 3),
            "statistics_by_day_whole_year_to_sum_over_calls": round(
                figures["statistics_by_day_whole_year"] / raw["sum_over_1m_calls"], 3),
            "statistics_by_year_to_old_group_by": round(
                figures["statistics_by_year"] / raw["old_statistics_group_by_per_extension_day"], 3),
        },
        "export_100k_calls": {kind: _export_figures(kind, found, raw, floor)
                              for kind, found in exports.items()},
        "call_cycle_beside_exports": beside_exports,
        "cpu_count": os.cpu_count(),
    })


def calls_beside_exports(path: Path) -> dict:
    """Authorize+settle cycles of a caller thread (one every 2 ms) while the web UI of
    the same process (as in the daemon) sends the xlsx and the csv export of the
    100,000 calls: their p50 and p99 under CPython's default switch interval and under the
    daemon's (``daemon.SWITCH_INTERVAL_S``), each against the same cycles just before,
    with nothing else running."""
    import threading

    from billing_addon.web.app import make_app

    from billing_addon import daemon, rates

    store.init_db(path)
    rates.add(rates.validate({"prefix": "8", "rate": "0.01", "unit": "1", "all_extensions": True}))
    client = signed_in_client(make_app(config.load(None), AlwaysActive()))
    interval, figures = sys.getswitchinterval(), {}
    try:
        for name, seconds in (("default_interval", interval),
                              ("daemon_interval", daemon.SWITCH_INTERVAL_S)):
            sys.setswitchinterval(seconds)
            stop, cycles = threading.Event(), []
            thread = threading.Thread(target=_caller, args=(name, stop, cycles))
            thread.start()
            time.sleep(sized(1.0, 0.2))
            quiet, cycles[:] = sorted(cycles), []
            for kind in ("xlsx", "csv"):
                client.get(f"/calls/export.{kind}?q=Block%20A", check=200)
            stop.set()
            thread.join()
            during = sorted(cycles)
            figures[name] = {
                "switch_interval_ms": round(seconds * 1000, 2), "cycles": len(during),
                "p50_ms": figure(percentile(during, 0.5), "ms", raw_limit=percentile(quiet, 0.5)),
                "p99_ms": figure(percentile(during, 0.99), "ms", raw_limit=percentile(quiet, 0.99))}
    finally:
        sys.setswitchinterval(interval)
        store.close_db()
    return figures


def _caller(prefix: str, stop, cycles: list) -> None:
    """Authorize and settle a call every 2 ms until ``stop``, each cycle's ms to ``cycles``."""
    from billing_addon import calls

    n = 0
    while not stop.is_set():
        uid = f"{prefix}-{n}"
        n += 1
        t0 = time.perf_counter()
        calls.authorize("1100", "81234567", None, uid)
        calls.settle(uid, 3, "ANSWER")
        cycles.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.002)


def _export_figures(kind: str, found: dict, raw: dict, floor_ms: float) -> dict:
    """An export's figures: its time against reading its rows alone, its first byte
    against the cheapest page, its memory against the target."""
    return {
        "seconds": figure(found["seconds"], "s", raw_limit=round(raw["read_export_100k_rows"] / 1000, 3),
                          target=4 if kind == "xlsx" else 10),
        "first_response_s": figure(found["first_response_s"], "s",
                                   raw_limit=round(floor_ms / 1000, 4), target=1),
        "rss_growth_mb": figure(found["rss_growth_mb"], "MB", target=30),
        "rows": found["rows"], "bytes": found["bytes"], "rss_before_mb": found["rss_before_mb"],
    }

if __name__ == "__main__":
    main()
