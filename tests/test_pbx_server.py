"""The FastAGI server under bad peers: garbage, huge or endless input, silence,
disconnects, too many connections; none of it may harm the other requests."""

import os
import socket
import sys
import threading
import time

import pytest

from billing_addon import accounts, rates, settings, store
from billing_addon.pbx import handlers
from billing_addon.pbx.handlers import make_handlers, run_together
from billing_addon.pbx.server import AgiServer
from billing_addon.store import Call, Extension
from tests.helpers import fund_1001, store_write_lock_held, wait_for, wait_until
from tests.pbx_support import env_bytes, make_env, replay, reply_for

GOOD = env_bytes("a-limit-cut-authorize")



@pytest.fixture
def billing(db_path):
    settings.put("warn_seconds", "0")
    settings.put("max_call_seconds", "60")
    fund_1001()


def start_server(**kw):
    options = dict(idle_timeout=1.0, session_timeout=3.0, drain_timeout=1.0,
                   inline_when=store.writes_quick, loop_setup=store.never_wait_here,
                   run_together=run_together(),  # the daemon's
                   one_worker_a_lane=not store.postgres())
    options.update(kw)
    return AgiServer(make_handlers(lambda: "active"), "127.0.0.1", 0, **options).start()


@pytest.fixture
def server(billing):
    srv = start_server()
    yield srv
    assert srv.stop(wait=10)


def good_call_works(server, uniqueid="1795441378.1"):
    env = GOOD.replace(b"1795441378.1", uniqueid.encode())
    got = replay(server.address, env)
    return got.variables.get("BILLING_RESULT") == "ALLOWED"


def work_waits(server):
    """A session's work is with a worker (the loop handed it over), not done yet."""
    return any(conn.state == "work" for conn in list(server.connections))


