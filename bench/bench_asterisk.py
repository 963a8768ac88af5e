"""Call set-up on a real Asterisk 22 (issue 17 item 3), figures under the "asterisk" key:
bare Asterisk against the shipped ``billing-dial`` with the daemon, in one run.

Calls are Local channels placed with AMI ``Originate``; the far end answers and hangs up
at once (0 s of talk), so a call is all set-up and tear-down.  ``n`` calls are kept in
flight (25 and 50), bare and billed runs interleaved twice, and the saturated rate of
each is the median of its runs; the ratio billed / bare is the figure the issue targets
(>= 0.8).  The daemon's CPU per billed call, and Asterisk's per bare and per billed
call, come from their /proc stat over those runs.  Where a billed call's Asterisk CPU
goes: at the billed calls' rate, in the same rounds, bare calls and two kinds of the
shipped dialplan, without its settle hangup handler ("no_settle": authorize only) and
without the authorize AGI too ("no_agi": a constant answer instead); the differences
are the settle channel's, the authorize AGI's and the dialplan's own share.
The raw limit of the daemon's CPU per call: the shipped dialplan, at the same rate,
against the benchmark's constant FastAGI server ("constant_agi": ``bench_call
--serve-constant``, no database), whose CPU per call is what the protocol's two sessions
and the process's wake-ups cost before any billing work.

The added set-up time is the p50 of Originate -> the caller's DialEnd ANSWER for calls
of 1 s, 10 up at a time and spread over that second (the settlements of the calls that
end then run beside the authorizations, as in real traffic), billed minus bare.  Its raw
limit: the same calls through the shipped dialplan against the constant FastAGI server,
minus bare (what Asterisk's two AGI sessions and the dialplan's steps add before any
billing work).  The far end answers with
Answer(,i): a plain Answer() waits up to 500 ms for media, which Local channels never
send.

It uses the live tier's Asterisk (tests/live/asterisk.py finds it; without one it says
so and records nothing) and starts the daemon as ``billing-addon serve``.
``python -m bench.run_all bench_asterisk`` takes about a minute.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

from .results_file import figure, record, sized, tiny

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = sized((25, 50), (5,))
RUN_SECONDS = sized(4.0, 0.5)
ROUNDS = sized(2, 1)  # bare, billed, bare, billed ...: the machine's noise hits both alike
LATENCY_CALLS = sized(100, 5)
LATENCY_IN_FLIGHT = 10
LATENCY_TALK_S = 1.0
EXTENSIONS = [str(n) for n in range(3001, 3051)]
BENCH_CONTEXTS = """
[bench-bare]
exten => _9X.,1,Dial(Local/${EXTEN:1}@bench-far/n,30)
 same => n,Hangup()

[bench-billed]
exten => _9X.,1,Gosub(billing-dial,s,1(${EXTEN},Local/${EXTEN:1}@bench-far/n,30))
 same => n,Hangup()

[bench-far]
exten => _X.,1,Answer(,i)
 same => n,Wait(${IF($["${TALK_S}" = ""]?0:${TALK_S})})
 same => n,Hangup()
