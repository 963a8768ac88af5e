"""The cost of one call in the daemon (issue 17 items 2 and 3), figures under "call":

* authorize + settle, one after the other on a SQLite file: microseconds per cycle at
  each durability (wall clock, and the process's CPU, which other load on a shared
  machine disturbs less), beside the raw limit of the same run (a bare sqlite3 loop doing the
  cycle's two write transactions at the same levels); what is left above that limit
  is the library's own work per call;
* the FastAGI server in its own process (the daemon's code) under the C load generator
  with 50 connections, answering in one variable as the shipped dialplan asks:
  saturated rate, p50/p99, paced at 1,500/s (median p99 of three runs), and the
  server's CPU per session; and whole calls, each authorize followed by its settle
  session (``cycles_one_variable``: cycles a second at saturation, CPU a cycle).  Their
  raw limit, in the same run: the same server code answering a constant with no
  database work (``--serve-constant``), the protocol's own cost.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from billing_addon import accounts, calls, store

from . import bench_core, bench_pbx
from .results_file import figure, record, sized

CYCLES = sized(3000, 100)
AGI_SECONDS = sized(5.0, 0.5)
PACED_RATE = 1500
PACED_SECONDS = sized(4.0, 0.5)
PACED_RUNS = sized(3, 1)


def cycle_cost(durability: str, n: int = CYCLES) -> dict:
    """Microseconds per authorize+settle cycle, and the raw limit of two transactions."""
    with tempfile.TemporaryDirectory() as folder:
        bench_core._fresh_db(folder, durability)
        rnd = random.Random(2)
        try:
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                auth = calls.authorize(str(1001 + i % 20), "912345678", bench_core.T0 + i, f"c{i}")
                assert auth.result == calls.ALLOWED, auth
                calls.settle(f"c{i}", rnd.randint(0, 300), "ANSWER", bench_core.T0 + i + 300)
            ours = (time.perf_counter() - start) / n * 1e6
            cpu = (time.process_time() - cpu) / n * 1e6
            assert not accounts.verify()
        finally:
            store.close_db()
        raw, raw_cpu = _raw_cycle_us(folder, n, durability)
    return {"cycle_us": figure(round(ours, 1), "us", raw_limit=round(raw, 1)),
            "cycle_cpu_us": figure(round(cpu, 1), "us", raw_limit=round(raw_cpu, 1)),
            "above_raw_us": round(ours - raw, 1)}


def _raw_cycle_us(folder: str, n: int, durability: str) -> Tuple[float, float]:
    """The cycle's two write transactions with no library around them: an insert at
    synchronous=NORMAL (the reservation), an update at the money level (the charge).
    Microseconds a cycle, wall clock and this process's CPU."""
    conn = sqlite3.connect(os.path.join(folder, "raw.db"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, uniqueid TEXT UNIQUE, v INTEGER)")
    money_level = store.DURABILITY[durability]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (uniqueid, v) VALUES (?, ?)", (f"u{i}", i))
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA synchronous={money_level}")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET v = v + 1 WHERE uniqueid = ?", (f"u{i}",))
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return elapsed / n * 1e6, cpu / n * 1e6


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(command: List[str], port: int, seconds: float, rate: float, first: int,
          answer_variable: str, cycle: bool = False) -> dict:
    """``cycle``: each ALLOWED call is followed by its settle session (C client only)."""
    out = subprocess.run(command + [str(port), str(bench_pbx.CONNECTIONS), str(seconds), str(rate),
                                    str(first)] + ([answer_variable] if answer_variable else [])
                         + (["cycle"] if cycle else []),
                         cwd=bench_pbx.ROOT, capture_output=True, text=True, check=True,
                         timeout=seconds + 120)
    return json.loads(out.stdout)


