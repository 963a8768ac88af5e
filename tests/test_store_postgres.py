"""The store on a real PostgreSQL 15 server (store.py, pgstore.py): the same money paths
as on SQLite, the advisory write lock across processes, Unreachable and reconnecting,
the migration runner, flags, placeholders and LIKE.

In `make test` this module starts a throwaway server of its own; in `make test-postgres`
it uses the session's (tests/pg_store.py).  The server-stopping test always has its own.
"""

import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import peewee as pw
import pytest

from billing_addon import accounts, calls, departments, pgstore, pins, reports, store
from billing_addon.store import Extension
from tests import pg_store
from tests.helpers import amount, make_extension, make_rate, wait_until
from tests.pg_server import throwaway_server

ROOT = Path(__file__).resolve().parents[1]
T0 = 1795441378


@pytest.fixture(scope="module")
def server():
    """A started server with a migrated template database."""
    if pg_store.active():  # the session's
        yield None
        return
    folder = tempfile.mkdtemp(prefix="billing-pg-test-")
    with throwaway_server(folder) as started:
        store.init_db(started.create_database(pg_store.TEMPLATE))
        store.close_db()
        yield started
    subprocess.run(["rm", "-rf", folder], check=False)


@pytest.fixture
def pg_url(server, tmp_path):
    """A fresh migrated database, opened as the store."""
    if server is None:
        url = pg_store.database_for(tmp_path / "pg.db")
    else:
        url = server.create_database("t_" + os.urandom(6).hex(), template=pg_store.TEMPLATE)
    store.init_db(url)
    yield url
    store.close_db()


# -- the SQL translation (no server) -----------------------------------------------------

@pytest.mark.parametrize("sqlite, postgresql", [
    # placeholders; a literal % is doubled for psycopg2's formatting
    ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
    ("SELECT '5%' || ?", "SELECT '5%%' || %s"),
    # a ? inside a string literal or a quoted name is not a placeholder; psycopg2's own stay
    ("SELECT a FROM t WHERE b = %s", "SELECT a FROM t WHERE b = %s"),
    ("SELECT '?', \"a?\" FROM t WHERE x = ?", "SELECT '?', \"a?\" FROM t WHERE x = %s"),
    # SQLite's LIKE ignores case; ILIKE does that on PostgreSQL (not inside a literal)
    ("SELECT 1 WHERE n LIKE ? ESCAPE '\\'", "SELECT 1 WHERE n ILIKE %s ESCAPE '\\'"),
    ("SELECT 'LIKE' WHERE n like ?", "SELECT 'LIKE' WHERE n ILIKE %s"),
    ("SELECT 1 WHERE n ILIKE ?", "SELECT 1 WHERE n ILIKE %s"),
    # the NOCASE names are CITEXT there
    ("SELECT id FROM plan ORDER BY name COLLATE NOCASE", "SELECT id FROM plan ORDER BY name"),
    # SQLite's join-order hint
    ("SELECT 1 FROM e CROSS JOIN d ON d.e = e.id", "SELECT 1 FROM e JOIN d ON d.e = e.id"),
])
def test_sqlite_sql_is_translated(sqlite, postgresql):
    assert pgstore.translate(sqlite) == postgresql


# -- the same money paths ----------------------------------------------------------------

def _scenario() -> dict:
    """Recharge, authorize, settle, a second settle of the same call: the outcome."""
    make_rate("9", rate="0.60", unit="60")
    make_extension("1001", balance="10")
    accounts.recharge(["1001"], amount("5"), "desk")
    allowed = calls.authorize("1001", "912345", T0, "call-1")
    first = calls.settle("call-1", 125, "ANSWER", T0 + 130)
    again = calls.settle("call-1", 125, "ANSWER", T0 + 130)
    refused = calls.authorize("1001", "812345", T0 + 200, "call-2")  # no rate
    ext = accounts.get_extension("1001")
    entries = [(e.kind, e.amount, e.balance_after) for e in
               store.Ledger.select().order_by(store.Ledger.id)]
    return {"allowed": (allowed.result, allowed.limit_ms), "settled": (first, again),
            "refused": refused.result, "balance": (ext.balance, ext.reserved),
            "entries": entries, "verify": accounts.verify()}


def test_the_same_money_paths_give_the_same_outcome_on_both(pg_url, tmp_path):
    on_postgres = _scenario()
    store.close_db()
    open_sqlite = getattr(store.init_db, "original", store.init_db)  # past the tests' mapping
    open_sqlite(tmp_path / "lite.db")
    assert not store.postgres()
    on_sqlite = _scenario()
    assert on_postgres == on_sqlite
    assert on_postgres["balance"] == (amount("15") - amount("1.80"), 0)
    assert on_postgres["verify"] == []
    assert all(isinstance(x, int) for entry in on_postgres["entries"] for x in entry[1:])


