"""Calling plans: free seconds a month per call type, reserved and used before money."""

import random
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import accounts, boottime, calls, plans, rates, rating, settings, store
from billing_addon.store import Call, Department, Extension

from .helpers import amount, make_extension, make_rate

T0 = 1795441378  # 2026-11-23 13:42:58 UTC


def ext(number="1001"):
    return Extension.get(Extension.number == number)


def call(uid):
    return Call.get(Call.uniqueid == uid)


def set_type(call_type, prefix="9"):
    with store.money_txn():
        store.Rate.update(call_type=call_type).where(store.Rate.prefix == prefix).execute()
        rates._bump_version()


def usage_row(kind, pool_id, month="2026-11", call_type="national"):
    return store.sql_one("SELECT used_s, reserved_s FROM plan_usage WHERE pool_kind = ? AND "
                         "pool_id = ? AND month = ? AND call_type = ?",
                         (kind, pool_id, month, call_type))


def department(name, *numbers):
    dep = Department.create(name=name, created_utc=T0, updated_utc=T0)
    Extension.update(department=dep.id).where(Extension.number.in_(numbers)).execute()
    return dep.id


@pytest.fixture
def planned(db_path):
    """1001 with $1.00 and a plan of 5 free national minutes; 9... is national at
    $0.10 a minute."""
    make_extension("1001", balance="1")
    make_rate("9", "0", rate="0.10", unit="60")
    set_type("national")
    plan_id = plans.create("Basic", plans.parse_allowance({"national": "5"}))
    plans.assign(plan_id, ["1001"])
    return plan_id


def test_doctests():
    import doctest

    assert doctest.testmod(plans).failed == 0


# --- plans and their bad input ------------------------------------------------------


def test_create_edit_and_read_a_plan(db_path):
    plan_id = plans.create(" Staff ", plans.parse_allowance({"local": "100", "mobile": "",
                                                            "international": "0"}))
    assert plans.get(plan_id) == plans.Plan(plan_id, "Staff", {"local": 6000})
    plans.update(plan_id, "Staff plus", plans.parse_allowance({"mobile": "30"}))
    assert plans.get(plan_id) == plans.Plan(plan_id, "Staff plus", {"mobile": 1800})
    assert [p.name for p in plans.all_plans()] == ["Staff plus"]


@pytest.mark.parametrize("minutes, message", [
    ("-5", "Local: free minutes must be a whole number from 0 to 1000000"),   # negative
    ("ten", "Local: free minutes must be a whole number from 0 to 1000000"),  # not a number
    ("1.5", "Local: free minutes must be a whole number from 0 to 1000000"),  # not whole
    ("１０", "Local: free minutes must be a whole number from 0 to 1000000"),  # fullwidth digits
    ("1000001", "Local: free minutes must be a whole number from 0 to 1000000"),  # too many
])
def test_bad_minutes_are_refused(db_path, minutes, message):
    with pytest.raises(plans.PlanError) as refused:
        plans.parse_allowance({"local": minutes})
    assert str(refused.value) == message


def test_duplicate_name_and_empty_name_are_refused_and_change_nothing(db_path):
    first = plans.create("Basic", {"local": 60})
    with pytest.raises(plans.PlanError, match="there is already a plan named 'basic'"):
        plans.create("basic", {"local": 120})
    second = plans.create("Other", {})
    with pytest.raises(plans.PlanError, match="there is already a plan named 'BASIC'"):
        plans.update(second, "BASIC", {"mobile": 60})
    with pytest.raises(plans.PlanError, match="a plan needs a name"):
        plans.create("  ", {})
    assert plans.get(first) == plans.Plan(first, "Basic", {"local": 60})
    assert plans.get(second) == plans.Plan(second, "Other", {})
    assert len(plans.all_plans()) == 2


def test_a_plan_in_use_is_not_deleted(planned):
    with pytest.raises(plans.PlanError, match="plan Basic is assigned to 1 extension"):
        plans.delete(planned)
    assert plans.get(planned) is not None
    plans.assign(None, ["1001"])
    assert plans.delete(planned) == "Basic"
    assert plans.get(planned) is None


