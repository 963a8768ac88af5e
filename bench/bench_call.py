"""The cost of one call in the daemon (issue 17 items 2 and 3), figures under "call":

* authorize + settle, one after the other on a SQLite file: microseconds per cycle at
  each durability, beside the raw limit of the same run (a bare sqlite3 loop doing the
  cycle's two write transactions with the same pragmas); what is left above that limit
  is the library's own work per call;
* the FastAGI server in its own process (the daemon's code) under the C load generator
  with 50 connections, answering in one variable as the shipped dialplan asks:
  saturated rate, p50/p99, paced at 1,500/s (median p99 of three runs), and the
  server's CPU per session.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from billing_addon import accounts, calls, store

from . import bench_core, bench_pbx
from .results_file import record

CYCLES = 3000
AGI_SECONDS = 5.0
PACED_RATE = 1500
PACED_SECONDS = 4.0
PACED_RUNS = 3


def cycle_cost(durability: str, n: int = CYCLES) -> dict:
    """Microseconds per authorize+settle cycle, and the raw limit of two transactions."""
    with tempfile.TemporaryDirectory() as folder:
        bench_core._fresh_db(folder, durability)
        rnd = random.Random(2)
        try:
            start = time.perf_counter()
            for i in range(n):
                auth = calls.authorize(str(1001 + i % 20), "912345678", bench_core.T0 + i, f"c{i}")
                assert auth.result == calls.ALLOWED, auth
                calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", bench_core.T0 + i + 300)
            ours = (time.perf_counter() - start) / n * 1e6
            assert not accounts.verify()
        finally:
            store.close_db()
        raw = 2e6 / bench_core.raw_sqlite_floor(folder, n, durability)
    return {"cycle_us": round(ours, 1), "raw_two_transactions_us": round(raw, 1),
            "above_raw_us": round(ours - raw, 1), "ratio_raw_to_ours": round(raw / ours, 3)}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fastagi(seconds: float = AGI_SECONDS, paced_seconds: float = PACED_SECONDS,
            paced_runs: int = PACED_RUNS) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ini = bench_pbx._ini(folder, cdr={"enabled": "no"}, web={"enabled": "no"},
                             log={"level": "INFO"})
        bench_pbx._prepare_db(folder / "data" / "billing.db")
        client, kind = bench_pbx._load_generator(folder)
        server = subprocess.Popen([sys.executable, "-m", "bench.bench_pbx", "--serve", str(ini)],
                                  cwd=bench_pbx.ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            port = bench_pbx._wait_port(folder / "log" / "daemon.log")
            bench_pbx._load(client, port, 1.0, PACED_RATE, 0)
            cpu = _cpu_seconds(server.pid)
            saturated = bench_pbx._load(client, port, seconds, 0, 1000)
            cpu = _cpu_seconds(server.pid) - cpu
            paced = [bench_pbx._load(client, port, paced_seconds, PACED_RATE, 2000 + 1000 * n)
                     for n in range(paced_runs)]
        finally:
            server.terminate()
            server.wait(30)
    assert saturated["not_allowed"] == 0 and not any(run["not_allowed"] for run in paced)
    return {"client": kind, "connections": bench_pbx.CONNECTIONS,
            "saturated_per_s": saturated["per_s"], "saturated_p50_ms": saturated["p50_ms"],
            "saturated_p99_ms": saturated["p99_ms"],
            "server_cpu_us_per_session": round(cpu / saturated["calls"] * 1e6),
            "paced_offered_per_s": PACED_RATE,
            "paced_p99_ms_median": statistics.median(run["p99_ms"] for run in paced),
            "paced_p50_ms_median": statistics.median(run["p50_ms"] for run in paced),
            "target_saturated_per_s": 4000, "target_saturated_p99_ms": 10,
            "target_paced_p99_ms": 3}


def main() -> None:
    figures = {f"cycle_{durability}": cycle_cost(durability) for durability in ("normal", "full")}
    figures["fastagi"] = fastagi()
    record("call", figures)


if __name__ == "__main__":
    main()
