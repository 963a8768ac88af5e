"""Issue #18 items 2 ("a caller's wait is unbounded") and 7 ("mid-authorize disconnects
hold reservations"), LIVE on a real Asterisk 22 with the shipped dialplan: whatever state
the daemon or its database is in (frozen by SIGSTOP, write-locked by another process,
flooded with idle connections), a caller waits at most BILLING_WAIT_SECONDS (default 2)
for authorize and then gets the dialplan's fail mode; a caller who hangs up is released
at once; the settle in the hangup handler holds no channel; afterwards no money is lost
or left reserved and ``billing-addon verify`` is clean."""

import selectors
import socket
import threading
import time

import pytest

from billing_addon import money
from billing_addon.store import Call
from tests.helpers import hold_write_lock, wait_for
from tests.live.livepbx import balance, reserved

cents = money.parse_amount
BOUND = 2.0  # the dialplan's default BILLING_WAIT_SECONDS
MARGIN = 1.0  # AMI events, the scheduler of a busy 2-core box


def at(event):
    return float(event["_received"])


def step_time(live, placed, application, timeout=30.0):
    """When the caller's channel started ``application`` (the first time)."""
    return at(live.ami.wait_event(
        lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == placed.uid
        and e.get("Application") == application, timeout, f"{application} of {placed.uid}"))


def decided(live, placed, timeout=30.0):
    """When the dialplan went on after authorize (the NoOp that logs its answer)."""
    return at(live.ami.wait_event(
        lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == placed.uid
        and e.get("AppData", "").startswith("Billing: AGISTATUS="), timeout,
        f"the end of authorize of {placed.uid}"))


def check_clean(live, number, start_balance, charged=0):
    """Nothing left reserved, the balance moved by exactly what was charged, verify clean."""
    assert wait_for(lambda: reserved(number) == 0, 30), f"{number} still has money reserved"
    assert wait_for(lambda: not Call.select().where(Call.status == "in-progress").exists(), 30)
    assert balance(number) == start_balance - charged
    live.verify()


def settle_channels_gone(live, timeout):
    """Every settle channel the hangup handlers started has hung up."""
    def gone():
        started = {e["Uniqueid"] for e in live.ami.events(
            lambda e: e.get("Event") == "Newchannel"
            and e.get("Channel", "").startswith("Local/s@billing-settle-agi"))}
        ended = {e["Uniqueid"] for e in live.ami.events(
            lambda e: e.get("Event") == "Hangup"
            and e.get("Channel", "").startswith("Local/s@billing-settle-agi"))}
        return started <= ended
    return wait_for(gone, timeout)


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_frozen_daemon_the_caller_gets_the_fail_mode_within_the_bound(live, extension, mode):
    live.ami.set_global("BILLING_FAIL_MODE", mode)
    number = extension(balance="1")
    live.daemon.pause()
    try:
        placed = live.call(number, "91000101", talk=1)
        started = step_time(live, placed, "AGI")
        waited = decided(live, placed) - started
        assert BOUND - 0.2 <= waited <= BOUND + MARGIN, (
            waited, live.variable(placed, "AGISTATUS"), live.variable(placed, "BILLING_RESULT"))
        if mode == "closed":
            live.wait_event(placed, "Newexten", 10, AppData="Billing: call denied: unavailable")
            assert "Dial" not in [app for app, _ in live.applications(placed)]
        else:
            live.wait_answered(placed, 10)
            dials = [data for app, data in live.applications(placed) if app == "Dial"]
            assert dials and "L(" not in dials[0]  # fail-open: no limit
        # the call ends and its settle channel is gone while the daemon is still frozen
        live.wait_hangup(placed, 20)
        assert settle_channels_gone(live, BOUND + MARGIN + 1)
    finally:
        live.daemon.resume()
    # the late authorize (its answer never reached Asterisk) left nothing reserved
    charged = 0
    if mode == "open":  # billed from the hangup handler's settle or the CDR, once
        call = live.settled(placed)
        assert call.status == "charged" and call.answered_s >= 1
        charged = call.cost
    check_clean(live, number, cents("1"), charged)


