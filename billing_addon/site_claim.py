"""One box per site on a shared store.

A box releases the reservations of its own calls made in an earlier boot (``calls.
release_stale``: a reboot ended them).  On a shared PostgreSQL it tells its calls by their
site, so two boxes with one site name would free each other's live reservations, and a
call could then run on money that is not there.  So a site belongs to one box: the first
daemon to open the store with a site name claims it (a setting ``site_box:<site>`` holding
the box's id), and a daemon of another box with that site name refuses to start, saying
so.  A box that replaces another (the old one broken) takes the site over with
``billing-addon site-claim``.

A box's id is its machine's (``/etc/machine-id``), else a random token kept in its data
area (``box-id`` beside where the SQLite file is).  Two daemons on one machine are one box
here, and rightly: they share the boot and the running time that the stale release goes
by, so neither frees the other's calls.  A SQLite store belongs to one box by nature:
nothing is claimed there.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from pathlib import Path

from . import sites, store
from .errors import Refusal

ID_FILE = "box-id"
MACHINE_ID = Path("/etc/machine-id")


class SiteTaken(Refusal):
    pass


def box_id(data_dir: Path) -> str:
    """This box's id: the machine's, else one made the first time in its data area
    (written whole under another name, then moved)."""
    try:
        machine = MACHINE_ID.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError):
        machine = ""
    if machine:
        return "machine:" + machine
    path = Path(data_dir) / ID_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(f"{ID_FILE}.{os.getpid()}.tmp")
    new.write_text(secrets.token_hex(16) + "\n", encoding="ascii")
    os.replace(new, path)
    return path.read_text(encoding="ascii").strip()


def _key(site: str) -> str:
    return f"site_box:{site}"


def claim(data_dir: Path, at: int, *, take_over: bool = False) -> None:
    """Claim the current site for this box, or raise ``SiteTaken`` when another box has it.
    ``take_over``: claim it whoever had it (a box replacing a broken one)."""
    if not store.postgres():
        return
    mine = {"box": box_id(data_dir), "host": socket.gethostname(), "since": at}
    site = sites.current()
    with store.money_txn():
        if take_over:
            store.sql("DELETE FROM setting WHERE key = ?", (_key(site),))
        store.sql("INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                  (_key(site), json.dumps(mine)))
        holder = json.loads(store.sql_one("SELECT value FROM setting WHERE key = ?",
                                          (_key(site),))[0])
    if holder["box"] != mine["box"]:
        name = f"site {site!r}" if site else "the empty site name"
        raise SiteTaken(
            f"{name} is billed by another box on this store (host {holder['host']}): give "
            f"each box its own [store] site, or run `billing-addon site-claim` on this box "
            f"if it replaces that one")
