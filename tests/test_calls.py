"""The call money flow: authorize/reserve, settle exactly once, stale reservations."""

import random
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import accounts, boottime, calls, rates, rating, settings, store
from billing_addon.store import Call, Extension, Ledger

from .helpers import amount, make_extension, make_rate

T0 = 1795441378  # 2026-11-23 13:42:58 UTC


def ext(number="1001"):
    return Extension.get(Extension.number == number)


@pytest.fixture
def priced(db_path):
    """1001 with $1.00, a $0.10 per minute rate for 9 + anything."""
    make_extension("1001", balance="1")
    make_rate("9", "0", rate="0.10", unit="60")
    return db_path


def test_unbilled_calls_are_recorded_and_never_billed_later(priced):
    """A call not billed when it started stays unbilled, even if billing is switched on
    before it ends (review finding: the hangup handler used to bill it without limit)."""
    make_extension("1002", billing=False, balance="1")
    assert calls.authorize("1002", "912345", T0, "u1").result == calls.UNBILLED
    assert calls.authorize("1001", "912345", T0, "u2", billing_state="deactivated").result \
        == calls.UNBILLED
    accounts.edit(["1002"], billing_enabled=True)
    for uid, number in (("u1", "1002"), ("u2", "1001")):
        done = calls.settle(uid, 3600, number=number, dialed="912345", started=T0)
        assert done.outcome == "duplicate" and done.cost == 0
    assert {c.status for c in Call.select()} == {"unbilled"}
    assert ext("1001").balance == amount("1") and ext("1002").balance == amount("1")
    assert not accounts.verify()


def test_reauthorize_for_another_extension_is_refused(priced):
    make_extension("1002", balance="0")
    assert calls.authorize("1001", "912345", T0, "u1").result == calls.ALLOWED
    again = calls.authorize("1002", "912345", T0, "u1")
    assert (again.result, again.reason) == (calls.DENIED, calls.ERROR)
    assert calls.authorize("1001", "99999", T0, "u1").reason == calls.ERROR


def test_one_second_of_money_is_not_enough(priced):
    """The limit keeps one second for Asterisk's rounding; money for only one second
    cannot cover that, so the call is denied (review finding)."""
    rates.add(rates.validate({"prefix": "8", "rate": "1", "unit": "1", "all_extensions": True}))
    accounts.adjust("1001", amount("-1"), "reset", "t")
    accounts.recharge(["1001"], amount("1"), "t")
    assert calls.authorize("1001", "8123", T0, "u1").reason == calls.NO_FUNDS
    accounts.recharge(["1001"], amount("1"), "t")
    auth = calls.authorize("1001", "8123", T0, "u2")
    assert auth.limit_ms == 1000
    calls.settle("u2", 2)  # the limit rounded up by one second is still covered
    assert ext().balance == 0


