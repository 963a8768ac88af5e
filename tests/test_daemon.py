"""The daemon in-process: its parts start, answer, reload and stop cleanly."""

import os
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from billing_addon import accounts, boottime, calls, config, daemon, settings, store
from billing_addon.store import Call, Extension
from tests.helpers import fund_1001, logger_restored, wait_for
from tests.pbx_support import FIXTURES, env_bytes, replay, write_config


def http_get(address):
    try:
        with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/", timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def prepare_billing():
    settings.put("timezone", "Asia/Shanghai")
    settings.put("warn_seconds", "0")
    settings.put("max_call_seconds", "60")
    fund_1001(("1", "9"))


@pytest.fixture(autouse=True)
def keep_logging():
    """The daemon installs its log handler; give the logger back afterwards."""
    with logger_restored():
        yield


@pytest.fixture
def running(tmp_path):
    (tmp_path / "pjsip.conf").write_text("[1001]\ntype=endpoint\ncallerid=\"Front\" <1001>\n")
    cfg = config.load(write_config(tmp_path))
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app)
    d.start()
    prepare_billing()
    yield d, tmp_path
    d.stop()
    store.close_db()


def test_parts_answer(running):
    d, folder = running
    got = replay(d.agi.address, env_bytes("a-limit-cut-authorize"))
    assert got.variables == {"BILLING_RESULT": "ALLOWED", "BILLING_LIMIT_MS": "60000"}
    # the CDR follower settles the recorded row (the hangup AGI never came)
    rows = (FIXTURES / "cdr" / "by-scenario" / "a-limit-cut.csv").read_bytes()
    with open(folder / "cdr" / "Master.csv", "ab") as fh:
        fh.write(rows)
    assert wait_for(lambda: Call.get(Call.uniqueid == "1795441378.1").status == "charged")
    assert http_get(d.web.address)[0] == 503  # the placeholder
    # housekeeping synced the extension name from pjsip.conf
    assert wait_for(lambda: Extension.get(Extension.number == "1001").name == "Front")
    assert accounts.verify() == []


def test_reload_follows_a_new_cdr_path_and_log_file(running):
    d, folder = running
    ini = Path(d.cfg.path)
    (folder / "cdr2").mkdir()
    (folder / "cdr2" / "Master.csv").write_bytes(
        (FIXTURES / "cdr" / "by-scenario" / "k-limit-with-warning.csv").read_bytes())
    ini.write_text(ini.read_text().replace("cdr/Master.csv", "cdr2/Master.csv")
                   .replace("log/daemon.log", "log/other.log"))
    d.reload()
    assert wait_for(lambda: Call.select().where(Call.uniqueid == "1795441489.81").exists())
    assert "configuration reloaded" in (folder / "log" / "other.log").read_text()


def test_bad_reload_keeps_running_config(running):
    d, folder = running
    ini = Path(d.cfg.path)
    ini.write_text(ini.read_text() + "\n[nonsense]\nx = 1\n")
    before = d.cfg
    d.reload()
    assert d.cfg is before


def test_stop_releases_ports_and_threads(tmp_path):
    cfg = config.load(write_config(tmp_path))
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app).start()
    agi_address, web_address = d.agi.address, d.web.address
    names = {t.name for t in threading.enumerate()}
    ours = {"agi-loop", "agi-worker-0", "cdr-follower", "housekeeping", "mail", "web"}
    assert ours <= names
    d.stop()
    assert wait_for(lambda: not (ours & {t.name for t in threading.enumerate()}))
    for address in (agi_address, web_address):
        with pytest.raises(OSError):
            import socket
            socket.create_connection(address, timeout=2)


def test_the_started_daemon_hands_the_interpreter_lock_over_sooner(tmp_path):
    """Its calls wait less for the interpreter lock beside a thread that computes (an
    export in the web UI: bench_web's call_cycle figures); the interval is the
    process's own again once it stops."""
    import sys

    before = sys.getswitchinterval()
    assert before > daemon.SWITCH_INTERVAL_S
    cfg = config.load(write_config(tmp_path))
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app).start()
    try:
        assert sys.getswitchinterval() == pytest.approx(daemon.SWITCH_INTERVAL_S)
    finally:
        d.stop()
    assert sys.getswitchinterval() == pytest.approx(before)


