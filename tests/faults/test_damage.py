"""Issue #18 item 3: a damaged database goes unnoticed and cannot be restored.

A page of the ``call`` or ``ledger`` table is overwritten in a real SQLite file (the page
is the table's root page, from the schema).  Then: ``verify`` names the damaged table and
never says "ledger OK"; ``backup`` refuses and says why; ``restore`` moves the damaged
files aside and brings the backup in; the daemon finds the damage at start and bills
nothing from the file; the daemon's automatic backups rotate in the persist area while it
bills; and the recovery steps of docs/box.md, run as they are written, bring back every
call made since the last backup from Master.csv, each billed once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from billing_addon.web import auth
from billing_addon.web.app import make_app

from billing_addon import accounts, backup, calls, config, daemon, money, rates, settings, store
from billing_addon.cli import main
from tests.helpers import logger_restored, wait_until
from tests.pbx_support import cdr_rows, logged_port, make_env, replay, write_config
from tests.web_fakes import FakeActivation
from tests.webclient import Client

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("UTC")
T0 = 1_795_000_000  # call start times in the CDR rows


@pytest.fixture(autouse=True)
def keep_logging():
    """The daemon installs its log handler; give the logger back afterwards."""
    with logger_restored():
        yield
    store.damaged = []


def prepare(db: Path, calls_before: int = 0) -> None:
    """Extension 1001 (billed, 100.00), a rate for 9... at 0.01 a second, and some calls."""
    store.init_db(db)
    settings.put("timezone", "UTC")
    accounts.ensure_extension("1001", "Ext 1001")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("100"), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))
    for i in range(calls_before):
        auth_ = calls.authorize("1001", "912345678", T0 + i, f"{T0 + i}.{i}")
        assert auth_.result == calls.ALLOWED
        calls.settle(f"{T0 + i}.{i}", 30)
    store.close_db()


def overwrite_page(path: Path, table: str) -> int:
    """Overwrite the root page of ``table`` with a pattern no b-tree page has; its number."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the page lives in the main file
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = conn.execute("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?",
                            (table,)).fetchone()[0]
    finally:
        conn.close()
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(bytes(range(256)) * (page_size // 256))
        fh.flush()
        os.fsync(fh.fileno())
    return page


def ini(tmp_path: Path, **sections) -> str:
    sections.setdefault("sync", {"enabled": "no"})
    return write_config(tmp_path, **sections)


def run_cli(cfg: str, *args: str, capsys) -> tuple[int, str]:
    code = main(["--config", cfg, *args])
    out = capsys.readouterr()
    return code, out.out + out.err


# --- verify, backup, restore on a damaged file ------------------------------------------

@pytest.mark.parametrize("table", ["call", "ledger"])
def test_verify_and_backup_name_the_damaged_table(tmp_path, capsys, table):
    cfg = ini(tmp_path)
    db = tmp_path / "data" / "billing.db"
    prepare(db, calls_before=5)
    overwrite_page(db, table)

    code, out = run_cli(cfg, "verify", capsys=capsys)
    assert code == 1
    assert f"damaged: table {table}:" in out
    assert "database DAMAGED" in out and "docs/box.md" in out
    assert "ledger OK" not in out and "Traceback" not in out

    code, out = run_cli(cfg, "backup", "-o", str(tmp_path / "copy.db"), capsys=capsys)
    assert code == 1
    assert f"is damaged (table {table}:" in out
    assert not (tmp_path / "copy.db").exists()

    # a command that meets the damaged table: one line, no traceback
    command = {"call": ["authorize", "1001", "912345678"],
               "ledger": ["recharge", "1001", "--amount", "1"]}[table]
    code, out = run_cli(cfg, *command, capsys=capsys)
    assert code == 1 and out.startswith("error: the billing database: ")
    assert len(out.strip().splitlines()) == 1


def _leave_wal_behind(db: Path) -> None:
    """A writer that dies without closing leaves billing.db-wal and -shm behind."""
    code = ("import os, sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1])\n"
            "c.execute('PRAGMA wal_autocheckpoint=0')\n"
            "c.execute(\"INSERT OR REPLACE INTO setting VALUES ('crash', 'x')\")\n"
            "c.commit()\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    assert Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists()


def test_restore_moves_a_damaged_database_aside(tmp_path, capsys):
    cfg = ini(tmp_path)
    db = tmp_path / "data" / "billing.db"
    prepare(db, calls_before=3)
    good = tmp_path / "good.db"
    assert run_cli(cfg, "backup", "-o", str(good), capsys=capsys)[0] == 0
    _leave_wal_behind(db)
    overwrite_page(db, "call")
    _leave_wal_behind(db)

    code, out = run_cli(cfg, "restore", str(good), capsys=capsys)
    assert code == 0, out
    moved = re.search(r"the damaged database was moved aside: (.*)", out).group(1).split(", ")
    assert re.fullmatch(r".*/billing\.db\.damaged-\d{8}-\d{6}", moved[0])
    assert moved[1:] == [moved[0] + "-wal", moved[0] + "-shm"]
    assert all(Path(p).exists() for p in moved)
    assert not Path(f"{db}-shm").exists() or Path(f"{db}-wal").stat().st_size == 0
    assert backup.check_database(Path(moved[0]))  # still the damaged file, kept for a post-mortem
    assert "ledger OK" in out

    code, out = run_cli(cfg, "verify", capsys=capsys)
    assert (code, out.strip().splitlines()[-1]) == (0, "ledger OK")
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM call WHERE status = 'charged'").fetchone()[0] == 3
    conn.close()


def test_restore_refuses_a_damaged_backup_and_changes_nothing(tmp_path, capsys):
    cfg = ini(tmp_path)
    db = tmp_path / "data" / "billing.db"
    prepare(db, calls_before=2)
    bad = tmp_path / "bad.db"
    assert run_cli(cfg, "backup", "-o", str(bad), capsys=capsys)[0] == 0
    overwrite_page(bad, "ledger")
    before = db.read_bytes()
    code, out = run_cli(cfg, "restore", str(bad), capsys=capsys)
    assert code == 1 and "is damaged" in out and len(out.strip().splitlines()) == 1
    assert db.read_bytes() == before


# --- the daemon ---------------------------------------------------------------------------

def test_daemon_finds_the_damage_at_start_and_bills_nothing(tmp_path, caplog):
    cfg = config.load(ini(tmp_path))  # no backup yet: the first one would be due at start
    db = tmp_path / "data" / "billing.db"
    prepare(db, calls_before=3)
    overwrite_page(db, "call")
    activation = FakeActivation()
    activation.activate()
    app = make_app(cfg, activation)
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=app)
    with caplog.at_level(logging.INFO, logger="billing_addon"):
        d.start()
    try:
        critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
        assert critical and "DAMAGED" in critical[0] and "table call" in critical[0]
        assert d.follower is None  # the CDR follower does not run on it

        got = replay(d.agi.address, make_env("authorize", f"{T0 + 50}.50", ["1001", "912345678"]))
        assert got.variables.get("BILLING_RESULT") == "DENIED"
        assert got.variables.get("BILLING_REASON") == "error"
        replay(d.agi.address, make_env("settle", f"{T0 + 50}.50",
                                       ["60", "ANSWER", f"{T0 + 50}.50", "60", "1001", "912345678"]))

        auth.set_admin_password("admin-pw-1")
        admin = Client(app)
        admin.login("admin", "admin-pw-1")
        page = admin.get("/admin/settings").text
        assert 'id="database-damaged"' in page and "table call" in page
        assert 'id="database-damaged-notice"' in page

        # nothing is changed on the web either: it would be lost with the restore
        user, password = auth.create_billing_user("damaged-db-pw-1")
        clerk = Client(app)
        clerk.login(user.username, password)
        refused = clerk.post("/extensions/recharge", [("n", "1001"), ("amount", "5"),
                                                      ("step", "confirm")], check=503)
        assert "database is damaged" in refused.text and "Nothing was changed" in refused.text

        time.sleep(2.5)  # housekeeping ran: no backup is written from a damaged file
        assert backup.auto_backups(backup.backup_folder(cfg)) == []
    finally:
        d.stop()
        store.close_db()
    conn = sqlite3.connect(db)  # nothing was written: the ledger is as before the damage
    assert conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 4
    conn.close()


def _fill(db: Path, n: int) -> None:
    """``n`` settled calls with their ledger entries, written in bulk."""
    prepare(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, "
            "rate_snapshot, answered_s, dial_status, cost, source, settled_utc) "
            "VALUES (?, 1, '912345678', ?, '2026-11-01', 'charged', '{}', 30, 'ANSWER', 0, 'agi', ?)",
            ((f"bulk-{i}", T0 + i, T0 + i + 30) for i in range(n)))
        conn.execute("INSERT INTO ledger (extension_id, kind, amount, balance_after, call_id, "
                     "created_utc) SELECT 1, 'call', 0, 0, id, settled_utc FROM call")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_start_check_on_200000_calls_keeps_the_start_fast(tmp_path, caplog):
    """The figure for the report: the quick check's share of the daemon's start."""
    cfg = config.load(ini(tmp_path, agi={"enabled": "no"}, web={"enabled": "no"},
                          cdr={"enabled": "no"}, backup={"enabled": "no"}))
    db = tmp_path / "data" / "billing.db"
    _fill(db, 200_000)
    d = daemon.Daemon(cfg, billing_state=lambda: "active")
    began = time.monotonic()
    with caplog.at_level(logging.INFO, logger="billing_addon"):
        d.start()
    started = time.monotonic() - began
    d.stop()
    store.close_db()
    check_ms = [float(m.group(1)) for r in caplog.records
                if (m := re.match(r"database quick check: (\d+) ms", r.getMessage()))]
    print(f"200,000 calls, {db.stat().st_size} bytes: quick check {check_ms[0]:.0f} ms, "
          f"start {started * 1000:.0f} ms")
    assert check_ms and check_ms[0] < 3000 and started < 5.0
    assert not store.damaged


# --- automatic backups ----------------------------------------------------------------------

class Service:
    """``/etc/init.d/billing-addon start|stop`` for a test: the daemon as a process."""

    def __init__(self, cfg: str, folder: Path):
        self.cfg, self.folder = cfg, folder
        self.proc: subprocess.Popen | None = None
        self.log = folder / "log" / "daemon.log"

    def start(self) -> None:
        assert self.proc is None
        after = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.daemon_worker", self.cfg,
                                      str(self.folder / "billing.pid")], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.agi_port = logged_port(self.log, "agi", after=after)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(30) == 0
            self.proc = None


def _charged(db: Path) -> dict:
    """uniqueid -> (call rows, ledger rows, cost) of the charged calls."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {uid: (n, entries, cost) for uid, n, entries, cost in conn.execute(
            "SELECT c.uniqueid, count(*), (SELECT count(*) FROM ledger l WHERE l.call_id = c.id), "
            "sum(c.cost) FROM call c WHERE c.status = 'charged' GROUP BY c.uniqueid")}
    finally:
        conn.close()


def _balance(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT balance FROM extension WHERE number = '1001'").fetchone()[0]
    finally:
        conn.close()


def _append_calls(master: Path, first: int, count: int, seconds: int = 20) -> list:
    uids = []
    with open(master, "a", encoding="utf-8") as fh:
        for i in range(first, first + count):
            uid = f"{T0 + i * 100}.{i}"
            fh.write(cdr_rows(uid, "1001", "912345678", T0 + i * 100, seconds, ZONE, seq=i * 3))
            uids.append(uid)
    return uids


def test_automatic_backups_rotate_in_the_persist_area_while_the_daemon_bills(tmp_path):
    cfg_path = ini(tmp_path, backup={"interval_seconds": "1", "keep": "2"})
    cfg = config.load(cfg_path)
    db = tmp_path / "data" / "billing.db"
    prepare(db)
    folder = backup.backup_folder(cfg)
    from hwlicense.board import load_profile

    persist = load_profile("demo", str(tmp_path / "root")).area("persist")
    assert folder == persist / "backups"
    master = tmp_path / "cdr" / "Master.csv"
    service = Service(cfg_path, tmp_path)
    seen: set = set()
    most = 0
    stop = threading.Event()

    def feed() -> None:  # the daemon bills a call every 50 ms meanwhile
        i = 0
        while not stop.is_set() and i < 400:
            _append_calls(master, i, 1)
            i += 1
            stop.wait(0.05)

    service.start()
    writer = threading.Thread(target=feed)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 5 and time.monotonic() < deadline:
            names = backup.auto_backups(folder)
            most = max(most, len(names))
            seen |= {p.name for p in names}
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join()
        service.stop()
    assert len(seen) >= 5, seen
    assert most <= 3  # keep = 2, plus the new one for the moment before the oldest goes
    kept = backup.auto_backups(folder)
    assert len(kept) == 2 and [p.name for p in kept] == sorted(seen)[-2:]
    stamps = [dt.datetime.strptime(n[len(backup.AUTO_PREFIX):-3] + "000", "%Y%m%d-%H%M%S-%f")
              for n in sorted(seen)]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(gap >= 0.9 for gap in gaps), gaps  # interval_seconds = 1
    charged = []
    for path in kept:  # each one a sound, restorable database whose ledger adds up
        assert backup.check_database(path) == []
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        backup.check_backup(path, max(v for v, _n, _s in store.available_migrations()))
        store.init_db(path, upgrade=False)
        assert accounts.verify() == []
        charged.append(store.Call.select().where(store.Call.status == "charged").count())
        store.close_db()
    assert 0 < charged[0] < charged[1], charged  # taken while calls were being billed


# --- the documented recovery ----------------------------------------------------------------

def recovery_steps() -> list:
    """The command lines of docs/box.md's recovery block, as written there."""
    text = (ROOT / "docs" / "box.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- recovery-steps[^>]*-->\s*```sh\n(.*?)```", text, re.S)
    assert block, "docs/box.md has no recovery-steps block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def run_step(line: str, service: Service, cfg: str) -> subprocess.CompletedProcess | None:
    words = shlex.split(line)
    if words[0] == "/etc/init.d/billing-addon" and words[1:] in (["start"], ["stop"]):
        getattr(service, words[1])()
        return None
    assert words[0] == "billing-addon", f"a recovery step this test cannot run: {line}"
    return subprocess.run([sys.executable, "-m", "billing_addon.cli", "--config", cfg, *words[1:]],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_documented_recovery_bills_the_calls_since_the_backup_once(tmp_path):
    steps = recovery_steps()
    assert steps[0] == "/etc/init.d/billing-addon stop" and "restore --latest" in steps[1]
    cfg = ini(tmp_path, backup={"interval_seconds": "3600", "keep": "3"})
    db = tmp_path / "data" / "billing.db"
    prepare(db)
    start_balance = _balance(db)
    master = tmp_path / "cdr" / "Master.csv"
    folder = backup.backup_folder(config.load(cfg))
    service = Service(cfg, tmp_path)

    before = _append_calls(master, 0, 2)  # billed before the backup
    service.start()
    try:
        wait_until(lambda: set(_charged(db)) == set(before), 60, "the first calls billed")
        wait_until(lambda: backup.auto_backups(folder), 60, "the backup written at start")
        (taken,) = backup.auto_backups(folder)
        assert set(_charged(taken)) == set(before)
        since = _append_calls(master, 2, 3, seconds=45)  # billed after it: in no backup
        wait_until(lambda: set(_charged(db)) == set(before + since), 60, "the later calls billed")
    finally:
        service.stop()

    overwrite_page(db, "call")
    service.start()  # the damaged file: nothing billed, fail mode applies
    try:
        got = replay(("127.0.0.1", service.agi_port),
                     make_env("authorize", f"{T0 + 999}.99", ["1001", "912345678"]))
        assert (got.variables.get("BILLING_RESULT"), got.variables.get("BILLING_REASON")) == \
            ("DENIED", "error")
        assert "THE BILLING DATABASE IS DAMAGED" in service.log.read_text(encoding="utf-8")
        # a call that went through meanwhile (fail mode open) is in Master.csv only
        during = _append_calls(master, 5, 1, seconds=10)
        time.sleep(2.5)  # two polls of the CDR follower, had it run
    except BaseException:
        service.stop()
        raise
    outputs = []
    try:
        for line in steps:  # docs/box.md, Recovery, line by line
            result = run_step(line, service, cfg)
            if result is not None:
                outputs.append((line, result.returncode, result.stdout + result.stderr))
        for line, code, out in outputs:
            assert code == 0, (line, out)
            assert "Traceback" not in out
        restore_out = outputs[0][2]
        assert str(taken) in restore_out
        assert "moved aside" in restore_out and "billing.db.damaged-" in restore_out
        assert "the CDR follower goes on from byte" in restore_out
        assert outputs[-1][2].strip().splitlines()[-1] == "ledger OK"

        every = before + since + during
        wait_until(lambda: set(_charged(db)) == set(every), 60, "the calls since the backup billed")
        service.stop()
        service.start()  # a restart reads Master.csv from where it is: nothing twice
        time.sleep(2.5)
    finally:
        service.stop()
    charged = _charged(db)
    assert set(charged) == set(every)
    assert all(n == 1 and entries == 1 for n, entries, _cost in charged.values()), charged
    cent = money.parse_amount("0.01")  # the rate: 0.01 a second
    expected = {uid: seconds * cent for uids, seconds in ((before, 20), (since, 45), (during, 10))
                for uid in uids}
    assert {uid: cost for uid, (_n, _e, cost) in charged.items()} == expected
    assert _balance(db) == start_balance - sum(expected.values())
    result = run_step("billing-addon verify", service, cfg)
    assert result is not None and result.returncode == 0, result.stdout


def test_restore_refuses_while_the_service_runs(tmp_path, capsys):
    db = tmp_path / "data" / "billing.db"
    cfg = ini(tmp_path, daemon={"pid_file": str(tmp_path / "billing.pid")})
    prepare(db, calls_before=1)
    good = tmp_path / "good.db"
    assert run_cli(cfg, "backup", "-o", str(good), capsys=capsys)[0] == 0
    running = subprocess.Popen(["sleep", "60"])  # stands for the service holding the pid file
    try:
        (tmp_path / "billing.pid").write_text(f"{running.pid}\n")
        before = db.read_bytes()
        code, out = run_cli(cfg, "restore", str(good), capsys=capsys)
        assert code == 1 and "stop it first" in out and len(out.strip().splitlines()) == 1
        assert db.read_bytes() == before
    finally:
        running.kill()
        running.wait()
    assert run_cli(cfg, "restore", str(good), capsys=capsys)[0] == 0  # a stale pid file is fine


def test_damage_while_running_is_found_by_the_next_backup(tmp_path):
    """The daemon started on a sound file; a page goes bad while it bills: the next
    automatic backup fails its check, billing stops, the good backups stay."""
    cfg = config.load(ini(tmp_path, backup={"interval_seconds": "1", "keep": "2"}))
    db = tmp_path / "data" / "billing.db"
    prepare(db, calls_before=3)
    folder = backup.backup_folder(cfg)
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app).start()
    try:
        wait_until(lambda: len(backup.auto_backups(folder)) == 2, 30, "two automatic backups")
        assert not store.damaged
        overwrite_page(db, "ledger")
        wait_until(lambda: store.damaged, 30, "the damage found")
        assert any("table ledger" in line for line in store.damaged)
        good = backup.auto_backups(folder)
        got = replay(d.agi.address, make_env("authorize", f"{T0 + 60}.60", ["1001", "912345678"]))
        assert (got.variables.get("BILLING_RESULT"), got.variables.get("BILLING_REASON")) == \
            ("DENIED", "error")
        time.sleep(2.5)
        assert backup.auto_backups(folder) == good  # none written, none rotated out
        assert all(backup.check_database(p) == [] for p in good)
    finally:
        d.stop()
        store.close_db()
