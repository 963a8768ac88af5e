"""Re-rating (billing_addon/rerate.py): the preview saves the calls whose cost changes
under today's rates, applying moves exactly that money once, whatever happens."""

import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing_addon import accounts, calls, money, plans, rates, rating, rerate, store
from billing_addon.cli import main as cli_main
from billing_addon.store import Call, Ledger, sql, sql_one

from .helpers import make_extension, make_rate, store_intact

ROOT = Path(__file__).resolve().parents[1]
T0 = 1714564800  # 2024-05-01 12:00 UTC (the box's zone is UTC)
DAY = "2024-05-01"
NOW = T0 + 30 * 86400  # "today" for the checks of the period


def call(number, dialed, seconds, at, uid):
    auth = calls.authorize(number, dialed, at, uid)
    assert auth.result == calls.ALLOWED, auth
    return calls.settle(uid, seconds).cost


def set_rate(rate_id, **changes):
    row = rates.get(rate_id)
    form = {"prefix": row.prefix, "length": str(row.length), "rate": "0.10", "unit": "60",
            "all_extensions": True, "remarks": row.remarks}
    form.update(changes)
    return rates.update(rate_id, rates.validate(form))


def balance(number):
    return accounts.get_extension(number).balance


def runs_saved():
    return sql_one("SELECT count(*) FROM rerate_run")[0]


def daily_matches_calls():
    """call_daily (per day, extension and call type) and call_day_total still equal the
    settled calls' counts and costs (rows re-rating emptied left out)."""
    daily = {(d, e, t): (n, c) for d, e, t, n, c in sql(
        "SELECT local_day, extension_id, call_type, calls, cost FROM call_daily "
        "WHERE calls != 0 OR cost != 0").fetchall()}
    from_calls = {(d, e, t): (n, c) for d, e, t, n, c in sql(
        "SELECT local_day, extension_id, call_type, count(*), sum(cost) FROM call "
        "WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL "
        "GROUP BY local_day, extension_id, call_type").fetchall()}
    totals = {(d, t): c for d, t, c in sql(
        "SELECT local_day, call_type, cost FROM call_day_total WHERE calls != 0 OR cost != 0")}
    per_type: dict = {}
    for (day, _ext, call_type), (_n, cost) in daily.items():
        per_type[(day, call_type)] = per_type.get((day, call_type), 0) + cost
    return daily == from_calls and totals == per_type


@pytest.fixture
def deck(db_path):
    """1001 and 1002 with money; local calls (prefix 8) and long distance (prefix 9)."""
    make_extension("1001", balance="100")
    make_extension("1002", balance="100")
    local = make_rate("8", rate="0.05", unit="60", remarks="local")
    far = make_rate("9", rate="0.10", unit="60", remarks="far")
    return local, far


def test_preview_lists_the_changed_calls_and_apply_adjusts_each_once(deck):
    local, far = deck
    costs = [
        call("1001", "912345", 61, T0, "a"),        # far, 2 units: 0.20 -> 0.60
        call("1001", "812345", 30, T0 + 60, "b"),   # local: unchanged
        call("1002", "9555", 120, T0 + 120, "c"),   # far, 2 units: 0.20 -> 0.60
        call("1002", "9555", 1, T0 + 86400, "d"),   # the next day: outside the period
    ]
    assert costs == [2000, 500, 2000, 1000]
    set_rate(far.id, rate="0.30", remarks="far fixed")
    before = {n: balance(n) for n in ("1001", "1002")}
    ledger_before = Ledger.select().count()

    run = rerate.preview(DAY, DAY, operator="alice", at=NOW)
    assert (run.state, run.changed, run.uncovered) == ("preview", 2, 0)
    assert (run.old_total, run.new_total, run.difference) == (4000, 12000, 8000)
    shown = rerate.items(run.id)
    assert [(i.uniqueid, i.old_cost, i.new_cost, i.state) for i in shown] == [
        ("a", 2000, 6000, "pending"), ("c", 2000, 6000, "pending")]
    # the preview charged nothing
    assert {n: balance(n) for n in before} == before
    assert Ledger.select().count() == ledger_before

    done = rerate.apply(run.id, "alice")
    assert (done.applied, done.skipped, done.amount) == (2, 0, -8000)
    # the run still shows which rate each call had and has
    assert [(i.old_rate, i.new_rate, i.state) for i in rerate.items(run.id)] == [
        ("far", "far fixed", "applied")] * 2
    assert done.run.state == "applied" and done.run.applied == 2
    assert balance("1001") == before["1001"] - 4000
    assert balance("1002") == before["1002"] - 4000
    entries = list(Ledger.select().where(Ledger.kind == "adjustment").order_by(Ledger.id))
    assert [(e.amount, e.reason, e.operator) for e in entries] == [
        (-4000, f"re-rating #{run.id}: call a", "alice"),
        (-4000, f"re-rating #{run.id}: call c", "alice")]
    a = Call.get(Call.uniqueid == "a")
    assert (a.cost, a.rate_id) == (6000, far.id)
    assert rating.cost(calls._from_snapshot(a.rate_snapshot), 61) == 6000
    assert Call.get(Call.uniqueid == "b").cost == 500
    assert daily_matches_calls()
    assert accounts.verify() == []


