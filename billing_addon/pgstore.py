"""PostgreSQL as the store (``[store] url = postgresql://...``): what only that dialect needs.

The rest of the add-on writes SQLite's SQL (``?`` placeholders, ``LIKE``), and peewee is
told to write it too (``param = '?'``); every statement passes ``translate`` on its way
to psycopg2: ``?`` becomes ``%s``, a literal ``%`` becomes ``%%`` and ``LIKE`` becomes
``ILIKE`` (SQLite's LIKE ignores the case of ASCII letters, PostgreSQL's does not), and
``COLLATE NOCASE`` goes (the names SQLite compares so are CITEXT in PostgreSQL's schema),
and ``CROSS JOIN ... ON`` (SQLite's join-order hint) is a plain ``JOIN``.

The connection runs in autocommit mode and transactions are explicit ``BEGIN``s (as
peewee does since 3.15; bookworm's 3.14 would leave psycopg2 an implicit transaction
open after every read).  A write transaction begins with one round trip that sets its
commit durability and lock wait and takes ``WRITE_LOCK``, a transaction-level advisory
lock: one writer at a time on the whole database, as SQLite has one per file, so the
read-then-write money code is as correct here as there.  The call path (authorize,
settle, release) takes it *shared* instead and locks the rows it reads to change
(``FOR UPDATE``): its transactions run side by side, every other writer still alone
(docs/store.md, "Writers side by side").  Two of them that lock rows in opposite orders
meet PostgreSQL's deadlock check: the one it aborts raises ``store.Conflict`` and is run
again from the start (``store.retry_conflicts``).

Statements a connection runs again and again (the call path's) are ``PREPARE``d on it
at their second run and run with ``EXECUTE`` from then on: the server then parses and
plans each once per connection, not every time (``_Prepared``; a third of the server's
work for a call went there).

A connection that is lost (server down, refused, shut down, network cut) raises
``store.Unreachable``; the next statement outside a transaction connects again.
psycopg2 is imported only here, and this module only when a URL asks for PostgreSQL.
"""

from __future__ import annotations

import functools
import re
import threading
import urllib.parse
from decimal import Decimal
from typing import Optional, Tuple

import peewee as pw
import psycopg2
import psycopg2.extensions as pgext
import psycopg2.extras as pgextras

from .store import Conflict, Unreachable

if pw.psycopg2 is None:  # kept from peewee at start (billing_addon/__init__): hand it over
    pw.psycopg2, pw.pg_extensions, pw.pg_errors = psycopg2, pgext, psycopg2.errors
    pgextras.register_uuid()  # as peewee does when it loads the driver itself

_deferred = threading.local()  # this thread's writes to send with its COMMIT
WRITE_LOCK = 0x6B696C6C  # the one advisory lock key of every writer of the add-on
DEFAULT_PORT = 5432

# SQLSTATE classes of a connection that is gone: 08 connection exception, 57P admin
# shutdown / crash shutdown / cannot connect now
_GONE = ("08", "57P")
_LOCK_TIMEOUT = "55P03"
_CONFLICT = ("40P01", "40001")  # deadlock detected, serialization failure: run it again

_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|%s\b|%|\bLIKE\b"""
                     r"""|\s+COLLATE\s+NOCASE\b|\bCROSS JOIN\b""", re.IGNORECASE)


def _swap(match: re.Match) -> str:
    token = match.group(0)
    if token == "?":
        return "%s"
    if token == "%":
        return "%%"
    if token == "%s":  # peewee's own introspection queries are written for psycopg2
        return token
    if token[0] in "'\"":
        return token.replace("%", "%%")
    if token[0].isspace():  # the names SQLite compares with NOCASE are CITEXT here
        return ""
    if token[0] in "Cc":  # SQLite's way to fix the join order; PostgreSQL's has no ON
        return "JOIN"
    return "ILIKE"


@functools.lru_cache(maxsize=4096)
def translate(query: str) -> str:
    """SQLite's SQL as psycopg2 takes it.

    >>> translate("SELECT '5%' FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\\\'")
    "SELECT '5%%' FROM t WHERE a = %s AND b ILIKE %s ESCAPE '\\\\'"
    """
    return _TOKENS.sub(_swap, query)


def _numeric(value: Optional[str], cursor) -> object:
    """NUMERIC as an int when it is whole: ``sum()`` of BIGINT money is NUMERIC here and
    an integer on SQLite, and money is never anything but an int."""
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else Decimal(value)


_NUMERIC = pgext.new_type((1700,), "BILLING_NUMERIC", _numeric)
# flag columns are INTEGER 0/1 on both stores, so raw SQL compares them with = 1
pgext.register_adapter(bool, lambda flag: pgext.AsIs("1" if flag else "0"))


class SentWithNext(str):
    """``write_begin`` of the call path: sent with the transaction's first statement."""