def test_flags_are_0_1_in_sql_and_bools_in_models(pg_url):
    make_extension("1001", billing=True)
    make_extension("1002", billing=False)
    assert Extension.get(Extension.number == "1001").billing_enabled is True
    assert Extension.get(Extension.number == "1002").billing_enabled is False
    assert store.sql_one("SELECT number FROM extension WHERE billing_enabled = 1")[0] == "1001"
    assert store.sql_one("SELECT pg_typeof(billing_enabled)::text FROM extension")[0] == "integer"
    assert [e.number for e in Extension.select().where(Extension.billing_enabled == False)  # noqa: E712
            ] == ["1002"]


def test_placeholders_percent_and_like_as_on_sqlite(pg_url):
    make_extension("1001", name="Suite 50% off")
    make_extension("1002", name="Suite 500")
    make_extension("1003", name="suite 5")
    # % and _ the user typed are literal; the search ignores case, as SQLite's LIKE does
    ids = {Extension.get(Extension.number == n).id: n for n in ("1001", "1002", "1003")}
    assert [ids[i] for i in reports.extension_ids_matching("50%")] == ["1001"]
    assert sorted(ids[i] for i in reports.extension_ids_matching("SUITE 5")) == ["1001", "1002",
                                                                                "1003"]
    assert store.sql_one("SELECT count(*) FROM extension WHERE name LIKE ?", ("%50\\%%",))[0] == 1
    assert store.sql_one("SELECT '100%' || ?", ("!",))[0] == "100%!"


def _prepared_statements() -> list:
    return [row[0] for row in store.sql("SELECT statement FROM pg_prepared_statements")
            .fetchall()]


def test_a_statement_run_again_is_prepared_and_answers_as_before(pg_url):
    make_extension("1001", balance="12.50")
    ext = Extension.get(Extension.number == "1001")
    query = "SELECT number, balance FROM extension WHERE id = ? AND balance > ?"
    assert not [text for text in _prepared_statements() if "balance > $2" in text]
    answers = [store.sql_one(query, (ext.id, 0)) for _ in range(3)]
    assert answers == [("1001", amount("12.50"))] * 3
    prepared = [text for text in _prepared_statements() if "balance > $2" in text]
    assert len(prepared) == 1 and prepared[0].endswith(
        " (integer, integer) AS SELECT number, balance FROM extension "
        "WHERE id = $1 AND balance > $2")


@pytest.mark.parametrize("query, params, expected", [
    # numbers compare as numbers (as text, '10' < '9')
    ("SELECT CASE WHEN ? > ? THEN 'more' ELSE 'less' END", (10, 9), "more"),
    ("SELECT ? + 1", (2 ** 40, ), 2 ** 40 + 1),  # past 32 bits: a bigint
    ("SELECT ? * 2", (pgstore.Decimal("1.25"),), pgstore.Decimal("2.50")),
    ("SELECT ? || '%'", ("5", ), "5%"),  # a literal % in a prepared statement
    ("SELECT count(*) FROM department WHERE name = ?", ("FRONT DESK", ), 1),  # CITEXT
])
def test_prepared_statements_type_their_parameters_as_the_literals_were(
        pg_url, query, params, expected):
    departments.create("Front Desk")
    assert [store.sql_one(query, params)[0] for _ in range(3)] == [expected] * 3
    assert any(text.startswith("PREPARE") for text in _prepared_statements())


def test_a_statement_the_server_cannot_prepare_runs_unprepared_in_its_transaction(pg_url):
    make_extension("1001")
    ext = Extension.get(Extension.number == "1001")
    with store.money_txn():
        # the server cannot tell the type of $1 here: its PREPARE is refused, in a
        # savepoint, and the transaction goes on
        assert [store.sql_one("SELECT ? IS NULL", (None,))[0] for _ in range(3)] == [True] * 3
        store.sql("UPDATE extension SET name = ? WHERE id = ?", ("Kept", ext.id))
    assert Extension.get_by_id(ext.id).name == "Kept"
    assert not any("IS NULL" in text for text in _prepared_statements())


