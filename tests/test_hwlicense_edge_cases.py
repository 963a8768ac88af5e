"""Licensing at its edges (found by a review): a first activation before every identity
source is up, a licensed box before its clock is set, a trial record edited to make the
check raise, the daemon when the check keeps failing or the board profile cannot load.
Each test failed on the code before its fix."""

import json
import time
from datetime import datetime, timedelta, timezone

from hwlicense.activation import Activation
from hwlicense.board import load_profile
from hwlicense.trial import RECORD_AREAS, RECORD_NAME
from tests.helpers import BoxClock as Clock
from tests.test_hwlicense_activation import box, license_for

DAY = timedelta(days=1)


def copies(act):
    return {area: act.profile.area(area) / RECORD_NAME for area in RECORD_AREAS}


def test_first_activation_while_the_nic_is_not_up_does_not_burn_the_trial(tmp_path):
    """qemu (DMI + MAC, match 2): the NIC is not up yet when the admin first activates.
    No trial can start (DEGRADED), but activate() still turns the switch on, and the
    switch then counts as a trace of an earlier trial: once the NIC is up the box can
    never start its trial."""
    box(tmp_path)  # the device, never activated
    nic, away = tmp_path / "sys/class/net/enp0s2", tmp_path / "enp0s2-away"
    nic.rename(away)
    clock = Clock()
    early = Activation(load_profile("qemu", tmp_path), clock=clock, uptime=clock.uptime,
                       boot_id=clock.boot_id)
    first = early.activate()
    assert first.days_left is None  # no trial started (nothing can be signed yet)
    away.rename(nic)  # the NIC is up a minute later
    clock.now = clock.now + timedelta(minutes=1)
    status = box(tmp_path, clock=clock).activate()
    assert status.trial_problem is None, status.trial_problem
    assert (status.state, status.days_left) == ("active", 30)


def test_a_licensed_box_activates_while_its_clock_is_not_yet_set(tmp_path):
    """A customer who bought a license without a trial (or whose switch a factory reset
    turned off before any trial record existed) uploads it; the box has no RTC and NTP
    has not answered (1970).  activate() refuses with CLOCK_NOT_SET although no trial is
    needed: "a licensed box never expires, whatever the clock does"."""
    clock = Clock(datetime(1970, 1, 1, 0, 5, tzinfo=timezone.utc))
    act = box(tmp_path, "u20", clock=clock)
    assert act.upload_license(license_for(act)).ok
    status = act.activate()
    assert status.activated and status.licensed and status.state == "active", status


def _edit(path, **changes):
    """The documented attack: change the payload, recompute the checksum."""
    from hwlicense.storage import write_record

    payload = json.loads(path.read_text())["payload"]
    payload.update(changes)
    write_record(path, payload)


def test_an_edited_copy_with_a_non_ascii_mac_ends_the_trial_instead_of_crashing(tmp_path):
    """An edited copy (checksum recomputed) must end the trial ("foreign").  With a
    non-ASCII string as a MAC value, hmac.compare_digest raises TypeError before any
    secret is involved, so every status() raises instead."""
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = clock.now + 29 * DAY
    path = copies(act)["persist"]
    macs = json.loads(path.read_text())["payload"]["mac"]
    _edit(path, mac={name: "\u00e9" * 32 for name in macs})
    clock.now = clock.now + 2 * DAY
    status = box(tmp_path, clock=clock).status()
    assert status.state == "expired" and "not written by this device" in status.trial_problem


def test_the_daemon_does_not_stay_active_after_the_trial_when_the_check_starts_failing(tmp_path):
    """The daemon's CachedState keeps the last known state on error, without limit: a
    trial box read as 'active' once, whose check then raises on every read (the edit
    above), bills and lets billing users sign in for as long as the daemon runs."""
    from billing_addon import daemon

    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = clock.now + 29 * DAY
    state = daemon.CachedState(box(tmp_path, clock=clock).billing_state, seconds=0)
    assert state() == "active"
    path = copies(act)["persist"]
    macs = json.loads(path.read_text())["payload"]["mac"]
    _edit(path, mac={name: "\u00e9" * 32 for name in macs})
    clock.now = clock.now + 60 * DAY  # two months later, the trial long over
    assert state() != "active"


def test_a_board_profile_that_cannot_be_loaded_does_not_make_billing_active(tmp_path):
    """docs/licensing.md: "a license check that keeps failing counts as expired, never
    active".  The daemon catches any failure to load the board's activation (a tampered
    or missing profile, a config naming another board) and then treats billing as active:
    every call is billed, billing users sign in, with no trial and no license."""
    from billing_addon import config, daemon, store
    from tests.helpers import logger_restored
    from tests.pbx_support import write_config

    cfg = config.load(write_config(tmp_path, box={"board": "u20-tampered"}, agi={"enabled": "no"},
                                   cdr={"enabled": "no"}, web={"enabled": "no"}))
    with logger_restored():
        d = daemon.Daemon(cfg).start()
        try:
            state = d.billing_state()
        finally:
            d.stop()
            store.close_db()
    assert state != "active"


def test_a_state_that_can_no_longer_be_read_is_kept_an_hour_at_most(monkeypatch):
    """A license check that starts failing keeps the last state for a while (a modem
    that does not answer for a minute must not stop billing), never for good."""
    from billing_addon import daemon

    answers = iter(["active"])

    def source():
        return next(answers)  # then StopIteration: the check fails from now on

    monkeypatch.setattr(daemon, "STALE_LIMIT_S", 0.2)
    state = daemon.CachedState(source, seconds=0)
    assert state() == "active"
    assert state() == "active"  # failing, within the limit
    time.sleep(0.3)
    assert state() == "expired"


def test_a_key_named_in_the_environment_does_not_license_an_appliance(tmp_path, monkeypatch):
    """The test-key folder of the environment is for test and VM boards (the qemu
    harness): on a U20, root's one line in the service's environment plus the sales tool
    would forge a license for the box. It is not trusted there, and the billing.ac is not
    sealed to it; a qemu box still takes it."""
    import pytest

    from hwlicense import keys
    from hwlicense.billing_ac import read_billing_ac
    from hwlicense.license import issue_license
    from hwlicense.results import FormatError
    from tests.helpers import BOX_T0

    mine = keys.generate()
    folder = tmp_path / "mykeys"
    folder.mkdir()
    (folder / "mine.pub").write_bytes(keys.public_pem(mine.public_key()))
    monkeypatch.setenv(keys.TRUSTED_KEYS_ENV, str(folder))
    mine_id = keys.key_id(mine.public_key())
    appliance = box(tmp_path / "u20", "u20")
    assert mine_id not in appliance.trusted()
    with pytest.raises(FormatError, match="not to this vendor key"):
        issue_license(read_billing_ac(appliance.billing_ac()), mine, issued=BOX_T0)
    vm = box(tmp_path / "qemu", "qemu")
    assert mine_id in vm.trusted()
    assert vm.upload_license(issue_license(read_billing_ac(vm.billing_ac()), mine,
                                           issued=BOX_T0)).ok
