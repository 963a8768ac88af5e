"""Accounts: recharge, adjust, edit, bulk edit, total recharges, verify."""

import pytest

from billing_addon import accounts, store
from billing_addon.store import Extension, Ledger

from .helpers import amount, make_extension


def ext(number):
    return Extension.get(Extension.number == number)


def test_extensions_start_with_billing_off(db_path):
    accounts.ensure_extension("2001", "Lobby")
    assert ext("2001").billing_enabled is False
    assert ext("2001").payment_type == "prepaid" and ext("2001").status == "unlocked"


def test_recharge_many_and_history(db_path):
    for n in ("1001", "1002"):
        make_extension(n)
    done = accounts.recharge(["1001", "1002"], amount("12.5"), "bill-001")
    assert [(d.pre_balance, d.amount, d.post_balance) for d in done] == [(0, 125000, 125000)] * 2
    accounts.recharge(["1001"], amount("0.0125"), "bill-001")
    assert ext("1001").balance == 125125
    assert ext("1001").total_recharges == 125125
    assert not accounts.verify()


@pytest.mark.parametrize("numbers, value, message", [
    (["1001"], 0, "greater than zero"),
    (["1001"], -5, "greater than zero"),
    (["1001", "9999"], 100, "unknown extension"),   # all or none
    ([], 100, "at least one"),
    (["1001"], 10**20, "too large"),
    (["1001"], 1.5, "greater than zero"),          # a float is never money
])
def test_recharge_refusals_change_nothing(db_path, numbers, value, message):
    make_extension("1001", balance="1")
    before = Ledger.select().count()
    with pytest.raises(accounts.AccountError, match=message):
        accounts.recharge(numbers, value, "x")
    assert Ledger.select().count() == before
    assert ext("1001").balance == amount("1")


def test_adjustment_needs_reason_and_is_not_a_recharge(db_path):
    make_extension("1001", balance="10")
    with pytest.raises(accounts.AccountError, match="reason"):
        accounts.adjust("1001", amount("-1"), "  ", "admin")
    accounts.adjust("1001", amount("-2.5"), "refund of a test call", "admin")
    assert ext("1001").balance == amount("7.5")
    assert ext("1001").total_recharges == amount("10")
    assert not accounts.verify()


def test_a_negative_adjustment_cannot_take_money_calls_in_progress_reserved(db_path):
    from billing_addon import calls

    from .helpers import make_rate

    make_extension("1001", balance="1")
    make_rate("9", "0", rate="0.10", unit="60")
    assert calls.authorize("1001", "912345", 1795441378, "u1").reserved == amount("1")
    with pytest.raises(accounts.AccountError, match="calls in progress"):
        accounts.adjust("1001", amount("-0.01"), "typo", "bill-1")
    assert ext("1001").balance == amount("1")
    accounts.adjust("1001", amount("2"), "goodwill", "bill-1")  # upwards is always fine
    accounts.adjust("1001", amount("-2"), "undo the goodwill", "bill-1")
    calls.settle("u1", 60)
    accounts.adjust("1001", amount("-0.90"), "refund in cash", "bill-1")  # all that is left
    assert ext("1001").balance == 0 and not accounts.verify()


def test_payment_type_change_resets_total_recharges(db_path):
    make_extension("1001", balance="10")
    accounts.edit(["1001"], payment_type="prepaid")  # unchanged: no reset
    assert ext("1001").total_recharges == amount("10")
    accounts.edit(["1001"], payment_type="postpaid", credit=amount("50"))
    assert ext("1001").total_recharges == 0
    assert ext("1001").balance == amount("10")  # money is not touched
    accounts.recharge(["1001"], amount("3"), "x")
    assert ext("1001").total_recharges == amount("3")
    assert not accounts.verify()


def test_bulk_edit(db_path):
    for n in ("1001", "1002", "1003"):
        accounts.ensure_extension(n)
    assert accounts.edit(["1001", "1002"], billing_enabled=True, credit=amount("5"),
                         status="locked", payment_type="postpaid") == 2
    assert [ext(n).billing_enabled for n in ("1001", "1002", "1003")] == [True, True, False]
    assert ext("1002").status == "locked" and ext("1002").credit == amount("5")


@pytest.mark.parametrize("kw, message", [
    ({"credit": -1}, "credit"),
    ({"status": "open"}, "status"),
    ({"payment_type": "free"}, "payment type"),
])
def test_edit_refusals(db_path, kw, message):
    accounts.ensure_extension("1001")
    with pytest.raises(accounts.AccountError, match=message):
        accounts.edit(["1001"], **kw)


def test_bad_extension_numbers(db_path):
    for bad in ("", " ", "10 01", "<script>", "1" * 40):
        with pytest.raises(accounts.AccountError):
            accounts.ensure_extension(bad)


def test_verify_finds_tampering(db_path):
    make_extension("1001", balance="10")
    store.db.execute_sql("UPDATE extension SET balance = balance + 1 WHERE number = '1001'")
    problems = accounts.verify()
    assert [p.field for p in problems] == ["balance"]
    assert "1001" in str(problems[0])