def test_prepared_statements_outlive_a_rollback_and_a_new_connection_prepares_anew(pg_url):
    make_extension("1001")
    ext = Extension.get(Extension.number == "1001")
    query = "SELECT name FROM extension WHERE id = ?"
    with pytest.raises(RuntimeError):
        with store.money_txn():
            for _ in range(2):
                store.sql_one(query, (ext.id,))
            raise RuntimeError("rolled back")
    assert store.sql_one(query, (ext.id,)) == ("Ext 1001",)
    assert len([t for t in _prepared_statements() if "SELECT name FROM" in t]) == 1
    store.close_db()
    store.init_db(pg_url)
    assert store.sql_one(query, (ext.id,)) == ("Ext 1001",)
    assert not [t for t in _prepared_statements() if "SELECT name FROM" in t]
    assert store.sql_one(query, (ext.id,)) == ("Ext 1001",)  # the second time: prepared
    assert len([t for t in _prepared_statements() if "SELECT name FROM" in t]) == 1


def _open_as_box(url, folder):
    """The store as the box whose own files are in ``folder`` opens it (a new process:
    no key in memory)."""
    store.init_db(url, box_files=folder / "billing.db")
    pins._keys.clear()


def test_the_pin_key_is_a_file_on_each_box_and_the_store_keeps_its_fingerprint(pg_url, tmp_path):
    box_a, box_b = tmp_path / "a", tmp_path / "b"
    _open_as_box(pg_url, box_a)
    hashed = pins.pin_hash("123456")
    key_file = box_a / "billing.db.pinkey"
    key = key_file.read_bytes()
    assert len(key) == pins.KEY_BYTES and key_file.stat().st_mode & 0o777 == 0o600
    settings_kept = dict(store.sql("SELECT key, value FROM setting").fetchall())
    assert settings_kept["pin_key_fingerprint"] == pins.fingerprint(key)
    assert "pin_key" not in settings_kept and key.hex() not in str(settings_kept)

    _open_as_box(pg_url, box_b)  # another box, its file not copied yet
    with pytest.raises(pins.PinError, match=r"no PIN key file .*/b/billing\.db\.pinkey"):
        pins.pin_hash("123456")
    box_b.mkdir()
    (box_b / "billing.db.pinkey").write_bytes(os.urandom(pins.KEY_BYTES))  # a key of its own
    with pytest.raises(pins.PinError, match="is not the one of this store"):
        pins.pin_hash("123456")
    assert store.sql_one("SELECT value FROM setting WHERE key = 'pin_key_fingerprint'")[0] == \
        pins.fingerprint(key)  # a wrong box changed nothing
    shutil.copy(key_file, box_b / "billing.db.pinkey")
    assert pins.pin_hash("123456") == hashed  # the same PINs on both boxes


def test_a_pin_key_kept_in_the_store_moves_to_the_box_file(pg_url, tmp_path):
    key = os.urandom(pins.KEY_BYTES)  # as the first PostgreSQL version kept it
    store.sql("INSERT INTO setting (key, value) VALUES ('pin_key', ?)", (key.hex(),))
    _open_as_box(pg_url, tmp_path)
    assert pins.pin_hash("4321") == hmac.new(key, b"4321", hashlib.sha256).hexdigest()
    assert (tmp_path / "billing.db.pinkey").read_bytes() == key
    assert store.sql_one("SELECT count(*) FROM setting WHERE key = 'pin_key'")[0] == 0
    assert store.sql_one("SELECT value FROM setting WHERE key = 'pin_key_fingerprint'")[0] == \
        pins.fingerprint(key)


def test_insert_returning_id_gives_the_new_rows_id(pg_url):
    make_extension("1001")
    ext_id = Extension.get(Extension.number == "1001").id
    entry = accounts.append_entry(ext_id, "recharge", amount("2"), reason="x", operator="t")
    assert entry.id == store.sql_one("SELECT max(id) FROM ledger")[0] > 0


# -- one writer at a time across processes ------------------------------------------------

WORKER = textwrap.dedent("""
    import sys
    from billing_addon import calls, store
    store.init_db(sys.argv[1])
    allowed = 0
    for i in range(int(sys.argv[3])):
        uid = f"{sys.argv[2]}-{i}"
        if calls.authorize("1001", "912345", 1795441378 + i, uid).result == calls.ALLOWED:
            allowed += 1
            calls.settle(uid, 600, "ANSWER", 1795441378 + i + 600)
    store.close_db()
    print(allowed)
""")


def test_two_processes_on_one_account_never_overspend(pg_url):
    make_rate("9", rate="1.00", unit="60")
    make_extension("1001", balance="30")  # 3 ten-minute calls of 10.00
    store.close_db()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_url, f"p{n}", "40"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for n in range(2)]
    allowed = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    store.init_db(pg_url)
    ext = accounts.get_extension("1001")
    assert ext.balance >= 0 and ext.reserved == 0
    assert accounts.verify() == []
    charged = store.sql_one("SELECT count(*), sum(cost) FROM call WHERE status = 'charged'")
    assert charged[0] == sum(allowed) and amount("30") - charged[1] == ext.balance


