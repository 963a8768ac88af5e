"""Issue #18 item 5 (SIGBUS on a full small file system), item 8 (peewee tracebacks on a
full or read-only disk; a 60,000-row CDR import logging a warning per over-limit call)
and the "Disk full" delivery.

The file system is a real ext4 image with 1 KiB blocks (mke2fs's default under 512 MB),
loop-mounted here and unmounted at the end; the machine's own disks are never filled.
Why SQLite met SIGBUS there, and the fix: billing_addon/diskspace.py."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billing_addon import accounts, calls, money, rates, store
from tests.helpers import fund_1001, wait_for
from tests.pbx_support import logged_port, make_env, replay, write_config

ROOT = Path(__file__).resolve().parents[2]
SIGBUS = -signal.SIGBUS


@pytest.fixture
def ext4(tmp_path):
    """An 8 MB ext4 file system with 1 KiB blocks, mounted at tmp_path/'box'."""
    if os.geteuid() != 0:
        pytest.skip("loop-mounting needs root (CI and the test machine run as root)")
    image, mount = tmp_path / "ext4.img", tmp_path / "box"
    with open(image, "wb") as fh:
        fh.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "1024", "-m", "0", str(image)], check=True)
    mount.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def fill(mount, leave_kib=0):
    """Fill the file system, leaving ``leave_kib`` KiB free (as near as ext4 allows)."""
    gap = mount / "gap"
    if leave_kib:
        gap.write_bytes(b"\0" * leave_kib * 1024)
    os.sync()
    with open(mount / "filler", "ab", buffering=0) as fh:
        for size in (65536, 1024):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError:
                pass
    os.sync()
    if leave_kib:
        gap.unlink()
        os.sync()


def free(mount):
    for junk in ("filler", "gap"):
        try:
            (mount / junk).unlink()
        except FileNotFoundError:
            pass
    os.sync()


@pytest.fixture
def box(tmp_path, ext4):
    """A configured box whose database lives on the small ext4, with one billed, funded
    extension and a rate."""
    ini = write_config(tmp_path, box={"database": str(ext4 / "billing.db")})
    store.init_db(ext4 / "billing.db")
    fund_1001()
    store.close_db()
    yield ini, ext4
    store.close_db()


def cli(ini, *args):
    return subprocess.run([sys.executable, "-m", "billing_addon.cli", "--config", ini, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def one_line(done, words):
    """Refused in one line that says ``words``, no traceback."""
    lines = done.stderr.strip().splitlines()
    return done.returncode == 1 and len(lines) == 1 and words in lines[0], done.stderr


def verify_clean(ini):
    done = cli(ini, "verify")
    assert done.returncode == 0 and "ledger OK" in done.stdout, done.stdout + done.stderr


def test_cli_on_a_nearly_full_1k_block_ext4_never_dies_of_sigbus(box):
    ini, mount = box
    outcomes = {}
    for leave in range(17):  # SQLite died of SIGBUS with 4 and with 10 KiB free
        fill(mount, leave)
        try:
            done = cli(ini, "ext", "list")
            assert done.returncode != SIGBUS, f"SIGBUS with {leave} KiB free"
            if done.returncode != 0:
                assert one_line(done, "disk full"), (leave, done.stderr)
            outcomes[leave] = done.returncode
            recharge = cli(ini, "recharge", "1001", "--amount", "1")
            assert recharge.returncode != SIGBUS
            assert recharge.returncode == 0 or one_line(recharge, "disk full")[0], recharge.stderr
            verify = cli(ini, "verify")  # its quick check opens the file on its own
            assert verify.returncode != SIGBUS, f"verify: SIGBUS with {leave} KiB free"
            assert verify.returncode == 0 or one_line(verify, "disk full")[0], verify.stderr
        finally:
            free(mount)
    assert 1 in outcomes.values()  # the full disk was met, and said so
    before = cli(ini, "ext", "show", "1001").stdout
    assert cli(ini, "recharge", "1001", "--amount", "1").returncode == 0  # space is back
    assert cli(ini, "ext", "show", "1001").stdout != before
    verify_clean(ini)


def test_read_only_remount_is_one_line(box):
    ini, mount = box
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    try:
        for args in (("ext", "list"), ("recharge", "1001", "--amount", "1"), ("verify",)):
            done = cli(ini, *args)
            assert one_line(done, "read-only file system"), (args, done.stderr)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    verify_clean(ini)


def authorize(port, uniqueid):
    env = make_env("authorize", uniqueid, ["1001", "1234567"])
    started = time.monotonic()
    got = replay(("127.0.0.1", port), env, timeout=10)
    return got.variables.get("BILLING_RESULT"), got.variables.get("BILLING_REASON"), \
        time.monotonic() - started


def test_daemon_on_a_full_disk_answers_the_fail_mode_and_recovers(box, tmp_path):
    ini, mount = box
    pid_file = tmp_path / "run" / "daemon.pid"
    log_file = tmp_path / "log" / "daemon.log"  # the log is elsewhere: this is about the database
    fill(mount, 10)  # where SQLite's first open died of SIGBUS
    proc = subprocess.Popen([sys.executable, "-m", "tests.daemon_worker", ini, str(pid_file)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = logged_port(log_file, "agi")
        assert proc.poll() is None
        # the fail mode, quickly (the first answer may wait for the start to finish)
        assert wait_for(lambda: authorize(port, "1795441378.1")[:2] == ("DENIED", "error"), 20)
        result, reason, took = authorize(port, "1795441378.1")
        assert (result, reason) == ("DENIED", "error") and took < 2
        assert "disk full" in log_file.read_text()
        free(mount)
        assert wait_for(lambda: proc.poll() is not None
                        or authorize(port, "1795441378.2")[0] == "ALLOWED", timeout=20)
        assert proc.poll() is None, f"the daemon ended ({proc.returncode}) when space returned"
        # the disk fills up while the daemon runs: answers stay quick, never SIGBUS
        fill(mount)
        answers = [authorize(port, f"1795441378.{n}") for n in range(3, 13)]
        assert proc.poll() is None
        assert all(took < 2 for _, _, took in answers)
        assert all(r in (("ALLOWED", ""), ("ALLOWED", None), ("DENIED", "error"))
                   for r in [(a, b) for a, b, _ in answers]), answers
        listed = cli(ini, "ext", "list")
        assert listed.returncode == 0 or one_line(listed, "disk full")[0], listed.stderr
        free(mount)
        assert wait_for(lambda: authorize(port, "1795441378.20")[0] == "ALLOWED", timeout=20)
        store.init_db(mount / "billing.db")
        try:
            assert calls.settle("1795441378.20", 30).outcome == "charged"  # acknowledged
        finally:
            store.close_db()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    verify_clean(ini)


def test_a_60000_row_cdr_import_logs_the_over_limit_calls_as_one_summary(tmp_path):
    """60,000 authorized calls that the PBX never cut went on past their limit: the import
    charges them all and says so in one line (a count and a few examples), not 60,000."""
    import zoneinfo

    from billing_addon import settings
    from tests.pbx_support import cdr_rows

    ini = write_config(tmp_path)
    store.init_db(tmp_path / "data" / "billing.db")
    try:
        accounts.ensure_extension("1001", "Ext 1001")
        accounts.edit(["1001"], billing_enabled=True)
        accounts.recharge(["1001"], money.parse_amount("10000000"), "test")
        rates.add(rates.validate({"prefix": "1", "rate": "0.01", "unit": "1",
                                  "all_extensions": True}))
        zone = zoneinfo.ZoneInfo(settings.get("timezone"))
        start = 1795441378
        with open(tmp_path / "Master.csv", "w", encoding="utf-8") as out:
            for n in range(60000):
                auth = calls.authorize("1001", "1234567", uniqueid=f"{start}.{n}",
                                       billing_state="active")
                assert auth.result == calls.ALLOWED
                # 10 s past the limit: the PBX did not cut the call
                out.write(cdr_rows(f"{start}.{n}", "1001", "1234567", start + n,
                                   auth.limit_ms // 1000 + 10, zone, seq=3 * n))
    finally:
        store.close_db()
    done = cli(ini, "cdr", "import", str(tmp_path / "Master.csv"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "charged=60000" in done.stdout
    said = [line for line in done.stderr.splitlines() if "limit (not cut by the PBX)" in line]
    assert len(said) == 1, f"{len(said)} lines about over-limit calls"
    assert said[0].startswith("60000 call(s) went on past their limit")
    assert len(done.stderr.splitlines()) < 10
    verify_clean(ini)


def test_web_ui_says_disk_full_in_one_line(box):
    from billing_addon.web import auth
    from billing_addon.web.app import make_app

    from billing_addon import config
    from tests.web_fakes import FakeActivation
    from tests.webclient import Client

    ini, mount = box
    store.init_db(mount / "billing.db")
    try:
        app = make_app(config.load(ini), FakeActivation())
        auth.set_admin_password("admin-secret-1")
        admin = Client(app)
        admin.login("admin", "admin-secret-1")
        admin.post("/admin/activation", {"activate": "1"}, check=303)
        user, password = auth.create_billing_user("billing-pass-1")
        billing = Client(app)
        billing.login(user.username, password)
        before = accounts.get_extension("1001").balance
        fill(mount)
        r = billing.post("/extensions/recharge", {"n": "1001", "amount": "50", "step": "confirm"})
        assert r.status == 503 and len(r.text.strip().splitlines()) == 1, r.text[:500]
        assert "disk full" in r.text
        free(mount)
        billing.post("/extensions/recharge", {"n": "1001", "amount": "50", "step": "confirm"}, check=303)
        assert accounts.get_extension("1001").balance == before + money.parse_amount("50")
        assert accounts.verify() == []
    finally:
        store.close_db()