def test_caller_who_hangs_up_during_a_frozen_authorize_is_released_at_once(live, extension):
    number = extension(balance="1")
    live.daemon.pause()
    try:
        placed = live.call(number, "91000102", talk=5)
        step_time(live, placed, "AGI", 10)
        live.hang_up_phone(placed)
        hung_up = at(live.ami.wait_event(
            lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == placed.phone_uid,
            10, "the phone to hang up"))
        gone = at(live.wait_hangup(placed, 10))
        assert gone - hung_up < 0.5, gone - hung_up  # not held until the bound either
        assert live.variable(placed, "AGISTATUS", first=True) == "HANGUP"
        assert settle_channels_gone(live, BOUND + MARGIN + 1)
    finally:
        live.daemon.resume()
    call = live.settled(placed)
    assert (call.cost, call.answered_s) == (0, 0)
    check_clean(live, number, cents("1"))


def test_settle_with_the_daemon_frozen_does_not_hold_the_channel(live, extension):
    number = extension(balance="1")
    placed = live.call(number, "91000103", talk=60)
    live.wait_answered(placed)
    time.sleep(1.2)
    live.daemon.pause()
    try:
        live.hang_up_phone(placed)
        hung_up = at(live.ami.wait_event(
            lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == placed.phone_uid,
            10, "the phone to hang up"))
        gone = at(live.wait_hangup(placed, 10))
        assert gone - hung_up < 1.0, gone - hung_up
        assert settle_channels_gone(live, BOUND + MARGIN + 1)
        time.sleep(0.5)
    finally:
        live.daemon.resume()
    # the settlement Asterisk gave up waiting for is still made when the daemon runs, or
    # the CDR follower (whole seconds) got there first: either way once
    call = live.settled(placed)
    ms = live.answered_ms(placed)
    assert call.status == "charged" and ms // 1000 <= call.answered_s <= -(-ms // 1000)
    assert call.cost == call.answered_s * cents("0.01")
    check_clean(live, number, cents("1"), call.cost)




def test_a_write_lock_held_by_another_process_gives_denied_error_within_the_bound(live, extension):
    number = extension(balance="1")
    database = str(live.daemon.folder / "data" / "billing.db")
    holder = hold_write_lock(database, 6)
    try:
        placed = live.call(number, "91000104", talk=1)
        started = step_time(live, placed, "AGI")
        waited = decided(live, placed) - started
        assert waited < BOUND, waited  # the daemon answered, before the dialplan's bound
        assert live.variable(placed, "AGISTATUS", first=True) == "SUCCESS"
        assert live.variable(placed, "BILLING_RESULT") == "DENIED"
        live.wait_event(placed, "Newexten", 10, AppData="Billing: call denied: unavailable")
        live.wait_hangup(placed, 20)
    finally:
        holder.wait(20)
    assert holder.returncode == 0
    call = Call.get_or_none(Call.uniqueid == placed.uid)
    assert call is None or call.cost == 0, call  # authorize wrote nothing; nothing charged
    check_clean(live, number, cents("1"))


class IdleFlood:
    """``count`` connections to the FastAGI port that never say a word; the ones the
    daemon closes are opened again, until ``stop``."""

    def __init__(self, port, count):
        self.port, self.count = port, count
        self.selector = selectors.DefaultSelector()
        self.opened = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.opened += 1

    def _run(self):
        for _ in range(self.count):
            self._open()
        end = time.monotonic() + 120
        while not self._stop.is_set() and time.monotonic() < end:
            for key, _ in self.selector.select(0.05):
                try:
                    closed = key.fileobj.recv(4096) == b""
                except OSError:  # refused over the cap (reset)
                    closed = True
                if closed:  # closed by the daemon: come back
                    self.selector.unregister(key.fileobj)
                    key.fileobj.close()
                    self._open()

    def __enter__(self):
        self.thread.start()
        assert wait_for(lambda: self.opened >= self.count, 30)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(10)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def test_500_idle_connections_do_not_keep_calls_waiting(live, extension):
    numbers = [extension(balance="1") for _ in range(3)]
    with IdleFlood(live.asterisk.agi_port, 500) as flood:
        for number in numbers:
            placed = live.call(number, "91000105", talk=1)
            started = step_time(live, placed, "AGI")
            assert decided(live, placed) - started < 1.0
            assert live.variable(placed, "BILLING_RESULT") == "ALLOWED"
            live.wait_answered(placed, 10)
            live.wait_hangup(placed, 20)
            call = live.settled(placed)
            assert call.status == "charged"
            check_clean(live, number, cents("1"), call.cost)
        assert flood.opened > 500  # the daemon did close idle ones
