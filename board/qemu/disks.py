"""Disk images of the emulated box, made on the host without mounting anything.

* firmware: a sparse copy of the image's root disk; firmware "v2" differs by the file
  /etc/firmware-version, written with debugfs (a firmware upgrade replaces this disk);
* data, persist, nvram: one small ext4 each, labelled like the area (the guest mounts
  them by label); wiping an area = making its file system again;
* usb: a read-only ext4 with the packages, like a stick plugged into the box.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

AREA_SIZES = {"data": "128M", "persist": "16M", "nvram": "16M"}


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")


def firmware(base: Path, dest: Path, version: int) -> Path:
    """A fresh firmware (root) disk of the given version."""
    dest.unlink(missing_ok=True)
    _run(["cp", "--sparse=always", str(base), str(dest)])
    if version != 1:
        with tempfile.TemporaryDirectory() as tmp:
            marker = Path(tmp) / "firmware-version"
            marker.write_text(f"{version}\n")
            script = Path(tmp) / "cmds"
            script.write_text(f"rm /etc/firmware-version\nwrite {marker} /etc/firmware-version\n")
            _run(["debugfs", "-w", "-f", str(script), str(dest)])
    return dest


def area(dest: Path, label: str) -> Path:
    """An empty ext4 file system for a storage area (also how an area is wiped)."""
    dest.unlink(missing_ok=True)
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", label, str(dest), AREA_SIZES[label]])
    return dest


def usb(dest: Path, files: list[Path]) -> Path:
    """A read-only stick with the given files at its top."""
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            shutil.copyfile(path, Path(tmp) / path.name)
        dest.unlink(missing_ok=True)
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "usb", "-d", tmp, str(dest), "32M"])
    return dest
