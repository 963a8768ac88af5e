"""What the PBX sees: the Addons menu entry and the Asterisk dialplan include.

Menu entry: one JSON file per add-on in the PBX's add-on folder (docs/box.md, "Addons
menu manifest").  Dialplan: each shipped ``*.conf`` is copied into Asterisk's folder and
``#include``d from extensions.conf on a line of its own, marked so uninstall removes
exactly that line; Asterisk reloads its dialplan only when something changed and only
when Asterisk is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .files import remove, write_if_changed
from .layout import Layout

MENU_FORMAT = 1
MARK = "; billing-addon"


def menu_entry(layout: Layout, version: str, web_port: int) -> bytes:
    """The Addons menu entry (keys sorted, so rewriting it is byte-stable)."""
    entry = {
        "format": MENU_FORMAT,
        "id": "billing",
        "menu": "Addons",
        "title": "Billing",
        "description": "Call billing: extensions, rates, recharges, call logs, statistics",
        "version": version,
        "url": f"http://{{host}}:{web_port}/",
        "port": web_port,
        "service": f"{layout.init_dir}/billing-addon",
        "uninstall": layout.in_prefix("uninstall.sh"),
        "config": f"{layout.etc_dir}/billing.ini",
    }
    return (json.dumps(entry, indent=2, sort_keys=True) + "\n").encode("utf-8")


def register(layout: Layout, version: str, web_port: int) -> bool:
    return write_if_changed(layout.menu_entry, menu_entry(layout, version, web_port))


def unregister(layout: Layout) -> bool:
    return remove(layout.menu_entry)


def _include_line(name: str) -> str:
    return f"#include {name} {MARK}"


def _included(text: str) -> set[str]:
    """File names extensions.conf already includes (ours or the admin's own line)."""
    names = set()
    for line in text.splitlines():
        words = line.split(";", 1)[0].split()
        if len(words) == 2 and words[0] in ("#include", "#tryinclude"):
            names.add(words[1].strip('"<>'))
    return names


def install_dialplan(layout: Layout, confs: list[Path]) -> bool:
    """Copy the includes and hook them into extensions.conf; True when anything changed."""
    folder = layout.at(layout.asterisk_dir)
    if not confs or not folder.is_dir():
        return False
    changed = False
    for conf in confs:
        changed |= write_if_changed(folder / conf.name, conf.read_bytes())
    main = folder / "extensions.conf"
    if main.is_file():
        text = main.read_text(encoding="utf-8", errors="surrogateescape")
        missing = [_include_line(c.name) for c in confs if c.name not in _included(text)]
        if missing:
            tail = "" if text.endswith("\n") or not text else "\n"
            new = text + tail + "\n".join(missing) + "\n"
            changed |= write_if_changed(main, new.encode("utf-8", "surrogateescape"))
    return changed


def remove_dialplan(layout: Layout, names: list[str]) -> bool:
    folder = layout.at(layout.asterisk_dir)
    changed = False
    main = folder / "extensions.conf"
    if main.is_file():
        lines = main.read_text(encoding="utf-8", errors="surrogateescape").splitlines(True)
        kept = [line for line in lines if not line.rstrip("\n").endswith(MARK)]
        if kept != lines:
            write_if_changed(main, "".join(kept).encode("utf-8", "surrogateescape"))
            changed = True
    for name in names:
        changed |= remove(folder / name)
    return changed


def reload_dialplan(asterisk: str | None) -> str:
    """``asterisk -rx "dialplan reload"`` when Asterisk is present; says what happened."""
    binary = asterisk or shutil.which("asterisk")
    if not binary:
        return "asterisk not installed: no dialplan reload"
    result = subprocess.run([binary, "-rx", "dialplan reload"], capture_output=True, text=True,
                            timeout=30)
    if result.returncode != 0:
        return f"asterisk dialplan reload failed ({result.returncode}): {result.stderr.strip()}"
    return "asterisk: dialplan reloaded"