def write_begin(synchronous: bool, wait_ms: int, shared: bool = False) -> str:
    """The statements after BEGIN of a write transaction: commit durability, how long a
    lock may be waited for (0: not at all), the write lock (``shared``: the call path's,
    beside each other but never beside another writer, and sent with the first
    statement of the transaction, in its round trip)."""
    script = (f"SET LOCAL synchronous_commit = {'on' if synchronous else 'off'}; "
              f"SET LOCAL lock_timeout = '{max(wait_ms, 1)}ms'; "
              f"SELECT pg_advisory_xact_lock{'_shared' if shared else ''}({WRITE_LOCK})")
    return SentWithNext(script) if shared else script


# a writer that is not the call path's, nested in a call-path transaction: the write
# lock for itself alone (PostgreSQL's deadlock check answers two such at once)
WRITE_LOCK_ALONE = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"


_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_STAR = re.compile(r"SELECT\s+\*|\.\*")  # a result that a schema change would alter
_PLACEHOLDERS = re.compile(r"%%|%s")


def _parameter_type(value) -> Optional[str]:
    """The type PostgreSQL gives ``value`` written as psycopg2 writes it (an integer
    constant is an integer, or a bigint when it must be; a string or NULL takes its type
    from where it stands); None: not prepared with such a value."""
    if value is None or isinstance(value, str):
        return "unknown"
    if isinstance(value, bool):  # written 1/0 (the adapter above)
        return "integer"
    if isinstance(value, int):
        if -2 ** 31 <= value < 2 ** 31:
            return "integer"
        return "bigint" if -2 ** 63 <= value < 2 ** 63 else None
    if isinstance(value, Decimal):
        return "numeric"
    return None


class _Prepared:
    """The statements prepared on one connection, by their SQL and parameter types.

    A statement is prepared the second time it runs (one that runs once is not worth
    it), and only a plain one: a single SELECT, INSERT, UPDATE or DELETE with
    parameters, none with ``*`` in its result (a column added by a migration would make
    the prepared plan fail).  A PREPARE in an open transaction goes inside a savepoint,
    so that one PostgreSQL refuses (it cannot tell a parameter's type) costs nothing but
    running that statement unprepared from then on."""

    LIMIT = 1000  # statements prepared on one connection at most

    def __init__(self, conn) -> None:
        self.conn = conn
        self.names: dict = {}  # (sql, types) -> name, or None: not prepared
        self.seen: set = set()

    def form(self, cursor, sql: str, params: tuple) -> Tuple[str, tuple]:
        """What to run for ``sql`` with ``params``: ``EXECUTE`` when prepared."""
        types = tuple(_parameter_type(value) for value in params)
        key = (sql, types)
        name = self.names.get(key)
        if name is None and key not in self.names:
            if key not in self.seen:
                if len(self.seen) < 20 * self.LIMIT:
                    self.seen.add(key)
                return sql, params
            name = self.names[key] = self._prepare(cursor, sql, types)
        if name is None:
            return sql, params
        return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params

    def _prepare(self, cursor, sql: str, types: tuple) -> Optional[str]:
        if (not types or None in types or len(self.names) >= self.LIMIT or ";" in sql
                or not _STATEMENT.match(sql) or _STAR.search(sql)):
            return None
        numbers = iter(range(1, len(types) + 1))
        try:
            text = _PLACEHOLDERS.sub(
                lambda m: "%" if m.group(0) == "%%" else f"${next(numbers)}", sql)
        except StopIteration:
            return None
        if next(numbers, None) is not None:  # fewer placeholders than parameters
            return None
        name = f"billing_{len(self.names) + 1}"
        prepare = f"PREPARE {name} ({', '.join(types)}) AS {text}"
        status = self.conn.get_transaction_status()
        try:
            if status == pgext.TRANSACTION_STATUS_IDLE:
                cursor.execute(prepare)
            elif status == pgext.TRANSACTION_STATUS_INTRANS:
                cursor.execute("SAVEPOINT billing_prepare")
                try:
                    cursor.execute(prepare)
                except psycopg2.Error:
                    cursor.execute("ROLLBACK TO SAVEPOINT billing_prepare")
                    raise
                finally:
                    if self.conn.get_transaction_status() == pgext.TRANSACTION_STATUS_INTRANS:
                        cursor.execute("RELEASE SAVEPOINT billing_prepare")
            else:
                return None
        except psycopg2.Error as exc:
            if _gone(exc, self.conn):
                raise
            return None
        return name


