"""Fake device trees under a board root, for tests and the qemu harness's host side.

Writes the files a profile's identity sources read (DMI, MAC, device-tree serial), so
that ``load_profile(board, root)`` sees a device with exactly the given identity, and
the running-time files the trial counts (``set_running_time``).
"""

from __future__ import annotations

import os
from pathlib import Path

from hwlicense.runtime import BOOT_ID_PATH, UPTIME_PATH


def _put(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="ascii")


def set_dmi(root: Path, serial: str | None, uuid: str | None) -> None:
    """/sys/class/dmi/id/product_serial and product_uuid (None: leave out)."""
    if serial is not None:
        _put(root, "/sys/class/dmi/id/product_serial", serial + "\n")
    if uuid is not None:
        _put(root, "/sys/class/dmi/id/product_uuid", uuid + "\n")


def set_mac(root: Path, interface: str, mac: str) -> None:
    """/sys/class/net/<interface>/address."""
    _put(root, f"/sys/class/net/{interface}/address", mac + "\n")


def set_dt_serial(root: Path, serial: str) -> None:
    """/proc/device-tree/serial-number, NUL-terminated as the kernel shows it."""
    _put(root, "/proc/device-tree/serial-number", serial + "\x00")


def set_cpuinfo_serial(root: Path, serial: str) -> None:
    """A minimal ARM /proc/cpuinfo with a Serial line."""
    _put(root, "/proc/cpuinfo", f"processor\t: 0\nHardware\t: BCM2835\nSerial\t\t: {serial}\n")


def set_running_time(root: Path, uptime: float, boot_id: str = "boot-1") -> None:
    """<root>/proc/uptime and the boot id: the device has run ``uptime`` seconds in boot
    ``boot_id``.  Each file is replaced at once, so a process reading it meanwhile never
    sees it half written."""
    for path, text in ((UPTIME_PATH, f"{uptime:.2f} 0.00\n"), (BOOT_ID_PATH, boot_id + "\n")):
        target = Path(root) / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="ascii")
        os.replace(tmp, target)


def make_device(root: Path, board: str, n: int = 1) -> Path:
    """A plausible device number ``n`` for ``board`` (qemu, generic, u20, u50) under root."""
    root = Path(root)
    mac = f"52:54:00:12:34:{n:02x}"
    if board in ("qemu", "generic"):
        set_dmi(root, f"QEMU-{n:06d}", f"{n:08x}-1111-2222-3333-444455556666")
        set_mac(root, "enp0s2" if board == "qemu" else "eth0", mac)
    elif board in ("u20", "u50"):
        set_dt_serial(root, f"00000000c0ffee{n:02x}")
        set_mac(root, "eth0", mac)
    return root
