"""The FastAGI protocol as Asterisk 22 speaks it (see tests/fixtures/asterisk/README.md).

Asterisk opens one TCP connection per ``AGI(agi://host:port/script,args)``, sends
``agi_name: value`` lines and an empty line, then waits for commands.  Every command gets
one reply: ``200 result=N [(data)]`` or an error code (510 unknown command, 511 not
permitted on a dead channel, 520 syntax error, the latter also as a multi-line
``520-...`` / ``520 End of proper usage.`` block).  A bare ``HANGUP`` line may arrive at
any time without being asked for (the caller hung up, or the server half-closed).
Everything is bare LF.  This module holds no socket: the server feeds it lines, so
the parsing can be tested on recorded bytes.

A script is a generator that yields steps and gets their outcome back: a ``Command``
is sent to Asterisk and answered with its ``Reply``; a ``Work`` runs a function in a
worker thread (database work, which may wait for a disk) and is answered with its
return value.  The server drives it; ``run_inline`` drives it in tests.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Generator, List, Mapping, Optional, Tuple, Union

log = logging.getLogger("billing_addon.pbx.agi")

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


class Abandoned(Exception):
    """Thrown into a script whose connection is gone (or timed out): the script may
    yield one last ``Work`` to undo what Asterisk will never hear of; it runs in a
    worker, its outcome is dropped, and the script is closed."""


class WouldBlock(Exception):
    """Raised by ``Work`` run on the server's loop when it would have to wait (say, for
    a lock held by another process): the server hands it to a worker thread instead."""


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


class EnvReader:
    """Collects the ``agi_*`` environment line by line; ``feed`` is True at its end."""

    def __init__(self) -> None:
        self.env: Dict[str, str] = {}
        self.hungup = False
        self._lines = 0
        self._bytes = 0

    @property
    def started(self) -> bool:
        """Has a line of the environment been read?"""
        return self._lines > 0

    def feed_lines(self, lines: Deque[str]) -> bool:
        """``feed`` the lines from the left of ``lines`` until the environment ends
        (True; the lines after it are left) or they run out (False).  One call per
        block instead of one per line: Asterisk sends the whole environment at once,
        and this runs for every call (the checks of ``_count`` are made inline)."""
        env = self.env
        count, size = self._lines, self._bytes
        try:
            while lines:
                line = lines.popleft()
                count += 1
                size += len(line) + 1
                if size > MAX_ENV_BYTES:
                    raise AgiError("environment too big")
                if count > MAX_ENV_LINES:
                    raise AgiError("environment has too many lines")
                name, sep, value = line.partition(": ")
                if sep and name[:4] == "agi_" and name[4:].replace("_", "").isalnum():
                    env[name] = value  # the usual line, checked as parse_env_line does
                elif self.feed_other(line):
                    return True
            return False
        finally:
            self._lines, self._bytes = count, size

    def feed(self, line: str) -> bool:
        self._count(line)
        return self.feed_other(line)

    def _count(self, line: str) -> None:
        self._lines += 1
        self._bytes += len(line) + 1
        if self._bytes > MAX_ENV_BYTES:
            raise AgiError("environment too big")
        if self._lines > MAX_ENV_LINES:
            raise AgiError("environment has too many lines")

    def feed_other(self, line: str) -> bool:
        """A line after its size was counted: the end, HANGUP or an ``agi_`` line."""
        if line == "":
            if not self.env:
                raise AgiError("empty environment")
            return True
        if line == "HANGUP":
            self.hungup = True
            return False
        name, value = parse_env_line(line)
        self.env[name] = value
        return False


class ReplyReader:
    """Collects the lines of one reply; ``feed`` returns the ``Reply`` once complete.
    An unsolicited ``HANGUP`` before the reply is noted and skipped."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.hungup = False

    def feed(self, line: str) -> Optional[Reply]:
        lines = self.lines
        if not lines:
            if line == "HANGUP":
                self.hungup = True
                return None
            if not _REPLY.match(line):
                raise AgiError(f"unexpected line: {line[:60]!r}")
        if len(lines) >= MAX_REPLY_LINES:
            raise AgiError("reply has too many lines")
        lines.append(line)
        # A multi-line reply (``520-...``) ends with the same code and a space.
        if line[:4] == lines[0][:3] + " ":
            return parse_reply(lines)
        return None


