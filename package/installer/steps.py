"""``install``: verify the package, check the box, then put each piece in place, writing
only what differs, so running it again changes nothing and an interrupted run is repaired
by the next one.  Upgrade is the same run over an older install: the code is swapped,
the database migrated (``billing-addon init``), config, license and trial left alone.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from . import REFUSED, InstallError, manifest, pbx, requires, service
from .files import replace_tree, symlink_if_changed, write_if_changed
from .launcher import render
from .layout import NAME, Layout

STATE = "install.json"
GENERATED = ("bin", STATE)  # what the installer adds to the prefix besides the package


def read_state(layout: Layout) -> dict | None:
    try:
        return json.loads(layout.at(layout.in_prefix(STATE)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def detect_board(layout: Layout) -> str:
    """u20/u50 from the device tree model, qemu from DMI, else generic."""
    for path in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            model = layout.at(path).read_text(errors="replace").upper()
        except OSError:
            continue
        for board in ("U20", "U50"):
            if board in model:
                return board.lower()
    try:
        if layout.at("/sys/class/dmi/id/sys_vendor").read_text().strip() == "QEMU":
            return "qemu"
    except OSError:
        pass
    return "generic"


def load_board(package_lib: Path, board: str, layout: Layout):
    """The board profile, loaded from the package's own hwlicense (stdlib only)."""
    sys.path.insert(0, str(package_lib))
    try:
        from hwlicense.board import ProfileError, load_profile
        try:
            return load_profile(board, None if layout.on_box else layout.root)
        except ProfileError as exc:
            raise InstallError(f"board profile: {exc}", REFUSED) from None
    finally:
        sys.path.remove(str(package_lib))


def _web_port(config: Path) -> int:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(config, encoding="utf-8")
        return parser.getint("web", "port", fallback=8080)
    except (configparser.Error, ValueError):
        return 8080


def _cli(layout: Layout, *args: str) -> str:
    launcher = layout.at(layout.in_prefix("bin", NAME))
    result = subprocess.run([str(launcher), *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise InstallError(f"{NAME} {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    return result.stdout.strip()


def _launchers(layout: Layout, board: str, config: Path) -> list[str]:
    changed = []
    lib = layout.at(layout.in_prefix("lib"))
    values = dict(python=sys.executable, lib=str(lib), config=str(config), board=board,
                  template=str(layout.at(layout.in_prefix("share", "billing.ini"))),
                  root="" if layout.on_box else str(Path(layout.root).resolve()))
    for name in (NAME, "billing-license"):
        path = layout.at(layout.in_prefix("bin", name))
        if write_if_changed(path, render(name, **values), 0o755):
            changed.append(f"launcher {path}")
        if symlink_if_changed(layout.at(f"{layout.bin_dir}/{name}"), layout.in_prefix("bin", name)):
            changed.append(f"link {layout.bin_dir}/{name}")
    return changed


def install(package: Path, layout: Layout, board: str | None = None, upgrade: bool = False,
            force: bool = False, start: bool = True, asterisk: str | None = None,
            say=print) -> list[str]:
    """Install or upgrade from an unpacked package; returns the list of changes."""
    if layout.on_box and hasattr(os, "geteuid") and os.geteuid() != 0:
        raise InstallError("run the installer as root", REFUSED)
    new = manifest.verified(package)
    requires.require(new.requires, new.fields.get("requires-python", ""))
    state = read_state(layout)
    if upgrade and state is None:
        raise InstallError(f"nothing to upgrade: no {NAME} in {layout.prefix}", REFUSED)
    old_version = (state or {}).get("version")
    if old_version and requires.numbers(old_version) > requires.numbers(new.version) and not force:
        raise InstallError(f"refusing to downgrade {old_version} -> {new.version} "
                           "(the database may be newer than this code); --force to insist",
                           REFUSED)
    board = board or (state or {}).get("board") or detect_board(layout)
    profile = load_board(package / "lib", board, layout)
    prefix = layout.at(layout.prefix)
    changes: list[str] = []

    installed_ok = (prefix / manifest.NAME).is_file() and not manifest.problems(
        prefix, manifest.read(prefix), GENERATED)
    same_code = installed_ok and manifest.read(prefix).text == new.text
    was_running = service.running(layout)
    if not same_code:
        if was_running:
            say("stopping the service for the new code")
            service.run(layout, "stop")
        entries = sorted(p.name for p in package.iterdir()
                         if p.name != manifest.NAME and p.name != "__pycache__")
        replace_tree(package, prefix, entries)
        replace_tree(package, prefix, [manifest.NAME])  # last: marks the copy complete
        changes.append(f"code {old_version or '-'} -> {new.version} in {layout.prefix}")

    for area in ("data", "persist", "nvram"):
        folder = profile.area(area)
        if not folder.is_dir():
            folder.mkdir(parents=True, mode=0o750)
            changes.append(f"{area} area {folder}")
    config = profile.area("data") / "billing.ini"
    changes += _launchers(layout, board, config)
    had_config = config.is_file()
    say(_cli(layout, "init"))  # writes the default config if missing, then migrates
    if not had_config:
        changes.append(f"default config {config}")
    if symlink_if_changed(layout.at(f"{layout.etc_dir}/billing.ini"), str(config)):
        changes.append(f"link {layout.etc_dir}/billing.ini")

    init_script = package / "share" / "init.d" / NAME
    if init_script.is_file():
        changes += service.install(layout, init_script.read_bytes())
    confs = sorted((package / "lib" / "billing_addon" / "dialplan").glob("*.conf"))
    if pbx.install_dialplan(layout, confs):
        changes.append(f"dialplan include(s) {', '.join(c.name for c in confs)}")
        say(pbx.reload_dialplan(asterisk))
    if pbx.register(layout, new.version, _web_port(config)):
        changes.append(f"Addons menu entry {layout.menu_entry}")

    record = dict(version=new.version, board=board, python=sys.executable,
                  dialplan=[c.name for c in confs],
                  layout={k: v for k, v in asdict(layout).items() if k != "root"})
    state_bytes = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    if write_if_changed(layout.at(layout.in_prefix(STATE)), state_bytes):
        changes.append("install record")

    os.sync()  # a power cut right after the installer said "installed" loses nothing
    has_service = layout.init_script.is_file()
    if start and layout.on_box and has_service and (not same_code or not service.running(layout)):
        rc = service.run(layout, "start")
        changes.append(f"service started (init.d start exit {rc})")
        if rc not in (0, None):
            raise InstallError(f"{layout.init_script} start failed with exit code {rc}")
    return changes
