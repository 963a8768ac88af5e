"""PIN accounts on a real Asterisk 22 (issue #15 item 1): a phone with account billing
asks for the account number and its PIN by DTMF (``Read()`` in the shipped dialplan);
the right PIN charges the account, three wrong ones reject the call and charge nobody."""

import itertools
import time

from billing_addon import accounts, money, pin_accounts
from billing_addon.store import Call, Extension, Ledger
from tests.helpers import wait_for
from tests.live.livepbx import PER_SECOND, balance, expected_cost

cents = money.parse_amount
_accounts = itertools.count(880001)


def make_account(pin: str, amount: str = "5") -> str:
    number = str(next(_accounts))
    pin_accounts.create(number, pin, name=f"Account {number}")
    accounts.recharge([number], cents(amount), "test")
    return number


def prompts(live) -> None:
    """The default prompts are Asterisk's core sounds; the live tier ships none (Read()
    without its prompt file returns at once), so stand-ins are added."""
    for name in ("agent-user", "agent-pass", "auth-incorrect"):
        live.asterisk.add_sound(name)


def phone(extension) -> str:
    number = extension(balance="0", billing=False)
    accounts.edit([number], account_billing=True)
    return number


def type_digits(live, placed, digits: str, read_count: int) -> None:
    """Wait until the caller's channel runs its ``read_count``-th Read(), then press
    ``digits`` (AMI PlayDTMF, received on the caller's channel as a phone's keys)."""
    assert wait_for(lambda: sum(1 for app, _ in live.applications(placed) if app == "Read")
                    >= read_count, 30), live.applications(placed)
    channel = live.events(placed, "Newchannel")[0]["Channel"]
    for digit in digits:
        reply = live.ami.action("PlayDTMF", Channel=channel, Digit=digit, Duration="80",
                                Receive="true")
        assert reply.get("Response") == "Success", reply
        time.sleep(0.2)  # a key press lasts 80 ms: one ends before the next begins


def test_right_pin_charges_the_account(live, extension):
    prompts(live)
    account = make_account("482913")
    caller = phone(extension)
    before = balance(account)
    placed = live.call(caller, "91000201", talk=1)
    type_digits(live, placed, account + "#", 1)
    type_digits(live, placed, "482913", 2)
    call = live.settled(placed)
    assert call.extension.number == account and call.phone_id == Extension.get(
        Extension.number == caller).id
    assert call.status == "charged" and call.answered_s >= 1
    assert call.cost == expected_cost(PER_SECOND, call.answered_s)
    assert balance(account) == before - call.cost
    assert balance(caller) == 0 and not Ledger.select().where(
        Ledger.extension == Extension.get(Extension.number == caller).id).exists()
    row = live.billable_row(placed)
    assert row is not None and row["disposition"] == "ANSWERED"
    live.verify()


def test_three_wrong_pins_reject_the_call_and_charge_nobody(live, extension):
    prompts(live)
    account = make_account("730461")
    caller = phone(extension)
    before = balance(account)
    placed = live.call(caller, "91000202", talk=1)
    for attempt in range(3):
        type_digits(live, placed, account + "#", 2 * attempt + 1)
        type_digits(live, placed, "000000", 2 * attempt + 2)
    hangup = live.wait_hangup(placed)
    apps = live.applications(placed)
    assert ("NoOp", "Billing: call denied: pin-failed") in apps
    assert "Dial" not in [app for app, _ in apps]
    assert hangup["Cause"] == "21"
    assert [data for app, data in apps if app == "AGI" and "/account," in data][-1].endswith(",3")
    assert not Call.select().where(Call.uniqueid == placed.uid).exists()  # nothing billed
    assert balance(account) == before
    ext = Extension.get(Extension.number == caller)
    assert ext.pin_blocked_until_utc is not None  # three wrong tries: the phone is throttled
    # the next call of that phone is refused at once, without asking for digits
    again = live.call(caller, "91000203", talk=1)
    live.wait_hangup(again)
    apps = live.applications(again)
    assert ("NoOp", "Billing: call denied: pin-throttled") in apps
    assert "Read" not in [app for app, _ in apps]
    live.verify()


def test_a_wrong_pin_then_the_right_one_in_the_same_call(live, extension):
    prompts(live)
    account = make_account("615243")
    caller = phone(extension)
    placed = live.call(caller, "91000204", talk=1)
    type_digits(live, placed, account + "#", 1)
    type_digits(live, placed, "615244", 2)
    type_digits(live, placed, account + "#", 3)
    type_digits(live, placed, "615243", 4)
    call = live.settled(placed)
    assert call.extension.number == account and call.status == "charged"
    apps = live.applications(placed)
    assert ("Playback", "auth-incorrect,noanswer") in apps  # before the second try
    assert Extension.get(Extension.number == caller).pin_failures == 0  # the right PIN reset it
    live.verify()


def test_a_call_abandoned_during_pin_entry_charges_nobody(live, extension):
    prompts(live)
    account = make_account("326154")
    caller = phone(extension)
    before = balance(account)
    placed = live.call(caller, "91000205", talk=1)
    type_digits(live, placed, account[:3], 1)  # typing, then the caller hangs up
    live.hang_up_phone(placed)
    live.wait_hangup(placed)
    # the hangup handler ran its settle, without a dialed number: nothing to charge
    assert live.settle_status(placed) == "SUCCESS"
    agi = [data for app, data in live.applications(placed) if app == "Originate"]
    assert agi and f",{caller},," in agi[-1], agi
    assert not Call.select().where(Call.uniqueid == placed.uid).exists()
    assert balance(account) == before
    assert live.billable_row(placed) is None  # no Dial, no billing mark for the CDR follower
    live.verify()