def test_assigning_to_unknown_payers_changes_nothing(planned):
    make_extension("1002")
    with pytest.raises(plans.PlanError, match="unknown extension '4040'"):
        plans.assign(None, ["1001", "4040"])
    with pytest.raises(plans.PlanError, match="no such department"):
        plans.assign(None, ["1001"], [77])
    with pytest.raises(plans.PlanError, match="there is no plan 99"):
        plans.assign(99, ["1002"])
    assert plans.plan_of_extension(ext("1001").id) == planned
    assert plans.plan_of_extension(ext("1002").id) is None


# --- the money path -----------------------------------------------------------------


def test_a_call_inside_the_allowance_is_free(planned):
    auth = calls.authorize("1001", "912345", T0, "u1")
    # 5 free minutes + $1.00 at $0.10/min (10 minutes) = 15 minutes, one second less
    assert auth.limit_ms == (900 - 1) * 1000
    assert auth.reserved == amount("1")  # the free part needs no money
    assert usage_row("extension", ext().id) == (0, 300)
    settled = calls.settle("u1", 200)
    assert settled.cost == 0
    assert call("u1").free_s == 200 and ext().balance == amount("1")
    assert usage_row("extension", ext().id) == (200, 0)
    assert accounts.verify() == []


def test_the_rest_of_a_call_is_charged_as_a_call_of_its_own(planned):
    calls.authorize("1001", "912345", T0, "u1")
    settled = calls.settle("u1", 301)  # 300 free, 1 second charged: a started minute
    assert settled.cost == amount("0.10") and call("u1").free_s == 300
    calls.authorize("1001", "912345", T0 + 400, "u2")
    assert calls.settle("u2", 61).cost == amount("0.20")  # nothing left: all charged
    assert call("u2").free_s == 0
    assert usage_row("extension", ext().id) == (300, 0)
    assert accounts.verify() == []


def test_without_money_the_allowance_alone_allows_a_call(planned):
    accounts.adjust("1001", -amount("1"), "test", "t")
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert auth.result == calls.ALLOWED and auth.limit_ms == 299_000 and auth.reserved == 0
    assert calls.settle("u1", 300).cost == 0


def test_another_call_type_has_no_allowance(planned):
    make_rate("00", "0", rate="1", unit="60")
    set_type("international", "00")
    calls.authorize("1001", "0044123", T0, "u1")
    assert calls.settle("u1", 60).cost == amount("1") and call("u1").free_s == 0
    assert store.sql_one("SELECT COUNT(*) FROM plan_call")[0] == 0


def test_concurrent_calls_share_the_allowance_first_come_first_served(planned):
    first = calls.authorize("1001", "912345", T0, "u1")
    second = calls.authorize("1001", "912346", T0, "u2")
    # the first holds all 300 free seconds and money for its 10 paid minutes
    assert first.reserved == amount("1") and second.result == calls.DENIED
    assert second.reason == calls.NO_FUNDS
    accounts.recharge(["1001"], amount("1"), "t")
    third = calls.authorize("1001", "912347", T0, "u3")
    assert third.limit_ms == (600 - 1) * 1000  # money only
    calls.settle("u1", 100)
    calls.settle("u3", 100)
    assert call("u1").free_s == 100 and call("u3").free_s == 0
    assert usage_row("extension", ext().id) == (100, 0)  # 200 left for the next call
    assert accounts.verify() == []


def test_stale_release_gives_the_free_seconds_back(planned):
    calls.authorize("1001", "912345", T0 - 20_000, "old",
                    running=boottime.Running("an-earlier-boot", 5.0))
    assert usage_row("extension", ext().id) == (0, 300)
    assert calls.release_stale(T0) == 1
    assert usage_row("extension", ext().id) == (0, 0)
    assert accounts.verify() == []
    calls.authorize("1001", "912345", T0, "new")  # gets the 300 seconds
    assert usage_row("extension", ext().id) == (0, 300)
    # the released call, settled late from the CDR, gets what is left then: nothing
    assert calls.settle("old", 60, source="cdr").cost == amount("0.10")
    assert calls.settle("new", 60).cost == 0
    assert accounts.verify() == []


def test_a_release_when_the_answer_never_reached_the_pbx_gives_the_seconds_back(planned):
    calls.authorize("1001", "912345", T0, "lost")
    assert usage_row("extension", ext().id) == (0, 300)
    assert calls.release("lost")
    assert usage_row("extension", ext().id) == (0, 0)
    assert accounts.verify() == []