"""
WANTED_EVENTS = ("Hangup", "DialEnd")
SHIPPED = ROOT / "billing_addon" / "dialplan" / "billing.conf"
PUSH_SETTLE = "same => n,Set(CHANNEL(hangup_handler_push)=billing-settle,s,1)"
ASK_AUTHORIZE = "same => n,AGI(agi://${BILLING_AGI}/authorize,${CALLERID(num)},${ARG1},BILLING_ANSWER)"
SET_AGI_ADDRESS = ('exten => s,1,Set(BILLING_AGI=${IF($["${BILLING_AGI_HOST}" = ""]?'
                   '127.0.0.1:${BILLING_AGI_HOST})})')
KINDS = ("bare", "billed", "no_settle", "no_agi", "bare_paced", "constant_agi")
CONTEXTS = {"bare": "bench-bare", "billed": "bench-billed", "no_settle": "bench-no-settle",
            "no_agi": "bench-no-agi", "bare_paced": "bench-bare",
            "constant_agi": "bench-constant-agi"}


def _shipped_dial_without(name: str, *lines: str, instead: str = "same => n,NoOp()") -> str:
    """[billing-dial] of the shipped dialplan as context ``name``, with ``lines`` (each
    must be there: a changed dialplan fails the benchmark, not its figures) replaced:
    by ``instead``, the authorize AGI by a constant answer."""
    text = SHIPPED.read_text(encoding="utf-8")
    start = text.index("\n[billing-dial]") + 1
    dial = text[start:text.index("\n[", start + 1) + 1].replace("[billing-dial]", f"[{name}]")
    for line in lines:
        assert line in dial, f"the shipped dialplan has no {line!r}"
        dial = dial.replace(line, instead if line != ASK_AUTHORIZE else
                            "same => n,Set(BILLING_ANSWER=ALLOWED,,3600000,,)")
    return dial


def _variant_contexts(constant_port: int) -> str:
    contexts = [_shipped_dial_without("bench-no-settle-dial", PUSH_SETTLE),
                _shipped_dial_without("bench-no-agi-dial", PUSH_SETTLE, ASK_AUTHORIZE),
                _shipped_dial_without("bench-constant-agi-dial", SET_AGI_ADDRESS,
                                      instead=f"exten => s,1,Set(BILLING_AGI=127.0.0.1:"
                                              f"{constant_port})")]
    for kind in ("no-settle", "no-agi", "constant-agi"):
        contexts.append(f"[bench-{kind}]\nexten => _9X.,1,Gosub(bench-{kind}-dial,s,1(${{EXTEN}},"
                        f"Local/${{EXTEN:1}}@bench-far/n,30))\n same => n,Hangup()\n")
    return "\n".join(contexts)


class _Ami:
    """AMI with only the events the benchmark counts (a filter in Asterisk, so neither
    side spends time on the rest): ``on_event`` gets each as a dict, on the reader thread."""

    def __init__(self, port: int, on_event: Callable[[Dict[str, str]], None]):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.on_event = on_event
        self._reader = self.sock.makefile("rb")
        self._reader.readline()  # banner
        self._ids = 0
        self._send("Login", Username="test", Secret="testsecret", Events="call")
        for name in WANTED_EVENTS:
            self._send("Filter", Operation="Add", Filter=f"Event: {name}")
        threading.Thread(target=self._read, name="bench-ami", daemon=True).start()

    def _send(self, action: str, **fields: str) -> None:
        self._ids += 1
        lines = [f"Action: {action}", f"ActionID: b{self._ids}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def originate(self, channel: str, phone_uid: str, uid: str, caller: str,
                  talk_s: float = 0) -> None:
        self._send("Originate", Channel=channel, Application="Wait", Data="30",
                   CallerID=f'"Ext {caller}" <{caller}>', Async="true",
                   ChannelId=phone_uid, OtherChannelId=uid, Variable=f"__TALK_S={talk_s:g}")

    def _read(self) -> None:
        message: Dict[str, str] = {}
        for raw in self._reader:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line:
                key, _, value = line.partition(": ")
                message[key] = value
                continue
            if message.get("Event") in WANTED_EVENTS:
                self.on_event(message)
            message = {}

    def close(self) -> None:
        try:
            self._send("Logoff")
        finally:
            self.sock.close()


class _Calls:
    """Places calls and tells when each one is over (both halves of the caller's
    Local channel hung up) and when it was answered."""

    def __init__(self, ami_port: int):
        self.lock = threading.Condition()
        self.waiting: Dict[str, List] = {}  # uniqueid -> [call, other uniqueid]
        self.open: Dict[str, dict] = {}
        self.ami = _Ami(ami_port, self._event)
        self._n = 0
        self._epoch = int(time.time())

    def _event(self, event: Dict[str, str]) -> None:
        uid = event.get("Uniqueid", "")
        now = time.perf_counter()
        with self.lock:
            call = self.open.get(uid)
            if call is None:
                return
            if event["Event"] == "DialEnd":
                if event.get("DialStatus") == "ANSWER" and uid == call["uid"]:
                    call.setdefault("answered", now)
                return
            call["gone"] += 1
            if call["gone"] == 2:
                call["ended"] = now
                del self.open[call["uid"]], self.open[call["phone"]]
                self.lock.notify_all()

    def place(self, context: str, talk_s: float = 0) -> dict:
        self._n += 1
        call = {"uid": f"{self._epoch}.{900000 + 2 * self._n}",
                "phone": f"{self._epoch}.{900001 + 2 * self._n}", "gone": 0}
        caller = EXTENSIONS[self._n % len(EXTENSIONS)]
        with self.lock:
            self.open[call["uid"]] = self.open[call["phone"]] = call
        call["placed"] = time.perf_counter()
        self.ami.originate(f"Local/91{self._n % 1000000:06d}@{context}", call["phone"],
                           call["uid"], caller, talk_s)
        return call

    def in_flight(self) -> int:
        return len(self.open) // 2

    def saturate(self, context: str, in_flight: int, seconds: float,
                 rate: Optional[float] = None) -> float:
        """Calls completed per second with ``in_flight`` kept up for ``seconds`` (the
        calls still up then are waited for and counted); with ``rate``, no more than
        that many a second are placed (the same load for kinds that cost less)."""
        first = self._n
        started = time.perf_counter()
        end = started + seconds
        with self.lock:
            while True:
                while (self.in_flight() < in_flight and time.perf_counter() < end
                       and (rate is None or self._n - first < rate * (time.perf_counter() - started))):
                    self.lock.release()
                    try:
                        self.place(context)
                    finally:
                        self.lock.acquire()
                if time.perf_counter() >= end and not self.open:
                    break
                now = time.perf_counter()
                if now < end:  # a call ended, its turn to be placed came, or time to stop
                    turn = end if rate is None else started + (self._n - first + 1) / rate
                    self.lock.wait(timeout=max(0.0005, min(end, turn) - now))
                elif not self.lock.wait(timeout=30.0):
                    raise RuntimeError(f"{self.in_flight()} calls did not end in 30 s")
        return (self._n - first) / (time.perf_counter() - started)

    def latency(self, context: str, calls: int, in_flight: int = LATENCY_IN_FLIGHT) -> List[float]:
        """Originate -> the caller's dial answered (ms), for calls of LATENCY_TALK_S
        with ``in_flight`` of them up at a time: real traffic's pace, not saturation.
        The first ``in_flight`` calls are placed LATENCY_TALK_S / in_flight apart, and a
        call is placed when one ends, so they stay spread over the talk time: placed
        together, they would end together and come back as bursts of ``in_flight``
        calls set up at once (and their settlements with them), and the p50 would be
        the middle of such a queue (2-16 ms added in one run to the next)."""
        placed: List[dict] = []
        spread = LATENCY_TALK_S / in_flight
        with self.lock:
            while len(placed) < calls or self.open:
                while self.in_flight() < in_flight and len(placed) < calls:
                    if placed and len(placed) < in_flight:
                        self.lock.wait(timeout=max(0.0, placed[-1]["placed"] + spread
                                                   - time.perf_counter()))
                        if time.perf_counter() < placed[-1]["placed"] + spread:
                            continue  # woken early by a call's event: wait the rest
                    self.lock.release()
                    try:
                        placed.append(self.place(context, LATENCY_TALK_S))
                    finally:
                        self.lock.acquire()
                if not self.lock.wait(timeout=30):
                    raise RuntimeError("a call did not end in 30 s")
        return [(call["answered"] - call["placed"]) * 1000 for call in placed if "answered" in call]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(calls: _Calls, kind: str, in_flight: int, seconds: float, agi_pid: int, asterisk,
         cpu: Dict[str, float], placed: Dict[str, int], rate: Optional[float] = None) -> float:
    """One saturated (or, with ``rate``, paced) run of ``kind``; adds its CPU and calls.
    ``agi_pid``: the FastAGI server's process (the daemon, or the constant server)."""
    before = (_cpu_seconds(agi_pid), _cpu_seconds(asterisk.proc.pid), calls._n)
    done = calls.saturate(CONTEXTS[kind], in_flight, seconds, rate)
    placed[kind] += calls._n - before[2]
    cpu[f"asterisk_{kind}"] += _cpu_seconds(asterisk.proc.pid) - before[1]
    cpu[f"daemon_{kind}"] += _cpu_seconds(agi_pid) - before[0]
    return done


