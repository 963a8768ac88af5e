"""The store file: pragmas, migrations of an older file in place."""

import sqlite3

import pytest

from billing_addon import store


@pytest.mark.sqlite_only("SQLite pragmas of the file")
def test_pragmas(db_path):
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_are_idempotent(db_path):
    latest = store.available_migrations()[-1][0]
    assert store.schema_version() == latest
    assert store.migrate() == []


@pytest.mark.sqlite_only("SQLite's own migrations of an older file")
def test_upgrade_of_an_older_file_in_place(tmp_path, monkeypatch):
    """A database at version 1 is brought up to the newest schema, data kept."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    first = store.available_migrations()[0]
    conn.executescript(first[2])
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO extension (number, name, balance, created_utc, updated_utc) "
                 "VALUES ('1001', 'Old', 0, 0, 0)")
    conn.commit()
    conn.close()
    # pretend the package ships one more migration
    extra = (999, "0999_test.sql", "ALTER TABLE extension ADD COLUMN note TEXT NOT NULL DEFAULT 'x';")
    real = store.available_migrations
    monkeypatch.setattr(store, "available_migrations", lambda: real() + [extra])
    store.init_db(path)
    try:
        assert store.schema_version() == 999
        row = store.db.execute_sql("SELECT number, name, note FROM extension").fetchone()
        assert row == ("1001", "Old", "x")
    finally:
        store.close_db()


@pytest.mark.sqlite_only("SQLite's migration runner (PostgreSQL's: test_store_postgres)")
def test_failed_migration_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "b.db"
    store.init_db(path)
    before = store.schema_version()
    bad = (998, "0998_bad.sql", "ALTER TABLE extension ADD COLUMN a INT; SELECT * FROM nowhere;")
    real = store.available_migrations
    monkeypatch.setattr(store, "available_migrations", lambda: real() + [bad])
    try:
        store.migrate()
    except Exception:
        pass
    else:
        raise AssertionError("a broken migration must fail")
    assert store.schema_version() == before
    cols = [r[1] for r in store.db.execute_sql("PRAGMA table_info(extension)").fetchall()]
    assert "a" not in cols
    store.close_db()


def _level():
    return store.db.execute_sql("PRAGMA synchronous").fetchone()[0]


@pytest.mark.sqlite_only("SQLite's synchronous levels")
def test_durability_levels(tmp_path):
    """Money commits fsync (FULL = 2), reservations do not (NORMAL = 1), also after the
    connection was closed and opened again; durability=normal relaxes money commits."""
    store.init_db(tmp_path / "a.db")
    try:
        for _ in range(2):
            with store.money_txn():
                assert _level() == 2
            with store.reservation_txn():
                assert _level() == 1
            with store.money_txn():
                assert _level() == 2
            store.db.close()
            store.db.connect()
        store.init_db(tmp_path / "b.db", durability="normal")
        with store.money_txn():
            assert _level() == 1
    finally:
        store.init_db(tmp_path / "c.db")  # back to the default for later tests
        store.close_db()


def _wal_frames():
    return store.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]


@pytest.mark.sqlite_only("the WAL")
def test_checkpoint_keeps_the_wal_short_beside_a_steady_writer(tmp_path):
    """Without autocheckpoint, commits leave the copying to ``checkpoint`` (the daemon's
    thread): it is asked for after CHECKPOINT_COMMITS commits, completes while another
    thread keeps writing, and the next commit then starts the log over."""
    import threading

    store.init_db(tmp_path / "w.db", autocheckpoint=False)
    try:
        store.db.execute_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        store.checkpoint()
        stop = threading.Event()

        def writer():
            while not stop.is_set():
                with store.reservation_txn():
                    store.sql("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
            store.db.close()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert store.checkpoint_due.wait(10)
            for _ in range(20):
                frames, copied = store.checkpoint()
                assert frames == copied  # the second pass leaves nothing behind
        finally:
            stop.set()
            thread.join(10)
        with store.reservation_txn():
            store.sql("INSERT INTO t (v) VALUES ('last')")
        assert _wal_frames() <= 5  # started over, not appended to a long log
    finally:
        store.init_db(tmp_path / "c.db")
        store.close_db()


@pytest.mark.sqlite_only("the WAL")
def test_without_the_checkpoint_thread_the_wal_only_grows(tmp_path):
    """The other side of the test above: nothing copies the log back by itself."""
    store.init_db(tmp_path / "g.db", autocheckpoint=False)
    try:
        store.db.execute_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for _ in range(1200):
            with store.reservation_txn():
                store.sql("INSERT INTO t (v) VALUES (?)", ("x" * 200,))
        assert store.checkpoint_due.is_set()
        assert (tmp_path / "g.db-wal").stat().st_size > 1000 * 4096  # past SQLite's own limit
    finally:
        store.init_db(tmp_path / "c.db")
        store.close_db()


@pytest.mark.sqlite_only("SQLite's write lock and busy handler")
def test_a_writer_behind_another_process_gets_in_at_the_first_gap(db_path):
    """Another process writes in batches with short gaps between them (a `cdr import`
    beside the daemon): a write transaction here waits for the batch at hand only, not
    for several (SQLite's busy handler sleeps up to 100 ms a try and missed the gaps).
    Five in turn, each must get in at the first gap after it began waiting."""
    import threading
    import time

    hold_s, gap_s = 0.04, 0.004
    batches = [0]  # the other process's batches begun so far
    stop = threading.Event()

    def other_process():
        conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=30)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            batches[0] += 1
            time.sleep(hold_s)
            conn.execute("COMMIT")
            time.sleep(gap_s)
        conn.close()

    writer = threading.Thread(target=other_process)
    writer.start()
    skipped = []
    try:
        for _ in range(5):
            time.sleep(gap_s * 3)  # begins waiting somewhere in a batch
            before = batches[0]
            with store.money_txn():
                skipped.append(batches[0] - before)  # batches begun while it waited
                store.sql("INSERT INTO setting (key, value) VALUES ('x', '1') "
                          "ON CONFLICT (key) DO UPDATE SET value = value + 1")
    finally:
        stop.set()
        writer.join(10)
    assert skipped and max(skipped) <= 1, skipped
    assert store.sql_one("SELECT value FROM setting WHERE key = 'x'")[0] == "5"


@pytest.mark.sqlite_only("SQLite's write lock and busy timeout")
def test_the_loop_never_waits_even_on_a_connection_opened_again(db_path):
    """The FastAGI loop's thread (``never_wait_here``) meets another process's write
    lock with WouldWait at once, also after its connection was opened again (a new one
    starts with SQLite's 10 s busy timeout)."""
    import time

    from tests.helpers import on_the_loop_beside_the_write_lock

    outcome = []

    def loop():
        store.db.close()
        started = time.monotonic()
        try:
            with store.reservation_txn():
                pass
        except store.WouldWait:
            outcome.append(time.monotonic() - started)

    on_the_loop_beside_the_write_lock(db_path, loop)
    assert outcome and outcome[0] < 1.0, outcome
