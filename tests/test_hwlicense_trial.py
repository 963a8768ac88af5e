"""The trial against a determined customer: one test per way of tampering with its time
or its records, each with the time sources injected (clock, uptime, boot id), each
checking what the box then says and that nothing but the trial records changed."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from hwlicense.storage import write_record
from hwlicense.trial import RECORD_AREAS, RECORD_NAME, WRITE_STEP
from tests.helpers import BOX_T0 as T0
from tests.helpers import BoxClock as Clock
from tests.test_hwlicense_activation import box, license_for, snapshot

DAY = timedelta(days=1)


def copies(act):
    return {area: act.profile.area(area) / RECORD_NAME for area in RECORD_AREAS}


def the_rest(root):
    """Every file of the box but the trial records."""
    return {p: b for p, b in snapshot(root).items() if p.name != RECORD_NAME}


def running(root, clock, days, **options):
    """A box activated at ``clock``'s time that then ran ``days`` days."""
    act = box(root, clock=clock, **options)
    act.activate()
    clock.now = clock.now + days * DAY
    act.status()
    return act


def test_clock_back_a_year_on_day_20_does_not_stop_the_trial(tmp_path):
    clock = Clock()
    act = running(tmp_path, clock, 20)
    assert act.status().days_left == 10
    before = the_rest(tmp_path)
    clock.jump(T0 + 20 * DAY - 365 * DAY)  # the customer sets the clock back one year
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left) == ("active", 10)
    assert "365 day(s) behind a time this box has already seen" in status.clock_warning
    clock.now = clock.now + 5 * DAY
    assert box(tmp_path, clock=clock).status().days_left == 5
    clock.now = T0 + 20 * DAY - 365 * DAY + 375 * DAY  # 375 real days after the change
    again = box(tmp_path, clock=clock)
    status = again.status()
    assert (status.state, status.days_left, status.first_activation) == ("expired", 0, T0)
    allowed, reason = again.may_sign_in()
    assert not allowed and "trial expired" in reason
    assert the_rest(tmp_path) == before


def test_first_activation_at_2099_then_the_right_time_ends_after_30_running_days(tmp_path):
    clock = Clock(datetime(2099, 1, 1, tzinfo=timezone.utc))  # a wrong clock at activation
    act = box(tmp_path, clock=clock)
    assert act.activate().first_activation.year == 2099
    before = the_rest(tmp_path)
    clock.jump(T0)  # NTP sets the right time
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left) == ("active", 30)
    assert status.expiration == T0 + 30 * DAY
    assert "behind a time this box has already seen (2099-01-01" in status.clock_warning
    clock.now = T0 + 29 * DAY
    assert box(tmp_path, clock=clock).status().days_left == 1
    clock.now = T0 + 30 * DAY
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left, status.expiration) == ("expired", 0, T0 + 30 * DAY)
    assert the_rest(tmp_path) == before


def test_rtc_at_its_default_date_then_ntp_does_not_end_the_trial_early(tmp_path):
    rtc = datetime(2024, 1, 1, tzinfo=timezone.utc)  # the RTC's date after a power cut
    clock = Clock(rtc)
    act = box(tmp_path, clock=clock)
    assert act.activate().days_left == 30  # 2024-01-01 is a plausible date: the trial starts
    clock.now = rtc + timedelta(minutes=2)
    before = the_rest(tmp_path)
    fixed = datetime(2025, 6, 1, tzinfo=timezone.utc)
    clock.jump(fixed)  # NTP answers: 17 months forward in one step
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left, status.clock_warning) == ("active", 30, None)
    assert status.first_activation == rtc
    assert status.expiration == fixed + 30 * DAY - timedelta(minutes=2)
    clock.now = fixed + 29 * DAY
    assert box(tmp_path, clock=clock).status().state == "active"
    clock.now = fixed + 30 * DAY
    assert box(tmp_path, clock=clock).status().state == "expired"
    assert the_rest(tmp_path) == before


