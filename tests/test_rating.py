"""Rating: matching, cost and maximum duration, including hypothesis properties."""

import datetime as dt
import doctest

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from billing_addon import rating
from billing_addon.rating import Rate, cost, match, max_duration

NOON = dt.time(12, 0)


def r(id, prefix, length=0, **kw):
    kw.setdefault("all_extensions", True)
    return Rate(id=id, prefix=prefix, length=length, rate=100, unit=60, **kw)


def test_doctests():
    assert doctest.testmod(rating).failed == 0


class TestManualExample:
    """Dial rule prefix 9: city landline 8 digits (length 9), mobile 11 digits (length 12)."""

    rates = [r(1, "9", 9, remarks="landline"), r(2, "9", 12, remarks="mobile")]

    @pytest.mark.parametrize("dialed, expected", [
        ("912345678", 1),      # 9 + 8 digits
        ("913912345678", 2),   # 9 + 11 digits
        ("91234567", None),    # 9 + 7 digits: neither length
        ("812345678", None),   # other prefix
    ])
    def test_lengths(self, dialed, expected):
        found = match(self.rates, "1001", dialed, NOON)
        assert (found.id if found else None) == expected

    def test_length_zero_matches_any(self):
        rates = [r(3, "9", 0)]
        for dialed in ("91", "912345678", "913912345678"):
            assert match(rates, "1001", dialed, NOON).id == 3


@pytest.mark.parametrize("rates, dialed, expected", [
    # longest prefix wins
    ([r(1, "9"), r(2, "90"), r(3, "901")], "9012345", 3),
    # exact length before length 0, even if the 0-length rate is older
    ([r(1, "9", 0), r(2, "9", 8)], "91234567", 2),
    # a longer prefix with length 0 beats a shorter prefix with exact length
    ([r(1, "9", 8), r(2, "91", 0)], "91234567", 2),
    # shorter time block wins (night rate over all-day rate)
    ([r(1, "9"), r(2, "9", start=11 * 3600, end=13 * 3600)], "9123", 2),
    # named assignment before all-extensions
    ([r(1, "9"), r(2, "9", all_extensions=False, extensions=frozenset({"1001"}))], "9123", 2),
    # full tie: the lowest id
    ([r(5, "9"), r(4, "9")], "9123", 4),
    # a more specific rate that does not apply falls back to the general one
    ([r(1, "9"), r(2, "91", active=False)], "9123", 1),
    ([r(1, "9"), r(2, "91", start=0, end=3600)], "9123", 1),
    ([r(1, "9"), r(2, "91", all_extensions=False, extensions=frozenset({"1002"}))], "9123", 1),
])
def test_specificity(rates, dialed, expected):
    assert match(rates, "1001", dialed, NOON).id == expected


@pytest.mark.parametrize("start, end, time, inside", [
    ("22:00", "06:00", dt.time(23, 30), True),   # wraps midnight: late evening
    ("22:00", "06:00", dt.time(5, 59), True),    # ... and early morning
    ("22:00", "06:00", dt.time(6, 0), False),    # end is exclusive
    ("22:00", "06:00", dt.time(12, 0), False),
    ("08:00", "18:00", dt.time(8, 0), True),     # start is inclusive
    ("08:00", "18:00", dt.time(18, 0), False),
    ("00:00", "24:00", dt.time(23, 59, 59), True),
])
def test_time_blocks(start, end, time, inside):
    def secs(t):
        h, m = map(int, t.split(":"))
        return h * 3600 + m * 60
    rate = r(1, "9", start=secs(start), end=secs(end))
    assert (match([rate], "1001", "9123", time) is not None) == inside


def test_unassigned_extension_gets_nothing():
    rate = Rate(id=1, prefix="9", extensions=frozenset({"1002"}))
    assert match([rate], "1001", "9123", NOON) is None


@pytest.mark.parametrize("seconds, expected", [
    (0, 0),        # unanswered
    (1, 250),      # initial cost covers the initial 30 s
    (30, 250),
    (31, 350),     # a started 6 s unit counts in full
    (36, 350),
    (37, 450),
])
def test_cost_table(seconds, expected):
    rate = Rate(id=1, prefix="9", initial_cost=250, initial_time=30, rate=100, unit=6)
    assert cost(rate, seconds) == expected


rates_st = st.builds(
    Rate, id=st.integers(1, 10**6), prefix=st.text("0123456789", min_size=1, max_size=4),
    length=st.integers(0, 12), initial_cost=st.integers(0, 10**6),
    initial_time=st.integers(0, 600), rate=st.integers(0, 10**5),
    unit=st.integers(1, 3600), start=st.integers(0, 86399), end=st.integers(1, 86400),
    extensions=st.frozensets(st.sampled_from(["1001", "1002", "1003"]), max_size=3),
    all_extensions=st.booleans(), active=st.booleans(),
)


@given(rates_st, st.integers(0, 10**6), st.integers(0, 10**6))
def test_cost_never_decreases(rate, a, b):
    lo, hi = sorted((a, b))
    assert cost(rate, lo) <= cost(rate, hi)


@given(rates_st, st.integers(0, 10**9))
def test_max_duration_is_tight(rate, funds):
    longest = max_duration(rate, funds)
    if longest is None:
        assert rate.rate == 0 and rating.first_charge(rate) <= funds
        return
    assert cost(rate, longest) <= funds
    assert cost(rate, longest + 1) > funds
    assert cost(rate, longest + rate.unit) > funds


@given(st.lists(rates_st, max_size=12), st.sampled_from(["1001", "1002", "1004"]),
       st.text("0123456789", min_size=1, max_size=12), st.integers(0, 86399))
def test_match_never_returns_a_rate_that_does_not_apply(rates, ext, dialed, sod):
    assume(len({x.id for x in rates}) == len(rates))
    found = match(rates, ext, dialed, sod)
    applicable = [x for x in rates if x.active and x.applies_to(ext) and x.in_block(sod)
                  and dialed.startswith(x.prefix) and x.length in (0, len(dialed))]
    if found is None:
        assert applicable == []
        return
    assert found.active and found.applies_to(ext) and found.in_block(sod)
    assert dialed.startswith(found.prefix) and found.length in (0, len(dialed))
    # nothing applicable is more specific than the answer
    best = min(applicable, key=lambda x: (-len(x.prefix),) + rating.specificity_key(x))
    assert found == best


def test_index_size_and_inactive_skipped():
    index = rating.RateIndex([r(1, "9"), r(2, "8", active=False)])
    assert len(index) == 1
    assert index.match("1001", "8123", NOON) is None
