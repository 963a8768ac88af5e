"""The store: one SQLite file (WAL) behind peewee, its models and its migrations; or,
when configured (``[store] url``), a PostgreSQL database shared by several boxes
(pgstore.py: what only that dialect needs; docs/store.md).

The database object is deferred: ``init_db(path)`` opens a file, ``init_db(url)`` a
PostgreSQL database (``db`` then becomes a ``pgstore.PostgresStore``: the models and the
modules that imported ``db`` keep the one object).  The schema is created
and upgraded only by the numbered SQL files in ``migrations/`` (``migrate``); the models
below mirror those tables and never create them.

Durability: money-moving transactions (``money_txn``) commit with ``synchronous=FULL``,
so an acknowledged recharge or settlement survives a power cut; reservations
(``reservation_txn``) commit with ``synchronous=NORMAL`` because a reservation lost to a
power cut belongs to a call that the power cut ended too.  Both take the write lock at
``BEGIN`` (``IMMEDIATE``), so concurrent writers queue instead of failing mid-way.
Settlements and authorizations that arrive together share one transaction, and so
one fsync (``grouped``, ``groupcommit``); each is answered only once it committed.
On PostgreSQL the same split is ``synchronous_commit`` on/off, and the write lock an
advisory lock held to the end of the transaction (pgstore.py); the call path's
transactions (``shared=True``) take it shared there and run side by side, each locking
the rows it changes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, ParamSpec, Tuple, TypeVar, Union

import peewee as pw

from . import diskspace, groupcommit
from .writequeue import WriteQueue


class _Database(pw.SqliteDatabase):  # see ``init_db`` before adding state here
    """SQLite whose WAL index is kept allocated around every connect (see diskspace)."""

    def _connect(self):
        diskspace.back_shm(self.database)
        conn = super()._connect()
        try:
            diskspace.back_shm(self.database)  # the first connection truncated it
        except BaseException:
            conn.close()
            raise
        return conn


db: pw.Database = _Database(None)
_postgres = False  # db is a pgstore.PostgresStore (set by init_db)
DiskFull = diskspace.DiskFull

BUSY_TIMEOUT_S = 10
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id names no row (never a crash)

# What the daemon's checks found damaged in the database file (``backup.check_database``);
# while it is not empty the daemon bills nothing from this file (docs/box.md, Recovery).
damaged: list = []


class BaseModel(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


class Setting(BaseModel):
    key = pw.TextField(primary_key=True)
    value = pw.TextField()


class Department(BaseModel):
    name = pw.TextField(unique=True)
    created_utc = pw.IntegerField()
    updated_utc = pw.IntegerField()
    barred_types = pw.TextField(default="")  # call types it may not call (barring.py)


class Extension(BaseModel):
    number = pw.TextField(unique=True)
    name = pw.TextField(default="")
    billing_enabled = pw.BooleanField(default=False)
    payment_type = pw.TextField(default="prepaid")
    status = pw.TextField(default="unlocked")
    credit = pw.IntegerField(default=0)
    balance = pw.IntegerField(default=0)
    reserved = pw.IntegerField(default=0)
    total_recharges = pw.IntegerField(default=0)
    recharges_since = pw.IntegerField(default=0)
    source = pw.TextField(default="manual")
    missing = pw.BooleanField(default=False)
    created_utc = pw.IntegerField()
    updated_utc = pw.IntegerField()
    low_balance_threshold = pw.IntegerField(null=True)  # NULL: the setting's default
    low_alerted_utc = pw.IntegerField(null=True)  # see lowbalance.py
    kind = pw.TextField(default="extension")  # extension | account (PIN billing)
    department = pw.ForeignKeyField(Department, null=True, column_name="department_id")
    pin_hash = pw.TextField(null=True)  # an account's PIN, keyed hash (pins.py)
    account_billing = pw.BooleanField(default=False)  # a phone whose calls ask for account + PIN
    pin_failures = pw.IntegerField(default=0)  # wrong PINs typed on this phone (pins.py)
    pin_failed_utc = pw.IntegerField(null=True)
    pin_blocked_until_utc = pw.IntegerField(null=True)
    barred_types = pw.TextField(default="")  # call types it may not call (barring.py)
    site = pw.TextField(default="")  # see sites.py


class Rate(BaseModel):
    active = pw.BooleanField(default=True)
    remarks = pw.TextField(default="")
    prefix = pw.TextField()
    length = pw.IntegerField(default=0)
    initial_cost = pw.IntegerField(default=0)
    initial_time = pw.IntegerField(default=0)
    rate = pw.IntegerField(default=0)
    unit = pw.IntegerField(default=60)
    start_s = pw.IntegerField(default=0)
    end_s = pw.IntegerField(default=86400)
    all_extensions = pw.BooleanField(default=False)
    created_utc = pw.IntegerField()
    updated_utc = pw.IntegerField()
    deck = pw.IntegerField(default=0)  # see rates.py: which rows are in force
    call_type = pw.TextField(default="other")  # see calltypes.py
    site = pw.TextField(default="")  # '': shared by every site (sites.py)


class RateExtension(BaseModel):
    rate = pw.ForeignKeyField(Rate, on_delete="CASCADE", column_name="rate_id")
    extension = pw.ForeignKeyField(Extension, on_delete="CASCADE", column_name="extension_id")

    class Meta:
        primary_key = pw.CompositeKey("rate", "extension")


class Call(BaseModel):
    uniqueid = pw.TextField(unique=True)
    extension = pw.ForeignKeyField(Extension, column_name="extension_id")
    dialed = pw.TextField()
    started_utc = pw.IntegerField()
    local_day = pw.TextField()
    status = pw.TextField()
    reason = pw.TextField(default="")
    rate_id = pw.IntegerField(null=True)
    rate_snapshot = pw.TextField(default="")
    reserved = pw.IntegerField(default=0)
    limit_ms = pw.IntegerField(null=True)
    answered_s = pw.IntegerField(null=True)
    dial_status = pw.TextField(default="")
    cost = pw.IntegerField(default=0)
    source = pw.TextField(default="agi")
    expires_utc = pw.IntegerField(null=True)
    settled_utc = pw.IntegerField(null=True)
    boot_id = pw.TextField(default="")
    expires_uptime = pw.FloatField(null=True)
    call_type = pw.TextField(default="")  # the type of the rate it was rated by
    phone_id = pw.IntegerField(null=True)  # an account's call: the extension it was made from
    free_s = pw.IntegerField(default=0)  # seconds paid by a calling plan's allowance
    site = pw.TextField(default="")  # see sites.py


class Ledger(BaseModel):
    extension = pw.ForeignKeyField(Extension, column_name="extension_id")
    kind = pw.TextField()
    amount = pw.IntegerField()
    balance_after = pw.IntegerField()
    call = pw.ForeignKeyField(Call, null=True, unique=True, column_name="call_id")
    reason = pw.TextField(default="")
    operator = pw.TextField(default="")
    created_utc = pw.IntegerField()


class CallDaily(BaseModel):
    local_day = pw.TextField()
    extension = pw.ForeignKeyField(Extension, column_name="extension_id")
    calls = pw.IntegerField(default=0)
    answered_calls = pw.IntegerField(default=0)
    answered_s = pw.IntegerField(default=0)
    cost = pw.IntegerField(default=0)

    class Meta:
        primary_key = pw.CompositeKey("local_day", "extension")


class BillingUser(BaseModel):
    username = pw.TextField(unique=True)
    password_hash = pw.TextField()
    role = pw.TextField(default="billing")
    enabled = pw.BooleanField(default=True)
    created_utc = pw.IntegerField()
    updated_utc = pw.IntegerField()
    locale = pw.TextField(null=True)  # NULL: the box's default (the `language` setting)


class MailOutbox(BaseModel):
    recipients = pw.TextField()
    subject = pw.TextField()
    body = pw.TextField()
    created_utc = pw.IntegerField()
    attempts = pw.IntegerField(default=0)
    next_try_utc = pw.IntegerField()
    last_error = pw.TextField(default="")
    sent_utc = pw.IntegerField(null=True)

    class Meta:
        table_name = "mail_outbox"


MODELS = [Setting, Department, Extension, Rate, RateExtension, Call, Ledger, CallDaily, BillingUser,
          MailOutbox]


def now_utc() -> int:
    return int(time.time())


DURABILITY = {"full": "FULL", "normal": "NORMAL"}
_money_sync = "FULL"


def is_url(target: object) -> bool:
    """A PostgreSQL URL (else a path, or a ``sqlite:`` URL, of a SQLite file)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def url_of(cfg) -> Union[str, Path]:
    """Where the configured store is: ``[store] url`` when set, else the SQLite file
    (``[box] database`` or billing.db in the board's data area)."""
    url = cfg.get("store", "url") if cfg is not None else ""
    if url:
        return url
    from .cli import database_path

    return database_path(cfg)


