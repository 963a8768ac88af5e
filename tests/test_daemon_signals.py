"""The daemon as a process: SIGTERM waits for the session in progress, SIGHUP reloads,
a second daemon refuses to start on a live pid file."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing_addon import store
from billing_addon.store import Call
from tests.helpers import fund_1001, wait_for
from tests.pbx_support import env_bytes, logged_port, write_config

ROOT = Path(__file__).resolve().parents[1]


def start_daemon(ini, pid_file):
    return subprocess.Popen([sys.executable, "-m", "tests.daemon_worker", ini, pid_file], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)



@pytest.fixture
def setup(tmp_path):
    ini = write_config(tmp_path)
    store.init_db(tmp_path / "data" / "billing.db")
    fund_1001()
    yield ini, tmp_path
    store.close_db()


def test_sigterm_lets_the_session_in_progress_finish(setup):
    ini, folder = setup
    pid_file = str(folder / "run" / "daemon.pid")
    proc = start_daemon(ini, pid_file)
    try:
        port = logged_port(folder / "log" / "daemon.log", "agi")
        assert wait_for(lambda: Path(pid_file).exists())
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        sock.sendall(env_bytes("a-limit-cut-authorize"))
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"SET VARIABLE BILLING_LIMIT_MS ")
        proc.send_signal(signal.SIGTERM)  # mid-session
        time.sleep(0.3)
        assert proc.poll() is None  # still waiting for us
        commands = []
        for _ in range(10):
            sock.sendall(b"200 result=1\n")  # what Asterisk answers to SET VARIABLE
            line = reader.readline()
            if not line:  # the server's half-close
                break
            commands.append(line)
        assert commands[-1] == b"SET VARIABLE BILLING_RESULT ALLOWED\n" and not line
        sock.sendall(b"HANGUP\n")
        sock.close()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not Path(pid_file).exists()
    assert Call.get(Call.uniqueid == "1795441378.1").status == "in-progress"
    assert "stopped" in (folder / "log" / "daemon.log").read_text()


def test_sighup_reloads_and_a_second_daemon_refuses(setup):
    ini, folder = setup
    pid_file = str(folder / "run" / "daemon.pid")
    proc = start_daemon(ini, pid_file)
    try:
        logged_port(folder / "log" / "daemon.log", "agi")
        assert wait_for(lambda: Path(pid_file).exists())
        second = start_daemon(ini, pid_file)
        assert second.wait(30) == 1  # refused: the pid file belongs to a live daemon
        Path(ini).write_text(Path(ini).read_text().replace("log/daemon.log", "log/new.log"))
        os.rename(folder / "log" / "daemon.log", folder / "log" / "daemon.log.1")  # logrotate
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: (folder / "log" / "new.log").exists()
                        and "reloaded" in (folder / "log" / "new.log").read_text())
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
