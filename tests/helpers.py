"""Small builders and waits shared by the tests."""

import contextlib
import io
import logging
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

from billing_addon import accounts, money, rates, store

BOX_T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def wait_for(predicate, timeout=20.0, step=0.05):
    """Poll ``predicate`` until it is true or ``timeout`` s passed; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_until(predicate, timeout=60.0, what="the condition"):
    """Poll ``predicate`` until it is true; fail the test if it is not within ``timeout`` s.
    For waits on the code under test, instead of a fixed sleep that a slow machine outlasts."""
    if not wait_for(predicate, timeout):
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")


def amount(text):
    return money.parse_amount(text, allow_negative=True)


def store_intact() -> bool:
    """SQLite's integrity check of the file; a PostgreSQL server checks its own pages."""
    return store.postgres() or store.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"


@contextlib.contextmanager
def store_write_lock_held(db_path):
    """Another session (say the CLI) holds the store's write lock: SQLite's on the file,
    or the advisory lock on the PostgreSQL database that stands for it."""
    from tests import pg_store

    if pg_store.active():
        import psycopg2

        from billing_addon import pgstore

        conn = psycopg2.connect(pg_store.database_for(db_path))
        conn.autocommit = True
        run = conn.cursor().execute
        run(f"BEGIN; SELECT pg_advisory_xact_lock({pgstore.WRITE_LOCK})")
    else:
        import sqlite3

        conn = sqlite3.connect(str(db_path), isolation_level=None)
        run = conn.execute
        run("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        run("ROLLBACK")
        conn.close()


def on_the_loop_beside_the_write_lock(db_path, function, timeout=30.0):
    """Run ``function`` on a thread of its own that never waits (as the FastAGI loop's),
    its store connection closed after, while another session holds the write lock."""
    def run():
        store.never_wait_here()
        try:
            function()
        finally:
            store.close_db()

    with store_write_lock_held(db_path):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout)


def make_extension(number="1001", *, balance="0", credit="0", billing=True, name=None):
    accounts.ensure_extension(number, name if name is not None else f"Ext {number}")
    accounts.edit([number], billing_enabled=billing, credit=amount(credit))
    if amount(balance):
        accounts.recharge([number], amount(balance), "test")


def make_rate(prefix="9", length="0", rate="0.10", unit="60", **kw):
    form = {"prefix": prefix, "length": length, "rate": rate, "unit": unit,
            "all_extensions": kw.pop("all_extensions", True)}
    form.update(kw)
    return rates.add(rates.validate(form))


def fund_1001(prefixes=("1",)):
    """Extension 1001 billed with 100 on it, and a rate of 0.01 a second for the numbers
    starting with each of ``prefixes`` (the recorded sessions dial 1..., 9...)."""
    make_extension("1001", balance="100")
    for prefix in prefixes:
        make_rate(prefix, rate="0.01", unit="1")


@contextlib.contextmanager
def logger_restored(name="billing_addon"):
    """The daemon installs its log handler; give the logger back afterwards."""
    logger = logging.getLogger(name)
    saved = (list(logger.handlers), logger.propagate, logger.level)
    try:
        yield
    finally:
        for handler in logger.handlers:
            if handler not in saved[0]:
                handler.close()
        logger.handlers[:], logger.propagate, logger.level = saved


def alive(pid):
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


_HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def hold_write_lock(database, seconds):
    """Another process holding ``database``'s write lock for ``seconds``; returns once it
    holds it (the Popen: wait() for it)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WRITE_LOCK, str(database), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


class BoxClock:
    """The box's clock and running time.  Moving ``now`` forward is the box running that
    long (its uptime moves with it); moving it back is the clock being set back, which
    the uptime does not see.  ``jump`` sets the clock without running time passing."""

    def __init__(self, now=BOX_T0):
        self._now = now
        self.up = 1000.0
        self.boot = "boot-1"

    @property
    def now(self):
        return self._now

    @now.setter
    def now(self, moment):
        if moment > self._now:
            self.up += (moment - self._now).total_seconds()
        self._now = moment

    def jump(self, moment):
        self._now = moment

    def __call__(self):
        return self._now

    def uptime(self):
        return self.up

    def boot_id(self):
        return self.boot

    def reboot(self, off):
        """The box is off for ``off`` (a timedelta), then boots: a new boot, uptime 30 s."""
        self._now += off + timedelta(seconds=30)
        self.up = 30.0
        self.boot = f"boot-{int(self.boot.split('-')[1]) + 1}"


def dump_database(path):
    """Every row of every table of the SQLite file ``path`` (or of the PostgreSQL database
    that stands for it), to compare before and after a change that must change nothing."""
    import sqlite3

    from tests import pg_store

    if pg_store.active():
        import psycopg2

        con = psycopg2.connect(pg_store.database_for(path))
        tables_sql = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                      "ORDER BY tablename")
    else:
        con = sqlite3.connect(str(path))
        tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    try:
        cur = con.cursor()

        def rows(query):
            cur.execute(query)
            return cur.fetchall()

        return [(t, rows(f"SELECT * FROM {t} ORDER BY 1")) for (t,) in rows(tables_sql)]
    finally:
        con.close()


def four_rooms_in_two_departments(started: int):
    """Extensions 1001-1004 billed with 10.00 each, a rate, one charged call each (at
    ``started``); 1001 and 1002 in Sales, 1003 in Ops.  Returns (sales, ops)."""
    from billing_addon import calls, departments

    make_rate("9", rate="0.01", unit="1")
    for number in ("1001", "1002", "1003", "1004"):
        accounts.ensure_extension(number, f"Room {number}")
        accounts.edit([number], billing_enabled=True)
        accounts.recharge([number], money.parse_amount("10"), "test")
        calls.settle(f"c-{number}", 10, "ANSWER", number=number, dialed="912345678",
                     started=started, source="cdr")
    sales, ops = departments.create("Sales"), departments.create("Ops")
    departments.assign(["1001", "1002"], sales)
    departments.assign(["1003"], ops)
    return sales, ops


def cli_runner(ini, capsys, monkeypatch=None):
    """``run(*argv, stdin="")``: billing-addon with the configuration ``ini``, in this
    process; its exit code and what it printed (``stdin`` needs ``monkeypatch``)."""
    from billing_addon import cli

    def run(*argv, stdin=""):
        if monkeypatch is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["--config", str(ini), *argv])
        out = capsys.readouterr()
        return code, out.out + out.err

    return run