def where(cfg) -> str:
    """The configured store for people to read: the file, or the URL without its password."""
    target = str(url_of(cfg))
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", target) if is_url(target) else target


def postgres() -> bool:
    return _postgres


def _switch(cls: type) -> None:
    """Make the one ``db`` object a database of ``cls``.  Every model and module holds
    ``db`` itself, and a ``pw.DatabaseProxy`` would cost the SQLite hot path an
    indirection on each access, so the object changes class (both are plain subclasses
    of ``pw.Database``) and is set up afresh."""
    global _postgres
    if type(db) is not cls:
        db.__dict__.clear()  # nothing of the other dialect's state (server_version...)
        db.__class__ = cls
        cls.__init__(db, None)  # type: ignore[misc]
    _postgres = cls is not _Database


def init_db(path: Union[str, Path], *, upgrade: bool = True,
            durability: str = "full", autocheckpoint: bool = True,
            box_files: Optional[Union[str, Path]] = None) -> pw.Database:
    """Open the database file (creating its folder), set the pragmas, run migrations.
    A ``postgresql://user:password@host:port/db`` URL opens that database instead
    (``_init_postgres``).

    ``durability``: 'full' (default) fsyncs every money-moving commit, so a power cut
    loses nothing acknowledged; 'normal' leaves that to SQLite's checkpoints: about
    twice the settlements per second, still safe against a crash of the process, but
    a power cut may lose the last acknowledged transactions (never corrupts).

    ``autocheckpoint=False``: commits never copy the WAL back into the database file
    (SQLite does it in whichever commit crosses 1000 pages, a pause of several ms for
    that caller and, on the FastAGI loop, for every call in progress); the daemon runs
    ``checkpoint`` from a thread of its own when ``checkpoint_due`` is set.

    ``box_files``: with a URL, the database file the box would have (``[box] database``):
    the box keeps its own files beside that name (``box_files_path``)."""
    global _money_sync, _box_files
    _box_files = os.fspath(box_files) if box_files is not None else None
    if durability not in DURABILITY:
        raise ValueError(f"durability must be one of {', '.join(DURABILITY)}")
    _money_sync = DURABILITY[durability]
    if not db.is_closed():
        db.close()
    if is_url(path):
        return _init_postgres(str(path), upgrade)
    if isinstance(path, str) and path.startswith("sqlite:"):
        path = path[len("sqlite:"):].removeprefix("//")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _switch(_Database)
    db.init(
        str(path),
        timeout=BUSY_TIMEOUT_S,
        check_same_thread=False,
        pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "full",
            "busy_timeout": BUSY_TIMEOUT_S * 1000,
            "wal_autocheckpoint": 1000 if autocheckpoint else 0,
        },
    )
    db.connect(reuse_if_open=True)
    if upgrade:
        migrate()
    return db


