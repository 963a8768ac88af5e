"""Every branch of the shipped billing.conf on a real Asterisk 22, with the daemon
started as ``billing-addon serve``.  Each call is checked where it left its marks: what
Asterisk did (AMI events, its log, Master.csv) and what was billed (the call row, its
ledger entry, ``billing-addon verify``)."""

import contextlib
import socket
import threading
import time

import pytest

from billing_addon import calls, money, settings
from billing_addon.store import Call, Ledger
from tests.helpers import wait_for
from tests.live.livepbx import (
    BUSY_NUMBER,
    PER_SECOND,
    PER_TWO_SECONDS,
    RINGING_NUMBER,
    UNRATED_NUMBER,
    balance,
    expected_cost,
    ledger_of,
    reserved,
)

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


@contextlib.contextmanager
def one_shot_agi(port, commands):
    """A stand-in FastAGI listener on the daemon's port (the daemon stopped): answers the
    first session with ``commands`` (reading Asterisk's reply to each), then closes and
    stops listening (Asterisk has no FastAGI read timeout: a connection never accepted
    would hold the call)."""
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(30)

    def serve():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        finally:
            server.close()  # the hangup handler's settle must find nothing listening
        with conn, conn.makefile("rwb") as stream:
            while stream.readline() not in (b"\n", b""):  # the agi_* environment
                pass
            for command in commands:
                stream.write(command.encode() + b"\n")
                stream.flush()
                stream.readline()  # 200 result=1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(30)
        server.close()


def cdr_position(live):
    """How far the daemon's CDR follower has read Master.csv."""
    import json

    from billing_addon.store import Setting

    row = Setting.get_or_none(Setting.key == "cdr_follower")
    return json.loads(row.value).get("offset", 0) if row else 0


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
    # the settle channel (both halves of its Local channel) wrote no CDR row: it hangs up
    # right after its AGI, which has settled the call by now
    live.cdr_rows(placed)
    time.sleep(1)
    text = live.asterisk.master_csv.read_text(encoding="utf-8")
    assert "billing-settle-agi" not in text, [line for line in text.splitlines()
                                              if "billing-settle-agi" in line]


# -- denied ---------------------------------------------------------------------------------

def check_rejected(live, placed, reason, tone, sound=""):
    """Not dialed: the reason's sound when one is set, its tone, then Hangup(21)."""
    hangup = live.wait_hangup(placed)
    apps = live.applications(placed)
    assert ("NoOp", f"Billing: call denied: {reason}") in apps
    assert "Dial" not in [app for app, _ in apps]
    assert ("PlayTones", tone) in apps and ("Hangup", "21") in apps
    playbacks = [data for app, data in apps if app == "ExecIf" and "Playback(" in data]
    assert playbacks == [f"{1 if sound else 0}?Playback({sound},noanswer)"]
    # Playback (run by ExecIf) found and played the file, before the tone
    assert live.variable(placed, "PLAYBACKSTATUS") == ("SUCCESS" if sound else None)
    assert hangup["Cause"] == "21"
    assert live.billable_row(placed) is None  # no Dial row in Master.csv


def make_locked(extension):
    from billing_addon import accounts

    number = extension(balance="1")
    accounts.edit([number], status="locked")
    return number


@pytest.mark.parametrize("case", ["locked", "no-funds", "no-rate", "billing-inactive"])
@pytest.mark.parametrize("with_sound", [False, True], ids=["tone", "sound+tone"])
def test_each_denial_reason_has_its_tone_and_optional_sound(live, extension, case, with_sound,
                                                            expired_trial):
    sound_var = {"locked": "LOCKED", "no-funds": "NOFUNDS", "no-rate": "NORATE",
                 "billing-inactive": "INACTIVE"}[case]
    sound = f"custom/{case}" if with_sound else ""
    if sound:
        live.asterisk.add_sound(sound)
    live.ami.set_global(f"BILLING_SOUND_{sound_var}", sound)
    dialed, tone = "91000002", "congestion"
    if case == "locked":
        number = make_locked(extension)
    elif case == "no-funds":
        number = extension(balance="0.01")  # one second: not enough (a call needs two)
    elif case == "no-rate":
        settings.put("unrated_policy", "deny")
        number, dialed, tone = extension(balance="1"), UNRATED_NUMBER, "info"
    else:
        settings.put("expired_policy", "deny")
        expired_trial()
        number = extension(balance="1")
    before = balance(number)
    placed = live.call(number, dialed, talk=1)
    check_rejected(live, placed, case, tone, sound)
    check_not_charged(live, placed, "denied", case)
    assert balance(number) == before