def test_an_accounts_call_is_rerated_with_the_phones_rates_as_authorize_rated_it(db_path):
    """A PIN account's call is rated by the phone it was made from (calls.authorize): a
    re-rating must rate it the same way, not by the account's own number."""
    from billing_addon import pin_accounts

    make_extension("101")
    make_rate("9", rate="0.10", unit="60", remarks="general")
    corridor = make_rate("9", rate="0.01", unit="60", remarks="corridor phone",
                         all_extensions=False, extensions="101")
    accounts.edit(["101"], account_billing=True)
    pin_accounts.create("5001", "482913", name="Ann")
    accounts.recharge(["5001"], money.parse_amount("10"), "test")
    auth = calls.authorize("101", "912345", T0, "acc-1", account="5001", pin="482913")
    assert auth.result == calls.ALLOWED, auth
    assert calls.settle("acc-1", 60).cost == 100  # 0.01 a minute: the phone's rate
    run = rerate.preview(DAY, DAY, at=NOW)  # no rate changed: nothing to re-rate
    assert (run.changed, run.uncovered) == (0, 0), (run.old_total, run.new_total)
    # the phone's rate changed: the account's call follows it
    set_rate(corridor.id, rate="0.02", all_extensions=False, extensions="101",
             remarks="corridor phone")
    run = rerate.preview(DAY, DAY, at=NOW)
    assert [(i.uniqueid, i.old_cost, i.new_cost) for i in rerate.items(run.id)] == [
        ("acc-1", 100, 200)]
    before = balance("5001")
    assert rerate.apply(run.id, "test").amount == -100
    assert balance("5001") == before - 100 and balance("101") == 0
    assert accounts.verify() == []


def test_applying_twice_changes_nothing_more(deck):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")
    set_rate(far.id, rate="0.01")
    run = rerate.preview(DAY, DAY, at=NOW)
    rerate.apply(run.id)
    after = (balance("1001"), Ledger.select().count(), Call.get(Call.uniqueid == "a").cost)
    again = rerate.apply(run.id)
    assert (again.applied, again.skipped, again.transactions) == (0, 0, 0)
    assert (balance("1001"), Ledger.select().count(), Call.get(Call.uniqueid == "a").cost) == after
    # previewing the period again finds nothing left to change
    assert rerate.preview(DAY, DAY, at=NOW).changed == 0


def test_a_call_changed_since_the_preview_is_skipped_never_charged_twice(deck):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")
    set_rate(far.id, rate="0.30")
    first = rerate.preview(DAY, DAY, at=NOW)
    second = rerate.preview(DAY, DAY, at=NOW)  # the same change, saved twice
    rerate.apply(first.id)
    charged = balance("1001")
    done = rerate.apply(second.id)
    assert (done.applied, done.skipped, done.run.skipped) == (0, 1, 1)
    assert balance("1001") == charged
    item = rerate.items(second.id)[0]
    assert item.state == "skipped" and "changed since the preview" in item.note
    assert Ledger.select().where(Ledger.kind == "adjustment").count() == 1


def test_a_balance_pushed_past_the_largest_amount_skips_that_call_only(deck):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")  # 0.20
    call("1002", "912345", 61, T0, "b")
    accounts.adjust("1001", -money.MAX_AMOUNT, "test: far below zero", "test")
    set_rate(far.id, rate="100")  # 200.00 each: 1001 would go past -MAX_AMOUNT
    run = rerate.preview(DAY, DAY, at=NOW)
    before = balance("1001")
    done = rerate.apply(run.id)
    assert (done.applied, done.skipped) == (1, 1)
    assert balance("1001") == before
    assert [(i.uniqueid, i.state) for i in rerate.items(run.id)] == [("a", "skipped"), ("b", "applied")]
    assert "largest amount" in rerate.items(run.id)[0].note
    assert accounts.verify() == []