def _init_postgres(url: str, upgrade: bool) -> pw.Database:
    from . import pgstore  # psycopg2: only a box configured for PostgreSQL needs it

    _switch(pgstore.PostgresStore)
    db.init(url)
    db.connect(reuse_if_open=True)
    if upgrade:
        migrate()
    return db


def checkpoint() -> Tuple[int, int]:
    """Copy the WAL back into the database file, holding writers up as little as
    possible: a first pass runs beside them and copies the bulk; a second pass, in the
    write queue, copies what they wrote meanwhile, so the copy is complete and the next
    writer starts the log over.  (Beside steady writers a checkpoint never catches up,
    and SQLite starts the log over only once all of it was copied.)
    Returns (WAL frames, frames copied) of the second pass."""
    global _commits, _checkpointing
    if _postgres:  # the server's own checkpoints
        checkpoint_due.clear()
        return 0, 0
    db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)")
    _checkpointing = True
    try:
        with _writer.held(urgent=True):  # behind urgent writers it would starve under load
            _commits = 0
            checkpoint_due.clear()
            busy, frames, copied = db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        _checkpointing = False
    return frames, copied


def keep_shm_backed() -> None:
    """Allocate the WAL index ahead of a growing WAL (the daemon calls it with each
    checkpoint).  Raises ``DiskFull``."""
    if db.database and not _postgres:
        diskspace.back_shm(db.database)


def disk_problem(exc: BaseException) -> Optional[str]:
    """'disk full: ...' or 'read-only file system: ...' when ``exc`` comes from one
    under the open database, else None."""
    if _postgres:  # the server's disk: its errors say so themselves
        return None
    return diskspace.problem(exc, os.fspath(db.database or "."))


def close_db() -> None:
    if not db.is_closed():
        db.close()
    if db.database and not _postgres:
        diskspace.forget_gone(db.database)


