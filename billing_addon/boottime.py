"""This boot's running time: what a call's reservation is timed by, since setting the
clock cannot move it.

The wall clock steps: NTP corrects a box that booted with a wrong clock, an operator
sets it from the PBX's web UI.  A reservation timed by it is released a day early when
the clock jumps a day ahead, while its call still talks.  So a reservation ends at a
point of the kernel's running time instead, named by two files (the ones the trial
counts with, see ``hwlicense/runtime.py``):

* ``/proc/uptime``: seconds since this boot; it only grows within one boot;
* ``/proc/sys/kernel/random/boot_id``: drawn afresh at each boot, so a reservation made
  in an earlier boot is known to be over (its call ended with that boot).

Files, not ``clock_gettime``: an LD_PRELOAD clock shim (libfaketime, which the tests
use to step the clock of a subprocess) moves the monotonic clocks as well.  Where
``/proc/uptime`` cannot be read, CLOCK_BOOTTIME (else the monotonic clock) is asked;
where the boot id cannot, the boot is ``unknown`` and only the uptime counts.

Its own small copy rather than hwlicense's: the call path has no board profile to
hand that library, and the add-on runs in a developer tree without it.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Optional

UPTIME_PATH = "/proc/uptime"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
UNKNOWN_BOOT = "unknown"


class Running(NamedTuple):
    """A moment of the box's running time: which boot, and seconds since it."""

    boot: str
    seconds: float


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return fh.read(128).decode("ascii", errors="replace").strip()
    except OSError:
        return None


def _uptime() -> float:
    text = _read(UPTIME_PATH)
    try:
        return float(text.split()[0]) if text else _kernel_uptime()
    except (ValueError, IndexError):
        return _kernel_uptime()


def _kernel_uptime() -> float:
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


_boot: Optional[str] = None  # a process lives in one boot: read once


def boot_id() -> str:
    global _boot
    if _boot is None:
        _boot = (_read(BOOT_ID_PATH) or UNKNOWN_BOOT).lower()
    return _boot


# The last /proc/uptime reading and the monotonic clock then.  Authorize asks for the
# running time on every call; reading the file each time cost a tenth of the call's Python.
REREAD_SECONDS = 1.0
_read_at: Optional[float] = None
_read_uptime = 0.0


def now() -> Running:
    """The running time now: /proc/uptime, read again when the last reading is a second
    old.  In between the monotonic clock's advance is added; only for that second, so
    a clock shim that moves the monotonic clock moves the result by less than a second
    (reservations are timed in minutes)."""
    global _read_at, _read_uptime
    mono = time.monotonic()
    if _read_at is None or not 0.0 <= mono - _read_at < REREAD_SECONDS:
        _read_uptime, _read_at = _uptime(), mono
        return Running(boot_id(), _read_uptime)
    return Running(boot_id(), _read_uptime + (mono - _read_at))
