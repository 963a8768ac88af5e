"""init.d/billing-addon really starts, reloads, restarts and stops the daemon, under
every POSIX shell found here (dash, bash --posix, busybox sh)."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import alive
from tests.pbx_support import logged_port, write_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "init.d" / "billing-addon"

SHELLS = [s for s in (["dash"], ["bash", "--posix"], ["busybox", "sh"]) if shutil.which(s[0])]


def test_script_is_posix_sh():
    text = SCRIPT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert os.access(SCRIPT, os.X_OK)
    for bashism in ("[[", "function ", "local ", "$(<", "echo -e", "source "):
        assert bashism not in text, bashism
    for shell in SHELLS:
        assert subprocess.run(shell + ["-n", str(SCRIPT)]).returncode == 0


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_start_status_reload_restart_stop(tmp_path, shell):
    ini = write_config(tmp_path)
    pid_file = tmp_path / "run" / "billing-addon.pid"
    env = dict(os.environ,
               BILLING_ADDON_DAEMON=f"{sys.executable} -m billing_addon.cli",
               BILLING_ADDON_CONFIG=ini, BILLING_ADDON_PIDFILE=str(pid_file),
               BILLING_ADDON_CONSOLE_LOG=str(tmp_path / "console.log"),
               BILLING_ADDON_DEFAULTS=str(tmp_path / "no-defaults"),
               BILLING_ADDON_STOP_TIMEOUT="20")

    def run(action):
        done = subprocess.run(shell + [str(SCRIPT), action], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr

    log = tmp_path / "log" / "daemon.log"
    try:
        assert run("status")[0] == 3
        code, out = run("start")
        assert code == 0 and "started" in out
        assert run("status")[0] == 0
        pid = int(pid_file.read_text())
        assert alive(pid)
        logged_port(log, "agi")
        code, out = run("start")
        assert code == 0 and "already running" in out and int(pid_file.read_text()) == pid
        size = log.stat().st_size
        assert run("reload")[0] == 0
        end = time.monotonic() + 20
        while "reloaded" not in log.read_text()[size:] and time.monotonic() < end:
            time.sleep(0.05)
        assert "reloaded" in log.read_text()[size:]
        assert run("restart")[0] == 0
        new_pid = int(pid_file.read_text())
        assert new_pid != pid and alive(new_pid) and not alive(pid)
        assert run("stop")[0] == 0
        assert not alive(new_pid) and not pid_file.exists()
        assert run("status")[0] == 3
        assert run("stop")[0] == 0
        assert run("reload")[0] == 7
    finally:
        watchdog = tmp_path / "run" / "billing-addon.watchdog.pid"
        for left in (watchdog, pid_file):  # the watchdog first, or it starts the daemon again
            if left.exists():
                subprocess.run(["kill", "-9", left.read_text().strip()])


def test_start_fails_on_a_bad_config(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[nonsense]\nx = 1\n")
    env = dict(os.environ, BILLING_ADDON_DAEMON=f"{sys.executable} -m billing_addon.cli",
               BILLING_ADDON_CONFIG=str(ini), BILLING_ADDON_PIDFILE=str(tmp_path / "x.pid"),
               BILLING_ADDON_DEFAULTS=str(tmp_path / "no-defaults"))
    done = subprocess.run(["sh", str(SCRIPT), "start"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "failed to start" in done.stderr


STAND_IN = """#!/bin/sh
# a stand-in daemon, called as "... serve --pid-file P": writes its pid, then the first
# one ends at once, before the watchdog looked (a daemon killed right after its start)
starts="$(dirname "$0")/starts"
n=$(cat "$starts" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$starts"
while [ $# -gt 0 ]; do
    [ "$1" = "--pid-file" ] && pid_file=$2
    shift
done
echo $$ > "$pid_file"
[ "$n" -eq 1 ] && exit 3
exec sleep 60
"""


@pytest.mark.parametrize("shell", SHELLS, ids=[s[0] for s in SHELLS])
def test_a_daemon_that_dies_right_after_its_start_is_started_again(tmp_path, shell):
    """It wrote its pid file, so it came up: the watchdog starts it again, however late
    it looks (on a busy box it looked after the daemon had died, took that for a first
    start that failed, and ended: nothing watched the daemon any more)."""
    daemon = tmp_path / "daemon.sh"
    daemon.write_text(STAND_IN)
    pid_file = tmp_path / "run" / "b.pid"
    env = dict(os.environ, BILLING_ADDON_DAEMON=f"sh {daemon}", BILLING_ADDON_CONFIG="unused",
               BILLING_ADDON_PIDFILE=str(pid_file), BILLING_ADDON_DEFAULTS=str(tmp_path / "none"),
               BILLING_ADDON_CONSOLE_LOG=str(tmp_path / "console.log"),
               BILLING_ADDON_HEARTBEAT_TIMEOUT="0", BILLING_ADDON_RESTART_DELAY="1")

    def run(action):
        return subprocess.run(shell + [str(SCRIPT), action], env=env, capture_output=True,
                              text=True, timeout=60)

    started = run("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert (tmp_path / "starts").read_text().strip() == "2"
        assert "ended (exit 3); starting it again" in (tmp_path / "console.log").read_text()
        second = int(pid_file.read_text())
        assert alive(second)
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not alive(second) and not pid_file.exists()
    assert not (tmp_path / "run" / "b.watchdog.pid").exists()
