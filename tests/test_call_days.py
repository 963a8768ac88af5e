"""Statistics days follow the time zone: after a zone change the per-day table is rebuilt
from the calls, so a day's Statistics equal the Call Log's for that day (issue #13.3)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from billing_addon import call_days, calls, reports, settings, store
from billing_addon.store import db

from .helpers import make_extension, make_rate


def utc(*args):
    return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp())


@pytest.fixture
def box(db_path):
    make_extension("1001", balance="50")
    make_extension("1002", balance="50")
    make_rate("9", "0", rate="0.10", unit="60")
    return db_path


def call(uid, number, started, seconds, dialed="912345"):
    assert calls.authorize(number, dialed, started, uid).result in (calls.ALLOWED, calls.UNBILLED)
    if seconds is not None:
        calls.settle(uid, seconds, "ANSWER" if seconds else "NOANSWER", at=started + seconds + 5)


def daily_rows():
    return db.execute_sql("SELECT * FROM call_daily ORDER BY local_day, extension_id, call_type").fetchall()


def statistics_day(day):
    _rows, total = reports.statistics("day", None, day, day)
    return total.calls, total.cost


def call_log_day(day):
    """The Call Log's search for one day: its settled calls (Statistics count those) and
    the sum of the Cost column."""
    rows = list(reports.iter_calls(*reports.time_bounds(day, day)))
    settled = [r for r in rows if r.status in ("charged", "unrated")]
    return len(settled), sum(r.cost for r in rows)


def test_rebuild_in_the_same_zone_gives_the_table_settling_built(box):
    settings.put("timezone", "Asia/Shanghai")
    make_extension("1003", billing=False)
    t = utc(2024, 5, 1, 15, 30)  # 23:30 in Shanghai
    for i, (number, seconds) in enumerate((("1001", 61), ("1002", 0), ("1001", 300), ("1003", 60),
                                           ("1002", None), ("1001", 3600))):
        call(f"c{i}", number, t + i * 1200, seconds)
    call("unrated", "1001", t, 40, dialed="812345")  # no rate: free, counted
    assert daily_rows(), "settling writes the per-day table"
    before = daily_rows()
    with calls.money_txn():
        assert call_days.rebuild(ZoneInfo("Asia/Shanghai")) == 0
    assert daily_rows() == before


def test_statistics_days_follow_a_zone_change(box):
    """Two calls an hour apart around midnight in Shanghai: the same UTC day, two local
    days.  After the change, each day of Statistics equals the Call Log's day."""
    call("a", "1001", utc(2024, 5, 1, 15, 30), 61)   # $0.20, 05-01 23:30 in Shanghai
    call("b", "1001", utc(2024, 5, 1, 16, 30), 120)  # 05-02 00:30 in Shanghai
    call("c", "1002", utc(2024, 5, 2, 2, 0), 30)
    may1, may2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
    assert statistics_day(may1) == call_log_day(may1) == (2, 4000)  # in UTC
    settings.put("timezone", "Asia/Shanghai")
    assert call_log_day(may1) == (1, 2000)
    assert call_log_day(may2) == (2, 3000)
    for day in (dt.date(2024, 4, 30), may1, may2, dt.date(2024, 5, 3)):
        assert statistics_day(day) == call_log_day(day), day
    rows, total = reports.statistics("month", None, None, None)
    assert (total.calls, total.cost) == (3, 5000)


def test_statistics_across_a_dst_change(box):
    """Berlin moves from UTC+1 to UTC+2 at 01:00 UTC on 2024-03-31: 00:30 and 23:30 local
    are on the 31st, 00:30 local the next night is April (a fixed offset gets one wrong)."""
    call("d1", "1001", utc(2024, 3, 30, 23, 30), 60)  # 03-31 00:30 CET
    call("d2", "1001", utc(2024, 3, 31, 21, 30), 60)  # 03-31 23:30 CEST
    call("d3", "1002", utc(2024, 3, 31, 22, 30), 60)  # 04-01 00:30 CEST
    settings.put("timezone", "Europe/Berlin")
    days = [dt.date(2024, 3, 30), dt.date(2024, 3, 31), dt.date(2024, 4, 1)]
    assert [statistics_day(d) for d in days] == [call_log_day(d) for d in days] \
        == [(0, 0), (2, 2000), (1, 1000)]


def test_offset_stretches_split_at_each_transition():
    berlin = ZoneInfo("Europe/Berlin")
    year = call_days.offset_stretches(berlin, utc(2024, 1, 1), utc(2025, 1, 1))
    assert [(start, offset) for start, _end, offset in year] == [
        (utc(2024, 1, 1), 3600), (utc(2024, 3, 31, 1), 7200), (utc(2024, 10, 27, 1), 3600)]
    assert year[-1][1] == utc(2025, 1, 1) + 1
    assert call_days.offset_stretches(ZoneInfo("UTC"), 0, 100) == [(0, 101, 0)]


ZONES = ("UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Pacific/Chatham")
START = utc(2024, 3, 28)  # around Berlin's and two days after New York's DST change


def totals_from_calls(number=None):
    """What Statistics by day should say, from the Call Log's rows in the current zone:
    {day: (calls, answered calls, answered seconds, cost)} of the settled calls."""
    days = {}
    for r in reports.iter_calls(keyword=number or ""):
        settled = r.status in ("charged", "unrated") and r.answered_s is not None
        if settled and (number is None or r.number == number):
            day = settings.local(r.started_utc).date().isoformat()
            n, answered, seconds, cost = days.get(day, (0, 0, 0, 0))
            days[day] = (n + 1, answered + (r.answered_s > 0), seconds + r.answered_s, cost + r.cost)
    return days


def totals_from_statistics(extension=None):
    rows, _total = reports.statistics("day", extension)
    return {r.period: (r.calls, r.answered_calls, r.answered_s, r.cost) for r in rows}


call_steps = st.lists(st.one_of(
    st.tuples(st.just("call"), st.sampled_from(("1001", "1002", "1003")),
              st.integers(0, 6 * 86400), st.one_of(st.none(), st.integers(0, 4000))),
    st.tuples(st.just("zone"), st.sampled_from(ZONES))), max_size=25)


@settings_(max_examples=30, deadline=None)
@given(steps=call_steps)
def test_statistics_totals_equal_the_call_log_after_random_calls_and_zone_changes(
        tmp_path_factory, steps):
    """Random calls (settled, unanswered, still in progress, denied, billing off) and zone
    changes in any order: the per-day totals of every extension (``call_day_total``)
    and of each one (``call_daily``) equal what the Call Log's calls add up to."""
    store.init_db(tmp_path_factory.mktemp("prop") / "billing.db")
    try:
        make_extension("1001", balance="50")
        make_extension("1002", balance="50")
        make_extension("1003", billing=False)
        make_rate("9", "0", rate="0.10", unit="60")
        for i, step in enumerate(steps):
            if step[0] == "zone":
                settings.put("timezone", step[1])
            else:
                _, number, offset, seconds = step
                started, uid = START + offset, f"p{i}"
                # calls left in progress hold funds: later ones may be denied (not counted)
                answer = calls.authorize(number, "912345" if i % 4 else "812345", started, uid)
                if answer.result != calls.DENIED and seconds is not None:
                    calls.settle(uid, seconds, "ANSWER" if seconds else "NOANSWER",
                                 at=started + seconds + 5)
        assert totals_from_statistics() == totals_from_calls()
        for number in ("1001", "1002", "1003"):
            assert totals_from_statistics(reports.extension_id(number)) == totals_from_calls(number)
    finally:
        store.close_db()
