"""``uninstall``: take the add-on off the box (menu entry, service, dialplan, code).

The billing data stays unless ``--purge``; even then the license (persist area) and the
trial record (nvram) stay, because reinstalling must never start a new trial and the
license is the customer's (docs/box.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import pbx, service
from .files import remove
from .layout import NAME, Layout
from .steps import load_board, read_state


def _ours(link: Path, layout: Layout) -> bool:
    return link.is_symlink() and os.readlink(link).startswith(layout.prefix.rstrip("/") + "/")


def uninstall(layout: Layout, purge: bool = False, asterisk: str | None = None,
              say=print) -> list[str]:
    """Remove the installed add-on; returns what was removed."""
    state = read_state(layout)
    if state is None:
        say(f"{NAME} is not installed in {layout.prefix}: nothing to do")
        return []
    profile = load_board(layout.at(layout.in_prefix("lib")), state["board"], layout)
    removed = []
    if service.running(layout):
        service.run(layout, "stop")
        removed.append("service stopped")
    removed += service.uninstall(layout)
    if pbx.unregister(layout):
        removed.append(f"Addons menu entry {layout.menu_entry}")
    if pbx.remove_dialplan(layout, state.get("dialplan", [])):
        removed.append("dialplan include(s)")
        say(pbx.reload_dialplan(asterisk))
    for name in (NAME, "billing-license"):
        link = layout.at(f"{layout.bin_dir}/{name}")
        if _ours(link, layout):
            link.unlink()
            removed.append(str(link))
    etc = layout.at(layout.etc_dir)
    if remove(etc / "billing.ini"):
        removed.append(str(etc / "billing.ini"))
    if etc.is_dir() and not any(etc.iterdir()):
        etc.rmdir()
    if purge:
        data = profile.area("data")
        if data.is_dir():
            for entry in data.iterdir():
                remove(entry)
            removed.append(f"billing data in {data} (purge; license and trial kept)")
    shutil.rmtree(layout.at(layout.prefix), ignore_errors=True)
    removed.append(f"code in {layout.prefix}")
    os.sync()
    return removed