def test_a_calls_free_plan_seconds_stay_free(deck):
    _local, far = deck
    call("1001", "912345", 150, T0, "a")  # 3 units at 0.10
    sql("UPDATE call SET free_s = 100 WHERE uniqueid = 'a'")  # a plan paid 100 s of it
    set_rate(far.id, rate="0.20")
    run = rerate.preview(DAY, DAY, at=NOW)
    # 150 - 100 = 50 s charged: one unit at the new rate
    assert [(i.old_cost, i.new_cost, i.free_s) for i in rerate.items(run.id)] == [(3000, 2000, 100)]
    before = balance("1001")
    rerate.apply(run.id)
    assert balance("1001") == before + 1000
    assert Call.get(Call.uniqueid == "a").free_s == 100


def test_calls_no_rate_covers_now_are_listed_apart_and_not_changed(deck):
    local, far = deck
    call("1001", "912345", 61, T0, "a")
    call("1001", "812345", 61, T0 + 60, "b")
    rates.set_active([far.id], False)
    set_rate(local.id, rate="0.01", remarks="local")
    run = rerate.preview(DAY, DAY, at=NOW)
    assert (run.changed, run.uncovered) == (1, 1)
    assert [i.uniqueid for i in rerate.items(run.id, uncovered=True)] == ["a"]
    assert [i.uniqueid for i in rerate.items(run.id)] == ["b"]
    rerate.apply(run.id)
    assert Call.get(Call.uniqueid == "a").cost == 2000
    assert Call.get(Call.uniqueid == "b").cost == 200


def test_only_the_chosen_extensions_or_department(deck):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")
    call("1002", "912345", 61, T0, "b")
    set_rate(far.id, rate="0.30")
    run = rerate.preview(DAY, DAY, ["1002"], at=NOW)
    assert [i.uniqueid for i in rerate.items(run.id)] == ["b"]
    sql("INSERT INTO department (name, created_utc, updated_utc) VALUES ('Sales', 0, 0)")
    sql("UPDATE extension SET department_id = (SELECT id FROM department) WHERE number = '1001'")
    run = rerate.preview(DAY, DAY, department="sales", at=NOW)
    assert run.department == "Sales"
    assert [i.uniqueid for i in rerate.items(run.id)] == ["a"]


@pytest.mark.parametrize("args, message", [
    # the period ends after today (NOW is 2024-05-31)
    (("2024-05-01", "2024-06-01"), "the period ends in the future"),
    # from after to
    (("2024-05-02", "2024-05-01"), "the period starts (2024-05-02) after it ends (2024-05-01)"),
    # not a date
    (("2024-5-1", "2024-05-01"), "use a date like"),
    (("2024-05-01", ""), "use a date like"),
    # nobody by that number
    (("2024-05-01", "2024-05-01", ["1001", "4711"]), "unknown extension or account: 4711"),
    # a number written with other digits
    (("2024-05-01", "2024-05-01", ["１００１"]), "use the digits 0-9 only"),
    # no such department
    (("2024-05-01", "2024-05-01", (), "Nobody"), "unknown department 'Nobody'"),
    # both filters
    (("2024-05-01", "2024-05-01", ["1001"], "Sales"), "not both"),
])
def test_bad_input_is_refused_with_a_message_and_saves_nothing(deck, args, message):
    with pytest.raises((rerate.RerateError, accounts.AccountError)) as refused:
        rerate.preview(*args, at=NOW)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert runs_saved() == 0


def test_a_period_with_calls_in_progress_is_refused(deck):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")
    assert calls.authorize("1001", "912345", T0 + 600, "open").result == calls.ALLOWED
    set_rate(far.id, rate="0.30")
    with pytest.raises(rerate.RerateError, match="1 call.* of the period are in progress"):
        rerate.preview(DAY, DAY, at=NOW)
    assert runs_saved() == 0
    # another extension's period is not held up by it
    assert rerate.preview(DAY, DAY, ["1002"], at=NOW).changed == 0
    calls.settle("open", 10)
    assert rerate.preview(DAY, DAY, at=NOW).changed == 2