def _cycles(client: List[str], port: int, pid: int, seconds: float, first: int) -> dict:
    """Authorize + settle cycles a second at saturation (the shipped dialplan's one
    answer variable; each settle right after its call), and the server's CPU a cycle."""
    cpu = _cpu_seconds(pid)
    run = _load(client, port, seconds, 0, first, "BILLING_ANSWER", cycle=True)
    cpu = _cpu_seconds(pid) - cpu
    assert run["not_allowed"] == 0 and run["settles"] == run["calls"], run
    return {"cycles_per_s": round(run["settles"] / seconds),
            "cpu_us_per_cycle": round(cpu / max(1, run["settles"]) * 1e6),
            "authorize_p50_ms": run["p50_ms"], "authorize_p99_ms": run["p99_ms"]}


MODES = (("separate", ""), ("one_variable", "BILLING_ANSWER"))


def _none_over_limit(path: Path) -> None:
    """The cycles' calls ended within their limits, as calls the PBX cuts do: a call
    charged past its reservation takes another way (a warning logged for each)."""
    conn = sqlite3.connect(path)
    try:
        over = conn.execute("SELECT COUNT(*) FROM call WHERE reason = ?",
                            (calls.OVER_LIMIT,)).fetchone()[0]
    finally:
        conn.close()
    assert over == 0, f"{over} calls of the benchmark were charged past their limit"


def _serve_constant() -> int:
    """The FastAGI server with no database: authorize answers ALLOWED at once, the
    shipped dialplan's way (one variable), and settle ends at once (the daemon's
    settle sends no command either).  Prints its port, serves until killed."""
    from billing_addon.pbx import agi
    from billing_addon.pbx.server import AgiServer

    def authorize(env):
        values = agi.args(env)
        if len(values) > 2:  # the shipped dialplan: the whole answer in one variable
            yield agi.set_variable(values[2], "ALLOWED,,60000,,", last=True)
        else:  # a variable each, in the daemon's order
            yield agi.set_variable("BILLING_LIMIT_MS", "60000")
            yield agi.set_variable("BILLING_RESULT", "ALLOWED", last=True)
    def settle(env):
        return
        yield  # a script: a generator that ends at once

    server = AgiServer({"authorize": authorize, "settle": settle}, port=0).start()
    print(server.address[1], flush=True)
    while True:
        time.sleep(3600)


