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
restore so its caches start from the restored data.  A damaged current database cannot
be copied: restore moves it aside instead (with its -wal and -shm files) and says where.

Damage: ``check_database`` is SQLite's quick check (every page of every table read, no
index cross-check: about 0.1 s for 200,000 calls from the page cache), then table by
table to name what is damaged.  The daemon runs it at start and refuses to bill on a
damaged file; ``verify`` runs it first.

Automatic backups (``[backup]`` in the config): the daemon writes one every
``interval_seconds`` into the persist area (``backups/billing-auto-*.db``, which a
factory reset keeps), each checked with integrity_check, and keeps the newest ``keep``.
A backup also holds the CDR follower's position in Master.csv, so after restoring it the
follower re-reads the calls made since and bills each once (docs/box.md, Recovery).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import List, Optional

from . import diskspace

REQUIRED_TABLES = ("schema_version", "extension", "ledger", "call")
AUTO_PREFIX = "billing-auto-"
RECOVERY_HINT = "restore the last good backup: docs/box.md, Recovery"


class BackupError(Exception):
    """The backup cannot be made or the file cannot be restored (the message says why)."""


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _connect(path: Path, *, read_only: bool = False, timeout: float = 30) -> sqlite3.Connection:
    """A connection to ``path``.  A WAL database's ``-shm`` is kept allocated around the
    connect as the store does it, so a nearly full small file system gives "disk full",
    never SIGBUS (see diskspace)."""
    wal = _is_wal(path)
    if wal:
        diskspace.back_shm(str(path))
    conn = (sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout) if read_only
            else sqlite3.connect(str(path), timeout=timeout))
    if wal:
        try:
            diskspace.back_shm(str(path))  # the first connection truncated it
        except BaseException:
            conn.close()
            raise
    return conn


def _is_wal(path: Path) -> bool:
    """Whether the file's header says WAL mode; backups are not.  Never through a
    descriptor that is closed again (see diskspace.is_wal): the daemon checks and backs
    up the file it has open."""
    return diskspace.is_wal(str(path))


