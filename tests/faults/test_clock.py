"""Issue #18 item 4, "Time": a forward clock step overspent prepaid money.

The stale-reservation release timed reservations by the wall clock: with the clock
stepped a day ahead during a call, the live call's reservation was released, a second
call was allowed and the balance ended below -credit, unflagged.  Reservations are now
timed by the box's running time (``billing_addon.boottime``: uptime and boot id).

The clock is stepped with libfaketime on the real ``billing-addon`` command (never the
machine's clock); the running time, which libfaketime cannot move, is the host's real
one, or one given to the code (``running=``) where a test needs it to pass or to come
from another boot.
"""

import datetime as dt
import time

import pytest

from billing_addon import accounts, boottime, calls, reports, settings
from billing_addon.store import Call, Extension
from tests.helpers import amount, make_extension, make_rate
from tests.test_trial_faketime import run

DAY, HOUR = 86400, 3600


@pytest.fixture
def box(db_path, tmp_path):
    """1001 with $1.00 and no credit, $0.10 a minute for 9...: one call reserves it all.
    Returns the ``billing-addon`` command on that database, under a stepped clock."""
    settings.put("timezone", "UTC")
    make_extension("1001", balance="1")
    make_rate("9", "0", rate="0.10", unit="60")
    ini = tmp_path / "box.ini"
    ini.write_text(f"[box]\ndatabase = {db_path}\n")
    home = tmp_path / "home"
    home.mkdir()

    def cli(*args, faketime=None):
        code, out, err = run("--config", ini, *args, faketime=faketime, home=home)
        assert code in (0, 2), err
        return code, out.strip()

    return cli


def ext():
    return Extension.get(Extension.number == "1001")


def assert_clean(cli, faketime=None):
    assert accounts.verify() == []
    assert cli("verify", faketime=faketime) == (0, "ledger OK")


def test_forward_day_step_keeps_a_live_calls_money(box):
    now = int(time.time())
    first = calls.authorize("1001", "912345", now, "live.1")
    assert first.result == calls.ALLOWED and first.reserved == amount("1")

    # the clock jumps a day ahead (NTP fixes a box that booted with a wrong clock)
    assert box("release-stale", faketime="+1d") == (0, "0 stale reservation(s) released")
    assert ext().reserved == amount("1")
    second = calls.authorize("1001", "912345", now + DAY, "live.2")
    assert (second.result, second.reason) == (calls.DENIED, calls.NO_FUNDS)

    done = calls.settle("live.1", 480, "ANSWER", now + DAY + 480)  # 8 minutes: $0.80
    assert done.cost == amount("0.8")
    assert (ext().balance, ext().reserved) == (amount("0.2"), 0)
    assert Call.get(Call.uniqueid == "live.1").reason == ""  # charged within its reservation
    # the statistics count it on the day it started, not on the day the clock jumped to
    day = dt.datetime.fromtimestamp(now, dt.timezone.utc).date().isoformat()
    stats, _ = reports.statistics("day")
    assert [(s.period, s.calls, s.answered_s) for s in stats] == [(day, 1, 480)]
    assert_clean(box, faketime="+1d")


def test_backward_hour_step_keeps_the_money_and_durations(box):
    start = int(time.time())
    boot = boottime.Running("boot-1", 5000.0)
    calls.authorize("1001", "912345", start, "live.1", running=boot)
    # an hour back, a minute of running time later: still live, the second call denied
    at = start - HOUR + 60
    assert calls.release_stale(at, boot._replace(seconds=boot.seconds + 60)) == 0
    assert calls.authorize("1001", "912345", at, "live.2",
                           running=boot._replace(seconds=boot.seconds + 60)).result == calls.DENIED
    # it ends "before it started" by the wall clock: the duration is the PBX's billsec
    calls.settle("live.1", 300, "ANSWER", at + 300)
    call = Call.get(Call.uniqueid == "live.1")
    assert (call.answered_s, call.cost) == (300, amount("0.5"))
    assert call.settled_utc < call.started_utc  # the step shows, the duration does not
    rows = reports.calls_page().rows
    assert [(r.answered_s, r.cost) for r in rows if r.answered_s] == [(300, amount("0.5"))]
    assert all((r.answered_s or 0) >= 0 for r in rows)  # denied calls have none
    # statistics count the call on its own day, by its own start
    day = dt.datetime.fromtimestamp(start, dt.timezone.utc).date()
    stats, total = reports.statistics("day")
    assert [(s.period, s.answered_s) for s in stats] == [(day.isoformat(), 300)]
    assert total.average_s == 300
    assert_clean(box)


def test_clock_set_back_does_not_hold_a_stale_reservation(box):
    """The other way round: a call that never settled is released when its running
    time is over, however far back the clock was set meanwhile."""
    lifetime = (int(settings.get("ring_allowance_seconds")) + int(settings.get("max_call_seconds"))
                + int(settings.get("stale_grace_seconds")))
    now = boottime.now()
    long_ago = now._replace(seconds=now.seconds - lifetime - 10)  # in this boot, running time
    calls.authorize("1001", "912345", int(time.time()), "lost.1", running=long_ago)
    assert box("release-stale", faketime="-1h") == (0, "1 stale reservation(s) released")
    assert ext().reserved == 0
    assert calls.authorize("1001", "912345", uniqueid="next.1").result == calls.ALLOWED
    assert_clean(box)


def test_reservation_of_an_earlier_boot_is_released(box):
    """The box rebooted during the call (the call ended with it), and its clock now
    reads a day earlier: the boot id tells the reservation is over."""
    calls.authorize("1001", "912345", int(time.time()), "before-reboot.1",
                    running=boottime.Running("0e5a-an-earlier-boot", 120.0))
    assert box("release-stale", faketime="-1d") == (0, "1 stale reservation(s) released")
    call = Call.get(Call.uniqueid == "before-reboot.1")
    assert (call.status, call.reserved, ext().reserved) == ("expired", 0, 0)
    # the CDR still brings its charge, exactly once
    assert calls.settle("before-reboot.1", 60, "ANSWER").cost == amount("0.1")
    assert calls.settle("before-reboot.1", 60, "ANSWER").outcome == "duplicate"
    assert ext().balance == amount("0.9")
    assert Call.get(Call.uniqueid == "before-reboot.1").reason == calls.AFTER_RELEASE
    assert_clean(box, faketime="-1d")


def test_a_reservation_recorded_before_running_time_uses_its_wall_clock_end(box):
    """Rows from before the upgrade have no boot id: they keep the old rule."""
    now = int(time.time())
    calls.authorize("1001", "912345", now, "old.1")
    Call.update(boot_id="", expires_uptime=None).where(Call.uniqueid == "old.1").execute()
    expires = Call.get(Call.uniqueid == "old.1").expires_utc
    assert calls.release_stale(expires - 1) == 0
    assert calls.release_stale(expires + 1) == 1
    assert_clean(box)
