"""Helpers for the package tests: build once, unpack, install into a fake box root.

A fake box is a folder used as the installer's ``--root``: the PBX's add-on folder, an
Asterisk folder with extensions.conf and a fake ``asterisk`` that records its arguments,
and a qemu-like device identity (DMI serial/UUID, MAC of enp0s2) under /sys.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from hwlicense import fakedevice

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import build_package  # noqa: E402

sys.path.remove(str(REPO / "tools"))

BOARD = "qemu"


def build(out_dir: Path, version: str | None = None, keys: tuple[Path, ...] = ()) -> Path:
    archive, _warnings = build_package.build(REPO, out_dir, version, keys)
    return archive


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack the archive into dest; returns the package folder."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(dest)  # noqa: S202 - our own archive
    return dest / names[0].split("/")[0]


def make_box(root: Path, n: int = 1) -> Path:
    """A fake box root with a PBX add-on folder, Asterisk and a device identity."""
    (root / "etc/pbx/addons").mkdir(parents=True, exist_ok=True)
    (root / "etc/asterisk").mkdir(parents=True, exist_ok=True)
    (root / "etc/asterisk/extensions.conf").write_text("[general]\nstatic=yes\n")
    fakedevice.make_device(root, BOARD, n)
    log = root.parent / f"{root.name}-asterisk.log"
    fake = root.parent / f"{root.name}-asterisk"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    fake.chmod(0o755)
    return root


def asterisk_calls(root: Path) -> list[str]:
    log = root.parent / f"{root.name}-asterisk.log"
    return log.read_text().splitlines() if log.exists() else []


def run_script(package: Path, script: str, root: Path, *args: str,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Run install.sh / upgrade.sh / uninstall.sh of a package against a fake box."""
    full_env = dict(os.environ, PYTHON=sys.executable, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    fake_asterisk = root.parent / f"{root.name}-asterisk"
    return subprocess.run(["sh", str(package / script), "--root", str(root),
                           "--asterisk", str(fake_asterisk), *args],
                          capture_output=True, text=True, env=full_env, timeout=120)


def verify_installed(root: Path) -> subprocess.CompletedProcess:
    """``installer verify``: the installed code against its MANIFEST (exit 3 on damage)."""
    prefix = root / "opt/billing-addon"
    env = dict(os.environ, PYTHONPATH=str(prefix), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "installer", "verify", "--root", str(root)],
                          capture_output=True, text=True, env=env, timeout=60)


def cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed billing-addon launcher of a fake box."""
    launcher = root / "opt/billing-addon/bin/billing-addon"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=120)


def box_cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A licensing command (activate, status, ...) on the fake box's board."""
    return cli(root, *args, "--board", BOARD, "--board-root", str(root), env=env)


def snapshot(root: Path, skip=("billing.db",)) -> dict[str, tuple]:
    """Every path under root with type, mode, content digest / link target and mtime;
    database files (whose bytes SQLite may touch on open) are left out."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(path.name.startswith(s) for s in skip) or "__pycache__" in rel:
            continue
        st = path.lstat()
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            found[rel] = ("dir", st.st_mode)
        else:
            found[rel] = ("file", st.st_mode, st.st_mtime_ns,
                          hashlib.sha256(path.read_bytes()).hexdigest())
    return found