def test_an_unknown_or_unfinished_run_is_refused(deck):
    with pytest.raises(rerate.RerateError, match="no re-rating run 99"):
        rerate.apply(99)
    sql("INSERT INTO rerate_run (from_day, to_day, created_utc) VALUES (?, ?, 0)", (DAY, DAY))
    with pytest.raises(rerate.RerateError, match="not saved completely"):
        rerate.apply(1)


def test_the_command_line_previews_applies_and_refuses(deck, tmp_path, capsys, db_path):
    _local, far = deck
    call("1001", "912345", 61, T0, "a")
    set_rate(far.id, rate="0.30")
    ini = tmp_path / "box.ini"
    ini.write_text(f"[box]\ndatabase = {db_path}\n")
    before = balance("1001")
    assert cli_main(["--config", str(ini), "rerate", "--from", DAY, "--to", DAY]) == 0
    out = capsys.readouterr().out
    assert "calls whose cost changes: 1" in out and "difference $0.40" in out
    assert "rerate apply 1" in out
    store.init_db(db_path)
    assert balance("1001") == before
    assert cli_main(["--config", str(ini), "rerate", "apply", "1"]) == 0
    assert "1 adjusted" in capsys.readouterr().out
    assert cli_main(["--config", str(ini), "rerate", "apply", "1"]) == 0
    assert "nothing more to apply" in capsys.readouterr().out
    store.init_db(db_path)
    assert balance("1001") == before - 4000
    assert cli_main(["--config", str(ini), "rerate", "--from", "2024-05-02", "--to", DAY]) == 1
    assert "error: the period starts" in capsys.readouterr().err
    assert cli_main(["--config", str(ini), "rerate", "show", "1"]) == 0
    assert "applied" in capsys.readouterr().out
    # bad input: one line on stderr, exit 1
    for args, message in ((["apply", "x"], "a re-rating run is a number"),
                          (["apply"], "rerate apply needs a run number"),
                          (["apply", "9"], "there is no re-rating run 9"),
                          ([], "rerate needs --from and --to"),
                          (["--from", DAY, "--to", DAY, "--extension", "4711"],
                           "unknown extension or account: 4711")):
        assert cli_main(["--config", str(ini), "rerate", *args]) == 1, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)
    store.init_db(db_path)
    assert runs_saved() == 1


def test_sigkill_during_apply_then_apply_again_charges_each_call_once(tmp_path):
    """A worker applies a big run in transactions of a few calls and is killed at random
    points; applying again afterwards finishes it: every changed call has exactly one
    adjustment and the ledger explains every balance."""
    path = tmp_path / "crash.db"
    store.init_db(path)
    make_extension("1001", balance="100000")
    make_extension("1002", balance="100000")
    far = make_rate("9", rate="0.10", unit="60", remarks="far")
    count = 1500
    for i in range(count):
        call("1001" if i % 2 else "1002", "912345", 1 + i % 300, T0 + i, f"k{i}")
    set_rate(far.id, rate="0.13", unit="30", remarks="far")
    expected = {n: balance(n) for n in ("1001", "1002")}
    for c in Call.select():
        new = rating.cost(rating.Rate(id=0, prefix="9", rate=1300, unit=30), c.answered_s)
        expected[c.extension.number] -= new - c.cost
    run = rerate.preview(DAY, DAY, at=NOW)
    assert run.changed > count // 2
    store.close_db()
    rnd = random.Random(15)
    partial = 0
    for _round in range(4):
        child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "rerate_crash_worker.py"),
                                  str(path), str(run.id)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert child.stdout.readline().strip() == "applying"
        for _line in range(rnd.randint(1, 40)):  # some transactions committed, then anywhere
            assert child.stdout.readline().startswith("done")
        time.sleep(rnd.random() * 0.01)
        child.kill()
        child.communicate(timeout=30)
        store.init_db(path)
        applied = sql_one("SELECT count(*) FROM rerate_item WHERE run_id = ? AND state = 'applied'",
                          (run.id,))[0]
        partial += 0 < applied < run.changed
        store.close_db()
    assert partial, "no kill landed in the middle of the apply"
    store.init_db(path)
    try:
        assert store_intact()
        rerate.apply(run.id)
        assert rerate.get_run(run.id).applied == run.changed
        reasons = [e.reason for e in Ledger.select().where(Ledger.kind == "adjustment")]
        assert len(reasons) == len(set(reasons)) == run.changed
        assert {n: balance(n) for n in expected} == expected
        assert accounts.verify() == []
        assert daily_matches_calls()
    finally:
        store.close_db()


