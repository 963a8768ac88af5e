"""PBX link benchmarks (issue 3), figures under the "pbx" key of bench/results.json:

* FastAGI authorize round trips per second over loopback with 50 concurrent
  connections, p50/p99 latency (connect to the server's final close):
  - saturated: each connection starts its next call as soon as one ends, which gives
    the throughput; its latency is only 50 / throughput (Little's law);
  - paced: the 50 connections offer the target 1,500 calls/s together, which gives
    the latency at that rate (three runs, the median p99 is the figure);
  the server is the daemon's code in its own process (billing forced active), the
  client (``agi_load.c``, or ``agi_load.py`` without a C compiler) plays Asterisk's
  side with the recorded environment and replies;
* the daemon (``billing-addon serve``): start time to "listening", idle RSS.

``python -m bench.bench_pbx`` takes about a minute.  The CDR import figures are in
bench_import.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from .results_file import figure, record, sized

ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 50
WARMUP_SECONDS = sized(2.0, 0.2)
AGI_SECONDS = sized(6.0, 0.5)
PACED_RATE = 1500  # calls/s offered by the 50 connections together: the target rate
PACED_SECONDS = sized(5.0, 0.3)
PACED_RUNS = sized(3, 1)  # this machine varies a lot from run to run: the median p99 is reported
DAEMON_STARTS = sized(["trial", "trial", "trial", "licensed"], ["trial", "licensed"])
IDLE_S = sized(3, 0.2)
EXTENSIONS = [str(n) for n in range(1001, 1051)]
T0 = 1795441378


def _ini(folder: Path, **extra) -> Path:
    sections = {
        "box": {"board": "demo", "board_root": "root", "database": "data/billing.db"},
        "agi": {"port": "0", "max_connections": "200"},
        "web": {"port": "0"},
        "cdr": {"path": "cdr/Master.csv", "poll_seconds": "2"},
        "sync": {"files": "pjsip.conf"},
        "log": {"file": "log/daemon.log", "level": "WARNING"},
    }
    for key, values in extra.items():
        sections.setdefault(key, {}).update(values)
    (folder / "cdr").mkdir(parents=True, exist_ok=True)
    (folder / "cdr" / "Master.csv").touch()
    path = folder / "billing.ini"
    path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in o.items()) + "\n"
                            for s, o in sections.items()))
    return path


def _prepare_db(path: Path) -> None:
    from billing_addon import accounts, money, rates, settings, store

    store.init_db(path)
    settings.put("timezone", "Asia/Shanghai")
    settings.put("max_call_seconds", "60")
    for number in EXTENSIONS:
        accounts.ensure_extension(number, f"Ext {number}")
    accounts.edit(EXTENSIONS, billing_enabled=True)
    accounts.recharge(EXTENSIONS, money.parse_amount("100000"), "bench")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))
    store.close_db()


def _wait_port(log: Path, timeout: float = 30.0) -> int:
    import re

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists():
            match = re.search(r"FastAGI listening on [\d.]+:(\d+)", log.read_text())
            if match:
                return int(match.group(1))
        time.sleep(0.01)
    raise RuntimeError("the daemon did not start")


def _load_generator(folder: Path) -> Tuple[List[str], str]:
    """The C load generator when a compiler is at hand, else the Python one."""
    binary = folder / "agi_load"
    try:
        subprocess.run(["cc", "-O2", "-o", str(binary), str(ROOT / "bench" / "agi_load.c")],
                       check=True, capture_output=True, timeout=120)
        return [str(binary)], "c"
    except (OSError, subprocess.SubprocessError):
        return [sys.executable, "-m", "bench.agi_load"], "python"


def _load(command: List[str], port: int, seconds: float, rate: float, first: int,
          connections: int = CONNECTIONS) -> dict:
    out = subprocess.run(command + [str(port), str(connections), str(seconds), str(rate),
                                    str(first)], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=seconds + 120)
    return json.loads(out.stdout)


def bench_agi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ini = _ini(folder, cdr={"enabled": "no"}, web={"enabled": "no"},
                   log={"level": "INFO"})
        _prepare_db(folder / "data" / "billing.db")
        client, client_kind = _load_generator(folder)
        server = subprocess.Popen([sys.executable, "-m", "bench.bench_pbx", "--serve", str(ini)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = _wait_port(folder / "log" / "daemon.log")
            _load(client, port, WARMUP_SECONDS, PACED_RATE, 0)
            saturated = _load(client, port, AGI_SECONDS, 0, 1000)
            paced = [_load(client, port, PACED_SECONDS, PACED_RATE, 2000 + 1000 * n)
                     for n in range(PACED_RUNS)]
        finally:
            server.terminate()
            server.wait(30)
        raw = None
        if client_kind == "c":  # the raw limit: the same server code, no database
            from .bench_call import constant_answer
            raw = constant_answer(client, AGI_SECONDS, PACED_SECONDS, PACED_RUNS, variable="")
    p99s = sorted(run["p99_ms"] for run in paced)
    return {
        "agi_client": client_kind,
        "agi_connections": CONNECTIONS,
        "agi_authorizations": saturated["calls"],
        "agi_not_allowed": saturated["not_allowed"] + sum(run["not_allowed"] for run in paced),
        "agi_authorizations_per_s": figure(saturated["per_s"], "sessions/s", target=1500,
                                           raw_limit=raw and raw["saturated_per_s"]),
        "agi_p50_ms": saturated["p50_ms"],
        "agi_p99_ms": figure(saturated["p99_ms"], "ms",
                             raw_limit=raw and raw["saturated_p99_ms"]),
        "agi_paced_offered_per_s": PACED_RATE,
        "agi_paced_runs": paced,
        "agi_paced_achieved_per_s": min(run["per_s"] for run in paced),
        "agi_paced_p50_ms": statistics.median(run["p50_ms"] for run in paced),
        "agi_paced_p99_ms_median": figure(p99s[len(p99s) // 2], "ms", target=10,
                                          raw_limit=raw and raw["paced_p99_ms_median"]),
    }


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _license_the_box(folder: Path) -> dict:
    """A vendor key (made here, trusted through the environment) and a license for
    the demo board under ``folder/root``, stored and activated as on a sold box."""
    from datetime import datetime, timezone

    from hwlicense import keys
    from hwlicense.activation import Activation
    from hwlicense.billing_ac import read_billing_ac
    from hwlicense.board import load_profile
    from hwlicense.license import issue_license

    vendor = keys.generate()
    (folder / "keys").mkdir()
    (folder / "keys" / "vendor.pub").write_bytes(keys.public_pem(vendor.public_key()))
    activation = Activation(load_profile("demo", folder / "root"),
                            trusted_keys=[vendor.public_key()])
    activation.activate()
    data = issue_license(read_billing_ac(activation.billing_ac()), vendor,
                         issued=datetime.now(timezone.utc))
    assert activation.upload_license(data).ok
    assert activation.status().licensed
    return {keys.TRUSTED_KEYS_ENV: str(folder / "keys")}


def bench_daemon() -> dict:
    """Start time (median of three starts) and the idle RSS of a trial box and of a
    licensed one, each measured 3 s after one call was authorized (so the license state
    has been read: a licensed box has checked its license's signature by then)."""
    import os

    starts, rss = [], {}
    for attempt, kind in enumerate(DAEMON_STARTS):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            ini = _ini(folder, log={"level": "INFO"}, box={"board_root": str(folder / "root")})
            _prepare_db(folder / "data" / "billing.db")
            env = dict(os.environ)
            if kind == "licensed":
                env.update(_license_the_box(folder))
            began = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "billing_addon.cli", "--config", str(ini),
                                     "serve"], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                log = folder / "log" / "daemon.log"
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    if log.exists() and "daemon started" in log.read_text():
                        break
                    time.sleep(0.005)
                if kind == "trial":
                    starts.append(time.perf_counter() - began)
                if attempt >= len(DAEMON_STARTS) - 2:
                    port = _wait_port(log)
                    _load([sys.executable, "-m", "bench.agi_load"], port, 0.01, 0, 0, connections=1)
                    time.sleep(IDLE_S)  # idle: the follower and housekeeping have run
                    rss[kind] = _rss_kb(proc.pid)
            finally:
                proc.terminate()
                proc.wait(30)
    bare_start, bare_rss = _bare_interpreter()
    return {
        "daemon_start_s": figure(round(statistics.median(starts), 3), "s", target=1,
                                 raw_limit=bare_start),
        "daemon_idle_rss_mb": figure(round(rss["trial"] / 1024, 1), "MB", target=40,
                                     raw_limit=bare_rss),
        "daemon_idle_rss_licensed_mb": figure(round(rss["licensed"] / 1024, 1), "MB",
                                              target=40, raw_limit=bare_rss),
    }


def _bare_interpreter() -> Tuple[float, float]:
    """The raw limits of the daemon's start and memory: the same interpreter starting
    and importing nothing (s, median of three), and its resident memory (MB)."""
    starts = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        starts.append(time.perf_counter() - began)
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        time.sleep(0.3)
        rss = _rss_kb(proc.pid)
    finally:
        proc.communicate(b"")
    return round(statistics.median(starts), 3), round(rss / 1024, 1)


def main() -> None:
    figures = {}
    figures.update(bench_agi())
    figures.update(bench_daemon())
    record("pbx", figures)


def _serve(ini: str) -> int:
    from billing_addon import config, daemon

    return daemon.serve(config.load(ini), billing_state=lambda: "active")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        sys.exit(_serve(sys.argv[2]))
    main()