# --- migrations --------------------------------------------------------------------

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations(postgresql: bool = False) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every shipped migration, in order: SQLite's, or
    PostgreSQL's (``migrations/postgresql/``: one baseline at 14, then each migration
    again under the same number and name)."""
    found = []
    folder = resources.files("billing_addon").joinpath("migrations")
    if postgresql:
        folder = folder.joinpath("postgresql")
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def schema_version() -> int:
    if _postgres:  # created by the first migration, under the write lock
        if db.execute_sql("SELECT to_regclass('schema_version')").fetchone()[0] is None:
            return 0
    else:
        db.execute_sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute_sql("SELECT max(version) FROM schema_version").fetchone()
    return row[0] or 0


def migrate() -> list[int]:
    """Apply every migration newer than the file's schema version, each in one
    transaction; returns the versions applied.  Safe to run on every start."""
    if _postgres:
        return _migrate_postgres()
    applied = []
    conn = db.connection()
    for version, _name, sql in available_migrations():
        if version <= schema_version():
            continue
        # executescript() commits first; wrap the script so a failure rolls it back whole.
        try:
            conn.executescript(
                "BEGIN IMMEDIATE;\n"
                + sql
                + f"\nINSERT INTO schema_version (version) VALUES ({version});\nCOMMIT;"
            )
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _migrate_postgres() -> list[int]:
    """Each migration in one transaction under the write lock, which every box's
    migrate also takes: the version is read again under it, so two boxes starting
    together apply each file once."""
    from .pgstore import write_begin

    applied = []
    for version, _name, script in available_migrations(postgresql=True):
        if version <= schema_version():
            continue
        with db.atomic(write_begin(True, BUSY_TIMEOUT_S * 1000)):
            db.execute_sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if version <= schema_version():
                continue
            db.run_script(script)  # type: ignore[attr-defined]
            db.execute_sql("INSERT INTO schema_version (version) VALUES (?)", (version,))
        applied.append(version)
    return applied


# --- transactions ------------------------------------------------------------------


# Writers of this process queue on a lock of their own before SQLite's write lock:
# SQLite's busy handler waits by sleeping (up to 100 ms a try), a queue on a lock does not,
# and a fair one keeps the tail latency of authorize short.
# Other processes (the CLI) still meet SQLite's busy timeout.
_writer = WriteQueue()


_sync = threading.local()  # this thread's connection and the level last set on it


def _set_synchronous(level: str) -> None:
    """Set the level on this thread's connection, skipping the statement when that
    connection already has it."""
    if _postgres:  # per transaction there (``_begin_immediate``)
        return
    conn = db.connection()
    if getattr(_sync, "conn", None) is not conn or _sync.level != level:
        db.execute_sql(f"PRAGMA synchronous={level}")
        _sync.conn, _sync.level = conn, level


def _set_busy_timeout(ms: int) -> None:
    """Set SQLite's busy timeout on this thread's connection, skipping the statement
    when that connection already has it."""
    conn = db.connection()
    if getattr(_sync, "busy", None) != (conn, ms):
        conn.execute(f"PRAGMA busy_timeout = {ms}")  # sqlite3's own: it runs twice a transaction
        _sync.busy = (conn, ms)


# Commits since the last checkpoint (a group's counts about what it writes,
# ``_batch_weight``): with autocheckpoint off, ``checkpoint_due`` tells the daemon's
# checkpoint thread when 4,000-6,000 WAL pages (a call's transactions
# write 6 and 10), about 18 MB, wait to be copied back (at a box's usual load
# ``checkpoint_seconds`` comes first).  More than SQLite's own 1,000:
# a checkpoint copies a page once however many commits wrote it (the extension rows,
# the last pages of the call table and its indexes), and its second pass hands the
# FastAGI loop's authorizations to workers while it runs (4x fewer of them: 3,600 ->
# 3,850 authorizations/s saturated).  The index still covers it (diskspace.SHM_RESERVE).
CHECKPOINT_COMMITS = 600
checkpoint_due = threading.Event()
_commits = 0
_checkpointing = False
# The write queue's holder is in BEGIN IMMEDIATE, where it may wait for another process's
# write lock (the CLI's, say) up to its lock wait or the busy timeout: no quick writer
_waiting_for_another_process = False


class Unreachable(Exception):
    """The store cannot be reached (a central PostgreSQL down or cut off from this box).
    The statement that raised it wrote nothing: new calls get the fail mode, settlements
    wait in the box's local queue (docs/scale.md)."""


class Conflict(pw.OperationalError):
    """PostgreSQL aborted a transaction of the call path that ran beside another (a
    deadlock between their row locks).  Nothing of it was written; ``retry_conflicts``
    runs it again."""


CONFLICT_TRIES = 5