def test_fail_closed_rejects_every_call_while_the_daemon_is_stopped(live, extension):
    number = extension(balance="1")
    live.daemon.stop()
    placed = live.call(number, "91000003", talk=1)
    check_rejected(live, placed, "unavailable", "congestion")
    assert live.variable(placed, "AGISTATUS") == "FAILURE"
    live.daemon.start()
    # nothing to bill: authorize never saw it, and its CDR rows (read by the follower
    # once the daemon is back) have no Dial row
    follower_at_end = live.asterisk.master_csv.stat().st_size
    assert wait_for(lambda: cdr_position(live) >= follower_at_end, 30)
    assert Call.get_or_none(Call.uniqueid == placed.uid) is None
    assert balance(number) == cents("1")
    live.verify()


@pytest.mark.parametrize("stale", ["ALLOWED", "UNBILLED"])
def test_a_stale_answer_on_the_channel_never_lets_a_call_through(live, extension, stale):
    """A channel that went through billing-dial before (an earlier route) still carries
    that answer (and its limit); this authorize gets no answer: the call is rejected, not
    dialed on the old answer."""
    number = extension(balance="1")
    live.daemon.stop()
    placed = live.call(number, "91000007", talk=1, channel_variables={
        "BILLING_RESULT": stale, "BILLING_LIMIT_MS": "60000", "BILLING_WARN_MS": "30000"})
    check_rejected(live, placed, "unavailable", "congestion")
    assert live.variable(placed, "BILLING_RESULT", first=True) == stale  # it was there


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_allowed_without_a_limit_is_no_answer(live, extension, mode):
    """A FastAGI session cut after ALLOWED but before its limit (the daemon sends the
    result last, so only a stand-in can answer this way): never dialed without L()."""
    live.ami.set_global("BILLING_FAIL_MODE", mode)
    number = extension(balance="1")
    live.daemon.stop()
    with one_shot_agi(live.asterisk.agi_port, ["SET VARIABLE BILLING_ANSWER ALLOWED"]):
        placed = live.call(number, "91000008", talk=1)
        live.wait_hangup(placed)
    assert ("NoOp", "Billing: AGISTATUS=SUCCESS ALLOWED  limit= warn=") in live.applications(placed)
    if mode == "closed":
        check_rejected(live, placed, "unavailable", "congestion")
    else:
        assert dial_options(live, placed) == ""  # fail-open: the call goes, never with L()


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_an_error_answer_is_no_answer_and_the_fail_mode_decides(live, extension, mode):
    """A billed extension dialing something that is not a number: DENIED 'error', which
    the dialplan treats like no answer: closed rejects it ('unavailable', with its sound),
    open lets it through without a limit.  Nothing can rate it, so nothing is billed."""
    live.ami.set_global("BILLING_FAIL_MODE", mode)
    live.asterisk.add_sound("custom/unavailable")
    live.ami.set_global("BILLING_SOUND_UNAVAILABLE", "custom/unavailable")
    number = extension(balance="1")
    placed = live.call(number, "91A2", talk=1)
    if mode == "closed":
        check_rejected(live, placed, "unavailable", "congestion", "custom/unavailable")
    else:
        live.wait_hangup(placed)
        assert dial_options(live, placed) == ""
        assert live.billable_row(placed)["disposition"] == "ANSWERED"
    # what the dialplan saw right after authorize
    assert ("NoOp", "Billing: AGISTATUS=SUCCESS DENIED error limit= warn=") in live.applications(placed)
    end = live.asterisk.master_csv.stat().st_size
    assert wait_for(lambda: cdr_position(live) >= end, 30)
    assert Call.get_or_none(Call.uniqueid == placed.uid) is None
    assert balance(number) == cents("1") and reserved(number) == 0
    live.verify()


def test_fail_open_lets_calls_through_and_bills_them_from_the_cdr(live, extension):
    """The daemon is down: the call goes out without a limit; when the daemon is back the
    CDR follower charges it from its billsec, marked not-authorized (never over-limit)."""
    live.ami.set_global("BILLING_FAIL_MODE", "open")
    number = extension(balance="0.01")  # would have been denied no-funds
    log_from = live.daemon.log_size()
    live.daemon.stop()
    placed = live.call(number, "91000004", talk=2.5)
    live.wait_hangup(placed)
    assert live.variable(placed, "AGISTATUS", first=True) == "FAILURE"
    assert dial_options(live, placed) == ""  # no L(): nothing limited it
    row = live.billable_row(placed)
    live.daemon.start()
    call = live.settled(placed)
    assert (call.status, call.reason, call.source) == ("charged", calls.NOT_AUTHORIZED, "cdr")
    ms = live.answered_ms(placed)
    # the CDR has whole seconds only: its billsec is what the follower can bill
    assert call.answered_s == int(row["billsec"]), (row, ms)
    assert ms // 1000 <= call.answered_s <= -(-ms // 1000), (row, ms)
    assert call.cost == expected_cost(PER_SECOND, call.answered_s)
    assert [(e.kind, e.amount) for e in ledger_of(call)] == [("call", -call.cost)]
    assert balance(number) == cents("0.01") - call.cost  # below zero: nothing limited it
    assert "past its limit" not in live.daemon.log_text(since=log_from)
    live.verify()


