"""Issue #18 item 1 (a SIGHUP can kill the daemon) and the "Supervision" delivery: the
daemon survives errors in logging, reloads and housekeeping (logged, counted, retried);
the init script's watchdog starts it again after an exit and after a hang (SIGSTOP)."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from billing_addon import accounts, calls, config, daemon, store
from tests.helpers import alive, fund_1001, wait_for
from tests.pbx_support import logged_port, make_env, replay, write_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "init.d" / "billing-addon"


def authorize(port, uniqueid):
    env = make_env("authorize", uniqueid, ["1001", "1234567"])
    started = time.monotonic()
    got = replay(("127.0.0.1", port), env, timeout=10)
    return got.variables.get("BILLING_RESULT"), time.monotonic() - started


def settle(tmp_path, uniqueid, seconds):
    """Settle beside the running daemon (another process, as the CLI would); the
    acknowledgement is the returned outcome."""
    store.init_db(tmp_path / "data" / "billing.db")
    try:
        return calls.settle(uniqueid, seconds).outcome
    finally:
        store.close_db()


@pytest.fixture
def box(tmp_path):
    """A configured box with one billed, funded extension and a rate (the store is closed
    again: the daemon under test opens it)."""
    ini = write_config(tmp_path)
    store.init_db(tmp_path / "data" / "billing.db")
    fund_1001()
    store.close_db()
    yield ini, tmp_path
    store.close_db()


def verify_clean(tmp_path):
    store.init_db(tmp_path / "data" / "billing.db")
    try:
        assert accounts.verify() == []
    finally:
        store.close_db()


def balance(tmp_path):
    store.init_db(tmp_path / "data" / "billing.db")
    try:
        return accounts.get_extension("1001").balance
    finally:
        store.close_db()


def mount_tmpfs(where, options):
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root (CI and the test machine run as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs and a read-only one of our own (never the machine's disks), both
    unmounted at the end."""
    rw, ro = tmp_path / "small", tmp_path / "readonly"
    try:
        mount_tmpfs(rw, "size=1m,nr_inodes=64")
        mount_tmpfs(ro, "ro,size=64k")
        yield rw, ro
    finally:
        for where in (rw, ro):
            subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def start_worker(ini, pid_file, console):
    return subprocess.Popen([sys.executable, "-m", "tests.daemon_worker", ini, str(pid_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=console)


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_sighup_with_an_unwritable_log_folder_keeps_serving(box, small_fs, fault):
    ini, tmp_path = box
    rw, ro = small_fs
    folder = tmp_path / "logs"  # a link, so that the folder can turn read-only under it
    folder.symlink_to(rw)
    log_file = folder / "daemon.log"
    Path(ini).write_text(Path(ini).read_text().replace("file = log/daemon.log", f"file = {log_file}"))
    pid_file = tmp_path / "run" / "daemon.pid"
    console = open(tmp_path / "console.log", "wb")
    proc = start_worker(ini, pid_file, console)
    try:
        port = logged_port(log_file, "agi")
        assert authorize(port, "1795441378.1")[0] == "ALLOWED"
        os.rename(log_file, rw / "daemon.log.1")  # what logrotate does before its HUP
        if fault == "read-only":
            folder.unlink()
            folder.symlink_to(ro)
        else:
            fill(rw)
        proc.send_signal(signal.SIGHUP)
        time.sleep(2.5)  # the reload runs within the one-second loop
        assert proc.poll() is None, "SIGHUP ended the daemon"
        result, took = authorize(port, "1795441378.2")
        assert result == "ALLOWED" and took < 2
        console.flush()
        # said in the file still open (moved by logrotate), or on the console when that
        # file system is full
        said = (rw / "daemon.log.1").read_text() + (tmp_path / "console.log").read_text()
        assert "cannot open the log file" in said
        # the folder is writable again: the daemon opens its log by itself
        if fault == "read-only":
            folder.unlink()
            folder.symlink_to(rw)
        else:
            for junk in rw.glob("filler*"):
                junk.unlink()
        assert wait_for(lambda: log_file.exists() and "log file open again" in log_file.read_text(),
                        timeout=15)
        assert settle(tmp_path, "1795441378.1", 30) == "charged"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        console.close()
    assert code == 0
    verify_clean(tmp_path)


def fill(folder):
    """Fill a small file system of our own: every block, then every inode."""
    try:
        with open(folder / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    except OSError:
        pass
    for n in range(1000):
        try:
            (folder / f"filler{n}").touch()
        except OSError:
            break


def test_errors_in_reload_and_housekeeping_are_survived_counted_and_retried(box):
    ini, tmp_path = box
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be\n")
    d = daemon.Daemon(config.load(ini), billing_state=lambda: "active").start()
    try:
        # a log folder that cannot be made: the reload goes on with the old handler
        Path(ini).write_text(Path(ini).read_text().replace("file = log/daemon.log",
                                                           f"file = {blocker}/daemon.log"))
        d.reload()
        assert d.faults["log"] == 1 and not d._log_open
        d.reload()
        assert d.faults["log"] == 2
        # housekeeping that fails (an extension pattern that is no regular expression,
        # against a PBX file that exists) is logged and counted
        (tmp_path / "pjsip.conf").write_text("[1001]\ntype=endpoint\n")
        Path(ini).write_text(Path(ini).read_text().replace(f"file = {blocker}/daemon.log",
                                                           "file = log/daemon.log")
                             .replace("files = pjsip.conf", "files = pjsip.conf\nnumber_pattern = ([0-9"))
        d.reload()
        assert d._log_open
        d.retry_opening()
        d.housekeeping_once(now=time.monotonic() + 10**6)
        assert d.faults["housekeeping"] >= 1
        assert d.healthy()
    finally:
        d.stop()
    verify_clean(tmp_path)


def init_d(tmp_path, ini, **extra):
    env = dict(os.environ, BILLING_ADDON_DAEMON=f"{sys.executable} -m tests.faults.serve_worker",
               BILLING_ADDON_CONFIG=ini, BILLING_ADDON_PIDFILE=str(tmp_path / "run" / "b.pid"),
               BILLING_ADDON_CONSOLE_LOG=str(tmp_path / "console.log"),
               BILLING_ADDON_DEFAULTS=str(tmp_path / "no-defaults"),
               BILLING_ADDON_HEARTBEAT_TIMEOUT="3", BILLING_ADDON_RESTART_DELAY="1", **extra)

    def run(action):
        done = subprocess.run(["sh", str(SCRIPT), action], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=90)
        return done.returncode, done.stdout + done.stderr

    return run


def test_watchdog_restarts_the_daemon_after_an_exit_and_after_a_hang(box):
    ini, tmp_path = box
    pid_file = tmp_path / "run" / "b.pid"
    watchdog_file = tmp_path / "run" / "b.watchdog.pid"
    log_file = tmp_path / "log" / "daemon.log"
    run = init_d(tmp_path, ini)
    try:
        code, out = run("start")
        assert code == 0, out
        port = logged_port(log_file, "agi")
        assert authorize(port, "1795441378.11")[0] == "ALLOWED"
        assert settle(tmp_path, "1795441378.11", 30) == "charged"
        after_first = balance(tmp_path)

        def restarted(old):
            def check():
                try:
                    new = int(pid_file.read_text())
                except (OSError, ValueError):
                    return False
                return new != old and alive(new) and not alive(old)
            return check

        # 1. the daemon dies (SIGKILL: no clean-up at all)
        first = int(pid_file.read_text())
        size = log_file.stat().st_size
        os.kill(first, signal.SIGKILL)
        started = time.monotonic()
        assert wait_for(restarted(first), timeout=20)
        exit_restart = time.monotonic() - started
        port = logged_port(log_file, "agi", after=size)
        assert authorize(port, "1795441378.12")[0] == "ALLOWED"

        # 2. the daemon hangs (SIGSTOP): no heartbeat, the watchdog kills it and starts it
        second = int(pid_file.read_text())
        size = log_file.stat().st_size
        os.kill(second, signal.SIGSTOP)
        started = time.monotonic()
        assert wait_for(restarted(second), timeout=30)
        hang_restart = time.monotonic() - started
        port = logged_port(log_file, "agi", after=size)
        assert authorize(port, "1795441378.13")[0] == "ALLOWED"
        console = (tmp_path / "console.log").read_text()
        assert "no heartbeat" in console and "starting it again" in console
        print(f"restart after SIGKILL {exit_restart:.1f}s, after SIGSTOP {hang_restart:.1f}s")

        # stop ends the watchdog too: nothing starts the daemon again
        third = int(pid_file.read_text())
        code, out = run("stop")
        assert code == 0, out
        watchdog_gone = not watchdog_file.exists()
        time.sleep(3)
        assert watchdog_gone and not alive(third) and not pid_file.exists()
    finally:
        for left in (watchdog_file, pid_file):
            if left.exists():
                try:
                    os.kill(int(left.read_text()), signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass
    # the acknowledged charge is still there, nothing charged twice (the held calls
    # are released or settled by the CDR later; their reservations are not charges)
    assert balance(tmp_path) == after_first
    verify_clean(tmp_path)


def test_a_stalled_fastagi_loop_stops_the_heartbeat(box):
    """A thread that stops making progress (here the FastAGI loop, blocked as a deadlock
    would block it) ends the heartbeat, which the watchdog turns into a restart."""
    ini, tmp_path = box
    d = daemon.Daemon(config.load(ini), billing_state=lambda: "active").start()
    pid_file = tmp_path / "run" / "beat.pid"
    pid_file.parent.mkdir(exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        assert wait_for(lambda: d.healthy(), timeout=5)
        os.utime(pid_file, (0, 0))
        daemon.beat(d, str(pid_file))
        assert pid_file.stat().st_mtime > 0  # healthy: the beat touched the file
        release = threading.Event()
        d.agi.call_soon(release.wait, 30)  # the loop is stuck until released
        time.sleep(daemon.LOOP_STALL + 1.5)
        assert not d.healthy()
        os.utime(pid_file, (0, 0))
        daemon.beat(d, str(pid_file))
        assert pid_file.stat().st_mtime == 0  # no beat while the loop is stuck
        release.set()
        assert wait_for(lambda: d.healthy(), timeout=5)
    finally:
        d.stop()


def test_a_daemon_thread_that_ended_stops_the_heartbeat(box, monkeypatch):
    """A thread of the daemon that ends (here the settle queue's delivery, whose end
    left queued settlements undelivered until a restart) makes it unhealthy: the
    watchdog restarts it. A CDR follower stopped by a reload is not counted."""
    from billing_addon import settle_queue

    ini, _tmp_path = box
    monkeypatch.setattr(settle_queue.Deliverer, "run", lambda self, stop: None)
    d = daemon.Daemon(config.load(ini), billing_state=lambda: "active").start()
    try:
        assert wait_for(lambda: not d._running["settle-queue"].is_alive(), timeout=5)
        assert not d.healthy()
    finally:
        d.stop()
    monkeypatch.undo()
    d = daemon.Daemon(config.load(ini), billing_state=lambda: "active").start()
    try:
        assert wait_for(lambda: d.healthy(), timeout=5)
        d._stop_follower(5)  # as a reload does before it starts the new one
        assert d.healthy()
    finally:
        d.stop()
