"""Helpers for the PBX tests: the recorded Asterisk fixtures and a fake Asterisk that
replays them byte for byte over loopback.

The fake Asterisk only ever sends bytes taken from the recordings: the environment
block of a recorded session, and for each command the server sends, the reply that
Asterisk recorded for that same command (``SET VARIABLE`` of a plain or quoted value
always answered ``200 result=1`` in the recordings).  A command never recorded fails
the test instead of getting an invented reply.  Like the real one, it writes
``HANGUP`` after it reads EOF from the server, then closes.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# the recordings, copied byte for byte from a real Asterisk 22 (see its README)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "asterisk"
AGI_DIR = FIXTURES / "agi"


def sidecar(name: str) -> dict:
    return json.loads((AGI_DIR / f"{name}.json").read_text(encoding="utf-8"))


def env_bytes(name: str) -> bytes:
    """The exact environment block Asterisk sent in a recorded session."""
    raw = sidecar(name)["raw_received"].encode("utf-8")
    end = raw.index(b"\n\n") + 2
    return raw[:end]


def sessions() -> List[str]:
    return sorted(p.stem for p in AGI_DIR.glob("*.json"))


def transcript(name: str) -> List[Tuple[str, str]]:
    """(direction, line) pairs of a ``.txt`` transcript, notes included."""
    out = []
    for line in (AGI_DIR / f"{name}.txt").read_text(encoding="utf-8").split("\n"):
        if line:
            out.append((line[0], line[1:]))
    return out


def recorded_replies() -> Dict[str, List[str]]:
    """Every command any recorded server sent, with the reply lines Asterisk gave."""
    table: Dict[str, List[str]] = {}
    for name in sessions():
        for ex in sidecar(name)["exchanges"]:
            table.setdefault(ex["command"], ex["reply"]["lines"])
    return table


REPLIES = recorded_replies()
_SET = re.compile(r'^SET VARIABLE [A-Za-z_][A-Za-z0-9_]* ([^\s"]+|"(?:[^"\\]|\\.)*")$')


def reply_for(command: str) -> List[str]:
    if command in REPLIES:
        return REPLIES[command]
    if _SET.match(command):  # recorded: SET VARIABLE X value / "quoted value" -> 200 result=1
        return REPLIES["SET VARIABLE BILLING_RESULT ALLOWED"]
    raise AssertionError(f"the server sent a command never recorded: {command!r}")


@dataclass
class FakeCall:
    """The result of one replayed session."""

    commands: List[str] = field(default_factory=list)
    variables: Dict[str, str] = field(default_factory=dict)
    server_closed: bool = False
    error: Optional[str] = None


def _unquote(value: str) -> str:
    if value.startswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def replay(address, env: bytes, *, hangup_after_env: bool = False, timeout: float = 20.0,
           replies=reply_for, sock: Optional[socket.socket] = None) -> FakeCall:
    """Play Asterisk's side of one FastAGI session against the server at ``address``
    (or on ``sock``, connected and its environment already sent)."""
    call = FakeCall()
    sent = sock is not None
    if sock is None:
        sock = socket.create_connection(address, timeout=timeout)
    try:
        if not sent:
            sock.sendall(env)
        if hangup_after_env:
            sock.sendall(b"HANGUP\n")
        reader = sock.makefile("rb")
        while True:
            raw = reader.readline()
            if not raw:
                call.server_closed = True
                try:
                    sock.sendall(b"HANGUP\n")  # what Asterisk does after reading EOF
                except OSError:
                    pass
                break
            command = raw.rstrip(b"\n").decode("utf-8")
            call.commands.append(command)
            match = _SET.match(command)
            if match:
                call.variables[command.split(" ")[2]] = _unquote(match.group(1))
            sock.sendall("".join(line + "\n" for line in replies(command)).encode("utf-8"))
    except OSError as exc:
        call.error = str(exc)
    finally:
        sock.close()
    return call


def make_env(script: str, uniqueid: str, args: List[str], *, callerid: str = "1001",
             extension: str = "91234567", template: str = "a-limit-cut-authorize") -> bytes:
    """A recorded environment with the script, uniqueid, caller and arguments replaced
    (for load tests that need many distinct calls); line order and format unchanged."""
    lines = env_bytes(template).decode("utf-8").split("\n")[:-2]
    out = []
    for line in lines:
        name, _, value = line.partition(": ")
        if name.startswith("agi_arg_"):
            continue
        value = {
            "agi_network_script": script,
            "agi_request": f"agi://127.0.0.1:4573/{script}",
            "agi_uniqueid": uniqueid,
            "agi_callerid": callerid,
            "agi_accountcode": callerid,
            "agi_extension": extension if script == "authorize" else "s",
            "agi_context": "from-internal" if script == "authorize" else "billing-settle",
        }.get(name, value)
        out.append(f"{name}: {value}")
    out += [f"agi_arg_{i}: {a}" for i, a in enumerate(args, 1)]
    return ("\n".join(out) + "\n\n").encode("utf-8")


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def cdr_rows(uniqueid: str, caller: str, dialed: str, start_utc: int, answered_s: int, zone,
             *, ring_s: int = 2, disposition: str = "ANSWERED", seq: int = 0) -> str:
    """The three Master.csv rows (21 columns) Asterisk writes for one call of the
    recorded dialplan, in the recorded format: the callee-less Dial row that bills, the
    caller channel's ``Return`` row of the hangup handler, and the originate side's row."""
    import datetime as dt

    def local(ts):
        return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")

    epoch, _, n = uniqueid.partition(".")
    linkedid = f"{epoch}.{int(n) + 100000}"
    chan = f"Local/{dialed}@from-internal-{int(n):08x}"
    answered = disposition == "ANSWERED"
    start = local(start_utc)
    answer = _q(local(start_utc + ring_s)) if answered else ""
    end_ts = start_utc + ring_s + answered_s if answered else start_utc + ring_s
    end = local(end_ts)
    duration = end_ts - start_utc
    clid = _q(f'"Ext {caller}" <{caller}>')
    dial = [_q(caller), _q(caller), _q(dialed), _q("from-internal"), clid, _q(chan + ";2"),
            _q(f"PJSIP/trunk-{int(n):08x}"), _q("Dial"), _q(f"PJSIP/{dialed}@trunk,30,L(60000)"),
            _q(start), answer, _q(end), str(duration), str(answered_s if answered else 0),
            _q(disposition), _q("DOCUMENTATION"), _q(uniqueid), _q(""), _q(caller), _q(linkedid),
            str(seq)]
    ret = [_q(caller), _q(caller), _q(dialed), _q("from-internal"), clid, _q(chan + ";2"), _q(""),
           _q("Return"), _q(""), _q(end), _q(end) if answered else "", _q(end), "0", "0",
           _q("ANSWERED" if answered else "NO ANSWER"), _q("DOCUMENTATION"), _q(uniqueid), _q(""),
           _q(""), _q(linkedid), str(seq + 1)]
    orig = [_q(""), _q(""), _q(dialed), _q("from-internal"), _q('"" <>'), _q(chan + ";1"), _q(""),
            _q("Wait"), _q("30"), _q(start), answer, _q(end), str(duration),
            str(answered_s if answered else 0), _q(disposition), _q("DOCUMENTATION"), _q(linkedid),
            _q(""), _q(""), _q(linkedid), str(seq + 2)]
    return "".join(",".join(row) + "\n" for row in (dial, ret, orig))


def write_config(folder, **sections) -> str:
    """An INI file for a daemon under ``folder``: loopback, ephemeral ports, everything
    in the folder.  ``sections`` override: write_config(p, cdr={"poll_seconds": "1"})."""
    values = {
        "box": {"board": "demo", "board_root": "root", "database": "data/billing.db"},
        "agi": {"port": "0"},
        "web": {"port": "0"},
        # the recorded dialplan sets no CDR mark (see cdr.BILLING_MARK)
        "cdr": {"path": "cdr/Master.csv", "poll_seconds": "1", "start": "beginning", "mark": ""},
        "sync": {"files": "pjsip.conf"},
        "log": {"file": "log/daemon.log", "level": "INFO"},
        "daemon": {"shutdown_seconds": "10"},
    }
    for section, options in sections.items():
        values.setdefault(section, {}).update(options)
    text = "".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in o.items()) + "\n"
                   for s, o in values.items())
    path = Path(folder) / "billing.ini"
    path.write_text(text, encoding="utf-8")
    (Path(folder) / "cdr").mkdir(exist_ok=True)
    (Path(folder) / "cdr" / "Master.csv").touch()
    return str(path)


def logged_port(log_path, what: str, timeout: float = 30.0, after: int = 0) -> int:
    """The port a daemon logged ('FastAGI listening on 127.0.0.1:PORT' or 'web UI on
    http://127.0.0.1:PORT/'), waiting for the line; ``after`` skips earlier bytes."""
    import time

    pattern = {"agi": r"FastAGI listening on [\d.]+:(\d+)", "web": r"web UI on http://[\d.]+:(\d+)/"}[what]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            text = Path(log_path).read_bytes()[after:].decode("utf-8", "replace")
        except FileNotFoundError:
            text = ""
        match = re.search(pattern, text)
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no {what} port in {log_path}")
