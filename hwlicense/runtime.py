"""The box's running time: what the trial counts, because setting the clock cannot move it.

Two kernel facts, both files, so that neither `date -s`, the PBX's web UI, NTP nor an
LD_PRELOAD clock shim (libfaketime) changes them:

* ``/proc/uptime``: seconds since this boot (CLOCK_BOOTTIME, which also runs while
  suspended); it only ever grows within one boot;
* ``/proc/sys/kernel/random/boot_id``: a random id the kernel draws at each boot, which
  tells one boot from the next even when the uptime happens to be larger.

On an emulated board (a profile rooted under ``--board-root DIR``) the files are read
under DIR when DIR has them, else the host's: a test or the qemu harness can hand a
device its own running time, and a plain rooted board runs on the host's.  Where
``/proc/uptime`` cannot be read at all, CLOCK_BOOTTIME (else the monotonic clock) is
asked instead; where the boot id cannot, every boot is ``unknown`` and a reboot shows as
uptime going back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hwlicense.board import BoardProfile

UPTIME_PATH = "/proc/uptime"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
UNKNOWN_BOOT = "unknown"

Uptime = Callable[[], float]  # seconds of running time since this boot
BootId = Callable[[], str]  # names this boot


def _candidates(profile: BoardProfile, path: str) -> list[Path]:
    """The file under the board's root (if rooted) first, then the host's."""
    host = Path(path)
    return [profile.path(path), host] if profile.root is not None else [host]


def _first_line(paths: list[Path]) -> str | None:
    for path in paths:
        try:
            with open(path, "rb") as fh:
                return fh.read(256).decode("ascii", errors="replace").strip()
        except OSError:
            continue
    return None


def _kernel_uptime() -> float:
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


def uptime_source(profile: BoardProfile) -> Uptime:
    """Reads the board's uptime on each call (a /proc read: a few microseconds)."""
    paths = _candidates(profile, UPTIME_PATH)

    def uptime() -> float:
        text = _first_line(paths)
        try:
            return float(text.split()[0]) if text else _kernel_uptime()
        except (ValueError, IndexError):
            return _kernel_uptime()

    return uptime


def boot_id_source(profile: BoardProfile) -> BootId:
    """Reads the board's boot id on each call."""
    paths = _candidates(profile, BOOT_ID_PATH)

    def boot_id() -> str:
        text = _first_line(paths)
        return text.lower() if text else UNKNOWN_BOOT

    return boot_id
