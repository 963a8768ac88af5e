"""The trial as a customer sees it: the real ``billing-addon`` command, its clock moved
with libfaketime (Debian's faketime, installed by ``make setup``), as `date -s`, the
PBX's web UI, an RTC at its default date or NTP would move it.

libfaketime moves the process's wall clock and, unless FAKETIME_DONT_FAKE_MONOTONIC=1,
its monotonic and boot-time clocks too (to the faked wall clock: meaningless as running
time).  The trial reads neither of those for its count: it reads /proc/uptime and the
kernel's boot id, files libfaketime does not touch, which is also why the tests leave
the monotonic clock faked.  Where a test needs days of running time to pass, the demo
device gets running-time files of its own under its board root
(``hwlicense.fakedevice.set_running_time``); elsewhere the host's real ones count.

The billing history and ``--config`` tests run the same command without a moved clock.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hwlicense import keys
from hwlicense.billing_ac import read_billing_ac
from hwlicense.fakedevice import set_running_time
from hwlicense.license import issue_license
from hwlicense.storage import write_record
from hwlicense.trial import RECORD_AREAS, RECORD_NAME

DAY = 86400
LIBFAKETIME_GLOBS = ("/usr/lib/*/faketime/libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1",
                     "/usr/local/lib/faketime/libfaketime.so.1")


def libfaketime() -> str:
    """The libfaketime library ($LIBFAKETIME, else Debian's place); the tests fail, never
    skip, without it."""
    found = [os.environ.get("LIBFAKETIME", "")] + [p for g in LIBFAKETIME_GLOBS for p in glob.glob(g)]
    for path in found:
        if path and os.path.isfile(path):
            return path
    pytest.fail("libfaketime.so.1 not found: install Debian's faketime (make setup does)")


def billing_addon() -> list[str]:
    """The installed ``billing-addon`` command of this Python (make setup installs it)."""
    script = Path(sys.executable).with_name("billing-addon")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "billing_addon.cli"]


def run(*args, faketime: str | None = None, home: Path, env: dict | None = None):
    """``billing-addon ARGS``; with ``faketime`` (FAKETIME's syntax: '@2099-01-01 00:00:00',
    '-365d') under libfaketime.  Returns (exit code, stdout, stderr)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("FAKETIME", "BILLING_"))}
    full.pop("LD_PRELOAD", None)
    full.update(HOME=str(home), **(env or {}))
    if faketime is not None:
        full.update(LD_PRELOAD=libfaketime(), FAKETIME=faketime)
    proc = subprocess.run(billing_addon() + [str(a) for a in args], capture_output=True,
                          text=True, env=full, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


class Box:
    """A demo device under ``root``; ``home`` is the user's home (must stay empty)."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "box"
        self.home = tmp_path / "home"
        self.home.mkdir()

    def cli(self, command: str, *args, faketime: str | None = None):
        """``billing-addon COMMAND --board demo --board-root ROOT --json``: (code, status)."""
        code, out, err = run(command, "--board", "demo", "--board-root", self.root, "--json",
                             *args, faketime=faketime, home=self.home)
        assert out, err
        return code, json.loads(out), err

    def runs(self, seconds: float, boot: str = "boot-1") -> None:
        """The device has now run ``seconds`` in boot ``boot``."""
        set_running_time(self.root, seconds, boot)

    def files(self):
        """Every file of the box but the trial records and its running-time files."""
        return {p.relative_to(self.root): p.read_bytes() for p in sorted(self.root.rglob("*"))
                if p.is_file() and p.name != RECORD_NAME and not p.is_relative_to(self.root / "proc")}


@pytest.fixture
def device(tmp_path):
    yield (box := Box(tmp_path))
    assert list(box.home.iterdir()) == []  # nothing went to the user's home


def test_libfaketime_moves_the_clock_but_not_the_uptime():
    probe = "import time; print(int(time.time()), open('/proc/uptime').read().split()[0])"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, LD_PRELOAD=libfaketime(),
                                               FAKETIME="@2099-01-01 00:00:00"))
    faked, uptime = proc.stdout.split()
    assert int(faked) >= 4070908800  # 2099-01-01: the library works here
    with open("/proc/uptime") as fh:
        assert abs(float(uptime) - float(fh.read().split()[0])) < 60


def test_clock_back_one_year_on_day_20_then_375_days(device):
    start = 1000.0
    device.runs(start)
    code, status, _ = device.cli("activate", faketime="@2025-03-01 12:00:00")
    assert (code, status["days_left"]) == (0, 30)
    assert status["first_activation"].startswith("2025-03-01T12:00")
    device.runs(start + 20 * DAY)
    code, status, _ = device.cli("status", faketime="@2025-03-21 12:00:00")
    assert (code, status["days_left"]) == (0, 10)
    before = device.files()
    device.runs(start + 20 * DAY + 60)
    code, status, _ = device.cli("status", faketime="@2024-03-21 12:01:00")  # a year back
    assert (code, status["state"], status["days_left"]) == (0, "active", 10)
    assert "behind a time this box has already seen (2025-03-21" in status["clock_warning"]
    device.runs(start + 20 * DAY + 60 + 375 * DAY)  # 375 real days later
    code, status, err = device.cli("status", faketime="@2025-03-31 12:01:00")
    assert (code, status["state"], status["days_left"]) == (3, "expired", 0)
    code, status, err = device.cli("activate", faketime="@2025-03-31 12:02:00")
    assert code == 3 and "error: expired: the 30-day trial is over" in err
    assert device.files() == before


def test_first_activation_at_2099_then_the_right_time(device):
    device.runs(500.0)
    code, status, _ = device.cli("activate", faketime="@2099-01-01 00:00:00")
    assert (code, status["days_left"]) == (0, 30)
    assert status["first_activation"].startswith("2099-01-01")
    before = device.files()
    device.runs(600.0)
    code, status, _ = device.cli("status")  # the right time: no faked clock
    assert (code, status["state"], status["days_left"]) == (0, "active", 30)
    assert "(2099-01-01 00:0" in status["clock_warning"]
    device.runs(500.0 + 29 * DAY)
    code, status, _ = device.cli("status")
    assert (code, status["days_left"]) == (0, 1)
    device.runs(500.0 + 30 * DAY)
    code, status, _ = device.cli("status")
    assert (code, status["state"], status["days_left"]) == (3, "expired", 0)
    assert device.files() == before


def test_rtc_at_its_default_date_then_ntp_on_the_hosts_running_time(device):
    code, status, _ = device.cli("activate", faketime="@2024-01-01 00:00:00")
    assert (code, status["days_left"]) == (0, 30)
    assert status["first_activation"].startswith("2024-01-01")
    before = device.files()
    code, status, _ = device.cli("status")  # NTP: the real date, years later
    assert (code, status["state"], status["days_left"], status["clock_warning"]) == \
        (0, "active", 30, None)
    expiration = datetime.fromisoformat(status["expiration"])
    assert abs(expiration - datetime.now(timezone.utc) - timedelta(days=30)) < timedelta(hours=1)
    assert device.files() == before


def test_rtc_at_its_default_date_then_ntp_for_thirty_running_days(device):
    device.runs(40.0)  # seconds after power-on, before NTP answered
    assert device.cli("activate", faketime="@2024-01-01 00:00:00")[0] == 0
    device.runs(100.0)
    code, status, _ = device.cli("status", faketime="@2025-06-01 08:00:00")
    assert (code, status["days_left"]) == (0, 30)
    device.runs(40.0 + 30 * DAY - 1)
    assert device.cli("status", faketime="@2025-07-01 07:59:00")[1]["state"] == "active"
    device.runs(40.0 + 30 * DAY)
    assert device.cli("status", faketime="@2025-07-01 08:00:00")[1]["state"] == "expired"


@pytest.mark.parametrize("jump", ["+400d", "-365d"])
def test_clock_forward_or_back_on_the_hosts_running_time(device, jump):
    assert device.cli("activate")[0] == 0
    before = device.files()
    code, status, _ = device.cli("status", faketime=jump)
    assert (code, status["state"], status["days_left"]) == (0, "active", 30)
    assert (status["clock_warning"] is None) == (jump == "+400d")
    code, status, _ = device.cli("status")
    assert (code, status["days_left"], status["clock_warning"]) == (0, 30, None)
    assert device.files() == before


def test_a_reboot_keeps_the_count_and_time_switched_off_does_not_count(device):
    device.runs(100.0, "boot-a")
    assert device.cli("activate", faketime="@2025-01-01 00:00:00")[0] == 0
    device.runs(100.0 + 10 * DAY, "boot-a")
    assert device.cli("status", faketime="@2025-01-11 00:00:00")[1]["days_left"] == 20
    device.runs(50.0, "boot-b")  # switched off for 100 days, then booted
    code, status, _ = device.cli("status", faketime="@2025-04-21 00:01:00")
    assert (code, status["days_left"]) == (0, 20)
    device.runs(50.0 + 20 * DAY, "boot-b")
    assert device.cli("status", faketime="@2025-05-11 00:01:00")[1]["state"] == "expired"


def test_edited_and_copied_records_end_the_trial(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Box(tmp_path / "a"), Box(tmp_path / "b")
    a.runs(100.0)
    b.runs(100.0)
    assert a.cli("activate")[0] == 0 and b.cli("activate")[0] == 0
    a.runs(100.0 + 29 * DAY)
    assert a.cli("status")[1]["days_left"] == 1
    before = a.files()
    record = a.root / "nvram" / RECORD_NAME
    payload = json.loads(record.read_text())["payload"]
    write_record(record, dict(payload, used=0))  # edited, checksum recomputed
    code, status, err = a.cli("activate")
    assert (code, status["state"], status["days_left"]) == (3, "expired", 0)
    assert "trial record in nvram was not written by this device" in status["trial_problem"]
    assert "error: expired: the trial record in nvram was not written" in err
    assert a.files() == before
    before = b.files()
    for area in RECORD_AREAS:  # box b gets a record of box a in every area
        (b.root / area / RECORD_NAME).write_bytes(record.read_bytes())
    code, status, _ = b.cli("status")
    assert (code, status["state"]) == (3, "expired")
    assert "nvram, persist, data was not written by this device" in status["trial_problem"]
    assert b.files() == before


# --- the add-on's side: its config file and its billing history --------------------------

def _config(path: Path, root: Path) -> Path:
    path.write_text(f"[box]\nboard = demo\nboard_root = {root}\n", encoding="utf-8")
    return path


def test_licensing_commands_use_the_configs_board_and_root(tmp_path):
    home, root, other = tmp_path / "home", tmp_path / "configured", tmp_path / "given"
    home.mkdir()
    cfg = _config(tmp_path / "billing.ini", root)
    code, out, err = run("--config", cfg, "activate", "--json", home=home)
    assert code == 0, err
    first = json.loads(out)["first_activation"]
    assert all((root / area / RECORD_NAME).is_file() for area in RECORD_AREAS)
    code, out, _ = run("--config", cfg, "status", "--json", home=home)
    assert json.loads(out)["first_activation"] == first
    vendor = keys.generate()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys/vendor.pub").write_bytes(keys.public_pem(vendor.public_key()))
    trusted = {"BILLING_TRUSTED_KEYS_DIR": str(tmp_path / "keys")}
    # billing.ac is sealed to the vendor keys the box trusts
    code, out, _ = run("--config", cfg, "billing-ac", "-o", "-", home=home, env=trusted)
    assert code == 0 and "board: demo" in out
    ac = read_billing_ac(out.encode())
    (tmp_path / "box.lic").write_bytes(issue_license(ac, vendor, issued=datetime.now(timezone.utc)))
    code, _, err = run("--config", cfg, "license", "upload", tmp_path / "box.lic", home=home,
                       env=trusted)
    assert code == 0, err
    assert (root / "persist/license.lic").is_file()
    code, out, _ = run("--config", cfg, "deactivate", "--json", home=home, env=trusted)
    assert code == 0 and json.loads(out)["licensed"] and not json.loads(out)["activated"]
    code, out, _ = run("--config", cfg, "reset", "hard", home=home)
    assert code == 0 and not (root / "data/activation.rec").exists()
    # a --board-root on the command line wins over the config's
    code, out, _ = run("--config", cfg, "status", "--json", "--board-root", other, home=home)
    assert code == 4 and json.loads(out)["first_activation"] is None
    code, _, err = run("--config", cfg, "billing-ac", "-o", "-", "--board", "qemu", home=home)
    assert code == 6 and "cannot identify this QEMU device" in err  # and so does a --board
    assert list(home.iterdir()) == []  # nothing under the user's home


def _bill_a_call(cfg: Path, home: Path) -> None:
    for args in (["init"], ["ext", "add", "1001"], ["ext", "edit", "1001", "--billing", "on"],
                 ["recharge", "1001", "--amount", "10"],
                 ["rates", "add", "--prefix", "9", "--rate", "0.60", "--unit", "60", "--extensions", "1001"],
                 ["authorize", "1001", "912345678", "--uniqueid", "t1"], ["settle", "t1", "61"]):
        code, out, err = run("--config", cfg, *args, home=home)
        assert code == 0, (args, out, err)


def test_deleting_every_trial_record_with_billing_history_starts_no_trial(tmp_path):
    home, root = tmp_path / "home", tmp_path / "box"
    home.mkdir()
    cfg = _config(tmp_path / "billing.ini", root)
    assert run("--config", cfg, "activate", home=home)[0] == 0
    _bill_a_call(cfg, home)
    for area in RECORD_AREAS:
        (root / area / RECORD_NAME).unlink()
    (root / "data/activation.rec").unlink()  # the switch too: nothing left but the history
    files = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    code, out, err = run("--config", cfg, "activate", "--json", home=home)
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert code == 10
    assert f"error: trial-used: this box has billing history since {today}; the trial was used" in err
    status = json.loads(out)
    assert not status["activated"] and status["first_activation"] is None
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == files


def test_a_history_of_unbilled_calls_and_recharges_is_no_trace(tmp_path):
    home, root = tmp_path / "home", tmp_path / "box"
    home.mkdir()
    cfg = _config(tmp_path / "billing.ini", root)
    for args in (["init"], ["demo"], ["authorize", "1015", "912345678"]):  # 1015: billing off
        assert run("--config", cfg, *args, home=home)[0] == 0
    code, out, err = run("--config", cfg, "activate", "--json", home=home)
    assert code == 0 and json.loads(out)["days_left"] == 30, err