def test_a_call_authorize_never_saw_uses_what_is_left_at_settle(planned):
    calls.settle("cdr1", 250, number="1001", dialed="912345", started=T0, source="cdr")
    calls.settle("cdr2", 120, number="1001", dialed="912345", started=T0 + 300, source="cdr")
    assert (call("cdr1").free_s, call("cdr1").cost) == (250, 0)
    assert (call("cdr2").free_s, call("cdr2").cost) == (50, amount("0.20"))
    assert usage_row("extension", ext().id) == (300, 0)
    assert accounts.verify() == []


def test_settle_many_draws_late_calls_in_order(planned):
    results = calls.settle_many([
        calls.SettleRequest("a", 200, number="1001", dialed="912345", started=T0, source="cdr"),
        calls.SettleRequest("b", 200, number="1001", dialed="912345", started=T0, source="cdr"),
        calls.SettleRequest("a", 200, number="1001", dialed="912345", started=T0, source="cdr"),
    ], T0 + 500)
    assert [r.cost for r in results] == [0, amount("0.20"), 0]
    assert (call("a").free_s, call("b").free_s) == (200, 100)
    assert accounts.verify() == []


def test_a_department_pool_is_shared_and_an_own_plan_wins(planned):
    make_extension("1002", balance="1")
    make_extension("1003", balance="1")
    shared = plans.create("Shared", plans.parse_allowance({"national": "2"}))
    dep = department("Sales", "1001", "1002", "1003")
    plans.assign(shared, department_ids=[dep])
    calls.authorize("1002", "912345", T0, "x")
    calls.settle("x", 100)
    calls.authorize("1003", "912345", T0, "y")
    calls.settle("y", 100)  # 20 seconds were left in the department's pool
    assert call("y").free_s == 20
    calls.authorize("1001", "912345", T0, "z")  # its own plan: its own pool
    calls.settle("z", 100)
    assert call("z").free_s == 100
    assert usage_row("department", dep) == (120, 0)
    assert usage_row("extension", ext("1001").id) == (100, 0)
    assert accounts.verify() == []


def test_the_month_is_the_boxs_local_month(planned):
    """In Asia/Shanghai (UTC+8), 2026-11-30 17:00 UTC is already December 1st: a
    call draws on December's allowance; a call started at 15:59 UTC (23:59 local, still
    November) runs into December and counts, whole, in November."""
    settings.put("timezone", "Asia/Shanghai")
    nov_end = 1796054340  # 2026-11-30 15:59:00 UTC = 23:59 local
    calls.authorize("1001", "912345", nov_end, "late-nov")
    calls.settle("late-nov", 300)  # ends 00:04 local on December 1st
    calls.authorize("1001", "912345", nov_end + 3660, "dec")
    calls.settle("dec", 120)
    pool = ext().id
    assert usage_row("extension", pool, "2026-11") == (300, 0)
    assert usage_row("extension", pool, "2026-12") == (120, 0)
    assert call("dec").cost == 0
    assert accounts.verify() == []


def test_verify_finds_a_pool_that_does_not_add_up(planned):
    calls.authorize("1001", "912345", T0, "u1")
    calls.settle("u1", 100)
    store.sql("UPDATE plan_usage SET used_s = 99")
    assert [str(p) for p in accounts.verify()] == [
        "plan pool extension 1 2026-11 national: used seconds is 99, its calls say 100"]