def test_clock_set_forward_does_not_end_the_trial_early(tmp_path):
    clock = Clock()
    running(tmp_path, clock, 5)
    before = the_rest(tmp_path)
    clock.jump(T0 + 5 * DAY + 3650 * DAY)  # ten years ahead
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left) == ("active", 25)
    clock.jump(T0 + 5 * DAY)  # and back
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left, status.clock_warning) == ("active", 25, None)
    clock.now = T0 + 30 * DAY
    assert box(tmp_path, clock=clock).status().state == "expired"
    assert the_rest(tmp_path) == before


def test_only_the_time_the_box_runs_counts(tmp_path):
    clock = Clock()
    act = running(tmp_path, clock, 10)
    clock.reboot(off=7 * DAY)  # switched off for a week
    status = box(tmp_path, clock=clock).status()
    assert status.days_left == 20  # 10 days and 30 s used
    nvram = json.loads(copies(act)["nvram"].read_text())["payload"]
    assert nvram["boot"] == "boot-2" and nvram["used"] == 10 * 86400 + 30  # a new boot: written
    clock.now = clock.now + 20 * DAY
    assert box(tmp_path, clock=clock).status().state == "expired"


def test_the_records_are_written_only_every_few_minutes(tmp_path):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    written = snapshot(tmp_path)
    for _ in range(10):  # the daemon reads the state every few seconds
        clock.now = clock.now + timedelta(seconds=WRITE_STEP / 20)
        act.status()
    assert snapshot(tmp_path) == written
    clock.now = clock.now + timedelta(seconds=WRITE_STEP / 2)
    act.status()
    used = {json.loads(path.read_text())["payload"]["used"] for path in copies(act).values()}
    assert used == {WRITE_STEP}


def test_a_clean_stop_writes_the_time_counted_since_the_last_write(tmp_path):
    clock = Clock()
    act = box(tmp_path, clock=clock)
    act.activate()
    clock.now = clock.now + timedelta(seconds=WRITE_STEP / 2)
    act.status()
    act.flush_trial()  # the daemon stops: a reboot follows
    used = {json.loads(path.read_text())["payload"]["used"] for path in copies(act).values()}
    assert used == {WRITE_STEP // 2}


@pytest.mark.parametrize("area", RECORD_AREAS)
@pytest.mark.parametrize("how", ["deleted", "damaged", "nested"])
def test_a_lost_or_damaged_copy_is_restored_from_the_others(tmp_path, area, how):
    clock = Clock()
    act = running(tmp_path, clock, 3)
    good = copies(act)[area].read_bytes()
    before = the_rest(tmp_path)
    if how == "deleted":
        copies(act)[area].unlink()
    elif how == "nested":  # JSON nested past Python's recursion limit
        copies(act)[area].write_text("[" * 100000)
    else:
        copies(act)[area].write_text('{"payload": {"used": 0}, "sha256": "0"}\n')
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left, status.first_activation) == ("active", 27, T0)
    assert status.trial_problem is None
    assert copies(act)[area].read_bytes() == good
    assert the_rest(tmp_path) == before


def _edit(path, **changes):
    """What a determined customer does: change the payload, recompute the checksum."""
    payload = json.loads(path.read_text())["payload"]
    payload.update(changes)
    write_record(path, payload)


def test_an_edited_copy_with_its_checksum_recomputed_ends_the_trial(tmp_path):
    clock = Clock()
    act = running(tmp_path, clock, 25)
    original = copies(act)["persist"].read_bytes()
    before = the_rest(tmp_path)
    _edit(copies(act)["persist"], used=0)
    again = box(tmp_path, clock=clock)
    status = again.status()
    assert (status.state, status.days_left) == ("expired", 0)
    assert "trial record in persist was not written by this device" in status.trial_problem
    copies(act)["persist"].write_bytes(original)  # putting the original back does not help
    status = box(tmp_path, clock=clock).activate()
    assert status.state == "expired" and "not written by this device" in status.trial_problem
    for path in copies(act).values():  # every copy says so now
        assert "not written by this device" in json.loads(path.read_text())["payload"]["revoked"]
    assert the_rest(tmp_path) == before
    assert again.upload_license(license_for(again)).ok  # a license still works
    assert again.status().state == "active"


