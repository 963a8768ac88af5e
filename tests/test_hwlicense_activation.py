"""Activation, trial and license lifecycle on each board, with a controlled clock."""

from datetime import datetime, timedelta, timezone

import pytest

from hwlicense import keys
from hwlicense.activation import Activation
from hwlicense.billing_ac import read_billing_ac
from hwlicense.board import load_profile
from hwlicense.fakedevice import make_device
from hwlicense.license import issue_license
from hwlicense.reset import factory_reset, firmware_upgrade, hard_reset
from hwlicense.results import Code
from hwlicense.storage import wipe
from hwlicense.trial import RECORD_AREAS
from tests.helpers import BOX_T0
from tests.helpers import BoxClock as Clock

T0 = BOX_T0
DAY = timedelta(days=1)
VENDOR = keys.generate()


def box(root, board="qemu", clock=None, n=1, **options):
    """A fresh Activation object (as after a restart) on the device under ``root``."""
    make_device(root, board, n)
    clock = clock or Clock()
    return Activation(load_profile(board, root), clock=clock, uptime=clock.uptime,
                      boot_id=clock.boot_id, trusted_keys=[VENDOR.public_key()], **options)


def license_for(act):
    return issue_license(read_billing_ac(act.billing_ac()), VENDOR, issued=T0)


def snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_never_activated(tmp_path):
    status = box(tmp_path).status()
    assert (status.activated, status.state, status.first_activation) == (False, "deactivated", None)
    assert status.expiration is None and status.days_left is None and not status.licensed


def test_first_activation_starts_a_30_day_trial(tmp_path):
    status = box(tmp_path).activate()
    assert status.activated and status.state == "active"
    assert status.first_activation == T0
    assert status.expiration == T0 + 30 * DAY
    assert status.days_left == 30 and not status.licensed


@pytest.mark.parametrize(
    "elapsed,state,days_left",
    [
        (29 * DAY, "active", 1),  # day 29: allowed
        (30 * DAY - timedelta(seconds=1), "active", 1),  # last second of the trial
        (30 * DAY, "expired", 0),  # exactly 30 days: over
        (31 * DAY, "expired", 0),  # day 31: refused
    ],
)
def test_trial_days(tmp_path, elapsed, state, days_left):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = T0 + elapsed
    status = act.status()
    assert (status.state, status.days_left) == (state, days_left)
    assert act.billing_state() == state
    allowed, reason = act.may_sign_in()
    assert allowed == (state == "active")
    if not allowed:
        assert "trial expired on 2024-05-31" in reason and "license" in reason


def test_clock_back_40_days_after_expiry_is_still_refused(tmp_path):
    clock = Clock(T0 + 31 * DAY)
    act = box(tmp_path, clock=clock)
    clock.now = T0
    act.activate()
    clock.now = T0 + 31 * DAY
    assert act.billing_state() == "expired"
    clock.now = T0 + 31 * DAY - 40 * DAY
    assert box(tmp_path, clock=clock).billing_state() == "expired"


def test_reactivation_after_factory_reset_does_not_restart_trial(tmp_path):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = T0 + 20 * DAY
    factory_reset(act.profile)
    assert act.billing_state() == "deactivated"  # factory defaults: billing off
    status = box(tmp_path, clock=clock).activate()
    assert status.first_activation == T0 and status.days_left == 10
    clock.now = T0 + 31 * DAY
    assert act.billing_state() == "expired"


@pytest.mark.parametrize("step", ["deactivate", "reinstall", "upgrade", "hard", "one copy lost"])
def test_trial_is_not_extended(tmp_path, step):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = T0 + 31 * DAY
    act.status()
    if step == "deactivate":
        act.deactivate()
    elif step == "reinstall":
        wipe(act.profile.area("data"))  # the add-on removed with its data
    elif step == "upgrade":
        firmware_upgrade(act.profile)
    elif step == "hard":
        hard_reset(act.profile)
    else:
        (act.profile.area("nvram") / "trial.rec").unlink()
    status = box(tmp_path, clock=clock).activate()
    assert status.first_activation == T0 and status.state == "expired"


def test_damaged_trial_record_does_not_start_a_new_trial(tmp_path):
    act = box(tmp_path)
    act.activate()
    for area in RECORD_AREAS:  # every copy (nvram, persist and, since the copies are bound, data)
        (act.profile.area(area) / "trial.rec").write_text("garbage")
    status = box(tmp_path).activate()
    assert status.state == "expired" and status.trial_problem


def test_license_lifecycle_on_u20(tmp_path):
    clock = Clock()
    act = box(tmp_path, "u20", clock)
    act.activate()
    lic = license_for(act)
    result = act.upload_license(lic)
    assert result.ok, result.reason
    status = act.status()
    assert status.licensed and status.expiration is None and status.days_left is None
    clock.now = T0 + 400 * DAY
    assert act.billing_state() == "active"  # never expires
    for reset in (firmware_upgrade, factory_reset):
        reset(act.profile)
        again = box(tmp_path, "u20", clock)
        again.activate()
        assert again.status().licensed
    hard_reset(act.profile)
    again = box(tmp_path, "u20", clock)
    again.activate()
    assert not again.status().licensed and again.billing_state() == "expired"
    assert again.upload_license(lic).ok  # the same file restores it
    assert again.billing_state() == "active"


@pytest.mark.parametrize("board", ["generic", "qemu"])
def test_license_survives_hard_reset_on_other_boards(tmp_path, board):
    act = box(tmp_path, board)
    assert act.upload_license(license_for(act)).ok
    hard_reset(act.profile)
    again = box(tmp_path, board)
    again.activate()
    assert again.status().licensed