def _median_rate(runs: List[float]) -> float:
    return round(statistics.median(runs), 1)


def bench_asterisk(run_seconds: float = RUN_SECONDS, rounds: int = ROUNDS,
                   in_flight=IN_FLIGHT, latency_calls: int = LATENCY_CALLS,
                   durability: str = "full") -> Optional[dict]:
    sys.path.insert(0, str(ROOT))
    from billing_addon import store
    from tests.helpers import make_extension, make_rate
    from tests.live.asterisk import Asterisk, NoAsterisk, find, free_port
    from tests.live.livepbx import Daemon

    from .bench_call import start_constant_server

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            build = find(root / "build")
        except NoAsterisk as exc:
            print(f"bench_asterisk skipped: {exc}")
            # a tiny run (make test) on a clone without the Asterisk build still shows that
            # the module runs up to here; a real run keeps the last real figures
            return {"skipped": str(exc)} if tiny() else None
        agi_port = free_port()
        constant, constant_port = start_constant_server()
        try:
            asterisk = Asterisk(build, root / "asterisk", agi_port)
            asterisk.configure()
            with open(asterisk.etc / "extensions.conf", "a", encoding="utf-8") as fh:
                fh.write(BENCH_CONTEXTS + _variant_contexts(constant_port))
            (root / "daemon").mkdir()
            daemon = Daemon(root / "daemon", agi_port, asterisk.master_csv)
            if durability != "full":
                ini = Path(daemon.ini)
                ini.write_text(ini.read_text().replace("[box]\n", f"[box]\ndurability = {durability}\n", 1))
            daemon.cli("init")
            daemon.board("activate")
            store.init_db(root / "daemon" / "data" / "billing.db")
            try:
                for number in EXTENSIONS:
                    make_extension(number, balance="100000")
                make_rate("91", rate="0.01", unit="1")
            finally:
                store.close_db()
            ami = asterisk.start()
            ami.close()
            daemon.start()
            calls = None
            try:
                assert daemon.proc is not None and asterisk.proc is not None
                calls = _Calls(asterisk.ami_port)
                calls.saturate("bench-billed", 10, 1.0)  # warm-up: both paths, caches, pages
                calls.saturate("bench-bare", 10, 1.0)
                rates: Dict[str, List[float]] = {}
                cpu = {f"{who}_{kind}": 0.0 for kind in KINDS for who in ("asterisk", "daemon")}
                placed = {kind: 0 for kind in KINDS}
                for _ in range(rounds):
                    for n in in_flight:
                        for kind in ("bare", "billed"):
                            rates.setdefault(f"{kind}_{n}", []).append(
                                _run(calls, kind, n, run_seconds, daemon.proc.pid, asterisk, cpu,
                                     placed))
                        for kind in ("no_settle", "no_agi", "bare_paced", "constant_agi"):
                            _run(calls, kind, n, run_seconds,  # at the billed rate
                                 constant.pid if kind == "constant_agi" else daemon.proc.pid,
                                 asterisk, cpu, placed, rate=rates[f"billed_{n}"][-1])
                latency = {kind: statistics.median(calls.latency(CONTEXTS[kind], latency_calls))
                           for kind in ("bare", "billed", "constant_agi")}
            finally:
                if calls is not None:
                    calls.ami.close()
                daemon.stop()
                asterisk.stop()
        finally:
            constant.kill()
            constant.wait(30)
    figures: dict = {"talk_s": 0, "run_seconds": run_seconds, "rounds": rounds,
                     "durability": durability}
    for n in in_flight:
        bare, billed = _median_rate(rates[f"bare_{n}"]), _median_rate(rates[f"billed_{n}"])
        figures[f"billed_calls_per_s_{n}_in_flight"] = figure(billed, "calls/s", raw_limit=bare,
                                                             target=round(0.8 * bare))
    per_call = {key: round(seconds / max(1, placed[key.split("_", 1)[1]]) * 1000, 3)
                for key, seconds in cpu.items()}
    figures["daemon_cpu_ms_per_call"] = figure(per_call["daemon_billed"], "ms", target=0.6,
                                               raw_limit=per_call["daemon_constant_agi"])
    figures["daemon_cpu_ms_per_call_authorize_only"] = per_call["daemon_no_settle"]
    for kind in KINDS:
        figures[f"asterisk_cpu_ms_per_call_{kind}"] = per_call[f"asterisk_{kind}"]
    figures["asterisk_cpu_ms_of_a_billed_call"] = {
        "dialplan": round(per_call["asterisk_no_agi"] - per_call["asterisk_bare_paced"], 3),
        "authorize_agi": round(per_call["asterisk_no_settle"] - per_call["asterisk_no_agi"], 3),
        "settle_channel": round(per_call["asterisk_billed"] - per_call["asterisk_no_settle"], 3)}
    figures["setup_p50_ms_bare"] = round(latency["bare"], 2)
    figures["setup_p50_ms_billed"] = round(latency["billed"], 2)
    figures["setup_p50_ms_constant_agi"] = round(latency["constant_agi"], 2)
    figures["setup_p50_ms_added"] = figure(
        round(latency["billed"] - latency["bare"], 2), "ms", target=1.5,
        raw_limit=round(latency["constant_agi"] - latency["bare"], 2))
    return figures


def main() -> None:
    figures = bench_asterisk()
    if figures is not None:
        record("asterisk", figures)


if __name__ == "__main__":
    main()