# --- the oracle: re-rated calls cost what the new deck would have charged from the start


deck_rates = st.lists(st.tuples(st.sampled_from(["9", "91", "92", "8"]),
                                st.integers(0, 5000), st.integers(0, 60),
                                st.integers(0, 300), st.sampled_from([1, 6, 30, 60])),
                      min_size=1, max_size=4)
call_list = st.lists(st.tuples(st.sampled_from(["1001", "1002"]),
                               st.sampled_from(["9123", "9156", "9234", "8123", "81"]),
                               st.integers(1, 900)),
                     min_size=1, max_size=12)


def _put_deck(deck):
    # a catch-all '9' and '8' rate first, so every call stays covered under both decks
    make_rate("9", rate="0.01", unit="60")
    make_rate("8", rate="0.01", unit="60")
    for prefix, initial_cost, initial_time, rate, unit in deck:
        rates.add(rates.validate({"prefix": prefix, "length": "0", "all_extensions": True,
                                    "initial_cost": money.to_decimal_string(initial_cost),
                                  "initial_time": str(initial_time),
                                  "rate": money.to_decimal_string(rate),
                                  "unit": str(unit)}))


@hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(old_deck=deck_rates, new_deck=deck_rates, made=call_list, free_minutes=st.integers(0, 10))
def test_rerating_under_a_new_deck_equals_charging_at_it_from_the_start(old_deck, new_deck, made,
                                                                        free_minutes):
    """... with the free seconds a real calling plan gave the calls (each extension its
    own pool): they stay free, and every pool still adds up."""
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(Path(folder) / "oracle.db")
        try:
            make_extension("1001", balance="1000")
            make_extension("1002", balance="1000")
            if free_minutes:
                plans.assign(plans.create("free", {"other": free_minutes * 60}), ["1001", "1002"])
            _put_deck(old_deck)
            for i, (number, dialed, seconds) in enumerate(made):
                call(number, dialed, seconds, T0 + i * 60, f"o{i}")
            free = dict(sql("SELECT uniqueid, free_s FROM call").fetchall())
            for number in ("1001", "1002"):  # each its own pool, used before money
                assert sum(free[f"o{i}"] for i, m in enumerate(made) if m[0] == number) \
                    == min(free_minutes * 60, sum(m[2] for m in made if m[0] == number))
            sql("DELETE FROM rate")
            _put_deck(new_deck)
            index = rates.index()
            oracle = {"1001": 1000 * 10000, "1002": 1000 * 10000}
            for i, (number, dialed, seconds) in enumerate(made):
                rate = index.match(number, dialed, T0 + i * 60)
                oracle[number] -= rating.cost(rate, seconds - free[f"o{i}"])
            run = rerate.preview(DAY, DAY, at=NOW)
            assert run.uncovered == 0
            rerate.apply(run.id, batch=3)
            assert {n: balance(n) for n in oracle} == oracle
            assert accounts.verify() == []
            assert daily_matches_calls()
            rerate.apply(run.id)
            assert {n: balance(n) for n in oracle} == oracle
        finally:
            store.close_db()


def test_statistics_by_call_type_follow_a_call_whose_type_changes(deck):
    """Re-rating meets call types: a call re-rated under a rate of another type leaves its
    old type's statistics and is counted in its new type's, cost and all, exactly as a
    rebuild from the calls would count it."""
    from billing_addon import call_days, call_type_stats, settings
    local, far = deck
    call("1001", "912345", 61, T0, "a")
    call("1002", "812345", 30, T0 + 60, "b")
    set_rate(far.id, rate="0.30", call_type="international")
    rerate.apply(rerate.preview(DAY, DAY, at=NOW).id)

    def by_type():
        return [(r.call_type, r.calls, r.answered_s, r.cost) for r in call_type_stats.by_type()]

    counted = by_type()
    assert counted == [("international", 1, 61, 6000), ("other", 1, 30, 500)]
    with store.money_txn():
        call_days.rebuild(settings.zone())
    assert by_type() == counted
    assert daily_matches_calls() and not accounts.verify()
