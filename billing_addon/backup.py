"""``billing-addon backup`` and ``restore``: the billing database as one SQLite file.

A factory reset wipes the data area; a backup taken before (and kept off the box, or in
an area the reset keeps) brings every balance, ledger entry and call back.  The copy uses
SQLite's online backup API in one step, so it is a consistent snapshot even while the
daemon settles calls (WAL readers do not block writers).  A backup file is an ordinary
SQLite database (journal mode DELETE): ``sqlite3 FILE`` can read it.

Restore checks the file first (integrity, our tables, a schema this code knows), keeps a
copy of the current database next to it (``billing.db.before-restore``), copies the backup
in with the same API (other connections wait, then see the restored data), migrates it to
this version and recomputes the balances from the ledger.  Restart the service after a
restore so its caches start from the restored data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys
from pathlib import Path

REQUIRED_TABLES = ("schema_version", "extension", "ledger", "call")


class BackupError(Exception):
    """The backup cannot be made or the file cannot be restored (the message says why)."""


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def backup_db(source: Path, dest: Path) -> int:
    """Copy the live database ``source`` to ``dest`` (atomically); returns its size."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)  # pages=-1: the whole file under one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            dst.close()
    finally:
        src.close()
    if ok != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"the copy failed SQLite's integrity check: {ok}")
    _fsync_file(tmp)
    os.replace(tmp, dest)
    return dest.stat().st_size


def check_backup(path: Path, newest_schema: int) -> int:
    """Schema version of a backup file after checking it can be restored."""
    if not path.is_file():
        raise BackupError(f"no such file: {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            version = (conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
                       if not missing else None)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a billing backup: {exc}") from None
    if ok != "ok":
        raise BackupError(f"{path} is damaged: {ok}")
    if missing or version is None:
        raise BackupError(f"{path} is not a billing backup (missing {', '.join(missing)})")
    if version > newest_schema:
        raise BackupError(f"{path} comes from a newer add-on (schema {version}, this one knows "
                          f"{newest_schema}): upgrade the add-on first")
    return int(version)


def restore_db(backup: Path, live: Path, newest_schema: int) -> Path | None:
    """Copy a checked backup over the live database; returns the safety copy made first."""
    check_backup(backup, newest_schema)
    saved = None
    if live.is_file():
        saved = live.with_name(live.name + ".before-restore")
        backup_db(live, saved)
    live.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(live), timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return saved


def cmd_backup(args: argparse.Namespace) -> int:
    from . import cli, config

    live = cli.database_path(config.load(args.config))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    dest = Path(args.output or f"billing-backup-{stamp}.db")
    try:
        size = backup_db(live, dest)
    except (BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: backup: {exc}", file=sys.stderr)
        return cli.EXIT_REFUSED
    print(f"backup of {live} written to {dest} ({size} bytes)")
    return cli.EXIT_OK


def cmd_restore(args: argparse.Namespace) -> int:
    from . import accounts, cli, config, store

    cfg = config.load(args.config)
    live = cli.database_path(cfg)
    newest = max(v for v, _name, _sql in store.available_migrations())
    try:
        saved = restore_db(Path(args.file), live, newest)
    except (BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: restore: {exc}", file=sys.stderr)
        return cli.EXIT_REFUSED
    store.init_db(live, durability=cfg.get("box", "durability"))  # migrate to this version
    problems = accounts.verify()
    store.close_db()
    print(f"restored {args.file} into {live}"
          + (f" (previous database kept as {saved})" if saved else ""))
    print("ledger OK" if not problems else f"ledger: {len(problems)} mismatch(es)")
    print("restart the service so it reads the restored data: /etc/init.d/billing-addon restart")
    return cli.EXIT_OK if not problems else cli.EXIT_REFUSED


def add_commands(subparsers) -> None:
    """Plug ``backup`` and ``restore`` into the billing-addon command line."""
    p = subparsers.add_parser("backup", help="copy the billing database to a file (safe while "
                              "the service runs)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="backup file (default: billing-backup-YYYYMMDD-HHMMSS.db here)")
    p.set_defaults(func=cmd_backup)
    p = subparsers.add_parser("restore", help="replace the billing database with a backup")
    p.add_argument("file", metavar="FILE", help="a file written by `billing-addon backup`")
    p.set_defaults(func=cmd_restore)