# -- not billed ---------------------------------------------------------------------------

def check_unbilled_call(live, number, dialed, status, reason=""):
    """An UNBILLED answer: dialed without L(), answered, recorded as ``status``, no charge."""
    placed = live.call(number, dialed, talk=1)
    live.wait_hangup(placed)
    assert live.variable(placed, "BILLING_RESULT") == "UNBILLED"
    assert dial_options(live, placed) == ""
    assert live.billable_row(placed)["disposition"] == "ANSWERED"
    check_not_charged(live, placed, status, reason)
    return placed


def test_an_extension_nobody_bills_dials_without_a_limit(live, extension):
    check_unbilled_call(live, extension(billing=False), "91000005", "unbilled")


def test_unrated_number_with_the_allow_policy_goes_out_unbilled(live, extension):
    number = extension(balance="1")
    placed = check_unbilled_call(live, number, UNRATED_NUMBER, "unrated", "no-rate")
    assert live.variable(placed, "BILLING_REASON") == "no-rate"
    assert balance(number) == cents("1")


def test_billing_deactivated_lets_calls_through_unbilled(live, extension):
    number = extension(balance="0")  # no money: would be denied while billing is on
    live.daemon.board("deactivate")
    try:
        assert wait_for(lambda: _authorize_result(live, extension) == "UNBILLED", 30)
        check_unbilled_call(live, number, "91000006", "unbilled")
    finally:
        live.daemon.board("activate")
    assert wait_for(lambda: _authorize_result(live, extension) == "DENIED", 30)


def _authorize_result(live, extension):
    """What the running daemon answers now for an extension without money (a call that
    is denied or unbilled at once, so the license cache's state shows)."""
    placed = live.call(extension(balance="0"), "91000009", talk=0)
    live.wait_hangup(placed)
    live.settled(placed)
    return live.variable(placed, "BILLING_RESULT")


# -- the caller hangs up --------------------------------------------------------------------

def test_caller_hangs_up_during_authorize(live, extension):
    """The daemon is held (SIGSTOP) while Asterisk waits for its answer; the caller hangs
    up; AGI returns with AGISTATUS=HANGUP and the dialplan stops, but the hangup handler
    still settles: the reservation authorize made is released, nothing is charged."""
    number = extension(balance="1")
    live.daemon.pause()
    try:
        placed = live.call(number, "91000010", talk=5)
        live.ami.wait_event(lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == placed.uid
                            and e.get("Application") == "AGI", 10, "authorize to start")
        live.hang_up_phone(placed)
        live.ami.wait_event(lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == placed.phone_uid,
                            10, "the phone to hang up")
    finally:
        live.daemon.resume()
    live.wait_hangup(placed)
    assert live.variable(placed, "AGISTATUS", first=True) == "HANGUP"
    assert "Dial" not in [app for app, _ in live.applications(placed)]
    assert live.billable_row(placed) is None
    call = check_not_charged(live, placed, "charged")
    assert call.answered_s == 0 and call.limit_ms  # it was allowed, then released
    assert balance(number) == cents("1")


def test_caller_hangs_up_while_it_rings(live, extension):
    number = extension(balance="1")
    placed = live.call(number, RINGING_NUMBER)
    live.ami.wait_event(lambda e: e.get("Event") == "DialState" and e.get("Uniqueid") == placed.uid
                        and e.get("DestChannelState") == "5", 20, "ringing")  # 5 = Ringing
    assert reserved(number) > 0
    live.hang_up_phone(placed)
    live.wait_hangup(placed)
    call = check_not_charged(live, placed, "charged")
    assert call.dial_status == "CANCEL" and live.billable_row(placed)["billsec"] == "0"
    assert balance(number) == cents("1")