def closed_by_server(sock, timeout=10.0):
    """True when the server closes (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",       # a web client on the wrong port
    b"\x00\xff\xfe binary\n\n",
    b"agi_network yes\n\n",                      # no ': '
    b"\n",                                       # empty environment
    b"HANGUP\n200 result=1\n\n",
])
def test_garbage_is_dropped(server, garbage):
    sock = socket.create_connection(server.address, timeout=10)
    sock.sendall(garbage)
    assert closed_by_server(sock)
    sock.close()
    assert good_call_works(server)
    assert server.stats["dropped"] >= 1


def test_one_megabyte_environment_line(server):
    sock = socket.create_connection(server.address, timeout=10)
    sent = threading.Thread(target=lambda: _send_quietly(sock, b"agi_network: " + b"x" * (1 << 20) + b"\n\n"))
    sent.start()
    assert closed_by_server(sock)
    sent.join(10)
    sock.close()
    assert good_call_works(server)


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def test_too_many_environment_lines(server):
    lines = b"".join(b"agi_arg_%d: x\n" % i for i in range(1, 400))
    sock = socket.create_connection(server.address, timeout=10)
    _send_quietly(sock, GOOD[:-1] + lines + b"\n")
    assert closed_by_server(sock)
    sock.close()
    assert Call.select().count() == 0


def test_silent_and_trickling_peers_time_out(server):
    silent = socket.create_connection(server.address, timeout=10)
    trickle = socket.create_connection(server.address, timeout=10)
    started = time.monotonic()
    stop = threading.Event()

    def drip():
        for byte in GOOD[:200]:
            if stop.is_set():
                return
            _send_quietly(trickle, bytes([byte]))
            time.sleep(0.3)  # under the idle timeout, over the session timeout in total

    t = threading.Thread(target=drip)
    t.start()
    assert good_call_works(server)  # not blocked by them
    assert closed_by_server(silent) and closed_by_server(trickle)
    stop.set()
    t.join(10)
    assert time.monotonic() - started < 20  # timeouts of a few seconds, generous for a loaded CI
    assert wait_for(lambda: server.active == 0)
    silent.close()
    trickle.close()


def test_disconnect_mid_environment_creates_nothing(server):
    sock = socket.create_connection(server.address, timeout=10)
    sock.sendall(GOOD[:300])
    sock.close()
    assert wait_for(lambda: server.active == 0)
    assert Call.select().count() == 0
    assert good_call_works(server, "1795441378.9")


def test_disconnect_after_the_environment_releases_the_reservation(server):
    """Asterisk went away before reading the answer: the call was authorized, but
    nothing will dial on it, so its reservation is released at once (issue #18 item 7);
    the hangup handler's settle still charges the call."""
    sock = socket.create_connection(server.address, timeout=10)
    sock.sendall(GOOD)
    sock.shutdown(socket.SHUT_WR)
    sock.close()
    assert wait_for(lambda: server.active == 0)
    assert wait_for(lambda: Call.select().count() == 1)
    assert wait_for(lambda: Extension.get(Extension.number == "1001").reserved == 0)
    assert Call.get().status == "expired"
    replay(server.address, env_bytes("a-limit-cut-settle"))
    assert Call.get().status == "charged"
    assert Extension.get(Extension.number == "1001").reserved == 0
    assert accounts.verify() == []


def test_sixty_connections_at_once(billing):
    """Sixty peers hold their connections open; one more real call still works, and
    all sixty are served once they send their environment."""
    # timeouts long enough that a loaded machine does not cut the slow starters
    server = start_server(idle_timeout=30, session_timeout=60)
    try:
        _sixty_connections(server)
    finally:
        assert server.stop(wait=10)


def _sixty_connections(server):
    socks = [socket.create_connection(server.address, timeout=30) for _ in range(60)]
    assert wait_for(lambda: server.active == 60)
    assert good_call_works(server, "1795441378.99")
    results = []

    def finish(i, sock):
        env = make_env("authorize", f"1795441378.{1000 + i}", ["1001", "1234567"])
        sock.sendall(env)
        reader = sock.makefile("rb")
        got = []
        while True:
            line = reader.readline()
            if not line:
                break
            got.append(line)
            sock.sendall(("\n".join(reply_for(line.decode().strip())) + "\n").encode())
        results.append(len(got))
        sock.close()

    threads = [threading.Thread(target=finish, args=(i, s)) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [2] * 60
    assert accounts.verify() == []


def test_over_the_connection_cap_is_closed_at_once(billing):
    """Five sessions wait for Asterisk's replies (none of them silent, so none gives
    way): a sixth connection is closed at once."""
    srv = start_server(max_connections=5, idle_timeout=5, session_timeout=10)
    try:
        held = [socket.create_connection(srv.address, timeout=10) for _ in range(5)]
        for n, sock in enumerate(held):
            sock.sendall(GOOD.replace(b"1795441378.1", f"1795441378.{50 + n}".encode()))
        assert wait_for(lambda: srv.active == 5
                        and all(conn.state == "reply" for conn in list(srv.connections)))
        extra = socket.create_connection(srv.address, timeout=10)
        extra.settimeout(5)
        assert extra.recv(10) == b""  # Asterisk: AGISTATUS=SUCCESS, no BILLING_RESULT
        extra.close()
        for sock in held:
            sock.close()
        assert wait_for(lambda: srv.active == 0)
        assert good_call_works(srv)
    finally:
        srv.stop()


def test_at_the_cap_the_oldest_silent_connection_gives_way(billing):
    srv = start_server(max_connections=3, idle_timeout=5, session_timeout=10, env_timeout=5)
    try:
        silent = [socket.create_connection(srv.address, timeout=10) for _ in range(3)]
        assert wait_for(lambda: srv.active == 3)
        assert good_call_works(srv)  # the fourth takes the place of the first silent one
        assert closed_by_server(silent[0], 5)
        assert srv.stats["evicted"] == 1 and srv.stats["refused"] == 0
        for sock in silent:
            sock.close()
    finally:
        srv.stop()


def test_an_environment_waiting_unread_is_not_pushed_out(billing):
    """The loop is held while a call connects and sends its environment and a silent
    connection follows: when the loop runs again, both are accepted before the call's
    bytes are read.  The call is not the silent one that gives way; the newcomer is
    refused."""
    srv = start_server(max_connections=1, idle_timeout=5, session_timeout=10, env_timeout=5)
    held, release = threading.Event(), threading.Event()

    def hold_the_loop():
        held.set()
        release.wait(10)

    try:
        srv.call_soon(hold_the_loop)
        assert held.wait(10)
        call = socket.create_connection(srv.address, timeout=10)
        call.sendall(GOOD)
        late = socket.create_connection(srv.address, timeout=10)
        release.set()
        assert closed_by_server(late, 5)
        answer = replay(srv.address, GOOD, sock=call)
        assert answer.variables.get("BILLING_RESULT") == "ALLOWED"
        assert srv.stats["refused"] == 1 and srv.stats["evicted"] == 0
        late.close()
    finally:
        release.set()
        srv.stop()


def test_error_replies_do_not_stop_the_session(server):
    """Asterisk answers 520 (multi-line form) and 510: the server logs and goes on."""
    replies = iter([
        ["520-Invalid command syntax.  Proper usage follows:", " Usage: SET VARIABLE",
         "520 End of proper usage."],
        ["510 Invalid or unknown command"],
    ])
    got = replay(server.address, GOOD, replies=lambda cmd: next(replies))
    assert got.commands == ["SET VARIABLE BILLING_LIMIT_MS 60000", "SET VARIABLE BILLING_RESULT ALLOWED"]
    assert got.server_closed


def test_unsolicited_hangup_between_replies(server):
    def replies(cmd):
        return ["HANGUP"] + reply_for(cmd)

    got = replay(server.address, GOOD, replies=replies)
    assert len(got.commands) == 2 and got.server_closed


def test_bad_reply_drops_only_that_session(server):
    got = replay(server.address, GOOD, replies=lambda cmd: ["OK fine"])
    assert len(got.commands) == 1
    assert good_call_works(server, "1795441378.77")


def test_unknown_script_and_no_arguments(server):
    odd = GOOD.replace(b"agi_network_script: authorize", b"agi_network_script: nope")
    got = replay(server.address, odd)
    assert got.commands == [] and got.server_closed
    # without agi_arg_N the caller is agi_callerid and the number agi_extension
    bare = make_env("authorize", "1795441378.55", [], extension="1234567")
    got = replay(server.address, bare)
    assert got.variables["BILLING_RESULT"] == "ALLOWED"


def test_bad_dialed_number(server):
    """A billed extension dialing something that is not a number is denied 'error';
    an extension nobody bills passes unbilled."""
    env = make_env("authorize", "1795441378.56", ["1001", "sip:alice@example.com"])
    assert replay(server.address, env).variables == {"BILLING_RESULT": "DENIED",
                                                     "BILLING_REASON": "error"}
    env = make_env("authorize", "1795441378.57", ["2002", "sip:alice@example.com"], callerid="2002")
    assert replay(server.address, env).variables == {"BILLING_RESULT": "UNBILLED"}


def test_settle_without_arguments_asks_the_channel(server):
    replay(server.address, GOOD)
    env = make_env("settle", "1795441378.1", [])
    # ANSWEREDTIME_MS missing (an older Asterisk): recorded reply of a missing variable
    answers = {"GET VARIABLE ANSWEREDTIME_MS": ["200 result=0"],
               "GET VARIABLE ANSWEREDTIME": ["200 result=1 (3)"],
               "GET VARIABLE DIALSTATUS": ["200 result=1 (ANSWER)"]}
    got = replay(server.address, env, replies=lambda cmd: answers[cmd])
    assert got.commands == list(answers)
    call = Call.get(Call.uniqueid == "1795441378.1")
    assert (call.status, call.answered_s, call.dial_status) == ("charged", 3, "ANSWER")


def test_settle_without_arguments_bills_every_started_second(server):
    replay(server.address, GOOD)
    env = make_env("settle", "1795441378.1", [])
    answers = {"GET VARIABLE ANSWEREDTIME_MS": ["200 result=1 (3001)"],
               "GET VARIABLE DIALSTATUS": ["200 result=1 (ANSWER)"]}
    got = replay(server.address, env, replies=lambda cmd: answers[cmd])
    assert got.commands == list(answers)
    assert Call.get(Call.uniqueid == "1795441378.1").answered_s == 4


def test_stop_waits_for_sessions_in_progress(billing):
    srv = start_server(idle_timeout=5, session_timeout=10)
    sock = socket.create_connection(srv.address, timeout=10)
    sock.sendall(GOOD)
    reader = sock.makefile("rb")
    assert reader.readline().startswith(b"SET VARIABLE")
    done = []
    stopper = threading.Thread(target=lambda: done.append(srv.stop(wait=10)))
    stopper.start()
    time.sleep(0.2)
    assert not done  # still waiting for our session
    sock.sendall(b"200 result=1\n")
    reader.readline()
    sock.sendall(b"200 result=1\n")
    assert reader.readline() == b""
    sock.close()
    stopper.join(15)
    assert done == [True]
    with pytest.raises(OSError):
        socket.create_connection(srv.address, timeout=2)


def test_half_close_then_wait_for_asterisk_to_close(billing):
    """After the last reply the server half-closes and keeps the connection until
    Asterisk sends its HANGUP and closes, or the drain timeout passes."""
    srv = start_server(drain_timeout=0.5)
    try:
        sock = socket.create_connection(srv.address, timeout=10)
        sock.sendall(GOOD)
        reader = sock.makefile("rb")
        for _ in range(2):
            assert reader.readline().startswith(b"SET VARIABLE")
            sock.sendall(b"200 result=1\n")
        assert reader.readline() == b""  # the half-close
        assert srv.active == 1
        sock.sendall(b"HANGUP\n")  # still accepted: only the server's side is closed
        assert wait_for(lambda: srv.active == 0)  # by the drain timeout
        sock.close()
        assert srv.stats["sessions"] == 1 and srv.stats["dropped"] == 0
    finally:
        srv.stop()


@pytest.mark.parametrize("replied", [True, False])
def test_the_last_command_is_followed_by_the_half_close_at_once(server, replied):
    """Asterisk reads the end of the session with the last command (it ends the AGI
    once it has replied, no round trip more); the reply is still read: an ALLOWED that
    Asterisk acknowledged keeps its reservation, one it never acknowledged (the
    connection went away instead) releases it."""
    sock = socket.create_connection(server.address, timeout=10)
    sock.sendall(make_env("authorize", "1795441378.81", ["1001", "1234567", "BILLING_ANSWER"]))
    reader = sock.makefile("rb")
    assert reader.readline() == b"SET VARIABLE BILLING_ANSWER ALLOWED,,60000,,\n"
    assert reader.readline() == b""  # the half-close, before any reply was sent
    if replied:
        sock.sendall(b"200 result=1\nHANGUP\n")
    sock.close()
    assert wait_for(lambda: server.active == 0)
    call = Call.get(Call.uniqueid == "1795441378.81")
    reserved = Extension.get(Extension.number == "1001").reserved
    if replied:
        assert call.status == "in-progress" and reserved > 0
        assert server.stats["dropped"] == 0
    else:
        assert wait_for(lambda: Call.get_by_id(call.id).status == "expired")
        assert Extension.get(Extension.number == "1001").reserved == 0
    assert accounts.verify() == []


def test_settle_goes_through_when_asterisk_leaves_at_once(server):
    """A hangup handler's connection closed right after the environment: the
    settlement is still made, once."""
    replay(server.address, GOOD)
    sock = socket.create_connection(server.address, timeout=10)
    sock.sendall(env_bytes("a-limit-cut-settle"))
    sock.close()
    assert wait_for(lambda: Call.get(Call.uniqueid == "1795441378.1").status == "charged")
    assert wait_for(lambda: server.active == 0)
    assert Extension.get(Extension.number == "1001").reserved == 0
    assert accounts.verify() == []


def test_stop_finishes_a_settlement_already_handed_to_a_worker(billing):
    """stop() with a settlement in a worker (the disk is slow): it is completed before
    stop returns, not cut off."""
    from billing_addon.pbx import handlers

    gate = threading.Event()
    srv = AgiServer(make_handlers(lambda: "active"), "127.0.0.1", 0, idle_timeout=5,
                    session_timeout=10, workers=1).start()
    try:
        replay(srv.address, GOOD)
        slow = handlers.calls.settle

        def settle_slowly(*args, **kw):
            gate.wait(10)
            return slow(*args, **kw)

        handlers.calls.settle = settle_slowly
        sock = socket.create_connection(srv.address, timeout=10)
        sock.sendall(env_bytes("a-limit-cut-settle"))
        sock.close()  # Asterisk gone; the work is queued
        assert wait_for(lambda: srv.stats["sessions"] == 1)
        time.sleep(0.2)
        done = []
        stopper = threading.Thread(target=lambda: done.append(srv.stop(wait=10)))
        stopper.start()
        time.sleep(0.3)
        assert not done
        gate.set()
        stopper.join(15)
        assert done == [True]
    finally:
        handlers.calls.settle = slow
        gate.set()
    assert Call.get(Call.uniqueid == "1795441378.1").status == "charged"
    assert accounts.verify() == []


def test_worker_pool_serves_authorizations_before_settlements():
    from billing_addon.pbx import agi
    from billing_addon.pbx.server import WorkerPool

    gate, order, finished = threading.Event(), [], threading.Event()
    pool = WorkerPool(1)
    pool.submit(agi.Work(gate.wait, (10,)), lambda *_: None)  # the one worker is busy
    for name, urgent in [("settle-1", False), ("settle-2", False), ("authorize", True)]:
        pool.submit(agi.Work(order.append, (name,), urgent), lambda *_: None)
    pool.submit(agi.Work(finished.set), lambda *_: None)
    gate.set()
    assert finished.wait(10)
    assert order == ["authorize", "settle-1", "settle-2"]
    errors = []
    pool.submit(agi.Work(int, ("x",)), lambda outcome, error: errors.append(error))
    assert pool.close(5) and isinstance(errors[0], ValueError)


def test_a_slow_writer_does_not_stall_the_loop(server):
    """While a settlement-like writer holds the database (the disk is slow), an
    authorization waits for it in a worker, and other sessions go on meanwhile."""
    holding, release = threading.Event(), threading.Event()

    def slow_writer():
        with store.money_txn():
            holding.set()
            release.wait(60)  # set once the other session was served
            holding.clear()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    waiting = []
    try:
        assert holding.wait(30) and not store.writes_quick()
        caller = threading.Thread(target=lambda: waiting.append(replay(server.address, GOOD)))
        caller.start()
        wait_until(lambda: work_waits(server), 30, "the authorization to wait in a worker")
        odd = GOOD.replace(b"agi_network_script: authorize", b"agi_network_script: nope")
        got = replay(server.address, odd, timeout=60)
        # the loop served it while the writer still held the database
        assert got.server_closed and holding.is_set(), got.error
        assert not waiting  # the authorization still waits for the writer
    finally:
        release.set()
        writer.join(10)
    caller.join(10)
    assert waiting[0].variables["BILLING_RESULT"] == "ALLOWED"
    assert store.writes_quick() == (not store.postgres())  # PostgreSQL: always a worker's


def test_another_process_writing_does_not_stall_the_loop(server, db_path):
    """The CLI (another SQLite connection) holds the write lock: the authorization
    waits for it in a worker, not on the loop, and is ALLOWED once the lock is gone."""
    with store_write_lock_held(db_path):  # until the other session was served (or gave up)
        waiting = []
        caller = threading.Thread(target=lambda: waiting.append(replay(server.address, GOOD)))
        caller.start()
        wait_until(lambda: work_waits(server), 30, "the authorization to wait in a worker")
        odd = GOOD.replace(b"agi_network_script: authorize", b"agi_network_script: nope")
        got = replay(server.address, odd, timeout=60)
        assert got.server_closed, got.error  # the loop is not stuck in a busy wait
        # and was not stuck for a busy timeout either: the worker, which began waiting
        # for the lock before, still waits
        assert work_waits(server) and not waiting
    caller.join(15)
    assert waiting[0].variables["BILLING_RESULT"] == "ALLOWED"


@pytest.mark.sqlite_only("SQLite's busy timeout")
def test_the_loop_never_waits_for_a_locked_read_either(server, monkeypatch):
    """The loop's connection keeps a busy timeout of 0 (no statement per transaction
    to set it and set it back): a read there that finds the database locked is handed
    to a worker, which may wait, instead of denying the call."""
    import sqlite3

    from billing_addon.pbx import handlers

    assert good_call_works(server, "1795441378.81")
    busy = []
    server.call_soon(lambda: busy.append(
        store.db.execute_sql("PRAGMA busy_timeout").fetchone()[0]))
    assert wait_for(lambda: busy) and busy == [0]  # on the loop thread
    assert store.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == store.BUSY_TIMEOUT_S * 1000

    real, threads = handlers.calls.settings.snapshot, []

    def locked_on_the_loop():
        threads.append(threading.current_thread().name)
        if len(threads) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real()

    monkeypatch.setattr(handlers.calls.settings, "snapshot", locked_on_the_loop)
    assert good_call_works(server, "1795441378.82")  # ALLOWED, not DENIED error
    assert threads[0] == "agi-loop" and threads[1].startswith("agi-worker")


def test_a_cut_session_never_leaves_allowed_without_its_limit(billing):
    """The peer stops answering after the first command (the idle timeout cuts the
    session): whatever was set, BILLING_RESULT was not, so the dialplan's fail mode
    decides; an ALLOWED always comes after its limit."""
    srv = start_server(idle_timeout=0.5)
    try:
        sock = socket.create_connection(srv.address, timeout=10)
        sock.sendall(GOOD)
        reader = sock.makefile("rb")
        first = reader.readline()
        assert first.startswith(b"SET VARIABLE BILLING_LIMIT_MS ")  # never answered
        assert reader.readline() == b""  # dropped by the idle timeout
        sock.close()
        assert srv.stats["dropped"] == 1
    finally:
        srv.stop()


def test_work_that_raises_systemexit_does_not_kill_the_loop(billing):
    from billing_addon.pbx import agi

    def script(env):
        yield agi.Work(sys.exit, (3,))

    srv = AgiServer({"boom": script, **make_handlers(lambda: "active")}, "127.0.0.1", 0,
                    idle_timeout=2, session_timeout=5).start()
    try:
        odd = GOOD.replace(b"agi_network_script: authorize", b"agi_network_script: boom")
        replay(srv.address, odd)
        assert wait_for(lambda: srv.stats["errors"] == 1)
        assert good_call_works(srv, "1795441378.5")  # the loop still serves
    finally:
        assert srv.stop()


def test_work_submitted_after_the_pool_closed_is_still_done():
    from billing_addon.pbx import agi
    from billing_addon.pbx.server import WorkerPool

    pool = WorkerPool(1)
    assert pool.close(5)
    got = []
    pool.submit(agi.Work(lambda: "settled"), lambda outcome, error: got.append(outcome))
    assert got == ["settled"]


def test_settle_tries_again_when_the_database_stays_locked(server, monkeypatch):
    import sqlite3

    from billing_addon.pbx import handlers

    replay(server.address, GOOD)
    real, failures = handlers.calls.settle, []

    def locked_once(*args, **kw):
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("database is locked")
        return real(*args, **kw)

    monkeypatch.setattr(handlers.calls, "settle", locked_once)
    replay(server.address, env_bytes("a-limit-cut-settle"))
    assert wait_for(lambda: Call.get(Call.uniqueid == "1795441378.1").status == "charged")
    assert failures == [1] and accounts.verify() == []


def test_the_answer_in_one_variable_is_one_round_trip(server):
    """Issue #17 item 3: with a third argument naming a variable (the shipped dialplan's
    BILLING_ANSWER), the whole answer is one SET VARIABLE, which the dialplan splits with
    ARRAY(); without it, a variable each as before (a site's own dialplan)."""
    one = replay(server.address, make_env("authorize", "1795441378.71",
                                          ["1001", "1234567", "BILLING_ANSWER"]))
    assert one.commands == ["SET VARIABLE BILLING_ANSWER ALLOWED,,60000,,"]
    each = replay(server.address, make_env("authorize", "1795441378.72", ["1001", "1234567"]))
    assert each.commands == ["SET VARIABLE BILLING_LIMIT_MS 60000",
                             "SET VARIABLE BILLING_RESULT ALLOWED"]
    # a denial carries its reason in the same place; a third argument that is no
    # variable name is ignored (a variable each)
    denied = replay(server.address, make_env("authorize", "1795441378.73",
                                             ["1001", "12-34", "BILLING_ANSWER"]))
    assert denied.commands == ["SET VARIABLE BILLING_ANSWER DENIED,error,,,"]
    odd = replay(server.address, make_env("authorize", "1795441378.74",
                                          ["1001", "1234567", "no such; name"]))
    assert odd.commands[-1] == "SET VARIABLE BILLING_RESULT ALLOWED"
    assert Call.select().count() == 3  # the bad number was refused before any write


def one_commit_of_wal(server, wal):
    """Two calls, one after the other: the WAL bytes the second one's commit wrote, and
    the WAL's size after it."""
    assert good_call_works(server, "1795441378.70")
    before = os.path.getsize(wal)
    assert good_call_works(server, "1795441378.71")
    return os.path.getsize(wal) - before, os.path.getsize(wal)


@pytest.fixture
def patient_server(billing, monkeypatch):
    """A server whose loop authorizes the first call itself and waits for the write
    queue as long as a test holds it: the rate index is built beforehand (the loop
    hands a call that finds it stale to a worker), and the daemon's loop would give up
    after LOOP_WAIT_SECONDS (a slow machine could not send the next calls in time)."""
    rates.index()
    monkeypatch.setattr(handlers, "LOOP_WAIT_SECONDS", 60)
    srv = start_server(run_together=run_together(60))
    yield srv
    assert srv.stop(wait=10)


def _round_of_authorizations(server, uniqueids, fail=None):
    """Connect a session for each of ``uniqueids``; have the loop busy with the first
    one (waiting for the write queue, which this thread holds) while the others send
    their environments, so that it reads them all in its next round.  Their answers.
    ``server``: a ``patient_server``."""
    socks = [socket.create_connection(server.address, timeout=30) for _ in uniqueids]
    assert wait_for(lambda: server.active == len(socks))
    envs = [make_env("authorize", uniqueid, ["1001", "1234567", "BILLING_ANSWER"])
            for uniqueid in uniqueids]
    assert store._writer.acquire(urgent=True)  # a reservation in a worker, say
    try:
        socks[0].sendall(envs[0])
        wait_until(lambda: store._writer._urgent, 30, "the loop to wait for the write queue")
        for sock, env in zip(socks[1:], envs[1:]):
            sock.sendall(env)
        wait_until(lambda: sum(conn.unread() for conn in list(server.connections)) >= len(socks) - 1,
                   30, "the environments to wait in the loop's sockets")
    finally:
        store._writer.release()
    results = []
    threads = [threading.Thread(target=lambda sock=sock: results.append(
        replay(server.address, b"", sock=sock))) for sock in socks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return {call.variables["BILLING_ANSWER"] for call in results}, results


@pytest.mark.sqlite_only("the FastAGI loop authorizes itself only on SQLite")
def test_the_authorizations_of_one_round_share_one_commit(patient_server, db_path):
    """The loop reads everything a round of epoll brought, then authorizes it in one
    transaction: one commit, whose pages (the payer's row, the last pages of the call
    table and its indexes) are written to the WAL once, not once a call."""
    server = patient_server
    wal = str(db_path) + "-wal"
    one_commit, before = one_commit_of_wal(server, wal)
    uniqueids = [f"1795441378.{100 + n}" for n in range(8)]
    answers, _ = _round_of_authorizations(server, uniqueids)
    assert answers == {"ALLOWED,,60000,,"}
    assert server.stats["largest_round"] >= 7
    # the first alone and seven together: about two commits' pages; eight commits
    # would write about eight
    assert os.path.getsize(wal) - before <= 4 * one_commit
    calls = list(Call.select().where(Call.uniqueid.in_(uniqueids)))
    assert len(calls) == 8 and {c.status for c in calls} == {"in-progress"}
    assert Extension.get(Extension.number == "1001").reserved == sum(
        c.reserved for c in Call.select().where(Call.status == "in-progress"))
    assert accounts.verify() == []


@pytest.mark.sqlite_only("the FastAGI loop authorizes itself only on SQLite")
def test_one_failed_authorization_of_a_round_undoes_only_its_own(patient_server, monkeypatch):
    """One authorization of a round fails after it wrote its call (its savepoint is
    rolled back: DENIED error, nothing of it kept); the others of the round commit."""
    from billing_addon import calls as calls_module

    server = patient_server
    real, seen = calls_module.settings.threshold_units, []

    def fails_once(value):  # _reserve's last step, after the call and reservation rows
        seen.append(value)
        if len(seen) == 4:
            raise OSError("disk hiccup")
        return real(value)

    monkeypatch.setattr(calls_module.settings, "threshold_units", fails_once)
    uniqueids = [f"1795441378.{200 + n}" for n in range(6)]
    _, results = _round_of_authorizations(server, uniqueids)
    assert server.stats["largest_round"] >= 5
    answers = sorted(call.variables["BILLING_ANSWER"] for call in results)
    assert answers == ["ALLOWED,,60000,,"] * 5 + ["DENIED,error,,,"]
    calls = list(Call.select().where(Call.uniqueid.in_(uniqueids)))
    assert len(calls) == 5 and {c.status for c in calls} == {"in-progress"}
    assert Extension.get(Extension.number == "1001").reserved == sum(
        c.reserved for c in Call.select().where(Call.status == "in-progress"))
    assert accounts.verify() == []


def _answers(server, uniqueids, first_waits):
    """Send an authorization for each of ``uniqueids``: the first alone, the others once
    ``first_waits()`` (its worker waits for a lock); their answers."""
    envs = [make_env("authorize", uniqueid, ["1001", "1234567", "BILLING_ANSWER"])
            for uniqueid in uniqueids]
    results = []

    def call(env):
        results.append(replay(server.address, env))

    threads = [threading.Thread(target=call, args=(env,)) for env in envs]
    threads[0].start()
    wait_until(first_waits, 30, "the first authorization to wait for the lock")
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: len(server.pool._urgent.queue) == len(envs) - 1, 30,
               "the others to queue for the lane's worker")
    return threads, results


@pytest.mark.sqlite_only("authorizations go to the workers together only on SQLite")
def test_authorizations_queued_for_the_workers_share_one_commit(billing, db_path,
                                                                  monkeypatch):
    """When the loop hands authorizations to the workers (a settlement holds the write
    lock: always, under load), those queued while the lane's worker waits are taken by
    it together, in one transaction, as the loop's rounds are."""
    from billing_addon.pbx import server as server_module

    monkeypatch.setattr(server_module, "STALL_SECONDS", 30.0)
    srv = start_server(inline_when=lambda: False)
    wal = str(db_path) + "-wal"
    try:
        one_commit, before = one_commit_of_wal(srv, wal)
        uniqueids = [f"1795441378.{400 + n}" for n in range(8)]
        assert store._writer.acquire()  # a settlement holds the write queue, say
        try:
            threads, results = _answers(srv, uniqueids, lambda: store._writer._urgent)
        finally:
            store._writer.release()
        for thread in threads:
            thread.join(30)
        assert {call.variables["BILLING_ANSWER"] for call in results} == {"ALLOWED,,60000,,"}
        assert len(results) == 8
        # the first alone and seven together: about two commits' pages, not eight
        assert os.path.getsize(wal) - before <= 4 * one_commit
        assert Call.select().where(Call.uniqueid.in_(uniqueids),
                                   Call.status == "in-progress").count() == 8
        assert accounts.verify() == []
    finally:
        assert srv.stop(wait=10)


@pytest.mark.sqlite_only("authorizations go to the workers together only on SQLite")
def test_authorizations_queued_behind_another_process_wait_their_bound_once(
        billing, db_path, monkeypatch):
    """Another process (the CLI) holds the write lock past the authorizations' bound:
    those taken together are each answered DENIED error once the bound has passed
    for the batch, not one bound after another."""
    from billing_addon.pbx import server as server_module

    monkeypatch.setattr(server_module, "STALL_SECONDS", 30.0)
    handlers = make_handlers(lambda: "active", wait_seconds=0.5)
    srv = AgiServer(handlers, "127.0.0.1", 0, idle_timeout=5.0, session_timeout=10.0,
                    inline_when=lambda: False, loop_setup=store.never_wait_here,
                    run_together=run_together(0.5), one_worker_a_lane=True).start()
    uniqueids = [f"1795441378.{500 + n}" for n in range(6)]
    try:
        started = time.monotonic()
        with store_write_lock_held(db_path):
            threads, results = _answers(srv, uniqueids, lambda: srv.pool._urgent.busy)
            for thread in threads:
                thread.join(30)
        took = time.monotonic() - started
        assert [call.variables["BILLING_ANSWER"] for call in results] == ["DENIED,error,,,"] * 6
        assert took < 2.0, took  # the first alone (0.5 s), then the five together (0.5 s)
        assert Call.select().count() == 0
        assert good_call_works(srv, "1795441378.600")  # the lock is gone: calls go on
    finally:
        assert srv.stop(wait=10)


def test_authorize_works_are_taken_together_only_where_they_share_a_transaction(db_path):
    from billing_addon.pbx import agi, handlers

    script = handlers.authorize({"agi_uniqueid": "1795441378.9", "agi_arg_1": "1001",
                                 "agi_arg_2": "1234567"}, lambda: "active")
    work = next(script)
    assert isinstance(work, agi.Work) and work.urgent
    assert work.many is (None if store.postgres() else handlers._decide_many_now)


def test_a_worker_takes_the_works_of_one_kind_queued_together():
    """Works with the same ``many`` queued next to each other go to one worker at once
    (settle: one transaction and one fsync for them all), in their order; the others
    one by one; urgent work still first."""
    from billing_addon.pbx import agi
    from billing_addon.pbx.server import WorkerPool

    calls_of_many, order, finished = [], [], threading.Event()

    def many(batch):
        calls_of_many.append([args[0] for args in batch])
        return [(f"done {args[0]}", None) for args in batch]

    outcomes = {}
    gate = threading.Event()
    pool = WorkerPool(1)
    pool.submit(agi.Work(gate.wait, (10,)), lambda *_: None)  # the one worker is busy
    for n in range(5):
        pool.submit(agi.Work(order.append, (f"s{n}",), many=many),
                    lambda outcome, error, n=n: outcomes.update({f"s{n}": (outcome, error)}))
    pool.submit(agi.Work(order.append, ("other",)), lambda *_: None)
    pool.submit(agi.Work(order.append, ("s5",), many=many),
                lambda outcome, error: outcomes.update({"s5": (outcome, error)}))
    pool.submit(agi.Work(order.append, ("authorize",), urgent=True), lambda *_: None)
    pool.submit(agi.Work(finished.set), lambda *_: None)
    gate.set()
    assert finished.wait(10)
    assert order == ["authorize", "other", "s5"]  # s5 alone: the one with ``many`` by itself
    assert calls_of_many == [["s0", "s1", "s2", "s3", "s4"]]
    assert outcomes == {**{f"s{n}": (f"done s{n}", None) for n in range(5)}, "s5": (None, None)}
    # a ``many`` that fails: every work of its batch gets the error, none is lost
    errors, gate = [], threading.Event()

    def fails(batch):
        raise ZeroDivisionError("a bug")

    pool.submit(agi.Work(gate.wait, (10,)), lambda *_: None)
    for n in range(2):
        pool.submit(agi.Work(order.append, (n,), many=fails),
                    lambda outcome, error: errors.append(error))
    gate.set()
    assert pool.close(5)
    assert len(errors) == 2 and all(isinstance(e, ZeroDivisionError) for e in errors)


@pytest.mark.sqlite_only("the FastAGI loop authorizes itself only on SQLite")
def test_a_round_whose_work_fails_as_a_whole_still_ends_its_sessions(billing):
    """The round's ``run_together`` raises (a fault of its own): each session still
    ends, answered nothing (the dialplan's fail mode applies), none is left waiting for
    work, and the loop goes on serving."""
    def broken(works):
        raise RuntimeError("the round's runner is broken")

    srv = start_server(run_together=broken)
    try:
        for n in range(3):
            got = replay(srv.address, make_env("authorize", f"1795441378.{300 + n}",
                                               ["1001", "1234567", "BILLING_ANSWER"]))
            assert "BILLING_ANSWER" not in got.variables
        assert wait_for(lambda: srv.active == 0)
        assert Call.select().count() == 0
    finally:
        assert srv.stop(wait=10)


def test_settle_works_are_taken_together_only_where_they_share_a_transaction(db_path):
    """On SQLite a worker takes the settle works queued together (one transaction); on
    PostgreSQL they stay apart, so the workers settle them side by side."""
    from billing_addon.pbx import agi, handlers

    script = handlers.settle({"agi_uniqueid": "1795441378.9"})
    work = next(script)
    while not isinstance(work, agi.Work):  # the variables it asks Asterisk for first
        work = script.send(agi.Reply(200, "1", "30", ""))
    assert work.many is (None if store.postgres() else handlers._settle_many_now)


def test_work_that_raises_systemexit_on_the_loop_does_not_end_it(billing):
    """Urgent work the loop runs itself raises SystemExit: the session gets an error,
    as from a worker, and the loop thread serves the next calls."""
    from billing_addon.pbx import agi

    def script(env):
        yield agi.Work(sys.exit, (3,), urgent=True)

    handlers = {"boom": script, **make_handlers(lambda: "active")}
    srv = AgiServer(handlers, "127.0.0.1", 0, idle_timeout=1.0, session_timeout=3.0,
                    drain_timeout=1.0, inline_when=store.writes_quick,
                    loop_setup=store.never_wait_here, run_together=run_together()).start()
    try:
        replay(srv.address, GOOD.replace(b"agi_network_script: authorize",
                                          b"agi_network_script: boom"), timeout=5)
        assert srv._thread.is_alive()
        assert good_call_works(srv, "1795441378.5")
    finally:
        assert srv.stop(wait=5)


def test_start_reports_an_event_loop_that_cannot_be_made(billing, monkeypatch):
    """Out of file descriptors for the loop's epoll: ``start`` raises, it does not wait
    for ever for a loop thread that died."""
    from billing_addon.pbx import server as server_module

    def no_descriptors():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(server_module, "EventLoop", no_descriptors)
    outcome = []

    def start():
        try:
            AgiServer(make_handlers(lambda: "active"), "127.0.0.1", 0).start()
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(10)
    assert outcome and outcome[0].errno == 24


def _loop_lag(srv) -> float:
    """Seconds the loop takes to run a callback handed to it now."""
    started, lag = time.monotonic(), []
    srv.call_soon(lambda: lag.append(time.monotonic() - started))
    assert wait_for(lambda: lag, timeout=10)
    return lag[0]


@pytest.mark.sqlite_only("the FastAGI loop authorizes itself only on SQLite")
def test_a_worker_waiting_for_another_process_does_not_hold_up_the_loop(billing, db_path):
    """Another process holds SQLite's write lock: a worker waits for it holding the
    write queue (by the express lane).  The loop must not take that for a quick writer
    and wait behind it: the next authorization goes to a worker too, and the loop keeps
    serving."""
    from tests.helpers import store_write_lock_held

    srv = start_server()
    try:
        sessions = [threading.Thread(target=replay, args=(srv.address, make_env(
            "authorize", f"1795441378.9{n}", ["1001", "1234567", "BILLING_ANSWER"])))
            for n in range(2)]
        with store_write_lock_held(db_path):
            sessions[0].start()
            wait_until(lambda: work_waits(srv) and store._writer._owner is not None, 10,
                       "a worker to wait for the other process, holding the write queue")
            assert not store.writes_quick()
            sessions[1].start()
            wait_until(lambda: sum(conn.state == "work" for conn in list(srv.connections)) == 2,
                       10, "the second session to go to a worker")
            assert _loop_lag(srv) < 0.3
        for session in sessions:
            session.join(10)
    finally:
        assert srv.stop(wait=5)


@pytest.mark.sqlite_only("the FastAGI loop authorizes itself only on SQLite")
def test_the_loop_never_rebuilds_the_rate_index(billing, monkeypatch):
    """The rates changed in another process (the CLI): the index must be built again,
    which takes seconds on a box for a big deck.  The loop hands the call to a worker,
    which builds it; the call is answered all the same, and the loop never built it."""
    srv = start_server()
    try:
        assert good_call_works(srv, "1795441378.80")
        built_on, real = [], rates.rating.RateIndex

        def index(rows):
            built_on.append(threading.current_thread().name)
            return real(rows)

        monkeypatch.setattr(rates.rating, "RateIndex", index)
        rates._cache.clear()  # as after a change made elsewhere
        assert good_call_works(srv, "1795441378.81")
        assert built_on and "agi-loop" not in built_on, built_on
    finally:
        assert srv.stop(wait=5)


def test_the_rate_index_is_not_built_on_a_thread_that_may_not_wait(db_path):
    """On the FastAGI loop's thread a stale rate index is WouldWait (nothing built);
    elsewhere it is built, and then the loop uses it."""
    from billing_addon.store import WouldWait

    from .helpers import make_rate

    make_rate("9", rate="0.01", unit="1")
    rates._cache.clear()
    seen = []

    def on_the_loop():
        store.never_wait_here()
        try:
            rates.index()
            seen.append("built")
        except WouldWait:
            seen.append("would wait")
        finally:
            store.close_db()

    for _ in range(2):
        loop = threading.Thread(target=on_the_loop)
        loop.start()
        loop.join(10)
        rates.index()  # housekeeping's, or a worker's
    assert seen == ["would wait", "built"]


def test_at_the_cap_a_slow_sender_gives_way_before_a_silent_one():
    """A peer sending its environment a byte at a time always has a byte waiting, so
    "nothing waiting to be read" never named it, and 210 of them kept Asterisk out (the
    review's run: every new connection refused). The oldest that sent part of its
    environment and not the rest after SLOW_SENDER_S gives way first; a peer that just
    began is left alone (its rest may be in the next segment)."""
    from types import SimpleNamespace

    from billing_addon.pbx import server

    now = time.monotonic()

    def conn(age, started, unread):
        return SimpleNamespace(state="env", opened=now - age, env_started=lambda: started,
                               unread=lambda: unread)

    quiet = conn(9.0, False, False)
    dripping = [conn(8.0 - i, True, True) for i in range(3)]
    fresh = conn(0.01, True, True)
    pick = server.AgiServer.oldest_silent
    assert pick(SimpleNamespace(connections=[quiet, *dripping, fresh])) is dripping[0]
    assert pick(SimpleNamespace(connections=[quiet, fresh])) is quiet
    assert pick(SimpleNamespace(connections=[fresh])) is None


@pytest.mark.parametrize("answered_ms", ["\u00b2", "\u0661\u0662\u0663\u0660\u0660"])
def test_settle_reads_ascii_digits_only(answered_ms):
    """docs/money.md: digits of other scripts are never numbers. '١٢٣٠٠' was billed as
    13 s; '²' passed the check, then int() raised and the settle session failed."""
    assert handlers.started_seconds(answered_ms, "3", "3") == 3
    assert handlers.started_seconds("", "\u0663", "4") == 4


def _authorized_then_settled(answered_ms: str) -> None:
    """The recorded call authorized, then its settle session with ``answered_ms``:
    the call is charged."""
    srv = start_server()
    try:
        assert replay(srv.address, GOOD).variables.get("BILLING_RESULT") == "ALLOWED"
        env = make_env("settle", "1795441378.1",
                       ["3", "ANSWER", "1795441378.1", "3", "1001", "1234567", answered_ms])
        replay(srv.address, env)
        assert wait_for(lambda: Call.get(Call.uniqueid == "1795441378.1").status == "charged",
                        timeout=5)
    finally:
        srv.stop()


def test_a_settle_with_a_superscript_answered_time_still_settles(billing):
    _authorized_then_settled("\u00b2")


def test_a_local_queue_file_that_cannot_be_read_does_not_stop_settlements(billing, tmp_path,
                                                                         monkeypatch):
    """On a box with its own store the queue is never written, yet every settle looks
    at it first: a file that cannot be read made every settle session fail."""
    import sqlite3

    from billing_addon import settle_queue

    queue = settle_queue.open_queue(tmp_path / "settle-queue.db")

    def unreadable(uniqueid):
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(queue, "waiting", unreadable)
    try:
        _authorized_then_settled("3000")
    finally:
        settle_queue.close_queue()
