"""JSON API benchmark (issue #16's API speed targets), over HTTP to the real server
(waitress on loopback, as the daemon runs it) on bench_web's data: 500 extensions and
1,000,000 calls over a year.

* Recharge round trip: POST /api/v1/extensions/N/recharge with an Idempotency-Key
  (each a new key), one keep-alive connection from a client process of its own (as a
  PMS is another machine: a client thread in the server's process would wait for the
  server's threads' interpreter lock, up to 5 ms a switch), p50 and p99 (target p99 <
  20 ms).  Raw limit: ``accounts.recharge`` alone, without HTTP, the token or the kept
  answer.
* Listing the Call Log: GET /api/v1/calls?limit=50 at the first page, a page in the
  middle (500,000 calls deep) and the last page, each reached by its cursor (target
  < 100 ms at any depth).  Raw limit: the web page's OFFSET query for the middle page
  (``reports.calls_page``), what paging by offset would cost there.

``python -m bench.bench_api`` (run alone, never all of ``make bench`` on a shared box);
figures go to bench/results.json under "api".
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

from billing_addon import accounts, api_tokens, config, money, reports, store

from .bench_web import CALLS, AlwaysActive, generate
from .results_file import figure, percentile, record, sized

RECHARGES = sized(2000, 30)
PAGE_RUNS = sized(50, 3)
PAGE = 50
RECHARGE_TARGET_MS = 20
PAGE_TARGET_MS = 100


def _timed(work: Callable[[], None], runs: int) -> List[float]:
    work()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1000)
    return times


class Http:
    """One keep-alive connection to the server, with the token."""

    def __init__(self, port: int, secret: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.auth = {"Authorization": f"Bearer {secret}"}

    def request(self, method: str, path: str, body=None, headers=None, status: int = 200):
        data = None if body is None else json.dumps(body).encode()
        sent = dict(self.auth, **(headers or {}))
        if data is not None:
            sent["Content-Type"] = "application/json"
        self.conn.request(method, path, data, sent)
        answer = self.conn.getresponse()
        payload = answer.read()
        assert answer.status == status, (answer.status, payload[:300])
        return json.loads(payload)


def _cursor_at(depth: int) -> str:
    """The cursor of the page starting ``depth`` calls deep (found once, not timed)."""
    started, call_id = store.db.execute_sql(
        "SELECT started_utc, id FROM call WHERE status != 'unbilled' "
        "ORDER BY started_utc DESC, id DESC LIMIT 1 OFFSET ?", (depth - 1,)).fetchone()
    return f"{started}.{call_id}"


def recharge_client(port: int, secret: str, count: int) -> None:
    """Run in a process of its own: ``count`` recharges, their times (ms) as JSON."""
    client = Http(port, secret)
    counter = iter(range(10**9))

    def recharge() -> None:
        i = next(counter)
        client.request("POST", f"/api/v1/extensions/{1000 + i % 500}/recharge",
                       {"amount": "1.25"}, {"Idempotency-Key": f"bench-{i}"}, status=201)

    print(json.dumps(_timed(recharge, count)))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        recharge_client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    from billing_addon.web.app import make_app
    from waitress import create_server

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        path = Path(tmp) / "billing.db"
        t0 = time.perf_counter()
        generate(path)
        print(f"data generated in {time.perf_counter() - t0:.1f} s", flush=True)
        store.init_db(path)
        cfg = config.load(None, {"api": {"rate_per_second": "100000", "burst": "100000"}})
        app = make_app(cfg, AlwaysActive())
        server = create_server(app, host="127.0.0.1", port=0, threads=4)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            _token, secret = api_tokens.create("bench", "billing")
            child = subprocess.run([sys.executable, "-m", "bench.bench_api", "--client",
                                    str(server.effective_port), secret, str(RECHARGES)],
                                   capture_output=True, text=True, check=True, timeout=600)
            http_times = json.loads(child.stdout.strip().splitlines()[-1])
            client = Http(server.effective_port, secret)
            raw_times = _timed(lambda: accounts.recharge(["1001"], money.parse_amount("1.25"), "bench"),
                               RECHARGES)
            total = CALLS
            depths = {"first": None, "middle": _cursor_at(total // 2), "last": _cursor_at(total - PAGE)}
            pages: Dict[str, List[float]] = {}
            for name, cursor in depths.items():
                query = f"/api/v1/calls?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
                answer = client.request("GET", query)
                assert len(answer["calls"]) == PAGE, (name, len(answer["calls"]))
                pages[name] = _timed(lambda q=query: client.request("GET", q), PAGE_RUNS)
            offset_middle = _timed(lambda: reports.calls_page(page=total // 2 // PAGE + 1),
                                   sized(5, 2))
            # the raw limit of a page: the cheapest request of the same client and token
            # (its check, routing, one row by its key, JSON out)
            client.request("GET", "/api/v1/extensions/1001")
            cheapest = _timed(lambda: client.request("GET", "/api/v1/extensions/1001"), PAGE_RUNS)
        finally:
            server.close()
            store.close_db()
    p99 = percentile(http_times, 0.99)
    raw_p99 = percentile(raw_times, 0.99)
    figures = {
        "calls": CALLS,
        "recharges": RECHARGES,
        "recharge_round_trip_p50": figure(percentile(http_times, 0.5), "ms",
                                          percentile(raw_times, 0.5)),
        "recharge_round_trip_p99": figure(p99, "ms", raw_p99, target=RECHARGE_TARGET_MS),
        "offset_page_middle_raw_ms": round(statistics.median(offset_middle), 1),
    }
    for name, times in pages.items():
        figures[f"calls_page_{name}_p50"] = figure(round(statistics.median(times), 2), "ms",
                                                   round(statistics.median(cheapest), 2),
                                                   target=PAGE_TARGET_MS)
        figures[f"calls_page_{name}_max"] = figure(round(max(times), 2), "ms",
                                                   round(statistics.median(offset_middle), 1),
                                                   target=PAGE_TARGET_MS)
    record("api", figures)


if __name__ == "__main__":
    main()