@pytest.mark.parametrize("own_trial", [False, True])
def test_records_copied_from_another_box_are_refused(tmp_path, own_trial):
    clock = Clock()
    other = running(tmp_path / "other", clock, 1, n=2)  # a box whose trial just began
    if own_trial:
        this = running(tmp_path / "this", clock, 28)
    else:
        this = box(tmp_path / "this", clock=clock)
    before = the_rest(tmp_path / "this")
    for area, path in copies(other).items():
        copies(this)[area].parent.mkdir(parents=True, exist_ok=True)
        copies(this)[area].write_bytes(path.read_bytes())
    status = box(tmp_path / "this", clock=clock).status()
    assert status.days_left == 0 and "not written by this device" in status.trial_problem
    assert "nvram, persist, data" in status.trial_problem
    assert the_rest(tmp_path / "this") == before
    assert box(tmp_path / "this", clock=clock).activate().state == "expired"


def test_one_changed_identity_source_keeps_the_records(tmp_path):
    clock = Clock()
    running(tmp_path, clock, 3)
    (tmp_path / "sys/class/net/enp0s2/address").write_text("52:54:00:99:99:99\n")  # new NIC
    status = box(tmp_path, clock=clock, n=1).status()
    assert (status.state, status.days_left, status.trial_problem) == ("active", 27, None)


class History:
    """The add-on's billing history: the first billed call, or None."""

    def __init__(self):
        self.first = None

    def __call__(self):
        return self.first


def test_deleting_every_copy_with_billing_history_starts_no_new_trial(tmp_path):
    clock, history = Clock(), History()
    act = running(tmp_path, clock, 31, earliest_use=history)
    history.first = T0 + DAY  # calls were billed
    for path in copies(act).values():
        path.unlink()
    before = snapshot(tmp_path)
    status = box(tmp_path, clock=clock, earliest_use=history).status()
    assert status.state == "expired"  # the switch is still on
    assert status.trial_problem == "this box has billing history since 2024-05-02; the trial was used"
    (act.profile.area("data") / "activation.rec").unlink()  # the switch gone too
    before = snapshot(tmp_path)
    status = box(tmp_path, clock=clock, earliest_use=history).activate()
    assert not status.activated and status.state == "deactivated"
    assert "billing history since 2024-05-02; the trial was used" in status.trial_problem
    assert snapshot(tmp_path) == before  # refused: nothing written, no trial record
    licensed = box(tmp_path, clock=clock, earliest_use=history)
    assert licensed.upload_license(license_for(licensed)).ok
    status = licensed.activate()
    assert status.activated and status.state == "active" and status.licensed


def test_deleting_every_copy_while_billing_is_on_starts_no_new_trial(tmp_path):
    clock = Clock()
    act = running(tmp_path, clock, 31, earliest_use=History())
    for path in copies(act).values():
        path.unlink()
    before = snapshot(tmp_path)
    status = box(tmp_path, clock=clock, earliest_use=History()).activate()
    assert status.state == "expired"
    assert "activated on this box before and its trial records are gone" in status.trial_problem
    assert snapshot(tmp_path) == before


def test_a_box_without_history_starts_its_trial(tmp_path):
    status = box(tmp_path, earliest_use=History()).activate()
    assert status.state == "active" and status.days_left == 30
    assert all(path.is_file() for path in copies(box(tmp_path)).values())


def test_an_unreadable_history_starts_no_trial(tmp_path):
    def broken():
        raise OSError("disk I/O error")

    status = box(tmp_path, earliest_use=broken).activate()
    assert not status.activated and "billing history cannot be read" in status.trial_problem



