"""Issue #18 items 2 ("a caller's wait is unbounded", the daemon's side) and 7
("mid-authorize disconnects hold reservations"): the FastAGI server with its real
handlers on a real SQLite file.  Idle connections do not starve real calls, a write
lock held by another process gives DENIED error within [agi] wait_seconds, and an
ALLOWED whose answer never reached Asterisk releases its reservation at once.  After
each fault nothing is charged twice or lost and the ledger verifies."""

import socket
import time

import pytest

from billing_addon import accounts, money, settings, store
from billing_addon.pbx.handlers import make_handlers, run_together
from billing_addon.pbx.server import AgiServer
from billing_addon.store import Call, Extension
from tests.helpers import fund_1001, hold_write_lock, wait_for
from tests.pbx_support import env_bytes, make_env, replay

WAIT = 0.5  # [agi] wait_seconds of these servers
AUTHORIZE = env_bytes("a-limit-cut-authorize")  # 1001 dials 91234567, uniqueid 1795441378.1
SETTLE = env_bytes("a-limit-cut-settle")


@pytest.fixture
def server(db_path):
    settings.put("warn_seconds", "0")
    settings.put("max_call_seconds", "60")
    fund_1001()
    srv = AgiServer(make_handlers(lambda: "active", WAIT), "127.0.0.1", 0, max_connections=20,
                    idle_timeout=10.0, session_timeout=30.0, env_timeout=WAIT,
                    inline_when=store.writes_quick, loop_setup=store.never_wait_here,
                    run_together=run_together(WAIT)).start()
    yield srv
    assert srv.stop(wait=10)
    assert accounts.verify() == []


def reserved():
    return Extension.get(Extension.number == "1001").reserved


def authorize(srv, n):
    return replay(srv.address, make_env("authorize", f"1795441378.{100 + n}", ["1001", "1234567"]),
                  timeout=10)


def test_idle_connections_do_not_keep_real_calls_out(server):
    """Twice the cap of connections that never send a word: every real call still
    gets its answer at once, and the silent ones are gone after wait_seconds."""
    idle = [socket.create_connection(server.address, timeout=10) for _ in range(40)]
    try:
        for n in range(5):
            started = time.monotonic()
            got = authorize(server, n)
            assert got.variables.get("BILLING_RESULT") == "ALLOWED", got
            assert time.monotonic() - started < WAIT
        assert wait_for(lambda: server.active == 0, 5 * WAIT)  # the silent ones dropped
        assert server.stats["evicted"] > 0
    finally:
        for sock in idle:
            sock.close()
    assert reserved() == 5 * Call.get(Call.uniqueid == "1795441378.100").reserved




def test_a_write_lock_of_another_process_gives_denied_error_within_the_bound(server, db_path):
    holder = hold_write_lock(db_path, 4 * WAIT + 1)
    try:
        started = time.monotonic()
        got = replay(server.address, AUTHORIZE, timeout=20)
        waited = time.monotonic() - started
    finally:
        holder.wait(20)
    assert (got.variables.get("BILLING_RESULT"), got.variables.get("BILLING_REASON")) == \
        ("DENIED", "error")
    assert WAIT <= waited < WAIT + 0.5, waited
    assert Call.select().count() == 0 and reserved() == 0  # nothing was written
    # the lock gone, the same call is authorized as usual
    assert replay(server.address, AUTHORIZE).variables.get("BILLING_RESULT") == "ALLOWED"


def test_a_settlement_waiting_for_that_lock_does_not_hold_authorize_up(server, db_path):
    """A settlement of this daemon waits (up to the busy timeout) for the other
    process's lock, holding the daemon's own write queue: authorize still answers
    DENIED error within the bound instead of queueing behind it."""
    assert replay(server.address, AUTHORIZE).variables.get("BILLING_RESULT") == "ALLOWED"
    holder = hold_write_lock(db_path, 4 * WAIT + 1)
    try:
        settle = socket.create_connection(server.address, timeout=10)
        settle.sendall(SETTLE)  # the hangup handler's settle of the call authorized above
        assert wait_for(lambda: any(conn.state == "work" for conn in list(server.connections)))
        time.sleep(0.1)  # its worker is in the write queue, waiting for SQLite
        started = time.monotonic()
        got = authorize(server, 1)
        waited = time.monotonic() - started
        settle.close()
    finally:
        holder.wait(20)
    assert (got.variables.get("BILLING_RESULT"), got.variables.get("BILLING_REASON")) == \
        ("DENIED", "error")
    assert waited < WAIT + 0.5, waited
    # the settlement went through once the lock was gone
    assert wait_for(lambda: Call.get(Call.uniqueid == "1795441378.1").status == "charged", 20)
    assert reserved() == 0


@pytest.mark.parametrize("leaves", ["before-any-reply", "before-the-result", "reset"])
def test_an_answer_that_never_reached_asterisk_releases_the_reservation(server, leaves):
    """Asterisk left (the caller hung up, or it stopped waiting) while the daemon wrote
    its ALLOWED: nothing will dial on it, so the reservation is released at once, and
    the settle that the hangup handler still sends charges the call once."""
    sock = socket.create_connection(server.address, timeout=10)
    reader = sock.makefile("rb")
    sock.sendall(AUTHORIZE)
    assert reader.readline().startswith(b"SET VARIABLE BILLING_LIMIT_MS")
    if leaves == "before-the-result":
        sock.sendall(b"200 result=1\n")
        assert reader.readline() == b"SET VARIABLE BILLING_RESULT ALLOWED\n"
        sock.sendall(b"HANGUP\n")
    if leaves == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    reader.close()
    sock.close()
    assert wait_for(lambda: reserved() == 0, 5), "the reservation is still held"
    assert Call.get(Call.uniqueid == "1795441378.1").status == "expired"
    got = replay(server.address, SETTLE)  # the hangup handler's settle
    assert got.server_closed
    call = Call.get(Call.uniqueid == "1795441378.1")
    assert call.status == "charged" and call.answered_s > 0
    assert accounts.get_extension("1001").balance == money.parse_amount("100") - call.cost
    assert replay(server.address, SETTLE).server_closed  # a second settle changes nothing
    assert Call.get(Call.uniqueid == "1795441378.1").cost == call.cost


def test_an_acknowledged_answer_keeps_its_reservation(server):
    """Asterisk took the ALLOWED (replied 200) and then hung up at once: the call may be
    dialing, so its reservation stays for the settle."""
    got = replay(server.address, AUTHORIZE)
    assert got.variables.get("BILLING_RESULT") == "ALLOWED"
    assert wait_for(lambda: server.active == 0)
    assert reserved() > 0 and Call.get().status == "in-progress"
    replay(server.address, SETTLE)
    assert reserved() == 0 and Call.get().status == "charged"
