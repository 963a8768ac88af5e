"""Every branch of the shipped billing.conf on a real Asterisk 22, with the daemon
started as ``billing-addon serve``.  Each call is checked where it left its marks: what
Asterisk did (AMI events, its log, Master.csv) and what was billed (the call row, its
ledger entry, ``billing-addon verify``)."""

import signal
import time

import pytest

from billing_addon import calls, money, settings
from billing_addon.store import Call, Ledger
from tests.helpers import wait_for
from tests.live.livepbx import (BUSY_NUMBER, PER_SECOND, PER_TWO_SECONDS, RINGING_NUMBER,
                                UNRATED_NUMBER, balance, expected_cost, ledger_of, reserved)

cents = money.parse_amount


def check_charged(live, placed, rate, before, *, seconds=None):
    """The call was charged once, every started second of what Asterisk measured, at
    ``rate``; the ledger, the balance, the CDR row and ``verify`` agree."""
    call = live.settled(placed)
    ms = live.answered_ms(placed)
    started = -(-ms // 1000)
    assert call.answered_s == (started if seconds is None else seconds)
    assert call.status == "charged" and call.cost == expected_cost(rate, call.answered_s)
    entries = ledger_of(call)
    assert [(e.kind, e.amount) for e in entries] == [("call", -call.cost)]
    assert entries[0].balance_after == balance(placed.number) == before - call.cost
    row = live.billable_row(placed)
    assert row is not None and row["disposition"] == "ANSWERED"
    assert row["userfield"] == "billing" and row["accountcode"] == placed.number
    # Asterisk truncates billsec to whole seconds; the bill counts the started one
    assert int(row["billsec"]) <= call.answered_s <= int(row["billsec"]) + 1
    assert reserved(placed.number) == 0
    live.verify()
    return call, ms


def check_not_charged(live, placed, status, reason=""):
    call = live.settled(placed)
    assert (call.status, call.reason, call.cost) == (status, reason, 0)
    assert ledger_of(call) == []
    assert reserved(placed.number) == 0
    live.verify()
    return call


def dial_options(live, placed):
    dials = [data for app, data in live.applications(placed) if app == "Dial"]
    assert len(dials) == 1, dials
    return dials[0].split(",", 2)[2]


# -- allowed ------------------------------------------------------------------------------

def test_allowed_call_is_cut_at_its_limit_after_the_warning(live, extension):
    """5 cents at 1 cent a second: a limit of 4 s (the reservation pays for the started
    fifth), the warning 2 s before the end, the call cut there by Asterisk."""
    settings.put("warn_seconds", "2")
    number = extension(balance="0.05")
    placed = live.call(number, "91000001", talk=60)
    live.wait_answered(placed)
    assert reserved(number) == cents("0.05")
    live.wait_hangup(placed)
    assert dial_options(live, placed) == "L(4000:2000)"
    call, ms = check_charged(live, placed, PER_SECOND, cents("0.05"))
    assert 4000 <= ms < 4500, ms  # cut at the limit, not by the far end (60 s)
    assert call.reason == "" and call.limit_ms == 4000 and balance(number) >= 0
    answered = live.log_times(placed, r"app_dial\.c: .* answered ")
    warned = live.log_times(placed, r"File vm-youhave does not exist")
    assert len(answered) == 1 and len(warned) == 1
    assert 1.7 <= warned[0] - answered[0] <= 2.5  # played at limit - warn = 2 s


def test_every_started_second_is_billed(live, extension):
    """2.3 s of talk at 10 cents per started 2 s: 3 started seconds, two units.  Asterisk's
    ANSWEREDTIME and billsec say 2 s, which would have been one unit."""
    number = extension(balance="1")
    placed = live.call(number, "92000001", talk=2.3)
    live.wait_hangup(placed)
    call, ms = check_charged(live, placed, PER_TWO_SECONDS, cents("1"))
    assert 2300 <= ms < 3000 and call.answered_s == 3 and call.cost == cents("0.20")
    assert live.variable(placed, "ANSWEREDTIME") == "2"
    assert dial_options(live, placed).startswith("L(")