def test_a_write_waits_for_the_lock_only_as_long_as_allowed(pg_url):
    """Another session holding the write lock: lock_wait turns into "database is locked"."""
    import psycopg2

    make_extension("1001")
    other = psycopg2.connect(pg_url)
    try:
        other.autocommit = True
        other.cursor().execute(f"BEGIN; SELECT pg_advisory_xact_lock({pgstore.WRITE_LOCK})")
        with store.lock_wait(0.2), pytest.raises(pw.OperationalError, match="locked"):
            accounts.recharge(["1001"], amount("1"), "desk")
        other.cursor().execute("ROLLBACK")
    finally:
        other.close()
    accounts.recharge(["1001"], amount("1"), "desk")  # the transaction left nothing behind
    assert accounts.get_extension("1001").balance == amount("1")


# -- the server gone and back ------------------------------------------------------------

def test_unreachable_while_the_server_is_down_and_back_after(tmp_path):
    folder = tempfile.mkdtemp(prefix="billing-pg-down-")
    try:
        with throwaway_server(folder) as own:
            url = own.create_database("billing")
            store.init_db(url)
            make_extension("1001")
            own.stop()
            for _ in range(2):  # the lost connection, then a refused one
                with pytest.raises(store.Unreachable):
                    accounts.recharge(["1001"], amount("1"), "desk")
            with pytest.raises(store.Unreachable):
                accounts.get_extension("1001")
            own.start()
            accounts.recharge(["1001"], amount("1"), "desk")  # connects again by itself
            assert accounts.get_extension("1001").balance == amount("1")  # nothing else written
            assert accounts.verify() == []
            store.close_db()
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)


def test_a_daemon_starts_with_the_server_down_and_opens_the_store_once_it_is_up(tmp_path):
    from billing_addon import config, daemon
    from tests.helpers import logger_restored
    from tests.pbx_support import write_config

    folder = tempfile.mkdtemp(prefix="billing-pg-down-")
    try:
        with throwaway_server(folder) as own, logger_restored():
            url = own.create_database("billing")
            own.stop()
            cfg = config.load(write_config(tmp_path, store={"url": url}))
            d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app)
            d.start()
            try:
                assert not d._store_open and d.faults["database"] == 1
                own.start()
                wait_until(lambda: d._store_open, 30, "the daemon to open the store again")
                assert store.postgres() and store.schema_version() >= 14
            finally:
                d.stop()
                store.close_db()
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)


# -- migrations ----------------------------------------------------------------------------

def test_a_failed_migration_rolls_back_whole(pg_url, monkeypatch):
    shipped = store.available_migrations(postgresql=True)
    before = store.schema_version()
    broken = (99, "0099_broken.sql", "CREATE TABLE half_done (id BIGINT);\n"
                                     "ALTER TABLE extension ADD COLUMN x INTEGER;\nNOT SQL;")
    monkeypatch.setattr(store, "available_migrations", lambda postgresql=False: shipped + [broken])
    with pytest.raises(pw.ProgrammingError):
        store.migrate()
    assert store.schema_version() == before
    assert store.sql_one("SELECT to_regclass('half_done')")[0] is None
    assert "x" not in [c.name for c in store.db.get_columns("extension")]
    monkeypatch.undo()
    assert store.migrate() == []  # the shipped ones were all there already


# -- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["backup"], ["restore", "--latest"]])
def test_file_backups_are_refused_on_postgresql_and_say_whose_they_are(tmp_path, capsys, command):
    from billing_addon import cli

    ini = tmp_path / "b.ini"
    ini.write_text("[store]\nurl = postgresql://billing@127.0.0.1:9/none\n")
    assert cli.main(["--config", str(ini), *command]) == cli.EXIT_REFUSED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PostgreSQL" in err[0] and "pg_dump" in err[0]
    assert list(tmp_path.iterdir()) == [ini]  # nothing written


def test_init_opens_the_url_and_shows_it_without_the_password(pg_url, tmp_path, capsys):
    from billing_addon import cli

    store.close_db()
    url = pg_url.replace("postgresql://billing@", "postgresql://billing:s3cret@")
    ini = tmp_path / "b.ini"
    ini.write_text(f"[store]\nurl = {url}\n")
    assert cli.main(["--config", str(ini), "init"]) == 0
    out = capsys.readouterr().out
    assert "billing:***@" in out and "s3cret" not in out and store.postgres()
    assert cli.main(["--config", str(ini), "ext", "add", "1001"]) == 0
    assert store.sql_one("SELECT count(*) FROM extension")[0] == 1
