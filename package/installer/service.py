"""The init script: install, enable at boot (runlevels 2-5), start, stop, remove.

On the real box (install root ``/``) Debian's ``update-rc.d`` makes the rc links when it
exists; otherwise, and always under a test root, the installer makes the usual
S90/K10 links itself.  Services are only started or stopped on the real box.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .files import remove, symlink_if_changed, write_if_changed
from .layout import NAME, Layout

DEFAULTS = f"/etc/default/{NAME}"
LOG_DIR = f"/var/log/{NAME}"
START_LEVELS = ("2", "3", "4", "5")
STOP_LEVELS = ("0", "1", "6")


def _links(layout: Layout) -> dict[Path, str]:
    target = f"../init.d/{NAME}"
    links = {layout.at(f"{layout.rc_dir}/rc{lvl}.d/S90{NAME}"): target for lvl in START_LEVELS}
    links.update({layout.at(f"{layout.rc_dir}/rc{lvl}.d/K10{NAME}"): target
                  for lvl in STOP_LEVELS})
    return links


def _existing_links(layout: Layout) -> list[Path]:
    found = []
    for lvl in START_LEVELS + STOP_LEVELS + ("S",):
        folder = layout.at(f"{layout.rc_dir}/rc{lvl}.d")
        if folder.is_dir():
            found += [p for p in folder.iterdir()
                      if p.is_symlink() and p.name[3:] == NAME and p.name[0] in "SK"]
    return found


def defaults(layout: Layout) -> bytes:
    """/etc/default/billing-addon: tells the init script where our launcher, config, pid
    file and console log are (its own defaults assume /usr/bin)."""
    lines = ["# Written by the billing-addon installer; read by /etc/init.d/billing-addon.",
             f"BILLING_ADDON_DAEMON={layout.in_prefix('bin', NAME)}",
             f"BILLING_ADDON_CONFIG={layout.etc_dir}/billing.ini",
             f"BILLING_ADDON_PIDFILE=/run/{NAME}.pid",
             f"BILLING_ADDON_CONSOLE_LOG={LOG_DIR}/console.log"]
    return ("\n".join(lines) + "\n").encode()


def install(layout: Layout, script: bytes) -> list[str]:
    """Install the init script and its defaults, enable it; returns what changed."""
    changed = []
    if write_if_changed(layout.init_script, script, 0o755):
        changed.append(f"init script {layout.init_script}")
    if write_if_changed(layout.at(DEFAULTS), defaults(layout)):
        changed.append(f"service settings {DEFAULTS}")
    log_dir = layout.at(LOG_DIR)
    if not log_dir.is_dir():
        log_dir.mkdir(parents=True)
        changed.append(f"log folder {LOG_DIR}")
    if _existing_links(layout):
        return changed
    if layout.on_box and shutil.which("update-rc.d"):
        result = subprocess.run(["update-rc.d", NAME, "defaults"], capture_output=True, text=True)
        if result.returncode == 0 and _existing_links(layout):
            return changed + ["enabled with update-rc.d"]
    for link, target in _links(layout).items():
        symlink_if_changed(link, target)
    return changed + ["enabled (rc2-5.d S90, rc0/1/6.d K10)"]


def uninstall(layout: Layout) -> list[str]:
    """Stop nothing (the caller does), remove the links and the script."""
    removed = []
    if layout.on_box and shutil.which("update-rc.d") and layout.init_script.exists():
        subprocess.run(["update-rc.d", "-f", NAME, "remove"], capture_output=True)
    for link in _existing_links(layout):
        link.unlink()
        removed.append(str(link))
    for path in (layout.init_script, layout.at(DEFAULTS)):
        if remove(path):
            removed.append(str(path))
    return removed


def run(layout: Layout, action: str) -> int | None:
    """``/etc/init.d/billing-addon ACTION`` on the real box; None elsewhere or when absent."""
    if not layout.on_box or not layout.init_script.is_file():
        return None
    env = dict(os.environ, PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return subprocess.run([str(layout.init_script), action], stdin=subprocess.DEVNULL,
                          env=env).returncode


def running(layout: Layout) -> bool:
    """LSB: ``status`` exits 0 when the service runs."""
    with open(os.devnull, "w") as quiet:
        if not layout.on_box or not layout.init_script.is_file():
            return False
        return subprocess.run([str(layout.init_script), "status"], stdin=subprocess.DEVNULL,
                              stdout=quiet, stderr=quiet).returncode == 0
