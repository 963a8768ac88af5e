"""Identity of a serial-attached module (GSM/LTE modem) read with an AT command.

The only module that imports pyserial.  ``ports`` may be device paths (rooted under the
board root) or pyserial URLs such as ``socket://host:port`` or ``loop://`` (used as is).
"""

from __future__ import annotations

import time

from hwlicense.board import BoardProfile, SourceSpec
from hwlicense.normalize import SourceUnavailable, normalize

MAX_REPLY = 1024


def read_at_identity(spec: SourceSpec, profile: BoardProfile) -> str:
    """Send ``command`` (default AT+CGSN) on the first port that answers; return its value."""
    import serial  # type: ignore[import-untyped]  # pyserial, only needed here

    command = spec.options.get("command", "AT+CGSN").strip()
    baudrate = int(spec.options.get("baudrate", "115200"))
    timeout = float(spec.options.get("timeout", "2"))
    reasons = []
    for port in spec.list("ports") or spec.list("port"):
        url = port if "://" in port else str(profile.path(port))
        try:
            with serial.serial_for_url(url, baudrate=baudrate, timeout=0.1) as link:
                lines = exchange(link, command, timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            reasons.append(f"{url}: {exc}")
            continue
        try:
            return parse_reply(lines, command)
        except SourceUnavailable as exc:
            reasons.append(f"{url}: {exc}")
    raise SourceUnavailable("; ".join(reasons) or "no serial ports configured")


def exchange(link, command: str, timeout: float) -> list[str]:
    """Write the command, collect reply lines until OK/ERROR or the timeout."""
    link.reset_input_buffer()
    link.write(command.encode("ascii") + b"\r")
    link.flush()
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline and len(buf) < MAX_REPLY:
        buf += link.read(max(1, link.in_waiting))
        lines = [ln.strip() for ln in buf.decode("ascii", "replace").splitlines()]
        if any(ln in ("OK", "ERROR") or ln.startswith("+CME ERROR") for ln in lines):
            return [ln for ln in lines if ln]
    raise SourceUnavailable(f"no OK/ERROR reply to {command} within {timeout:g}s")


def parse_reply(lines: list[str], command: str) -> str:
    """The value line of an AT reply: skip the echo, '+CGSN:' style prefixes, final OK."""
    if "OK" not in lines:
        raise SourceUnavailable(f"module answered {' / '.join(lines)!r} to {command}")
    prefix = "+" + command[3:].split("=")[0].split("?")[0] + ":" if command[:3] == "AT+" else ""
    for line in lines:
        if line == "OK" or line.upper() == command.upper():
            continue
        if prefix and line.upper().startswith(prefix.upper()):
            line = line[len(prefix):].strip().strip('"')
        value = normalize(line)
        if value is not None:
            return value
    raise SourceUnavailable(f"module gave no value to {command}")