def test_credit_cannot_drop_below_what_running_calls_reserved(priced):
    accounts.adjust("1001", amount("-1"), "empty", "t")
    accounts.edit(["1001"], credit=amount("5"))
    auth = calls.authorize("1001", "912345", T0, "u1")
    with pytest.raises(accounts.AccountError, match="calls in progress"):
        accounts.edit(["1001"], credit=0)
    assert ext().credit == amount("5")
    calls.settle("u1", auth.limit_ms // 1000 + 1)
    assert ext().balance >= -ext().credit
    accounts.edit(["1001"], credit=amount("4"))  # allowed once nothing is reserved


def test_unknown_extension_appears_with_billing_off(priced):
    assert calls.authorize("3005", "912345", T0).result == calls.UNBILLED
    assert ext("3005").billing_enabled is False and ext("3005").source == "dialed"


def test_allowed_with_limit_and_reservation(priced):
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert auth.result == calls.ALLOWED
    # $1.00 at $0.10 per started minute: 10 minutes; one second kept for rounding
    assert auth.limit_ms == (600 - 1) * 1000
    assert ext().reserved == amount("1") == auth.reserved
    done = calls.settle("u1", 61, "ANSWER", T0 + 70)
    assert (done.outcome, done.cost) == ("charged", amount("0.2"))
    assert ext().balance == amount("0.8") and ext().reserved == 0
    assert not accounts.verify()


def test_limit_capped_by_max_call_seconds(priced):
    accounts.recharge(["1001"], amount("1000"), "t")
    settings.put("max_call_seconds", "3600")
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert auth.limit_ms == 3600 * 1000
    assert auth.reserved == rating.cost(calls._from_snapshot(Call.get().rate_snapshot), 3601)


@pytest.mark.parametrize("setup, reason", [
    (lambda: accounts.edit(["1001"], status="locked"), calls.LOCKED),
    (lambda: accounts.adjust("1001", amount("-1"), "empty it", "t"), calls.NO_FUNDS),
])
def test_denials(priced, setup, reason):
    setup()
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert (auth.result, auth.reason) == (calls.DENIED, reason)
    assert Call.get().status == "denied" and ext().reserved == 0
    assert calls.settle("u1", 0).outcome == "duplicate"  # the hangup handler still runs
    assert ext().balance == (0 if reason == calls.NO_FUNDS else amount("1"))


def test_credit_allows_calls_below_zero(priced):
    accounts.adjust("1001", amount("-1"), "empty it", "t")
    accounts.edit(["1001"], payment_type="postpaid", credit=amount("0.30"))
    auth = calls.authorize("1001", "912345", T0, "u1")
    assert auth.result == calls.ALLOWED and auth.limit_ms == 179000
    calls.settle("u1", 179)
    assert ext().balance == -amount("0.30")
    assert calls.authorize("1001", "912345", T0 + 500, "u2").reason == calls.NO_FUNDS


def test_unrated_policy(priced):
    auth = calls.authorize("1001", "812345", T0, "u1")
    assert (auth.result, auth.reason) == (calls.UNBILLED, calls.NO_RATE)
    assert calls.settle("u1", 30).cost == 0
    assert Call.get().status == "unrated" and Call.get().answered_s == 30
    settings.put("unrated_policy", "deny")
    assert calls.authorize("1001", "812345", T0, "u2").result == calls.DENIED


def test_expired_trial_policy(priced):
    assert calls.authorize("1001", "912345", T0, "u1", billing_state="expired").reason == calls.INACTIVE
    settings.put("expired_policy", "allow")
    assert calls.authorize("1001", "912345", T0, "u2", billing_state="expired").result == calls.ALLOWED


def test_second_concurrent_call_only_sees_what_is_left(priced):
    settings.put("max_call_seconds", "300")  # each call reserves at most 5 min + 1 s: $0.60
    first = calls.authorize("1001", "912345", T0, "u1")
    second = calls.authorize("1001", "912345", T0, "u2")
    assert first.reserved == amount("0.60")
    assert second.reserved == amount("0.40") and second.limit_ms == 239000
    assert calls.authorize("1001", "912345", T0, "u3").reason == calls.NO_FUNDS
    calls.settle("u1", 10)
    assert calls.authorize("1001", "912345", T0, "u4").result == calls.ALLOWED


def test_settle_is_exactly_once(priced):
    calls.authorize("1001", "912345", T0, "u1")
    first = calls.settle("u1", 120)
    for seconds in (120, 5, 600):  # replays, even with other durations, change nothing
        again = calls.settle("u1", seconds)
        assert (again.outcome, again.cost) == ("duplicate", first.cost)
    assert Ledger.select().where(Ledger.kind == "call").count() == 1


def test_a_call_the_pbx_did_not_cut_is_charged_in_full_and_marked(priced):
    """$1.00 covers 10 minutes; the call went on for 15 (a route around the billing
    dialplan): the 15 minutes are owed and charged, the call is marked over-limit."""
    auth = calls.authorize("1001", "912345", T0, "long.1")
    assert auth.limit_ms == 599_000 and auth.reserved == amount("1")
    done = calls.settle("long.1", 900)
    assert done.cost == amount("1.50")
    call = Call.get(Call.uniqueid == "long.1")
    assert (call.status, call.reason, call.reserved) == ("charged", calls.OVER_LIMIT, 0)
    assert ext().balance == amount("-0.50") and ext().reserved == 0
    assert accounts.verify() == []
    calls.authorize("1001", "912345", T0, "short.1")  # nothing left: denied
    make_extension("1002", balance="1")
    calls.authorize("1002", "912345", T0, "ok.1")
    calls.settle("ok.1", 599)  # cut at the limit: not marked
    assert Call.get(Call.uniqueid == "ok.1").reason == ""


def test_a_call_authorize_never_saw_is_marked_not_authorized_not_over_limit(priced):
    """Fail-open (the add-on was down): the call had no reservation to outrun, so it is
    not over-limit; its own reason says it was billed without an authorization."""
    done = calls.settle("open.1", 900, "ANSWER", number="1001", dialed="912345", started=T0)
    assert done.cost == amount("1.50")
    call = Call.get(Call.uniqueid == "open.1")
    assert (call.status, call.reason) == ("charged", calls.NOT_AUTHORIZED)
    assert accounts.verify() == []
    # an authorized call in the same batch that outran its reservation is still over-limit
    accounts.recharge(["1001"], amount("2"), "test")
    assert calls.authorize("1001", "912345", T0, "long.2").result == calls.ALLOWED
    results = calls.settle_many([calls.SettleRequest("long.2", 2000),
                                 calls.SettleRequest("open.2", 5, "ANSWER", "1001", "912345", T0)])
    assert [r.status for r in results] == ["charged", "charged"]
    reasons = {c.uniqueid: c.reason for c in Call.select()}
    assert (reasons["long.2"], reasons["open.2"]) == (calls.OVER_LIMIT, calls.NOT_AUTHORIZED)


def test_reauthorize_same_uniqueid_is_idempotent(priced):
    a = calls.authorize("1001", "912345", T0, "u1")
    b = calls.authorize("1001", "912345", T0, "u1")
    assert a.limit_ms == b.limit_ms and ext().reserved == a.reserved


def test_stale_reservation_released_then_late_settle_still_charges(priced):
    boot = boottime.Running("boot-1", 1000.0)
    auth = calls.authorize("1001", "912345", T0, "u1", running=boot)
    expiry = Call.get().expires_uptime
    assert expiry >= boot.seconds + auth.limit_ms // 1000
    assert calls.release_stale(T0, boot._replace(seconds=expiry - 1)) == 0
    assert calls.release_stale(T0, boot._replace(seconds=expiry + 1)) == 1
    assert ext().reserved == 0 and Call.get().status == "expired"
    assert calls.settle("u1", 60).cost == amount("0.1")
    assert not accounts.verify()


def test_late_call_from_cdr_is_rated(priced):
    done = calls.settle("cdr-1", 61, "ANSWER", number="1001", dialed="912345", started=T0, source="cdr")
    assert done.cost == amount("0.2")
    assert calls.settle("cdr-1", 61, number="1001", dialed="912345", started=T0).outcome == "duplicate"
    assert calls.settle("nobody", 5).outcome == "unknown"


@pytest.mark.parametrize("call, message", [
    (lambda: calls.authorize("1001", "9abc", T0), "digits"),
    (lambda: calls.authorize("1001", "9" * 100, T0), "digits"),
    (lambda: calls.settle("", 5), "uniqueid"),
    (lambda: calls.settle("u", -1), "answered"),
    (lambda: calls.settle("u", 10**9), "answered"),
    (lambda: calls.authorize("", "912", T0), "extension"),
])
def test_bad_input(priced, call, message):
    with pytest.raises((calls.CallError, accounts.AccountError), match=message):
        call()
    assert Call.select().count() == 0 and ext().balance == amount("1")


def test_twenty_concurrent_call_sequences_never_overspend(priced):
    """20 threads authorize and settle calls of one extension with random durations."""
    accounts.edit(["1001"], credit=amount("2"))
    settings.put("max_call_seconds", "600")
    errors = []

    def caller(seed):
        rnd = random.Random(seed)
        try:
            for i in range(8):
                uid = f"t{seed}-{i}"
                auth = calls.authorize("1001", "912345", T0, uid)
                if auth.result == calls.ALLOWED:
                    limit_s = auth.limit_ms // 1000
                    calls.settle(uid, rnd.randint(0, limit_s))
                e = ext()
                assert e.balance + e.credit >= 0
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
    assert not accounts.verify()
    charged = sum(c.cost for c in Call.select())
    assert e.balance == amount("1") - charged


# --- settle_many: the same outcome as settle, call after call -------------------------

_EXISTING = ["auth.1", "auth.2", "auth.3", "stale.1", "unrated.1", "denied.1", "done.1",
             "unbilled.1"]
_NEW = ["late.1", "late.2", "late.3"]


def _history():
    """Calls in every state settle can meet, at fixed times (the clock is stopped)."""
    from unittest import mock

    with mock.patch.object(accounts, "now_utc", lambda: T0 - 50_000), \
            mock.patch.object(rates, "now_utc", lambda: T0 - 50_000):
        _make_history()


def _make_history():
    settings.put("max_call_seconds", "120")  # so that 1001's money covers several calls
    make_extension("1001", balance="5", credit="1")
    make_extension("1002", balance="0.05")
    make_extension("2001", billing=False)
    make_rate("9", "0", rate="0.10", unit="60")
    calls.authorize("1001", "91234567", T0, "auth.1")
    calls.authorize("1001", "95550000", T0, "auth.2")
    calls.authorize("1002", "91112222", T0, "auth.3")
    calls.authorize("1001", "93330000", T0 - 10_000, "stale.1",
                    running=boottime.Running("an-earlier-boot", 5.0))
    calls.release_stale(T0)
    calls.authorize("1002", "77777", T0, "unrated.1")        # no rate: unrated
    calls.authorize("1002", "91234567", T0, "denied.1")      # 1002's money is reserved
    calls.authorize("1001", "96660000", T0, "done.1")
    calls.settle("done.1", 30, "ANSWER", T0 + 40)
    calls.authorize("2001", "91234567", T0, "unbilled.1")


def _state():
    rows = lambda q: [tuple(r) for r in store.sql(q).fetchall()]  # noqa: E731
    return {
        "calls": rows("SELECT uniqueid, extension_id, dialed, started_utc, local_day, status, "
                      "reason, rate_id, rate_snapshot, reserved, limit_ms, answered_s, "
                      "dial_status, cost, source, expires_utc, settled_utc FROM call "
                      "ORDER BY uniqueid"),
        "ledger": rows("SELECT l.id, l.extension_id, l.kind, l.amount, l.balance_after, "
                       "c.uniqueid, l.created_utc FROM ledger l LEFT JOIN call c "
                       "ON c.id = l.call_id ORDER BY l.id"),
        "extensions": rows("SELECT number, balance, reserved, updated_utc FROM extension "
                           "ORDER BY number"),
        "daily": rows("SELECT * FROM call_daily ORDER BY local_day, extension_id, call_type"),
    }


def _outcome(result):
    if isinstance(result, Exception):
        return type(result).__name__, str(result)
    return result


_request = st.builds(
    calls.SettleRequest,
    uniqueid=st.sampled_from(_EXISTING + _NEW + ["", " auth.1 "]),
    answered_s=st.sampled_from([0, 1, 29, 61, 600, -1]),
    dial_status=st.sampled_from(["ANSWER", "NOANSWER", "BUSY"]),
    number=st.sampled_from([None, "1001", "1002", "2001", "bad number!"]),
    dialed=st.sampled_from([None, "91234567", "77777", "9x"]),
    started=st.sampled_from([None, T0 + 5]),
    source=st.just("cdr"),
)


@given(st.lists(_request, max_size=12))
@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_settle_many_equals_settle_one_by_one(requests):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        store.init_db(f"{folder}/one.db")
        _history()
        one_by_one = []
        for q in requests:
            try:
                one_by_one.append(calls.settle(q.uniqueid, q.answered_s, q.dial_status, T0 + 100,
                                               number=q.number, dialed=q.dialed,
                                               started=q.started, source=q.source))
            except (calls.CallError, accounts.AccountError) as exc:
                one_by_one.append(exc)
        expected = _state()
        store.init_db(f"{folder}/many.db")
        _history()
        together = calls.settle_many(requests, T0 + 100)
        assert [_outcome(r) for r in together] == [_outcome(r) for r in one_by_one]
        assert _state() == expected
        assert accounts.verify() == []
        store.close_db()


def test_a_call_keeps_the_type_of_the_rate_it_was_rated_by(priced):
    """Call types (issue #15): authorize and the CDR path record the rate's type on the
    call and in its snapshot; a call nobody could rate has none."""
    with store.money_txn():
        store.Rate.update(call_type="international").execute()
        rates._bump_version()
    assert calls.authorize("1001", "912345", T0, "u1").result == calls.ALLOWED
    calls.settle("u1", 30, number="1001", dialed="912345", started=T0)
    calls.settle("u2", 30, number="1001", dialed="912345", started=T0, source="cdr")
    assert calls.authorize("1001", "55555", T0, "u3").reason == calls.NO_RATE
    by_uid = {c.uniqueid: c for c in Call.select()}
    assert by_uid["u1"].call_type == by_uid["u2"].call_type == "international"
    assert calls._from_snapshot(by_uid["u1"].rate_snapshot).call_type == "international"
    assert by_uid["u3"].call_type == ""