def split_lines(buffer: bytearray) -> List[str]:
    """Take the complete lines out of ``buffer`` (bare LF; a CR before it is dropped).
    What is left is an unfinished line; longer than ``MAX_LINE`` is an error."""
    end = buffer.rfind(b"\n")
    if end < 0:
        if len(buffer) > MAX_LINE:
            raise AgiError("line too long")
        return []
    chunk = bytes(buffer[:end])
    del buffer[:end + 1]
    if len(buffer) > MAX_LINE:
        raise AgiError("line too long")
    text = chunk.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):  # the CR of the buffer's last LF
            text = text[:-1]
    lines = text.split("\n")
    if len(text) > MAX_LINE and max(map(len, lines)) > MAX_LINE:
        raise AgiError("line too long")
    return lines


@dataclass(frozen=True)
class Command:
    """A step: send ``text`` to Asterisk, get its ``Reply``.  ``last``: the script sends
    nothing after it, so the server half-closes right behind it; Asterisk then reads
    the end of the session together with the command and ends the AGI once it has
    replied, instead of waiting for the half-close a round trip later.  The reply still
    comes back (TCP delivers the command before the end, Asterisk replies to it)."""

    text: str
    last: bool = False

    def __post_init__(self) -> None:
        clean_token(self.text)


Outcome = Tuple[Any, Optional[BaseException]]  # of a Work: its result, or what it raised


@dataclass(frozen=True)
class Work:
    """A step: run ``function(*args)`` in a worker thread, get its return value.
    ``urgent`` work (authorize: a caller waits for the dial tone) goes first.
    ``many([args, ...])``, when given: the outcomes ``(result, error)`` of several such
    works at once, which a worker that finds them queued next to each other runs
    together (settle: one transaction and one fsync for them all)."""

    function: Callable[..., Any]
    args: Tuple[Any, ...] = ()
    urgent: bool = False
    many: Optional[Callable[[List[Tuple[Any, ...]]], List[Outcome]]] = None


def outcome_of(function: Callable[..., Any], args: Tuple[Any, ...]) -> Outcome:
    try:
        return function(*args), None
    except Exception as exc:  # handed back to the script, as from a worker
        return None, exc
    except BaseException as exc:  # SystemExit and the like must not end the loop's thread
        log.exception("FastAGI work interrupted")
        return None, RuntimeError(f"work interrupted: {exc!r}")


Step = Union[Command, Work]
Script = Generator[Step, Any, Any]


def set_variable(name: str, value: str, last: bool = False) -> Command:
    return Command(f"SET VARIABLE {clean_token(name)} {quote(clean_token(value))}", last)


def get_variable(name: str) -> Command:
    return Command(f"GET VARIABLE {clean_token(name)}")


def variable_value(reply: Reply) -> Optional[str]:
    """The value a GET VARIABLE reply carries, None when the variable is not set
    (``200 result=0``)."""
    if reply.ok and reply.result == "1":
        return reply.data if reply.data is not None else ""
    return None


def run_inline(script: Script, replies: Optional[Mapping[str, List[str]]] = None) -> Any:
    """Drive a script without a socket: ``Work`` runs here, a command is answered with
    the lines ``replies`` has for it (``200 result=1`` when none).  For tests and tools."""
    replies = replies or {}
    try:
        step = next(script)
        while True:
            if isinstance(step, Work):
                outcome = step.function(*step.args)
            else:
                outcome = parse_reply(replies.get(step.text, ["200 result=1"]))
            step = script.send(outcome)
    except StopIteration as done:
        return done.value
