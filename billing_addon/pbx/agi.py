"""The FastAGI protocol as Asterisk 22 speaks it (see shared/fixtures/asterisk/README.md).

Asterisk opens one TCP connection per ``AGI(agi://host:port/script,args)``, sends
``agi_name: value`` lines and an empty line, then waits for commands.  Every command gets
one reply: ``200 result=N [(data)]`` or an error code (510 unknown command, 511 not
permitted on a dead channel, 520 syntax error, the latter also as a multi-line
``520-...`` / ``520 End of proper usage.`` block).  A bare ``HANGUP`` line may arrive at
any time without being asked for (the caller hung up, or the server half-closed).
Everything is bare LF.  This module is sockets-free apart from ``Session``, so the
parsing can be tested on recorded bytes.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

MAX_LINE = 4096  # one env or reply line; Asterisk's own buffers are smaller
MAX_ENV_LINES = 256  # 24 agi_* lines plus the arguments
MAX_ENV_BYTES = 64 * 1024
MAX_REPLY_LINES = 64  # a 520- usage block

_REPLY = re.compile(r"^(\d{3})([ -])(.*)$")
_SAFE_VALUE = re.compile(r'^[^\s"\\]+$')


class AgiError(Exception):
    """The peer broke the protocol (bad line, too big, too slow); drop the connection."""


class PeerGone(AgiError):
    """The peer closed the connection (EOF or reset)."""


@dataclass(frozen=True)
class Reply:
    """One parsed reply.  ``result`` is the ``result=`` number (None for errors), ``data``
    the text inside the parentheses (None when there were none)."""

    code: int
    result: Optional[str] = None
    data: Optional[str] = None
    text: str = ""
    lines: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200


def parse_env_line(line: str) -> Tuple[str, str]:
    """``agi_arg_2: 1234567`` -> ('agi_arg_2', '1234567').  An empty value keeps its
    separator (``agi_arg_4: ``), so split on the first ': ' or a trailing ':'."""
    name, sep, value = line.partition(": ")
    if not sep:
        if line.endswith(":"):
            name, value = line[:-1], ""
        else:
            raise AgiError(f"not an agi_ line: {line[:60]!r}")
    if not name.startswith("agi_") or not name.replace("_", "").isalnum():
        raise AgiError(f"not an agi_ variable: {name[:60]!r}")
    return name, value


def args(env: Dict[str, str]) -> List[str]:
    """The ``agi_arg_N`` values in order (gaps end the list)."""
    out: List[str] = []
    while f"agi_arg_{len(out) + 1}" in env:
        out.append(env[f"agi_arg_{len(out) + 1}"])
    return out


def script_name(env: Dict[str, str]) -> str:
    """The script path of ``agi://host:port/<path>``, without slashes or a query."""
    script = env.get("agi_network_script") or ""
    if not script:
        request = env.get("agi_request", "")
        script = request.split("://", 1)[-1].partition("/")[2]
    return script.partition("?")[0].strip("/")


def parse_reply(lines: List[str]) -> Reply:
    """Parse the lines of one reply (the last line has a space after the code).

    ``200 result=1 (a (b) c)`` has data ``a (b) c``: the data runs to the *last* ')'."""
    last = lines[-1]
    match = _REPLY.match(last)
    if not match or match.group(2) != " ":
        raise AgiError(f"not a reply line: {last[:60]!r}")
    code, rest = int(match.group(1)), match.group(3)
    if code != 200:
        text = "\n".join(line[4:] for line in lines)
        return Reply(code, None, None, text, tuple(lines))
    if not rest.startswith("result="):
        raise AgiError(f"200 reply without result=: {last[:60]!r}")
    body = rest[len("result="):]
    number, _, tail = body.partition(" ")
    if not re.fullmatch(r"-?\d+", number):
        raise AgiError(f"bad result value: {last[:60]!r}")
    data, text = None, ""
    if tail.startswith("(") and ")" in tail:
        close = tail.rindex(")")
        data, text = tail[1:close], tail[close + 1:].strip()
    else:
        text = tail
    return Reply(200, number, data, text, tuple(lines))