def test_caller_hangs_up_mid_call(live, extension):
    number = extension(balance="1")
    placed = live.call(number, "91000011", talk=60)
    live.wait_answered(placed)
    time.sleep(1.5)  # talk for a while (what is billed is what Asterisk measured)
    live.hang_up_phone(placed)
    live.wait_hangup(placed, 30)
    call, ms = check_charged(live, placed, PER_SECOND, cents("1"))
    assert 1500 <= ms < 30000 and call.answered_s == -(-ms // 1000)


def test_busy_far_end_releases_the_reservation(live, extension):
    number = extension(balance="1")
    placed = live.call(number, BUSY_NUMBER)
    live.wait_hangup(placed)
    call = check_not_charged(live, placed, "charged")
    assert call.dial_status == "BUSY" and live.billable_row(placed)["disposition"] == "BUSY"


# -- the daemon killed ----------------------------------------------------------------------

def test_daemon_killed_mid_call_the_cdr_follower_charges_it_once(live, extension):
    """kill -9 while a call talks: its hangup handler finds no daemon; after the restart
    the CDR follower charges it from Master.csv, once, within its reservation."""
    number = extension(balance="1")
    placed = live.call(number, "91000012", talk=2)
    live.wait_answered(placed)
    live.daemon.kill9()
    live.wait_hangup(placed)
    assert live.settle_status(placed) == "FAILURE"  # the settle AGI found no daemon
    row = live.billable_row(placed)
    assert Call.get(Call.uniqueid == placed.uid).status == "in-progress"
    restarted = time.time()
    live.daemon.start()
    call = live.settled(placed)
    assert (call.status, call.reason) == ("charged", "")
    assert call.settled_utc >= int(restarted)  # by the follower, after the restart
    assert call.answered_s == int(row["billsec"]) and call.cost == expected_cost(PER_SECOND, call.answered_s)
    assert [(e.kind, e.amount) for e in ledger_of(call)] == [("call", -call.cost)]
    assert balance(number) == cents("1") - call.cost and reserved(number) == 0
    # importing the call's Master.csv rows again charges nothing more
    rows = live.daemon.folder / f"cdr-{placed.uid}.csv"
    rows.write_bytes(b"".join(line for line in live.asterisk.master_csv.read_bytes().splitlines(True)
                              if placed.uid.encode() in line))
    done = live.daemon.cli("cdr", "import", str(rows))
    assert "charged=0 already=1" in done.stdout + done.stderr, done.stdout + done.stderr
    assert Ledger.select().where(Ledger.call == call.id).count() == 1
    assert balance(number) == cents("1") - call.cost
    live.verify()


# -- money shared by two calls --------------------------------------------------------------

def test_two_calls_of_one_prepaid_extension_share_its_money(live, extension):
    """70 cents at a cent a second, calls of at most 60 s: the first reserves 61 s (its
    started 61st second), the second gets the 9 cents left (an 8 s limit), a third gets
    nothing; the second is cut at its limit, and together they never spend more than
    the balance."""
    settings.put("max_call_seconds", "60")
    settings.put("warn_seconds", "0")
    number = extension(balance="0.70")
    first = live.call(number, "91000013", talk=2)
    live.wait_answered(first)
    second = live.call(number, "91000014", talk=60)
    live.wait_answered(second)
    assert reserved(number) == cents("0.70")
    third = live.call(number, "91000015", talk=60)
    assert live.wait_hangup(third)["Cause"] == "21"
    assert live.variable(third, "BILLING_REASON") == "no-funds"
    live.wait_hangup(first)
    live.wait_hangup(second)
    # no warning: L(limit:), which Asterisk takes as L(limit) (cut at the limit, no prompt)
    assert dial_options(live, first) == "L(60000:)" and dial_options(live, second) == "L(8000:)"
    assert not live.log_times(second, r"File vm-youhave does not exist")
    one, two = live.settled(first), live.settled(second)
    ms = live.answered_ms(second)
    assert 8000 <= ms < 9000, ms  # cut at its limit
    for call, placed in ((one, first), (two, second)):
        assert call.answered_s == -(-live.answered_ms(placed) // 1000)
        billsec = int(live.billable_row(placed)["billsec"])  # whole seconds, truncated
        assert billsec <= call.answered_s <= billsec + 1
        assert call.cost == expected_cost(PER_SECOND, call.answered_s) <= call_reserved(placed)
        assert [(e.kind, e.amount) for e in ledger_of(call)] == [("call", -call.cost)]
    assert balance(number) == cents("0.70") - one.cost - two.cost >= 0
    assert reserved(number) == 0
    live.verify()


def call_reserved(placed):
    """What authorize reserved for the call at a cent a second: its limit plus the
    started second past it (the call row keeps the limit; its reservation is released)."""
    call = Call.get(Call.uniqueid == placed.uid)
    return expected_cost(PER_SECOND, call.limit_ms // 1000 + 1)