def test_a_boot_with_a_network_card_missing_neither_ends_nor_rewrites_the_trial(tmp_path):
    """The NIC is not up yet when the add-on starts (qemu: DMI + MAC, both needed): the
    records cannot be signed so that they verify once it is back, so nothing is written
    or revoked; the time still counts, and nothing is lost when the card returns."""
    from hwlicense.activation import Activation
    from hwlicense.board import load_profile

    clock = Clock()
    act = running(tmp_path, clock, 3)
    written = {area: path.read_bytes() for area, path in copies(act).items()}
    nic, away = tmp_path / "sys/class/net/enp0s2", tmp_path / "enp0s2-away"
    nic.rename(away)
    clock.reboot(timedelta(hours=1))
    clock.now = clock.now + 10 * DAY
    degraded = Activation(load_profile("qemu", tmp_path), clock=clock, uptime=clock.uptime,
                          boot_id=clock.boot_id)
    status = degraded.status()
    degraded.flush_trial()
    assert (status.state, status.days_left, status.trial_problem) == ("active", 17, None)
    assert {area: path.read_bytes() for area, path in copies(act).items()} == written
    away.rename(nic)
    status = box(tmp_path, clock=clock).status()
    assert (status.state, status.days_left, status.trial_problem) == ("active", 17, None)


def test_no_new_trial_starts_while_an_identity_source_is_missing(tmp_path):
    from hwlicense.activation import Activation
    from hwlicense.board import load_profile
    from hwlicense.trial import DEGRADED

    box(tmp_path)  # the device, never activated
    (tmp_path / "sys/class/net/enp0s2/address").unlink()
    clock = Clock()
    act = Activation(load_profile("qemu", tmp_path), clock=clock, uptime=clock.uptime,
                     boot_id=clock.boot_id)
    assert act.trial.start(clock()).problem == DEGRADED
    assert not any(path.exists() for path in copies(act).values())


def test_a_boot_id_read_as_unknown_once_or_an_uptime_going_back_counts_nothing(tmp_path):
    """A read of the boot id that fails once, or an uptime that goes back within a boot,
    is a glitch, not a reboot: it must not charge the whole uptime again."""
    clock = Clock()
    act = running(tmp_path, clock, 10)
    clock.boot = "unknown"
    assert act.status().days_left == 20
    clock.boot = "boot-1"
    assert act.status().days_left == 20
    clock.up -= 2
    assert act.status().days_left == 20
    clock.now = clock.now + 2 * DAY
    # 10 days, then 2 read 2 s short: nothing counted twice (the 2 s go to the customer)
    assert act.status().trial_used_seconds == 12 * 86400 - 2


def test_one_low_uptime_reading_does_not_charge_the_boots_uptime_again(tmp_path):
    """One reading that goes back within a boot counts nothing, and is not kept as the
    point the next reading counts from: else that reading charged the boot's whole
    uptime again (10 days lost in one bad read)."""
    clock = Clock()
    act = running(tmp_path, clock, 10)
    real = clock.up
    clock.up = 5.0
    assert act.status().trial_used_seconds == 10 * 86400
    clock.up = real
    assert act.status().trial_used_seconds == 10 * 86400


def test_a_network_card_that_comes_up_after_the_start_is_seen_without_a_restart(tmp_path):
    """The daemon's Activation lives as long as the daemon: an identity read while the NIC
    was missing is read again, so the license and the trial are back once it is up."""
    from hwlicense.activation import Activation
    from hwlicense.board import load_profile

    clock = Clock()
    licensed = running(tmp_path, clock, 3)
    assert licensed.upload_license(license_for(licensed)).ok
    nic, away = tmp_path / "sys/class/net/enp0s2", tmp_path / "enp0s2-away"
    nic.rename(away)
    act = Activation(load_profile("qemu", tmp_path), clock=clock, uptime=clock.uptime,
                     boot_id=clock.boot_id, trusted_keys=licensed.trusted_extra)
    early = act.status()
    assert not early.licensed and "another device" in early.license_problem
    away.rename(nic)
    later = act.status()
    assert later.licensed and later.license_problem is None and later.trial_problem is None