def _prepared(conn) -> _Prepared:
    """This thread's prepared statements, for its connection ``conn``."""
    mine = getattr(_deferred, "prepared", None)
    if mine is None or mine.conn is not conn:
        mine = _deferred.prepared = _Prepared(conn)
    return mine


def _gone(exc: BaseException, conn) -> bool:
    code = getattr(exc, "pgcode", None) or ""
    return bool(conn is None or conn.closed or code.startswith(_GONE)
                or isinstance(exc, psycopg2.InterfaceError))


# A server out of reach must not hold calls up (docs/scale-failures.md): connecting gives
# up after a second, and an open connection whose network died fails within seconds (TCP
# keepalives; tcp_user_timeout for data sent and never acknowledged).  A URL that sets
# one of these keeps its own value.
TIMEOUTS = {"connect_timeout": "1", "keepalives": "1", "keepalives_idle": "5",
            "keepalives_interval": "1", "keepalives_count": "3", "tcp_user_timeout": "5000"}


def with_timeouts(url: str) -> str:
    """The URL with ``TIMEOUTS`` added to its parameters.

    >>> with_timeouts("postgresql://u@h/db?connect_timeout=3").split("&")[:3]
    ['postgresql://u@h/db?connect_timeout=3', 'keepalives=1', 'keepalives_idle=5']
    """
    parts = urllib.parse.urlsplit(url)
    given = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in given}
    query = given + [(name, value) for name, value in TIMEOUTS.items() if name not in names]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class PostgresStore(pw.PostgresqlDatabase):
    param = "?"  # peewee writes SQLite's placeholders too; ``translate`` turns them round

    def init(self, database, **kwargs):
        if isinstance(database, str) and "://" in database:
            database = with_timeouts(database)
        super().init(database, **kwargs)

    def _connect(self):
        try:
            conn = super()._connect()
        except psycopg2.Error as exc:
            raise Unreachable(f"the store cannot be reached: {_first_line(exc)}") from exc
        conn.autocommit = True
        pgext.register_type(_NUMERIC, conn)
        return conn

    def connection(self):
        """This thread's connection; a lost one is replaced (outside a transaction)."""
        conn = self._state.conn
        if conn is not None and conn.closed:
            if self.in_transaction():
                raise Unreachable("the store's connection was lost in a transaction")
            self._state.reset()
        return super().connection()

    def cursor(self, commit=None, named_cursor=None):
        return self.connection().cursor()

    def execute_sql(self, sql, params=None, commit=None):
        cursor = self.cursor()
        try:
            sql, params = _prepared(cursor.connection).form(cursor, translate(sql),
                                                            tuple(params or ()))
        except psycopg2.Error as exc:
            self._raise(exc, cursor.connection)
        begin = getattr(_deferred, "begin", None)
        if begin:  # the BEGIN of the call path's transaction, in this round trip
            _deferred.begin = None
            self._run(cursor, begin + "; " + sql, params)
        else:
            self._run(cursor, sql, params)
        return cursor

    def executemany(self, sql: str, rows: list) -> None:
        cursor = self.cursor()
        if getattr(_deferred, "begin", None):
            self.execute_sql("SELECT 1")
        try:  # psycopg2's executemany is a round trip a row; this is one per 100 rows
            pgextras.execute_batch(cursor, translate(sql), rows, page_size=100)
        except psycopg2.Error as exc:
            self._raise(exc, cursor.connection)

    def _run(self, cursor, sql: str, params) -> None:
        try:
            cursor.execute(sql, params)
        except psycopg2.Error as exc:
            self._raise(exc, cursor.connection)

    @staticmethod
    def _raise(exc: psycopg2.Error, conn) -> None:
        if _gone(exc, conn):
            raise Unreachable(f"the store cannot be reached: {_first_line(exc)}") from exc
        if getattr(exc, "pgcode", None) in _CONFLICT:
            raise Conflict(f"the store aborted the transaction: {_first_line(exc)}") from exc
        if getattr(exc, "pgcode", None) == _LOCK_TIMEOUT:
            raise pw.OperationalError(f"database is locked ({_first_line(exc)})") from exc
        with pw.__exception_wrapper__:
            raise exc

    def begin(self, lock_type=None):
        """BEGIN, and when ``lock_type`` is a write's ``write_begin``, that too, in one
        round trip.  (SQLite's lock types are strings of their own: not used here.)"""
        if isinstance(lock_type, SentWithNext):
            self.connection()  # connected now: a connection made later forgets the transaction
            _deferred.begin = "BEGIN; " + lock_type
            return
        cursor = self.cursor()
        script = "BEGIN" if not lock_type or lock_type == "IMMEDIATE" else "BEGIN; " + lock_type
        try:
            self._run(cursor, script, None)
        except pw.DatabaseError:
            if not cursor.connection.closed:  # say the lock wait ran out: end what BEGIN opened
                cursor.execute("ROLLBACK")
            raise

    def at_commit(self, sql: str, rows: list) -> None:
        """Send these writes with the COMMIT, in its round trip (``store.sql_at_commit``)."""
        writes = getattr(_deferred, "writes", None)
        if writes is None:
            writes = _deferred.writes = []
        writes.append((translate(sql), rows))

    def commit(self):
        writes, begin = getattr(_deferred, "writes", None), getattr(_deferred, "begin", None)
        _deferred.writes = _deferred.begin = None
        if not writes:
            if not begin:  # else nothing was sent: nothing to end
                self._run(self.cursor(), "COMMIT", None)
            return
        cursor = self.cursor()
        prepared = _prepared(cursor.connection)
        try:
            script = b"; ".join(cursor.mogrify(*prepared.form(cursor, sql, tuple(row)))
                                for sql, rows in writes for row in rows)
        except psycopg2.Error as exc:
            self._raise(exc, cursor.connection)
        self._run(cursor, (begin.encode() + b"; " if begin else b"") + script + b"; COMMIT", None)

    def rollback(self):
        begun = not getattr(_deferred, "begin", None)
        _deferred.writes = _deferred.begin = None
        if not begun:
            return
        conn = self._state.conn
        if conn is None or conn.closed:  # the server rolled it back when it lost us
            return
        self._run(conn.cursor(), "ROLLBACK", None)

    def transaction_alive(self) -> bool:
        """The transaction is open and no statement in it failed (PostgreSQL refuses
        every statement after a failed one until the rollback)."""
        conn = self._state.conn
        return (conn is not None and not conn.closed
                and conn.get_transaction_status() == pgext.TRANSACTION_STATUS_INTRANS)

    def run_script(self, script: str) -> None:
        """Run a migration file's statements (no parameters: ``%`` stays as written)."""
        self._run(self.cursor(), script, None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
