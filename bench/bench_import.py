"""Rate import beside calls (issue 13 item 14): authorize latency while a 40,000-row
deck is imported in the same process (the web UI runs in the daemon), against the same
callers with no import running.  Target: p99 under 50 ms during the import.

``python -m bench.bench_import [rows]``: a smaller deck for a quick look (not recorded).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time

from billing_addon import accounts, calls, rates, store

from .bench_core import T0, _fresh_db, make_deck
from .results_file import record

CALLERS = 4
TALK_MS = 20


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


def _figures(latencies: list) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    return {"authorizes": len(ms), "p50_ms": round(statistics.median(ms), 2),
            "p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2), "max_ms": round(ms[-1], 2)}


def bench_import(folder: str, rows: int) -> dict:
    _fresh_db(folder)
    text = deck_csv(rows)
    stop, quiet = threading.Event(), []
    threads = _callers(stop, quiet, "quiet")
    time.sleep(3)
    stop.set()
    for thread in threads:
        thread.join()
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
            "talk_ms": TALK_MS, "during_import": _figures(during), "no_import": _figures(quiet),
            "target_p99_ms": 50}


def main(rows: int = 40_000) -> None:
    with tempfile.TemporaryDirectory() as folder:
        figures = bench_import(folder, rows)
    if rows == 40_000:
        record("rate_import", figures)
    else:
        print(figures)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