def test_web_app_is_the_ui_when_importable(tmp_path, monkeypatch):
    fake = types.ModuleType("billing_addon.web.app")

    def make_app(cfg, activation=None):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"the real UI"]
        return app

    fake.make_app = make_app
    monkeypatch.setitem(sys.modules, "billing_addon.web.app", fake)
    cfg = config.load(write_config(tmp_path, agi={"enabled": "no"}, cdr={"enabled": "no"}))
    d = daemon.Daemon(cfg, billing_state=lambda: "active").start()
    try:
        assert http_get(d.web.address) == (200, b"the real UI")
    finally:
        d.stop()


def test_placeholder_when_the_ui_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "billing_addon.web.app", None)
    assert daemon.build_web_app(None) is daemon.placeholder_app


def test_the_activation_names_the_addon_version(tmp_path):
    from billing_addon import __version__

    cfg = config.load(write_config(tmp_path))
    activation = daemon.load_activation(cfg)
    assert activation.addon_version == __version__ and activation.check_in_child


def test_cached_billing_state():
    reads = []

    def source():
        reads.append(1)
        if len(reads) == 2:
            raise RuntimeError("license file unreadable")
        return "expired"

    state = daemon.CachedState(source, seconds=3600)
    assert state() == "expired" and state() == "expired" and len(reads) == 1
    state.clear()
    assert state() == "expired"  # the error keeps the last known state
    assert daemon.CachedState(None, 1)() == "active"


def test_a_license_check_that_always_fails_never_counts_as_active():
    def broken():
        raise RecursionError("a record damaged on purpose")

    assert daemon.CachedState(broken, seconds=0)() == "expired"


def test_housekeeping_releases_stale_reservations(running):
    d, folder = running
    auth = calls.authorize("1001", "1234567", at=1000, uniqueid="old.1",
                           running=boottime.Running("an-earlier-boot", 0.0))
    assert auth.result == calls.ALLOWED
    d.housekeeping_once(now=time.monotonic() + 10**6)
    assert Call.get(Call.uniqueid == "old.1").status == "expired"
    assert Extension.get(Extension.number == "1001").reserved == 0


def test_pid_file(tmp_path):
    pid_file = str(tmp_path / "run" / "billing.pid")
    daemon.write_pid_file(pid_file)
    assert Path(pid_file).read_text().strip() == str(__import__("os").getpid())
    daemon.remove_pid_file(pid_file)
    assert not Path(pid_file).exists()
    Path(pid_file).write_text("1\n")  # pid 1 is alive: another daemon holds the file
    with pytest.raises(daemon.DaemonError):
        daemon.check_pid_file(pid_file)
    Path(pid_file).write_text("999999999\n")  # stale
    daemon.check_pid_file(pid_file)


@pytest.mark.sqlite_only("SQLite's synchronous level and WAL checkpoints")
def test_daemon_uses_the_configured_durability_and_checkpoints_itself(tmp_path, monkeypatch):
    """[box] durability reaches the daemon's commits; commits never checkpoint, the
    daemon's thread does, once CHECKPOINT_COMMITS writes were made."""
    done = []
    real = store.checkpoint
    monkeypatch.setattr(store, "checkpoint", lambda: done.append(real()) or done[-1])
    cfg = config.load(write_config(tmp_path, box={"durability": "normal"},
                                   daemon={"checkpoint_seconds": "60"}))
    d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app).start()
    try:
        with store.money_txn():
            assert store.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = len(done)
        for _ in range(store.CHECKPOINT_COMMITS + 1):
            with store.reservation_txn():
                store.sql("UPDATE setting SET value = value WHERE key = 'none'")
        assert wait_for(lambda: len(done) > before, timeout=10)
        frames, copied = done[-1]
        assert frames == copied
    finally:
        d.stop()


