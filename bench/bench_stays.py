"""Stays benchmark: the statement of a stay with 10,000 calls.

A stay of one extension with 10,000 charged calls over 30 days; check-out issues its
statement (timed), then ``/statements/<number>`` is rendered in a fresh process
(in-process WSGI, signed in): the first request with its peak RSS growth over the RSS
before it (sampled every 5 ms), then the p50 of 10 more.  Targets: under 1 s and under
30 MB.  ``python -m bench.run_all bench_stays``; figures go to bench/results.json under
"stays".
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from billing_addon import accounts, config, stays, store

from .bench_web import AlwaysActive, signed_in_client
from .memory import RssPeak
from .results_file import figure, record, sized

CALLS = sized(10_000, 200)
TARGET_MS = 1000
TARGET_MB = 30


def generate(path: Path) -> float:
    """The stay and its calls; returns the check-out's seconds (it issues the statement)."""
    store.init_db(path)
    db = store.db
    accounts.ensure_extension("101", "Room 101")
    start = store.now_utc() - 31 * 86400
    stays.check_in("101", "Bench Guest", deposit=10_000_000, credit=100_000_000, at=start)
    ext = accounts.get_extension("101")
    rnd = random.Random(14)
    balance = ext.balance
    call_rows, ledger_rows = [], []
    t = start
    for i in range(CALLS):
        t += rnd.randint(60, 500)
        seconds = rnd.randint(0, 900)
        cost = seconds * 17
        call_rows.append((i + 1, f"bench-{i}", ext.id, f"9{rnd.randint(10**8, 10**9 - 1)}", t,
                          time.strftime("%Y-%m-%d", time.gmtime(t)), seconds, cost, t + seconds))
        balance -= cost
        ledger_rows.append((ext.id, -cost, balance, i + 1, t + seconds))
    with store.money_txn():
        db.connection().executemany(
            "INSERT INTO call (id, uniqueid, extension_id, dialed, started_utc, local_day, status, "
            "answered_s, cost, settled_utc) VALUES (?, ?, ?, ?, ?, ?, 'charged', ?, ?, ?)", call_rows)
        db.connection().executemany(
            "INSERT INTO ledger (extension_id, kind, amount, balance_after, call_id, created_utc) "
            "VALUES (?, 'call', ?, ?, ?, ?)", ledger_rows)
        db.execute_sql("UPDATE extension SET balance = ? WHERE id = ?", (balance, ext.id))
    t0 = time.perf_counter()
    snap = stays.check_out("101", at=t + 3600)
    took = time.perf_counter() - t0
    assert snap["totals"]["calls"] == CALLS and not accounts.verify()
    store.close_db()
    return took


def page_child(db_path: str) -> None:
    """In a fresh process: the statement page, first request with RSS growth, then p50."""
    from billing_addon.web.app import make_app

    store.init_db(db_path)
    app = make_app(config.load(None), AlwaysActive())
    client = signed_in_client(app)
    client.get("/stays", check=200)  # the layout and the other templates loaded
    with RssPeak() as memory:
        t0 = time.perf_counter()
        body = client.get("/statements/S-000001", check=200).text
        first_ms = (time.perf_counter() - t0) * 1000
    assert body.count("<tr>") >= CALLS
    times, raw = [], []
    for _ in range(sized(10, 2)):
        t0 = time.perf_counter()
        client.get("/statements/S-000001", check=200)
        times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        client.get("/stays", check=200)  # the raw limit: a page of the same layout
        raw.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"first_ms": round(first_ms, 1), "p50_ms": round(statistics.median(times), 1),
                      "stays_page_p50_ms": round(statistics.median(raw), 1),
                      "rss_growth_mb": round(memory.growth_mb, 1), "page_kb": len(body) // 1024}))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "billing.db"
        checkout_s = generate(path)
        out = subprocess.run([sys.executable, "-m", "bench.bench_stays", "--child", str(path)],
                             check=True, capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    raw = figures.pop("stays_page_p50_ms")
    figures.update(calls=CALLS, checkout_with_statement_ms=round(checkout_s * 1000, 1),
                   first_ms=figure(figures["first_ms"], "ms", raw_limit=raw, target=TARGET_MS),
                   p50_ms=figure(figures["p50_ms"], "ms", raw_limit=raw),
                   rss_growth_mb=figure(figures["rss_growth_mb"], "MB", target=TARGET_MB))
    record("stays", figures)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        page_child(sys.argv[2])
    else:
        main()
