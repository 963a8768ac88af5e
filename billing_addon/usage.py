"""When billing was first used on this box: the trace of an earlier trial that the
licensing library asks for when a box has no trial record (``Activation(...,
earliest_use=)``, ``hwlicense.box_cli.BoxContext``).

Billing history is a call billed while billing was on: a call row that is not
'unbilled' (calls made while billing was deactivated are recorded as 'unbilled'), or a
call charge in the ledger.  Recharges and adjustments are not: the command line and the
demo data make them before billing is ever activated.

The database is read with a connection of its own and never created: a box without a
database, or with one that has no tables yet, has no history.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Union

from . import diskspace

_QUERIES = (
    # the first billed call by insertion order: stops at the first match, no full scan
    "SELECT started_utc FROM call WHERE status != 'unbilled' ORDER BY id LIMIT 1",
    "SELECT MIN(created_utc) FROM ledger WHERE kind = 'call'",  # index ledger_kind_time
)


def first_billed(database: Union[str, Path]) -> Optional[datetime]:
    """The time (aware UTC) of the oldest billing in ``database``, None when there is none;
    sqlite3.Error when the database cannot be read."""
    path = Path(database).resolve()
    if not path.is_file():
        return None
    # mode=rw: never create the file; a read-write connection (unlike mode=ro) leaves no
    # -wal/-shm files behind when it is the last one to close
    try:
        diskspace.back_shm(str(path))  # no SIGBUS on a full small file system (see diskspace)
    except diskspace.DiskFull as exc:
        raise sqlite3.OperationalError(str(exc)) from exc
    con = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=5)
    try:
        times = []
        for query in _QUERIES:
            try:
                row = con.execute(query).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return None
                raise
            if row and row[0] is not None:
                times.append(int(row[0]))
    finally:
        con.close()
    return datetime.fromtimestamp(min(times), timezone.utc) if times else None


def earliest_use(database: Union[str, Path]) -> Callable[[], Optional[datetime]]:
    """The hook for ``Activation(..., earliest_use=)``: ``first_billed(database)``."""
    return lambda: first_billed(database)