def retry_conflicts(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` (whose transaction is a ``shared`` one) again when the store
    aborted it in a ``Conflict``, before any answer is given.  Inside another
    transaction it runs once: the Conflict is that transaction's."""
    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if _postgres and not db.in_transaction():
            for _ in range(CONFLICT_TRIES - 1):
                try:
                    return function(*args, **kwargs)
                except Conflict:
                    continue
        return function(*args, **kwargs)
    return run


def write_alone() -> None:
    """From here to its commit, this transaction of the call path runs alone, as every
    other writer does (code in it that reads to write without locking rows)."""
    if _postgres and getattr(_sync, "shared", False):
        from .pgstore import WRITE_LOCK_ALONE

        db.execute_sql(WRITE_LOCK_ALONE)


def for_update(of: str = "") -> str:
    """``FOR NO KEY UPDATE`` on PostgreSQL (a row the call path reads to change, locked till
    the commit: its transactions run side by side there), of the tables named in ``of``
    (say "c, e") or all; nothing on SQLite, whose writers take turns."""
    if not _postgres:
        return ""
    return " FOR NO KEY UPDATE" + (f" OF {of}" if of else "")


def unindexed(column: str) -> str:
    """``column`` in a condition SQLite must not look up in an index: its planner keeps
    no statistics here and takes an equality on an index's first column over a range
    that selects far fewer rows (``status = 'charged'`` is nearly every call).  The
    unary + is SQLite's way to say so; PostgreSQL weighs its indexes itself."""
    return column if _postgres else "+" + column


class WouldWait(Exception):
    """Another process holds SQLite's write lock, and this thread may not wait for it
    (see ``never_wait_here``).  Nothing was written."""


def never_wait_here() -> None:
    """Make this thread's write transactions raise ``WouldWait`` at once instead of
    waiting (up to the busy timeout) for a writer of another process, say the CLI.
    The FastAGI loop thread: waiting there would stall every call in progress.
    Its connection keeps a busy timeout of 0 from here on, for reads too (a statement
    that finds the database locked fails at once: ``is_locked``)."""
    _sync.never_wait = True
    if not _postgres and db.database:
        _set_busy_timeout(0)


def is_locked(exc: BaseException) -> bool:
    """``exc`` is SQLite's "database is locked" (another process holds what the
    statement needed, longer than this thread may wait)."""
    return (not _postgres and isinstance(exc, (sqlite3.OperationalError, pw.OperationalError))
            and "locked" in str(exc))


def may_wait_here() -> bool:
    """False on a thread that ``never_wait_here`` marked (the FastAGI loop)."""
    return not getattr(_sync, "never_wait", False)


@contextlib.contextmanager
def lock_wait(seconds: float) -> Iterator[None]:
    """Write transactions of this thread wait for the write lock (this process's write
    queue, then another process's writer) only until ``seconds`` from now, instead of
    the busy timeout; then they raise "database is locked".
    Authorize in a worker thread: the caller must get an answer within the dialplan's
    bound even while, say, the CLI holds the write lock.  Inside another ``lock_wait``
    the sooner deadline holds (a round of the FastAGI loop bounds its members')."""
    before = getattr(_sync, "lock_deadline", None)
    deadline = time.monotonic() + seconds
    _sync.lock_deadline = deadline if before is None else min(before, deadline)
    try:
        yield
    finally:
        _sync.lock_deadline = before


def _lock_wait_left() -> Optional[float]:
    """Seconds this thread may still wait for a write lock (None: the busy timeout)."""
    deadline = getattr(_sync, "lock_deadline", None)
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _begin_immediate:
    """The transaction of ``_write_txn``: BEGIN IMMEDIATE (``outermost``) or a savepoint
    inside the open one.  A class, not a generator: it runs twice for every call."""

    __slots__ = ("outermost", "synchronous", "shared", "_inner", "_savepoint")
    _inner: Any  # peewee's transaction, or the PostgreSQL one; None for a savepoint
    _savepoint: Optional[str]

    def __init__(self, outermost: bool, synchronous: str = "FULL", shared: bool = False):
        self.outermost, self.synchronous, self.shared = outermost, synchronous, shared

    def __enter__(self) -> None:
        outermost = self.outermost
        never_wait = outermost and getattr(_sync, "never_wait", False)
        left = _lock_wait_left() if outermost else None
        wait_ms = 0 if never_wait else None if left is None else int(left * 1000)
        self._savepoint = None
        if _postgres:
            self._inner = _begin_postgres(outermost, self.synchronous, wait_ms, never_wait,
                                          self.shared)
            self._inner.__enter__()
            return
        self._inner = None
        if not outermost:  # named by a counter: peewee's own names cost a uuid4 each
            _sync.savepoints = number = getattr(_sync, "savepoints", 0) + 1
            self._savepoint = f'"w{number}"'
            db.execute_sql(f"SAVEPOINT {self._savepoint}")
            return
        if never_wait:
            _set_busy_timeout(0)  # as never_wait_here set it: no statement
            try:
                self._inner = _begin_now()
            except pw.OperationalError as exc:
                if "locked" in str(exc):
                    raise WouldWait(str(exc)) from exc
                raise
            return
        global _waiting_for_another_process
        _waiting_for_another_process = True  # the write queue's holder: one thread
        try:
            _set_busy_timeout(0)
            self._inner = _begin_waiting(BUSY_TIMEOUT_S if wait_ms is None else wait_ms / 1000)
        finally:
            _waiting_for_another_process = False
            _set_busy_timeout(BUSY_TIMEOUT_S * 1000)

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._savepoint is None:
            self._inner.__exit__(exc_type, exc, traceback)
            return
        # as peewee's savepoints: rolled back to on an error (then released with the
        # outer transaction), else released, and rolled back to if that fails
        if exc_type is not None:
            db.execute_sql(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
            return
        try:
            db.execute_sql(f"RELEASE SAVEPOINT {self._savepoint}")
        except BaseException:
            db.execute_sql(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
            raise


# How often a writer looks again for SQLite's write lock while another process holds it:
# every millisecond for the first LOCK_POLL_FAST_S, then every LOCK_POLL_SLOW_S (a CLI
# command's long transaction costs a few percent of a core, not ten).  SQLite's own busy
# handler sleeps longer and longer (up to 100 ms a try): behind another process's batches
# (a `cdr import` beside the daemon) it missed the gaps between them, and a call waited
# for several batches instead of one.
LOCK_POLL_S = 0.001
LOCK_POLL_FAST_S = 0.1
LOCK_POLL_SLOW_S = 0.004


def _begin_now() -> Any:
    atomic = db.atomic("IMMEDIATE")
    atomic.__enter__()
    return atomic


def _begin_waiting(seconds: float) -> Any:
    """BEGIN IMMEDIATE on a connection whose busy timeout is 0, tried again while another
    process holds the write lock (every LOCK_POLL_S, after LOCK_POLL_FAST_S every
    LOCK_POLL_SLOW_S) for up to ``seconds``; then SQLite's "database is locked" is
    raised, as its busy timeout would."""
    start = time.monotonic()
    end = start + seconds
    while True:
        try:
            return _begin_now()
        except pw.OperationalError as exc:
            now = time.monotonic()
            if not is_locked(exc) or now >= end:
                raise
        pause = LOCK_POLL_S if now - start < LOCK_POLL_FAST_S else LOCK_POLL_SLOW_S
        time.sleep(min(pause, end - now))


@contextlib.contextmanager
def _begin_postgres(outermost: bool, synchronous: str, wait_ms: Optional[int],
                    never_wait: bool, shared: bool) -> Iterator[None]:
    """A savepoint inside a transaction (taking the write lock for itself alone when
    it is not the call path's and the outer transaction is); else BEGIN with the write
    lock, waited for as long as SQLite's busy timeout would."""
    from .pgstore import WRITE_LOCK_ALONE, write_begin

    if not outermost:
        with db.atomic():
            if not shared and getattr(_sync, "shared", False):
                # each time: a savepoint rolled back lets go of what it locked
                db.execute_sql(WRITE_LOCK_ALONE)
            yield
        return
    wait = BUSY_TIMEOUT_S * 1000 if wait_ms is None else wait_ms
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(db.atomic(write_begin(synchronous == "FULL", wait, shared)))
        except pw.OperationalError as exc:
            if never_wait and "locked" in str(exc):
                raise WouldWait(str(exc)) from exc
            raise
        _sync.shared = shared
        try:
            yield
        finally:
            _sync.shared = False


def _side_by_side(shared: bool) -> bool:
    """A transaction of the call path that runs beside others, on PostgreSQL: it takes
    neither this process's write queue nor the write lock alone (the FastAGI loop's
    own, which may never wait, still does: it gives way at once to any writer)."""
    return (shared and _postgres and not getattr(_sync, "never_wait", False)) or (
        _postgres and getattr(_sync, "shared", False))


class _write_txn:
    """``weight``: what this transaction counts for ``checkpoint_due`` (a group's:
    ``_batch_weight``).
    ``shared``: the call path's (authorize, settle, release), see ``_side_by_side``.
    A class, not a generator: every transaction of the call path runs it."""

    __slots__ = ("synchronous", "urgent", "weight", "shared", "_queued", "_outermost", "_begin")

    def __init__(self, synchronous: str, urgent: bool = False, weight: int = 1,
                 shared: bool = False):
        self.synchronous, self.urgent, self.weight, self.shared = synchronous, urgent, weight, shared

    def __enter__(self) -> None:
        if _side_by_side(self.shared):
            self._queued = False
            self._begin = _begin_immediate(not db.in_transaction(), self.synchronous,
                                           shared=self.shared)
            self._begin.__enter__()
            return
        if not _writer.acquire(self.urgent, _lock_wait_left()):
            # this process's own writers hold it up (say a settlement waiting for another
            # process's lock): the same answer as SQLite's when its wait runs out
            raise pw.OperationalError("database is locked (write queue)")
        self._queued = True
        try:
            # SQLite refuses to change the level inside a transaction; a nested transaction
            # (a savepoint) commits with its outer transaction, so the outer level applies.
            self._outermost = outermost = not db.in_transaction()
            if outermost:
                _set_synchronous(self.synchronous)
            self._begin = _begin_immediate(outermost, self.synchronous)
            self._begin.__enter__()
        except BaseException:
            _writer.release()
            raise

    def __exit__(self, exc_type, exc, traceback) -> None:
        global _commits, _writes
        if not self._queued:
            self._begin.__exit__(exc_type, exc, traceback)
            return
        try:
            self._begin.__exit__(exc_type, exc, traceback)  # the commit, or the rollback
            if exc_type is None:
                _writes += 1
                if self._outermost:
                    _commits += self.weight
                    if _commits >= CHECKPOINT_COMMITS:
                        checkpoint_due.set()
        finally:
            _writer.release()


_writes = 0  # write transactions of this process but the call path's


def writes_seen() -> int:
    """Changes whenever this process committed a write outside the call path (what a
    cache of settings or rates must not outlive)."""
    return _writes


def money_txn(shared: bool = False):
    """A write transaction that moves money: write lock up front, fsync at commit
    (unless the box runs with ``durability = normal``).  ``shared``: see ``_write_txn``
    (only for code that locks what it reads to change: ``for_update``)."""
    return _write_txn(_money_sync, shared=shared)


def reservation_txn(shared: bool = False):
    """A write transaction that only reserves (no money moves): no fsync at commit, and
    ahead of settlements in the write queue (a caller is waiting for it)."""
    return _write_txn("NORMAL", urgent=True, shared=shared)


def staging_txn():
    """A short write transaction of bulk work that is not in force yet (a rate import's
    rows): no fsync at commit, queued like a settlement."""
    return _write_txn("NORMAL")


# --- group commit ------------------------------------------------------------------

GROUP_COMMIT = True  # False: every call commits alone (the benchmark's "before")
P = ParamSpec("P")
R = TypeVar("R")


def _run_batch(members: List[groupcommit.Member], synchronous: str, urgent: bool) -> bool:
    """Run a group's members in one transaction (the leader holds the write queue);
    False when that transaction failed as a whole.

    Each member's own ``money_txn``/``reservation_txn`` becomes a savepoint inside it,
    so a member that raises (a ``Refusal``: bad input, a balance past the largest
    amount...) undoes only its own writes and the others commit.  A failure of the
    transaction itself (BEGIN after the earliest deadline of the batch, COMMIT, an error
    that made SQLite roll it all back) is every member's outcome: nothing of the batch
    was written."""
    if len(members) == 1:  # alone: its own transactions, as without a group
        only = members[0]
        try:
            only.result = only.function(*only.args)
        except Exception as exc:
            only.error = exc
        return True
    deadlines = [m.deadline for m in members if m.deadline is not None]
    before = getattr(_sync, "lock_deadline", None)
    _sync.lock_deadline = min(deadlines) if deadlines else None
    try:
        with _write_txn(synchronous, urgent, weight=_batch_weight(len(members))):
            for run in _runs(members):
                _run_together(run)
                if not transaction_alive():  # the store gave the transaction up (disk full...)
                    lost = [m.error for m in run if isinstance(m.error, Unreachable)]
                    if lost:  # the connection: every member's outcome, as it is
                        raise lost[0]
                    raise pw.OperationalError(
                        f"the group's transaction was rolled back: {run[-1].error}")
    except Exception as exc:
        for member in members:
            member.result, member.error = None, exc
        return False
    finally:
        _sync.lock_deadline = before
    return True


def _batch_weight(members: int) -> int:
    """What a group's transaction counts for ``checkpoint_due``: about the WAL pages
    it writes, mostly pages its members share (the payers' rows, the last pages of
    the call table and its indexes).  Measured for authorizations: 6 pages alone, 6
    for 8 together, 9 for 16, 12 for 64.  Counted a call each, a loop that batches
    checkpointed five times too often, each one a tail of tens of milliseconds."""
    return 1 + members // 16


def reserve_together(functions: List[Callable[[], R]], seconds: float
                     ) -> List[groupcommit.Member]:
    """Reservations one thread has at hand at once (the FastAGI loop's authorizations
    of one round), in one transaction without fsync, as a group's: each function's
    own transactions are savepoints in it, and every outcome (``result`` or
    ``error`` of the members returned) is set once it committed.  The write queue is
    waited for ``seconds`` at most.  When the write lock could not be had (nothing
    was written) that is every member's error; when the transaction failed otherwise,
    each function runs again alone, so that none loses its answer to another's failure."""
    # the members' deadline is the transaction's (``_run_batch``): the loop must not wait
    deadline = time.monotonic() + seconds
    members = [groupcommit.Member(function, (), deadline) for function in functions]
    with lock_wait(seconds):  # the fallback's too: the loop waits that long at most
        if _run_batch(members, "NORMAL", urgent=True):
            return members
        failure = members[0].error
        if isinstance(failure, WouldWait) or (failure is not None and is_locked(failure)):
            return members
        for member in members:
            member.result, member.error = None, None
        _run_together(members)  # one after the other, each its own transactions
    return members


def _runs(members: List[groupcommit.Member]) -> Iterator[List[groupcommit.Member]]:
    """The members in order, those next to each other that can run together (the same
    ``many`` of ``grouped``) in one list."""
    run: List[groupcommit.Member] = []
    for member in members:
        if run and (member.together is None or run[0].together is None
                    or member.together[0] is not run[0].together[0]):
            yield run
            run = []
        run.append(member)
    if run:
        yield run


def _run_together(run: List[groupcommit.Member]) -> None:
    """Set each member's outcome: its function's (one after the other), or all at once
    by their ``many``."""
    if run[0].together is None:
        for member in run:
            try:
                member.result = member.function(*member.args)
            except Exception as exc:
                member.error = exc
        return
    try:
        outcomes: list = run[0].together[0]([member.together[1:] for member in run])
    except Exception as exc:
        outcomes = [exc] * len(run)
    for member, outcome in zip(run, outcomes):
        if isinstance(outcome, Exception):
            member.error = outcome
        else:
            member.result = outcome


def _group(synchronous: Callable[[], str], urgent: bool) -> groupcommit.CommitGroup:
    def acquire(deadline: Optional[float]) -> bool:
        return _writer.acquire(urgent, None if deadline is None
                               else max(0.0, deadline - time.monotonic()))

    return groupcommit.CommitGroup(acquire, _writer.release,
                                   lambda members: _run_batch(members, synchronous(), urgent))


# settlements commit together at the money level; authorizations among themselves,
# without fsync and by the express lane (a batch of settlements would make them wait
# for its fsync)
money_group = _group(lambda: _money_sync, urgent=False)
reservation_group = _group(lambda: "NORMAL", urgent=True)
# the call path's: on PostgreSQL its transactions run side by side instead, each its
# own (a batch would lock its members' rows in their order, not in one order, and
# PostgreSQL takes a second, deadlock_timeout, to tell a deadlock)
_SIDE_BY_SIDE = (money_group, reservation_group)


Many = Callable[[List[Tuple[tuple, dict]]], list]


def grouped(group: groupcommit.CommitGroup, many: Optional[Many] = None
            ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated call (one that writes in ``money_txn``/``reservation_txn``) in
    ``group``: calls that arrive together share a transaction, and each returns only
    once that transaction committed.  Called inside a transaction, from a thread that
    holds the write queue or one that may never wait (the FastAGI loop), it runs alone.

    ``many([(args, kwargs), ...])``: the outcomes (a result, or the exception that
    refused it) of calls next to each other in a batch, exactly as if they ran one
    after the other, computed at once (a few set-wise statements instead of each call's)."""
    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        def alone() -> bool:
            return (not GROUP_COMMIT or getattr(_sync, "never_wait", False)
                    or db.in_transaction() or _writer.owned()
                    or (_postgres and group in _SIDE_BY_SIDE))

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if alone():
                return function(*args, **kwargs)
            try:
                return group.run(lambda: function(*args, **kwargs), (),
                                 getattr(_sync, "lock_deadline", None),
                                 None if many is None else (many, args, kwargs))
            except groupcommit.Locked as exc:  # the answer SQLite gives when its wait runs out
                raise pw.OperationalError(str(exc)) from exc

        def run_all(calls: List[Tuple[tuple, dict]]) -> List[groupcommit.Member]:
            works = [(functools.partial(function, *args, **kwargs), (),
                      None if many is None else (many, args, kwargs)) for args, kwargs in calls]
            if not alone():
                return group.run_all(works)
            members = [groupcommit.Member(work, (), None) for work, _, _ in works]
            _run_together(members)  # one after the other, each its own transactions
            return members

        run.run_all = run_all  # type: ignore[attr-defined]
        return run
    return decorate


def run_all(decorated: Callable[..., R], calls: List[Tuple[tuple, dict]]
            ) -> List[groupcommit.Member]:
    """Several calls ``(args, kwargs)`` of a ``grouped`` function, queued at once by
    this thread: they share a transaction (a few, past the group's limit) with each other
    and with whatever else is queued.  Their members, each with its result or error,
    once all of them committed or failed."""
    return decorated.run_all(calls)  # type: ignore[attr-defined]


def others_wait_to_write() -> bool:
    """Writers of this process wait for the write lock this thread holds (a hint): a long
    writer commits what it has done and lets them go first.  Never on PostgreSQL, whose
    call path does not queue behind other writers."""
    return not _postgres and _writer.wanted


def writes_quick() -> bool:
    """An authorization would get the write lock quickly: only quick writers
    (reservations: a fraction of a millisecond each) hold it or wait before it; no
    settlement, import or checkpoint holds it (settlements that wait for it come after
    the express lane), and its holder is not waiting for another process's lock.  A
    hint, it may change at once; the FastAGI loop uses it to decide whether to authorize
    a call itself.
    Never on PostgreSQL: there every statement is a round trip that would hold up the
    loop (and its call path does not go through the write queue)."""
    return (not _postgres and _writer.urgent_gets_it_quickly and not _checkpointing
            and not _waiting_for_another_process)


# peewee's error types for sqlite3's, as ``db.execute_sql`` raises them
_peewee_errors = pw.__exception_wrapper__


def transaction_alive() -> bool:
    """This thread's transaction is still open and usable."""
    if _postgres:
        return db.transaction_alive()  # type: ignore[attr-defined]
    return db.connection().in_transaction


def sql(query: str, params: tuple = ()):
    """Run one SQL statement on this thread's connection; for the hot call path, where
    building the query with peewee costs more than running it (and even its
    ``execute_sql`` costs as much as a short statement: straight to the connection).
    SQLite's SQL: on PostgreSQL it is translated (pgstore.translate)."""
    if _postgres:
        return db.execute_sql(query, params)
    with _peewee_errors:
        return db.connection().execute(query, params)


def insert_returning_id(query: str, params: tuple = ()) -> int:
    """Run an ``INSERT`` of one row into a table with an ``id`` column; its new id."""
    if _postgres:
        return db.execute_sql(query + " RETURNING id", params).fetchone()[0]
    return sql(query, params).lastrowid


_IN_CHUNK = 500  # SQLite before 3.32 allows 999 parameters a statement


def sql_in(query: str, keys: list) -> list:
    """The rows of ``query``, whose ``IN ({})`` is filled with ``keys`` (in chunks)."""
    rows: list = []
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = keys[i:i + _IN_CHUNK]
        rows += sql(query.format(", ".join("?" * len(chunk))), tuple(chunk)).fetchall()
    return rows


def sql_many(query: str, rows: list) -> None:
    """One statement for many parameter rows (nothing to do for none)."""
    if rows and _postgres:
        db.executemany(query, rows)  # type: ignore[attr-defined]
    elif rows:
        db.connection().executemany(query, rows)


def sql_at_commit(query: str, rows: list) -> None:
    """Run ``query`` once for each parameter row: a write whose outcome the code does
    not read.  In a transaction of the call path on PostgreSQL, they go with its
    COMMIT, one round trip for them all (a failure fails the commit, and nothing is
    written); elsewhere at once, as ``sql_many``."""
    if _postgres and getattr(_sync, "shared", False) and db.transaction_depth() == 1:
        if rows:
            db.at_commit(query, rows)  # type: ignore[attr-defined]
        return
    if len(rows) == 1:
        sql(query, rows[0])
    else:
        sql_many(query, rows)


def sql_one(query: str, params: tuple = ()):
    return sql(query, params).fetchone()


class SqliteOnly(Exception):
    """A file operation of the SQLite store (backup, restore, file checks) asked of a
    PostgreSQL one: there the DBA backs up with pg_dump (docs/store.md)."""


_box_files: Optional[str] = None  # init_db's box_files


def box_files_path() -> str:
    """The name the box's own files are kept beside (``<name>.pinkey``): the SQLite file,
    or on PostgreSQL the database file the box would have (init_db's ``box_files``)."""
    if not _postgres:
        return database_path()
    if _box_files is None:
        raise SqliteOnly("the store is a PostgreSQL database and the box's own folder was "
                         "not given (init_db's box_files)")
    return _box_files


def database_path() -> str:
    if _postgres:
        raise SqliteOnly("the store is a PostgreSQL database, not a file: backups and file "
                         "checks are the database administrator's (pg_dump; docs/store.md)")
    return os.fspath(db.database)