def start_constant_server() -> Tuple[subprocess.Popen, int]:
    """``_serve_constant`` in a process of its own: the process and its port."""
    server = subprocess.Popen([sys.executable, "-m", "bench.bench_call", "--serve-constant"],
                              cwd=bench_pbx.ROOT, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def constant_answer(client: List[str], seconds: float, paced_seconds: float,
                     paced_runs: int, variable: str = "BILLING_ANSWER") -> dict:
    """The raw limit of the FastAGI figures: saturated, paced and CPU, as for the real
    server, with the constant server (answering in ``variable``, or a variable each)."""
    server, port = start_constant_server()
    try:
        _load(client, port, 1.0, PACED_RATE, 0, variable)
        cpu = _cpu_seconds(server.pid)
        saturated = _load(client, port, seconds, 0, 1000, variable)
        cpu = _cpu_seconds(server.pid) - cpu
        paced = [_load(client, port, paced_seconds, PACED_RATE, 2000 + 1000 * n, variable)
                 for n in range(paced_runs)]
        cycles = _cycles(client, port, server.pid, seconds, 9000) if variable else None
    finally:
        server.kill()
        server.wait(30)
    assert saturated["not_allowed"] == 0 and not any(r["not_allowed"] for r in paced)
    return {"cycles": cycles,
            "saturated_per_s": saturated["per_s"], "saturated_p99_ms": saturated["p99_ms"],
            "saturated_p50_ms": saturated["p50_ms"],
            "cpu_us_per_session": round(cpu / saturated["calls"] * 1e6),
            "paced_p99_ms_median": statistics.median(r["p99_ms"] for r in paced),
            "paced_p50_ms_median": statistics.median(r["p50_ms"] for r in paced)}


def fastagi(seconds: float = AGI_SECONDS, paced_seconds: float = PACED_SECONDS,
            paced_runs: int = PACED_RUNS, modes=MODES) -> dict:
    """Both ways of answering, in turn, from one server: a variable each (a site's own
    dialplan) and the whole answer in one (the shipped dialplan); then the constant
    server, whose figures are their raw limits."""
    figures: dict = {}
    measured: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ini = bench_pbx._ini(folder, cdr={"enabled": "no"}, web={"enabled": "no"},
                             log={"level": "INFO"})
        bench_pbx._prepare_db(folder / "data" / "billing.db")
        client, kind = bench_pbx._load_generator(folder)
        if kind != "c":
            print("bench_call: no C compiler; the FastAGI figures are skipped")
            return {}
        server = subprocess.Popen([sys.executable, "-m", "bench.bench_pbx", "--serve", str(ini)],
                                  cwd=bench_pbx.ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            port = bench_pbx._wait_port(folder / "log" / "daemon.log")
            first = 0
            for mode, variable in modes:
                _load(client, port, 1.0, PACED_RATE, first, variable)
                cpu = _cpu_seconds(server.pid)
                saturated = _load(client, port, seconds, 0, first + 1000, variable)
                cpu = _cpu_seconds(server.pid) - cpu
                paced = [_load(client, port, paced_seconds, PACED_RATE, first + 2000 + 1000 * n,
                               variable) for n in range(paced_runs)]
                first += 10_000
                assert saturated["not_allowed"] == 0 and not any(r["not_allowed"] for r in paced)
                measured[mode] = (saturated, cpu, paced)
            cycles = _cycles(client, port, server.pid, seconds, first + 1000)
        finally:
            server.terminate()
            server.wait(30)
        _none_over_limit(folder / "data" / "billing.db")
        raws = {mode: constant_answer(client, seconds, paced_seconds, paced_runs, variable)
                for mode, variable in modes}
    for mode, (saturated, cpu, paced) in measured.items():
        raw = raws[mode]
        figures[mode] = {
            "saturated_per_s": figure(saturated["per_s"], "sessions/s",
                                      raw_limit=raw["saturated_per_s"], target=4000),
            "saturated_p50_ms": figure(saturated["p50_ms"], "ms",
                                       raw_limit=raw["saturated_p50_ms"]),
            "saturated_p99_ms": figure(saturated["p99_ms"], "ms",
                                       raw_limit=raw["saturated_p99_ms"], target=10),
            "server_cpu_us_per_session": figure(round(cpu / saturated["calls"] * 1e6), "us",
                                                raw_limit=raw["cpu_us_per_session"]),
            "paced_p99_ms_median": figure(statistics.median(r["p99_ms"] for r in paced),
                                          "ms", raw_limit=raw["paced_p99_ms_median"], target=3),
            "paced_p50_ms_median": figure(statistics.median(r["p50_ms"] for r in paced),
                                          "ms", raw_limit=raw["paced_p50_ms_median"])}
    raw_cycles = raws["one_variable"].pop("cycles")
    raws.get("separate", {}).pop("cycles", None)
    figures["cycles_one_variable"] = {
        "cycles_per_s": figure(cycles["cycles_per_s"], "cycles/s",
                               raw_limit=raw_cycles["cycles_per_s"]),
        "server_cpu_us_per_cycle": figure(cycles["cpu_us_per_cycle"], "us",
                                          raw_limit=raw_cycles["cpu_us_per_cycle"]),
        "authorize_p50_ms": figure(cycles["authorize_p50_ms"], "ms",
                                   raw_limit=raw_cycles["authorize_p50_ms"]),
        "authorize_p99_ms": figure(cycles["authorize_p99_ms"], "ms",
                                   raw_limit=raw_cycles["authorize_p99_ms"])}
    figures["constant_answer"] = raws
    figures.update(connections=bench_pbx.CONNECTIONS, paced_offered_per_s=PACED_RATE)
    return figures


def main() -> None:
    figures = {f"cycle_{durability}": cycle_cost(durability) for durability in ("normal", "full")}
    figures["fastagi"] = fastagi()
    record("call", figures)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-constant"]:
        sys.exit(_serve_constant())
    main()