def _cpu_seconds(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_daemon_uses_no_cpu(running):
    """No part of the daemon polls in a busy loop (waitress once did, with a loop
    timeout of 0.5 s that it reads as a whole number: 0)."""
    ours = [t for t in threading.enumerate() if t.name in
            {"web", "agi-loop", "cdr-follower", "housekeeping", "checkpoint"}]
    assert len(ours) == 5
    # CPU time as a share of the wall time that passed: a thread that polls in a busy loop
    # takes a good part of a core even on a loaded machine, an idle one next to nothing.
    # Windows are measured until one is idle, so startup work a slow machine is still
    # doing does not count; a busy loop never lets one be.
    windows = []

    def an_idle_window():
        before = {t.name: _cpu_seconds(t.native_id) for t in ours}
        started = time.monotonic()
        time.sleep(2.0)
        wall = time.monotonic() - started
        windows.append({t.name: round((_cpu_seconds(t.native_id) - before[t.name]) / wall, 3)
                        for t in ours})
        return max(windows[-1].values()) < 0.05

    assert wait_for(an_idle_window, timeout=30), f"share of a core, last windows: {windows[-3:]}"


@pytest.mark.sqlite_only("the license reads the earliest billed call from the SQLite file "
                         "(not yet from PostgreSQL)")
def test_the_daemons_activation_refuses_a_trial_where_calls_were_billed(tmp_path):
    database = tmp_path / "billing.db"
    cfg = config.load(None, {"box": {"board": "demo", "board_root": str(tmp_path / "box"),
                                     "database": str(database)}})
    activation = daemon.load_activation(cfg)
    assert activation.earliest_use() is None  # no database yet (and none is made)
    assert not database.exists()
    store.init_db(database)
    try:
        prepare_billing()  # recharges and rates: no trace of a trial
        assert activation.earliest_use() is None
        assert calls.authorize("1001", "912345", billing_state="active").result == calls.ALLOWED
    finally:
        store.close_db()
    status = activation.activate()
    assert not status.activated and "this box has billing history since" in status.trial_problem


def test_a_stopping_daemon_writes_the_trials_running_time(tmp_path):
    flushed = []
    activation = types.SimpleNamespace(billing_state=lambda: "active",
                                       flush_trial=lambda: flushed.append(True))
    cfg = config.load(write_config(tmp_path, agi={"enabled": "no"}, cdr={"enabled": "no"},
                                   web={"enabled": "no"}))
    d = daemon.Daemon(cfg, activation=activation).start()
    assert flushed == []
    d.stop()
    assert flushed == [True]



def _deleted_files_open(prefix: str) -> list:
    """This process's descriptors of deleted files whose name starts with ``prefix``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(prefix) and target.endswith("(deleted)"):
            found.append(target)
    return found


@pytest.mark.sqlite_only("the automatic backup of the SQLite file (PostgreSQL: pg_dump)")
def test_the_daemons_backup_leaves_the_command_line_and_the_daemon_on_one_log(running):
    """After its automatic backup (and its check of the file), a row the command line
    writes while the daemon runs is seen by the daemon, and the daemon never goes on with
    a deleted WAL (tests/test_backup.py::test_checking_or_backing_up_the_open_database_...)."""
    d, folder = running
    live = Path(store.db.database)
    d._backup_due = 0.0
    d.backup_once(time.monotonic())
    assert list(folder.rglob("billing-auto-*.db")), "no automatic backup was made"
    code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute(\"INSERT INTO setting (key, value) VALUES ('probe', 'from-cli')\"); "
            "c.commit(); c.close()")
    subprocess.run([sys.executable, "-c", code, str(live)], check=True, timeout=60)
    assert _deleted_files_open(str(live)) == []
    assert store.db.execute_sql("SELECT value FROM setting WHERE key = 'probe'").fetchone() == ("from-cli",)


def test_the_fastagi_loop_never_reads_the_license_state_itself(db_path):
    """Once read, the license state is read again by any thread but the FastAGI loop
    (a read may take seconds: a signature checked in a child process, a mute modem):
    the loop takes the last state; the next reader elsewhere (housekeeping) refreshes."""
    from billing_addon.daemon import CachedState

    reads = []

    def slow_source():
        reads.append(threading.current_thread().name)
        time.sleep(0.5)
        return "active"

    state = CachedState(slow_source, seconds=0)  # always due
    assert state() == "active" and reads == ["MainThread"]
    answers = []

    def on_the_loop():
        store.never_wait_here()
        start = time.monotonic()
        answers.append((state(), time.monotonic() - start))

    loop = threading.Thread(target=on_the_loop, name="agi-loop")
    loop.start()
    loop.join(10)
    assert answers[0][0] == "active" and answers[0][1] < 0.1
    assert reads == ["MainThread"]
    assert state() == "active" and reads == ["MainThread", "MainThread"]