def backup_db(source: Path, dest: Path) -> int:
    """Copy the live database ``source`` to ``dest`` (atomically); returns its size."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = _connect(source)
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


def _first_lines(text: str, count: int = 2) -> str:
    lines = [line for line in text.splitlines() if line and not line.startswith("***")]
    return "; ".join(lines[:count]) + (" ..." if len(lines) > count else "")


def check_database(path: Path) -> List[str]:
    """What SQLite's quick check finds damaged in the database file, one line per
    damaged table (or for the file when no table is to blame); empty when it is sound."""
    try:
        conn = _connect(path, read_only=True)
    except sqlite3.Error as exc:
        return [f"{path}: {exc}"]
    try:
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
            if rows == ["ok"]:
                return []
            whole = _first_lines("\n".join(rows))
        except sqlite3.DatabaseError as exc:
            whole = str(exc)
        try:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rootpage")]
        except sqlite3.DatabaseError as exc:
            return [f"the schema (page 1) is unreadable: {exc}"]
        found = []
        for table in tables:
            quoted = table.replace('"', '""')
            try:
                rows = [r[0] for r in conn.execute(f'PRAGMA quick_check("{quoted}")')]
                if rows != ["ok"]:
                    problem = _first_lines("\n".join(rows))
                    found.append(f"table {table}: {problem}")
            except sqlite3.DatabaseError as exc:
                found.append(f"table {table}: {exc}")
        return found or [f"{path.name}: {whole}"]
    finally:
        conn.close()


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
        if "malformed" in str(exc):
            ok = str(exc)
        else:
            raise BackupError(f"{path} is not a billing backup: {exc}") from None
    if ok != "ok":
        raise BackupError(f"{path} is damaged: {'; '.join(check_database(path)) or ok}")
    if missing or version is None or not isinstance(version, int):
        raise BackupError(f"{path} is not a billing backup (missing {', '.join(missing)})"
                          if missing else f"{path} is not a billing backup (no schema version)")
    if version > newest_schema:
        raise BackupError(f"{path} comes from a newer add-on (schema {version}, this one knows "
                          f"{newest_schema}): upgrade the add-on first")
    return int(version)


def move_aside(live: Path, now: Optional[dt.datetime] = None) -> List[Path]:
    """Rename a damaged database and its -wal and -shm files to
    ``billing.db.damaged-YYYYMMDD-HHMMSS[-wal|-shm]``; returns the new names."""
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    moved = []
    for suffix in ("", "-wal", "-shm"):
        path = live.with_name(live.name + suffix)
        if path.exists():
            target = live.with_name(f"{live.name}.damaged-{stamp}{suffix}")
            os.replace(path, target)
            moved.append(target)
    return moved


def _copy_db(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = _connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def open_a_copy(backup: Path, live: Path) -> None:
    """Open a copy of ``backup`` (beside ``live``) as the add-on would: its migrations,
    then the ledger check.  A file that only looks like a backup (the tables' names
    right, their columns another program's) fails here, before anything touched the
    live database.  Raises ``BackupError``; the store is left closed."""
    from . import accounts, store

    trial = live.with_name(live.name + ".restore-check")
    _remove_db(trial)
    try:
        _copy_db(backup, trial)
        store.init_db(trial)
        accounts.verify()  # mismatches are reported after the restore; a failure is not
    except Exception as exc:  # whatever a foreign file makes fail: refused, nothing changed
        raise BackupError(f"{backup} cannot be opened as a billing database: {exc}") from None
    finally:
        store.close_db()
        _remove_db(trial)


def restore_db(backup: Path, live: Path, newest_schema: int) -> tuple[Path | None, List[Path]]:
    """Copy a checked backup over the live database; returns the safety copy made first,
    or, when the live database is damaged (it cannot be copied), the files moved aside."""
    check_backup(backup, newest_schema)
    live.parent.mkdir(parents=True, exist_ok=True)
    open_a_copy(backup, live)
    saved, moved = None, []
    if live.is_file():
        if check_database(live):
            moved = move_aside(live)
        else:
            saved = live.with_name(live.name + ".before-restore")
            backup_db(live, saved)
    _copy_db(backup, live)
    return saved, moved


# --- automatic backups ---------------------------------------------------------------

def backup_folder(cfg) -> Path:
    """``[backup] folder``, else ``backups`` in the board's persist area."""
    if cfg.get("backup", "folder"):
        return Path(cfg.get("backup", "folder"))
    from hwlicense.board import load_profile

    profile = load_profile(cfg.get("box", "board"), cfg.get("box", "board_root") or None)
    return Path(profile.area("persist")) / "backups"


def auto_backups(folder: Path) -> List[Path]:
    """The automatic backups in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(AUTO_PREFIX + "*.db") if p.is_file())


def rotate_backup(live: Path, folder: Path, keep: int,
                  now: Optional[dt.datetime] = None) -> Path:
    """Write a checked backup of ``live`` into ``folder`` and delete all but the newest
    ``keep``.  A copy that fails its check (the live file is damaged) raises
    ``BackupError`` and deletes nothing: the older backups are what recovery needs."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    dest = folder / f"{AUTO_PREFIX}{stamp}.db"
    backup_db(live, dest)
    for old in auto_backups(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return dest


def cdr_position(path: Path) -> Optional[dict]:
    """The CDR follower's saved position in the database file (None without one)."""
    from .pbx.cdrfollow import STATE_KEY

    conn = _connect(path, read_only=True)
    try:
        row = conn.execute("SELECT value FROM setting WHERE key = ?", (STATE_KEY,)).fetchone()
    finally:
        conn.close()
    try:
        return json.loads(row[0]) if row else None
    except ValueError:
        return None


_NOT_A_FILE = ("error: {command}: the store is a PostgreSQL database ([store] url): its backups "
               "are the database administrator's (pg_dump; docs/store.md)")


def cmd_backup(args: argparse.Namespace) -> int:
    from . import cli, config

    cfg = config.load(args.config)
    if cfg.get("store", "url"):
        print(_NOT_A_FILE.format(command="backup"), file=sys.stderr)
        return cli.EXIT_REFUSED
    live = cli.database_path(cfg)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    dest = Path(args.output or f"billing-backup-{stamp}.db")
    try:
        size = backup_db(live, dest)
    except (BackupError, sqlite3.Error, OSError) as exc:
        damage = check_database(live) if live.is_file() else []
        if damage:
            print(f"error: backup: {live} is damaged ({'; '.join(damage)}); {RECOVERY_HINT}",
                  file=sys.stderr)
        else:
            print(f"error: backup: {exc}", file=sys.stderr)
        return cli.EXIT_REFUSED
    print(f"backup of {live} written to {dest} ({size} bytes)")
    return cli.EXIT_OK


def _latest_good(cfg, newest: int) -> Path:
    """The newest automatic backup that passes ``check_backup``."""
    folder = backup_folder(cfg)
    for path in reversed(auto_backups(folder)):
        try:
            check_backup(path, newest)
            return path
        except BackupError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    raise BackupError(f"no usable automatic backup in {folder}")


def cmd_restore(args: argparse.Namespace) -> int:
    from . import accounts, cli, config, store

    cfg = config.load(args.config)
    if cfg.get("store", "url"):
        print(_NOT_A_FILE.format(command="restore"), file=sys.stderr)
        return cli.EXIT_REFUSED
    live = cli.database_path(cfg)
    newest = max(v for v, _name, _sql in store.available_migrations())
    if (args.file is None) == (not args.latest):
        print("error: restore: name a backup FILE or --latest", file=sys.stderr)
        return cli.EXIT_REFUSED
    if cfg.get("daemon", "pid_file"):
        from .daemon import DaemonError, check_pid_file

        try:  # replacing the file under the running service would lose what it writes
            check_pid_file(cfg.get("daemon", "pid_file"))
        except DaemonError as exc:
            print(f"error: restore: the service is {exc}: stop it first "
                  "(/etc/init.d/billing-addon stop)", file=sys.stderr)
            return cli.EXIT_REFUSED
    try:
        source = Path(args.file) if args.file else _latest_good(cfg, newest)
        saved, moved = restore_db(source, live, newest)
    except (BackupError, sqlite3.Error, OSError) as exc:
        print(f"error: restore: {exc}", file=sys.stderr)
        return cli.EXIT_REFUSED
    store.init_db(live, durability=cfg.get("box", "durability"))  # migrate to this version
    problems = accounts.verify()
    store.close_db()
    print(f"restored {source} into {live}"
          + (f" (previous database kept as {saved})" if saved else ""))
    if moved:
        print(f"the damaged database was moved aside: {', '.join(str(p) for p in moved)}")
    position = cdr_position(live)
    if position:
        print(f"the CDR follower goes on from byte {position.get('offset')} of "
              f"{position.get('path')}, where this backup stopped: the calls made since are "
              "billed from it once the service runs")
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
    p.add_argument("file", metavar="FILE", nargs="?",
                   help="a file written by `billing-addon backup` (or an automatic backup)")
    p.add_argument("--latest", action="store_true",
                   help="the newest good automatic backup (see [backup] in the config)")
    p.set_defaults(func=cmd_restore)