def test_licensed_box_survives_clock_far_forward_then_back(tmp_path):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    act.upload_license(license_for(act))
    clock.now = T0 + 3650 * DAY
    assert act.billing_state() == "active"
    clock.now = T0 - 100 * DAY
    assert box(tmp_path, clock=clock).billing_state() == "active"


def test_bad_uploads_change_nothing(tmp_path):
    act = box(tmp_path)
    act.activate()
    good = license_for(act)
    act.upload_license(good)
    other = box(tmp_path / "other", n=2)
    before = snapshot(tmp_path)
    bad_inputs = [
        b"",
        good[:-20],
        good.replace(b"match: 2", b"match: 1"),
        act.billing_ac(),
        license_for(other),
        # signed by a key the box does not trust (given the values: it cannot unseal them)
        issue_license(read_billing_ac(act.billing_ac()), keys.generate(), issued=T0,
                      values=act.identity().values),
    ]
    for bad in bad_inputs:
        result = act.upload_license(bad)
        assert not result.ok and result.reason
        assert snapshot(tmp_path) == before
        assert act.status().licensed


def test_license_is_not_valid_on_another_box(tmp_path):
    a = box(tmp_path / "a", n=1)
    b = box(tmp_path / "b", n=2)
    result = b.upload_license(license_for(a))
    assert result.code is Code.WRONG_DEVICE and "another device" in result.reason
    assert not (b.profile.area("persist") / "license.lic").exists()


def test_deactivated_box_refuses_sign_in_even_when_licensed(tmp_path):
    act = box(tmp_path)
    act.upload_license(license_for(act))
    act.activate()
    assert act.may_sign_in() == (True, "")
    act.deactivate()
    allowed, reason = act.may_sign_in()
    assert not allowed and "deactivated" in reason
    assert act.status().licensed


def test_stored_license_for_changed_hardware_is_reported(tmp_path):
    act = box(tmp_path, n=1)
    act.activate()
    act.upload_license(license_for(act))
    status = box(tmp_path, n=9).status()  # mainboard swapped: every source differs
    assert not status.licensed and status.license_uploaded
    assert "another device" in status.license_problem


def test_demo_board_works_without_hardware(tmp_path):
    act = Activation(load_profile("demo", tmp_path), clock=Clock(),
                     trusted_keys=[VENDOR.public_key()])
    act.activate()
    assert act.upload_license(license_for(act)).ok
    assert act.status().licensed


def test_trusted_keys_from_env(tmp_path, monkeypatch):
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "vendor.pub").write_bytes(keys.public_pem(VENDOR.public_key()))
    monkeypatch.setenv("BILLING_TRUSTED_KEYS_DIR", str(folder))
    make_device(tmp_path, "qemu", 1)
    act = Activation(load_profile("qemu", tmp_path), clock=Clock())
    assert act.upload_license(license_for(act)).ok


def test_no_trial_starts_while_the_clock_is_not_set(tmp_path):
    clock = Clock(datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc))  # no RTC, no NTP yet
    act = box(tmp_path, clock=clock)
    status = act.activate()
    assert not status.activated and "clock is not set" in status.trial_problem
    clock.now = T0
    status = act.activate()
    assert status.first_activation == T0 and status.days_left == 30


# --- signatures checked in a child process (the daemon) -------------------------------

def _key_file(tmp_path, key=VENDOR):
    path = tmp_path / "vendor.pub"
    path.write_bytes(keys.public_pem(key.public_key()))
    return path


def test_checking_in_a_child_gives_the_same_verdicts(tmp_path):
    key = _key_file(tmp_path)
    make_device(tmp_path / "a", "qemu", 1)
    here = Activation(load_profile("qemu", tmp_path / "a"), clock=Clock(), trusted_keys=[key])
    child = Activation(load_profile("qemu", tmp_path / "a"), clock=Clock(), trusted_keys=[key],
                       check_in_child=True)
    other = box(tmp_path / "b", n=2)
    good = license_for(here)
    files = [
        good,
        good[:-20],
        good.replace(b"match: 2", b"match: 1"),  # signature no longer matches
        license_for(other),  # another device
        issue_license(read_billing_ac(here.billing_ac()), keys.generate(), issued=T0,
                      values=here.identity().values),  # a key the box does not trust
        here.billing_ac(),
        b"",
    ]
    for data in files:
        a, b = here.verify(data), child.verify(data)
        assert (a.ok, a.code, a.reason) == (b.ok, b.code, b.reason)
        assert (a.license.license_id if a.license else None) == \
            (b.license.license_id if b.license else None)
    assert child.verify(good).ok


def test_a_daemon_checking_in_a_child_never_loads_cryptography(tmp_path):
    import subprocess
    import sys

    key = _key_file(tmp_path)
    make_device(tmp_path / "box", "qemu", 1)
    act = Activation(load_profile("qemu", tmp_path / "box"), clock=Clock(), trusted_keys=[key])
    act.activate()
    assert act.upload_license(license_for(act)).ok
    script = (
        "import sys\n"
        "from hwlicense.activation import Activation\n"
        "from hwlicense.board import load_profile\n"
        f"act = Activation(load_profile('qemu', {str(tmp_path / 'box')!r}),"
        f" trusted_keys=[{str(key)!r}], check_in_child=True)\n"
        "status = act.status()\n"
        "print(status.licensed, status.license_id is not None,"
        " any(m.startswith('cryptography') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["True", "True", "False"], out.stderr[-2000:]


def test_the_check_is_made_here_when_the_child_cannot_run(tmp_path, monkeypatch):
    import sys

    key = _key_file(tmp_path)
    make_device(tmp_path, "qemu", 1)
    act = Activation(load_profile("qemu", tmp_path), clock=Clock(), trusted_keys=[key],
                     check_in_child=True)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    assert act.upload_license(license_for(act)).ok
    assert not act.verify(b"garbage").ok