def quote(value: str) -> str:
    """A SET VARIABLE value as Asterisk parses it: bare when it has no blanks or quotes
    (the recordings send ``SET VARIABLE BILLING_RESULT ALLOWED``), else in double
    quotes with ``\\`` and ``"`` escaped.  An unquoted value with spaces is a 520."""
    if _SAFE_VALUE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clean_token(value: str) -> str:
    """A command word must not carry a line break (it would start a new command)."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise ValueError("line breaks are not allowed in an AGI command")
    return value


class Session:
    """One FastAGI connection: read the env, send commands, read replies, end politely.

    ``idle_timeout`` bounds every wait for the peer, ``deadline`` (monotonic seconds)
    the whole session, so a peer that trickles bytes is dropped too."""

    def __init__(self, sock: socket.socket, idle_timeout: float = 10.0,
                 session_timeout: float = 30.0):
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.deadline = time.monotonic() + session_timeout
        self.reader = sock.makefile("rb", buffering=8192)
        self._timeout = -1.0
        self.env: Dict[str, str] = {}
        self.hungup = False  # an unsolicited HANGUP arrived
        self.commands: List[str] = []

    # -- reading ---------------------------------------------------------------------
    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise AgiError("session took too long")
        timeout = min(self.idle_timeout, left)
        # settimeout() is a system call; skip it while the timeout barely changes
        if abs(timeout - self._timeout) > 0.1 * self.idle_timeout or timeout < self._timeout:
            self.sock.settimeout(timeout)
            self._timeout = timeout

    def readline(self) -> str:
        self._arm()
        try:
            raw = self.reader.readline(MAX_LINE + 1)
        except socket.timeout:
            raise AgiError("peer too slow") from None
        except OSError as exc:
            raise PeerGone(str(exc)) from None
        if not raw:
            raise PeerGone("EOF")
        if not raw.endswith(b"\n"):
            if len(raw) > MAX_LINE:
                raise AgiError("line too long")
            raise PeerGone("EOF inside a line")
        return raw[:-1].rstrip(b"\r").decode("utf-8", "replace")

    def read_env(self) -> Dict[str, str]:
        total = 0
        for _ in range(MAX_ENV_LINES):
            line = self.readline()
            total += len(line) + 1
            if total > MAX_ENV_BYTES:
                raise AgiError("environment too big")
            if line == "":
                if not self.env:
                    raise AgiError("empty environment")
                return self.env
            if line == "HANGUP":
                self.hungup = True
                continue
            name, value = parse_env_line(line)
            self.env[name] = value
        raise AgiError("environment has too many lines")

    def read_reply(self) -> Reply:
        lines: List[str] = []
        while len(lines) < MAX_REPLY_LINES:
            line = self.readline()
            if line == "HANGUP" and not lines:
                self.hungup = True
                continue
            if not lines and not _REPLY.match(line):
                raise AgiError(f"unexpected line: {line[:60]!r}")
            lines.append(line)
            # A multi-line reply (``520-...``) ends with the same code and a space.
            if line[:4] == lines[0][:3] + " ":
                return parse_reply(lines)
        raise AgiError("reply has too many lines")

    # -- writing ---------------------------------------------------------------------
    def command(self, text: str) -> Reply:
        clean_token(text)
        self._arm()
        try:
            self.sock.sendall(text.encode("utf-8") + b"\n")
        except socket.timeout:
            raise AgiError("peer does not read") from None
        except OSError as exc:
            raise PeerGone(str(exc)) from None
        self.commands.append(text)
        return self.read_reply()

    def set_variable(self, name: str, value: str) -> Reply:
        return self.command(f"SET VARIABLE {clean_token(name)} {quote(clean_token(value))}")

    def get_variable(self, name: str) -> Optional[str]:
        """The variable's value, or None when it is not set (``200 result=0``)."""
        reply = self.command(f"GET VARIABLE {clean_token(name)}")
        if reply.ok and reply.result == "1":
            return reply.data if reply.data is not None else ""
        return None

    def finish(self, drain_timeout: float = 2.0, drain_limit: int = 4096) -> None:
        """End like the recording server did: half-close, read Asterisk's trailing
        ``HANGUP`` until it closes (bounded), then close."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            end = time.monotonic() + drain_timeout
            received = 0
            while received < drain_limit:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                chunk = self.sock.recv(1024)
                if not chunk:
                    break
                received += len(chunk)
        except OSError:
            pass
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()
