"""backup/restore of the billing database (billing_addon/backup.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from billing_addon import accounts, backup, store
from billing_addon.cli import main

from .helpers import make_extension, make_rate, wait_until

ROOT = Path(__file__).resolve().parents[1]


def _newest():
    return max(v for v, _n, _s in store.available_migrations())


def _balances(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT number, balance FROM extension"))
    finally:
        conn.close()


def _ledger_entries(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
    finally:
        conn.close()


def _wait_for_a_write(db: Path) -> None:
    entries = _ledger_entries(db)
    wait_until(lambda: _ledger_entries(db) > entries, 60, "the writer to move money")


def _config(tmp_path: Path, db: Path) -> Path:
    cfg = tmp_path / "billing.ini"
    cfg.write_text(f"[box]\ndatabase = {db}\n")
    return cfg


def test_backup_while_money_moves_is_a_consistent_snapshot(tmp_path):
    """A writer process settles and recharges without pause; every backup taken meanwhile
    passes integrity_check and its ledger explains its balances."""
    db = tmp_path / "live.db"
    store.init_db(db)
    make_extension("1001", balance="100000")
    make_extension("1002")
    make_rate("9", "0", rate="0.01", unit="1")
    store.close_db()
    writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(db), "0"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        copies = []
        for n in range(5):
            _wait_for_a_write(db)
            copy = tmp_path / f"copy{n}.db"
            backup.backup_db(db, copy)
            copies.append(copy)
    finally:
        writer.kill()
        writer.communicate(timeout=30)
    sizes = set()
    for copy in copies:
        assert backup.check_backup(copy, _newest()) == _newest()
        store.init_db(copy, upgrade=False)
        try:
            assert accounts.verify() == []
            sizes.add(store.Ledger.select().count())
        finally:
            store.close_db()
    assert len(sizes) > 1, "the writer did not write between backups"


def test_restore_brings_back_the_backed_up_money(tmp_path, capsys):
    db = tmp_path / "data" / "billing.db"
    cfg = _config(tmp_path, db)
    assert main(["--config", str(cfg), "ext", "add", "1001"]) == 0
    assert main(["--config", str(cfg), "recharge", "1001", "--amount", "5"]) == 0
    saved = tmp_path / "backup.db"
    assert main(["--config", str(cfg), "backup", "-o", str(saved)]) == 0
    assert main(["--config", str(cfg), "recharge", "1001", "--amount", "7"]) == 0
    assert _balances(db) == {"1001": 120000}
    assert main(["--config", str(cfg), "restore", str(saved)]) == 0
    assert _balances(db) == {"1001": 50000}
    assert _balances(db.with_name("billing.db.before-restore")) == {"1001": 120000}
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "ledger OK" in capsys.readouterr().out


def test_restore_into_an_empty_data_area_after_a_factory_reset(tmp_path):
    db = tmp_path / "data" / "billing.db"
    cfg = _config(tmp_path, db)
    assert main(["--config", str(cfg), "ext", "add", "1001"]) == 0
    saved = tmp_path / "backup.db"
    assert main(["--config", str(cfg), "backup", "-o", str(saved)]) == 0
    for leftover in db.parent.iterdir():
        leftover.unlink()  # the reset wiped the data area
    assert main(["--config", str(cfg), "restore", str(saved)]) == 0
    assert _balances(db) == {"1001": 0}


@pytest.mark.parametrize("content, reason", [
    (b"", "is not a billing backup"),                      # empty file: no tables
    (b"not a database at all" * 100, "not a billing backup"),  # garbage
])
def test_restore_refuses_what_is_not_a_backup(tmp_path, content, reason):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with pytest.raises(backup.BackupError, match=reason):
        backup.check_backup(bad, _newest())


def test_restore_refuses_a_backup_of_a_newer_addon(tmp_path):
    db = tmp_path / "newer.db"
    store.init_db(db)
    store.db.execute_sql("INSERT INTO schema_version (version) VALUES (9999)")
    store.close_db()
    live = tmp_path / "live.db"
    store.init_db(live)
    store.close_db()
    with pytest.raises(backup.BackupError, match="newer add-on"):
        backup.restore_db(db, live, _newest())


def test_backup_refuses_a_missing_database(tmp_path):
    with pytest.raises(backup.BackupError, match="no database"):
        backup.backup_db(tmp_path / "none.db", tmp_path / "out.db")


def _write_from_another_process(path: Path, value: int) -> None:
    """What the command line does while the daemon runs: connect, write, close."""
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('CREATE TABLE IF NOT EXISTS probe (x)'); "
            "c.execute('INSERT INTO probe VALUES (?)', (int(sys.argv[2]),)); c.commit(); c.close()")
    subprocess.run([sys.executable, "-c", code, str(path), str(value)], check=True, timeout=60)


@pytest.mark.parametrize("check", ["check_database", "backup_db"])
def test_checking_or_backing_up_the_open_database_keeps_it_shared(db_path, tmp_path, check):
    """The daemon checks and backs up the file it has open.  Reading the file with a
    descriptor of its own and closing it dropped every lock this process held on it
    (POSIX locks are per process): the next command-line run believed it was the last
    connection, deleted the WAL and its index, and from then on the daemon and the command
    line wrote to two different logs (a user made with `user add` never reached the web UI;
    a settlement of the daemon could be lost)."""
    store.db.execute_sql("SELECT count(*) FROM extension").fetchone()  # this process holds it
    wal_inode = (db_path.parent / (db_path.name + "-wal")).stat().st_ino
    if check == "check_database":
        assert backup.check_database(db_path) == []
    else:
        backup.backup_db(db_path, tmp_path / "copy.db")
    _write_from_another_process(db_path, 7)
    assert (db_path.parent / (db_path.name + "-wal")).stat().st_ino == wal_inode
    assert store.db.execute_sql("SELECT x FROM probe").fetchall() == [(7,)]
    store.db.execute_sql("INSERT INTO probe VALUES (8)")
    _write_from_another_process(db_path, 9)
    conn = sqlite3.connect(db_path)
    try:
        assert [r[0] for r in conn.execute("SELECT x FROM probe ORDER BY x")] == [7, 8, 9]
    finally:
        conn.close()


def test_restore_refuses_a_foreign_file_and_keeps_the_live_database(tmp_path, capsys):
    """Tables of the right names but another program's columns pass the quick checks:
    the restore opens a copy as the add-on would (migrations, the ledger check) before
    it touches the live database, and refuses it."""
    db = tmp_path / "data" / "billing.db"
    cfg = _config(tmp_path, db)
    assert main(["--config", str(cfg), "ext", "add", "1001"]) == 0
    assert main(["--config", str(cfg), "recharge", "1001", "--amount", "5"]) == 0
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.executescript("CREATE TABLE schema_version (version INTEGER); "
                       "CREATE TABLE extension (x); CREATE TABLE ledger (x); "
                       "CREATE TABLE call (x);")
    conn.execute("INSERT INTO schema_version VALUES (?)", (_newest(),))
    conn.commit()
    conn.close()
    assert main(["--config", str(cfg), "restore", str(foreign)]) != 0
    assert "cannot be opened as a billing database" in capsys.readouterr().err
    assert _balances(db) == {"1001": 50000}
    assert not db.with_name("billing.db.before-restore").exists()
    assert sorted(p.name for p in db.parent.iterdir() if "restore" in p.name) == []


def test_a_backup_whose_schema_version_is_not_a_number_is_refused(tmp_path):
    bad = tmp_path / "bad.db"
    conn = sqlite3.connect(bad)
    conn.executescript("CREATE TABLE schema_version (version); CREATE TABLE extension (x); "
                       "CREATE TABLE ledger (x); CREATE TABLE call (x); "
                       "INSERT INTO schema_version VALUES ('seven');")
    conn.close()
    with pytest.raises(backup.BackupError, match="no schema version"):
        backup.check_backup(bad, _newest())