def test_twenty_threads_never_overspend_money_or_allowance(planned):
    accounts.edit(["1001"], credit=amount("1"))
    settings.put("max_call_seconds", "900")
    errors = []

    def caller(seed):
        rnd = random.Random(seed)
        try:
            for i in range(6):
                uid = f"t{seed}-{i}"
                auth = calls.authorize("1001", "912345", T0, uid)
                if auth.result == calls.ALLOWED:
                    calls.settle(uid, rnd.randint(0, auth.limit_ms // 1000 + 1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    e = ext()
    assert e.balance >= -e.credit and e.reserved == 0
    assert sum(c.free_s for c in Call.select()) <= 300
    assert accounts.verify() == []
    _check_oracle()


# --- property: random decks, plans and calls, against an oracle --------------------


def _check_oracle():
    """Every charged call cost what the rule says: its snapshot's rate applied to the
    seconds its plan did not pay for."""
    for c in Call.select().where(Call.status == "charged"):
        rate = calls._from_snapshot(c.rate_snapshot)
        assert 0 <= c.free_s <= c.answered_s
        assert c.cost == rating.cost(rate, c.answered_s - c.free_s), c.uniqueid


_TYPES = ("local", "national", "mobile")
_deck = st.lists(st.tuples(st.sampled_from(["9", "90", "8", "81"]), st.sampled_from(_TYPES),
                           st.integers(0, 300), st.integers(0, 200), st.sampled_from([1, 6, 60])),
                 min_size=1, max_size=5)
_plan = st.dictionaries(st.sampled_from(_TYPES), st.integers(0, 10), max_size=3)  # minutes
_calls = st.lists(st.tuples(st.sampled_from(["1001", "1002", "1003"]),
                            st.sampled_from(["9123", "9012", "8555", "8123"]),
                            st.integers(0, 1500), st.booleans()), min_size=1, max_size=12)


def _world(deck, own, shared):
    settings.put("max_call_seconds", "1200")
    for number, balance in (("1001", "3"), ("1002", "0.5"), ("1003", "0")):
        make_extension(number, balance=balance, credit="0.2")
    for prefix, call_type, initial, per_unit, unit in deck:
        make_rate(prefix, "0", rate=str(per_unit / 10000), unit=str(unit),
                  initial_cost=str(initial / 10000), remarks=call_type)
    with store.money_txn():
        for call_type in _TYPES:
            store.Rate.update(call_type=call_type).where(store.Rate.remarks == call_type).execute()
        rates._bump_version()
    minutes = lambda p: {t: str(m) for t, m in p.items()}  # noqa: E731
    plans.assign(plans.create("own", plans.parse_allowance(minutes(own))), ["1001"])
    dep = department("dep", "1001", "1002", "1003")
    plans.assign(plans.create("shared", plans.parse_allowance(minutes(shared))), department_ids=[dep])


@given(_deck, _plan, _plan, _calls)
@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_calls_one_after_another_match_the_oracle(deck, own, shared, sequence):
    """Calls one after another: the free seconds of each are exactly what its pool had
    left, its cost the rate on the rest; money and allowance never overspent."""
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(f"{folder}/b.db")
        _world(deck, own, shared)
        left = {("own", t): m * 60 for t, m in own.items()}
        left.update({("shared", t): m * 60 for t, m in shared.items()})
        for i, (number, dialed, seconds, cdr) in enumerate(sequence):
            uid = f"c{i}"
            before = ext(number).balance
            if cdr:  # a call authorize never saw
                calls.settle(uid, seconds, number=number, dialed=dialed, started=T0, source="cdr")
            else:
                auth = calls.authorize(number, dialed, T0, uid)
                if auth.result != calls.ALLOWED:
                    continue
                seconds = min(seconds, auth.limit_ms // 1000 + 1)  # the PBX cuts the call
                calls.settle(uid, seconds)
            c = Call.get_or_none(Call.uniqueid == uid)
            if c is None or c.status != "charged":
                continue
            rate = calls._from_snapshot(c.rate_snapshot)
            key = ("own" if number == "1001" else "shared", rate.call_type)
            free = min(seconds, left.get(key, 0))
            assert c.free_s == free, uid
            left[key] = left.get(key, 0) - free
            assert c.cost == rating.cost(rate, seconds - free)
            assert ext(number).balance == before - c.cost
            if not cdr:  # never more than the money there was (a CDR call may overspend)
                assert c.cost <= max(0, before + ext(number).credit)
        assert all(v >= 0 for v in left.values())
        _check_oracle()
        assert accounts.verify() == []
        store.close_db()


@given(_deck, _plan, _plan, st.integers(0, 2**32))
@hyp_settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_concurrent_calls_never_overspend(deck, own, shared, seed):
    """Threads of the three extensions call at once (group commit batches them):
    no balance below -credit, no pool past its allowance, verify holds."""
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(f"{folder}/b.db")
        _world(deck, own, shared)
        errors = []

        def caller(n):
            rnd = random.Random(seed + n)
            number = ("1001", "1002", "1003")[n % 3]
            try:
                for i in range(5):
                    uid = f"t{n}-{i}"
                    auth = calls.authorize(number, rnd.choice(["9123", "9012", "8555"]), T0, uid)
                    if auth.result == calls.ALLOWED:
                        calls.settle(uid, rnd.randint(0, auth.limit_ms // 1000 + 1))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=caller, args=(n,)) for n in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        for e in Extension.select():
            assert e.balance >= -e.credit and e.reserved == 0
        allowed = {("extension", t): m * 60 for t, m in own.items()}
        allowed.update({("department", t): m * 60 for t, m in shared.items()})
        for kind, call_type, used, reserved in store.sql(
                "SELECT pool_kind, call_type, used_s, reserved_s FROM plan_usage"):
            assert used <= allowed.get((kind, call_type), 0) and reserved == 0
        _check_oracle()
        assert accounts.verify() == []
        store.close_db()


def test_a_call_holds_no_more_free_seconds_than_its_limit_needs(planned):
    plans.update(planned, "Basic", plans.parse_allowance({"national": "200"}))
    settings.put("max_call_seconds", "600")
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert auth.limit_ms == 600_000 and auth.reserved == 0
    assert usage_row("extension", ext().id) == (0, 601)  # the rest stays for other calls
    assert calls.authorize("1001", "912345", T0, "u2").reserved == 0
    assert usage_row("extension", ext().id) == (0, 1202)


# --- settle_many: the same free seconds as settle, call after call -------------------

_HELD = ["held.1", "held.2", "held.3", "stale.1", "paid.1"]
_LATE = ["late.1", "late.2"]


def _plan_history():
    """Calls of one pool in every state: holding free seconds, released as stale, and
    one that held none (the allowance was gone)."""
    settings.put("max_call_seconds", "100")  # each call holds at most 101 free seconds
    make_extension("1001", balance="5")
    make_extension("1002", balance="5")
    make_rate("9", "0", rate="0.10", unit="60")
    set_type("national")
    plans.assign(plans.create("Shared", plans.parse_allowance({"national": "6"})),
                 department_ids=[department("Sales", "1001", "1002")])
    calls.authorize("1001", "91", T0 - 10_000, "stale.1",
                    running=boottime.Running("an-earlier-boot", 5.0))
    calls.release_stale(T0)
    calls.authorize("1001", "92", T0, "held.1")
    calls.authorize("1002", "93", T0, "held.2")
    calls.authorize("1001", "94", T0, "held.3")
    calls.authorize("1002", "95", T0, "paid.1")  # 360 s: 3 x 101 held, 57 left
    calls.authorize("1002", "96", T0, "paid.2")
    calls.authorize("1002", "97", T0, "paid.3")


def _plan_state():
    rows = lambda q: [tuple(r) for r in store.sql(q).fetchall()]  # noqa: E731
    return {"calls": rows("SELECT uniqueid, status, answered_s, cost, free_s FROM call "
                          "ORDER BY uniqueid"),
            "usage": rows("SELECT * FROM plan_usage ORDER BY 1, 2, 3, 4"),
            "extensions": rows("SELECT number, balance, reserved FROM extension ORDER BY number")}


_plan_request = st.builds(
    calls.SettleRequest,
    uniqueid=st.sampled_from(_HELD + _LATE),
    answered_s=st.sampled_from([0, 30, 101, 200]),
    number=st.sampled_from([None, "1001", "1002"]),
    dialed=st.just("912"),
    started=st.just(T0 + 5),
    source=st.just("cdr"),
    # no NUL (PostgreSQL's text has none), no lone surrogate (SQLite's UTF-8 has none)
    dial_status=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
)


@given(st.lists(_plan_request, max_size=8))
@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_settle_many_draws_free_seconds_as_one_after_the_other(requests):
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(f"{folder}/one.db")
        _plan_history()
        one_by_one = [calls.settle(q.uniqueid, q.answered_s, q.dial_status, T0 + 100,
                                   number=q.number, dialed=q.dialed, started=q.started,
                                   source=q.source) for q in requests]
        expected = _plan_state()
        assert accounts.verify() == []
        store.init_db(f"{folder}/many.db")
        _plan_history()
        assert calls.settle_many(requests, T0 + 100) == one_by_one
        assert _plan_state() == expected
        assert accounts.verify() == []
        _check_oracle()
        store.close_db()
