"""The local queue of settlements for the central store (billing_addon/settle_queue.py):
a real queue file and a real SQLite store; the store "unreachable" is a settle that
raises store.Unreachable before it reaches the store (as the PostgreSQL layer does)."""

import logging
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import accounts, calls, outage, settings, settle_queue, store
from billing_addon.pbx import cdr, handlers
from billing_addon.store import Call, Extension, Ledger

from .helpers import amount, dump_database, make_extension, make_rate
from .pbx_support import cdr_rows

T0 = 1795441378


@pytest.fixture
def box(db_path, tmp_path):
    """1001 with $10, 0.01 a second for 9...; the daemon's queue open next to the store."""
    make_extension("1001", balance="10")
    make_rate("9", rate="0.01", unit="1")
    settings.put("max_call_seconds", "60")  # a call reserves 0.61
    queue = settle_queue.open_queue(settle_queue.path_for(db_path))
    yield queue
    settle_queue.close_queue()
    outage.current.up()


def request(uid, seconds, **kw):
    return calls.SettleRequest(uid, seconds, "ANSWER", kw.get("number"), kw.get("dialed"),
                               kw.get("started"), "agi")


def allowed(uid, number="1001", dialed="912345"):
    assert calls.authorize(number, dialed, T0, uid).result == calls.ALLOWED


def money_tables():
    """Every row of the tables a settlement writes, read through the store (SQLite or
    PostgreSQL), to compare before and after a delivery that must change nothing."""
    return [store.sql(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("extension", "call", "ledger", "call_daily")]


def ledger_of(uid):
    return Ledger.select().join(Call).where(Call.uniqueid == uid).count()


def balance(number="1001"):
    return Extension.get(Extension.number == number).balance


class Down:
    """``calls.settle`` behind a link that is cut for the first ``times`` calls."""

    def __init__(self, times):
        self.times = times
        self.seen = []

    def __call__(self, uniqueid, *args, **kw):
        self.seen.append(uniqueid)
        if self.times:
            self.times -= 1
            raise store.Unreachable("connection refused")
        return calls.settle(uniqueid, *args, **kw)


def test_put_then_deliver_in_order_exactly_once(box):
    for i in range(5):
        allowed(f"c{i}")
        box.put(request(f"c{i}", 10 + i), T0 + 100 + i)
    assert box.count() == 5 and box.waiting("c3") and not box.waiting("c9")
    seen = Down(0)
    assert settle_queue.deliver(box, seen) == 5
    assert seen.seen == [f"c{i}" for i in range(5)]  # the order they came in
    assert box.count() == 0 and box.oldest() == [] and not box.waiting("c3")
    for i in range(5):
        call = Call.get(Call.uniqueid == f"c{i}")
        # charged at the time the call ended, not the time of the delivery
        assert (call.status, call.cost, call.settled_utc) == ("charged", (10 + i) * 100, T0 + 100 + i)
        assert ledger_of(f"c{i}") == 1
    assert balance() == amount("10") - sum((10 + i) * 100 for i in range(5))
    assert accounts.verify() == []


def test_unreachable_keeps_everything_in_order_and_backs_off(box, caplog):
    for i in range(3):
        allowed(f"c{i}")
        box.put(request(f"c{i}", 5), T0)
    link = Down(3)
    deliverer = settle_queue.Deliverer(box, link, outage.Outage())
    with caplog.at_level(logging.INFO, logger="billing_addon"):
        pauses = []
        for _ in range(3):
            assert deliverer.once() == 0
            pauses.append(deliverer.pause())
        assert pauses == sorted(pauses) and pauses[0] < pauses[-1]  # backing off
        assert box.count() == 3 and Ledger.select().where(Ledger.kind == "call").count() == 0
        assert link.seen == ["c0", "c0", "c0"]  # the first waits, nothing overtakes it
        assert deliverer.once() == 3
    assert deliverer.failures == 0 and box.count() == 0
    assert [ledger_of(f"c{i}") for i in range(3)] == [1, 1, 1]
    down = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(down) == 1  # once per outage, not per try
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_a_refused_settlement_is_set_aside_and_the_rest_goes_on(box, db_path, caplog):
    allowed("c1")
    allowed("c3")
    box.put(request("c1", 4), T0)
    box.put(request("c2", 10 ** 7), T0)  # more than a week: refused by settle
    box.put(request("c3", 6), T0)
    with caplog.at_level(logging.ERROR, logger="billing_addon.settle_queue"):
        assert settle_queue.deliver(box) == 2
    assert box.count() == 0 and [ledger_of("c1"), ledger_of("c3")] == [1, 1]
    [aside] = box.set_aside_list()
    assert aside.uniqueid == "c2" and "answered seconds" in aside.reason
    assert "c2" in caplog.text and "set aside" in caplog.text
    assert settle_queue.deliver(box) == 0  # not retried by itself
    # kept across a restart, and put back by the operator
    settle_queue.close_queue()
    box = settle_queue.open_queue(settle_queue.path_for(db_path))
    assert [a.seq for a in box.set_aside_list()] == [aside.seq] and box.count() == 0
    assert box.retry(aside.seq) and not box.retry(aside.seq) and box.waiting("c2")
    assert box.count() == 1


def test_a_settlement_failing_for_another_reason_is_set_aside_after_max_attempts(box, monkeypatch):
    monkeypatch.setattr(settle_queue, "MAX_ATTEMPTS", 3)
    allowed("c1")
    box.put(request("c1", 4), T0)

    def broken(*args, **kw):
        raise RuntimeError("a bug")

    deliverer = settle_queue.Deliverer(box, broken, outage.Outage())
    assert [deliverer.once() for _ in range(3)] == [0, 0, 0]
    assert box.count() == 0 and box.set_aside_list()[0].reason == "RuntimeError: a bug"
    assert ledger_of("c1") == 0


def test_restart_delivers_what_was_queued(box, db_path):
    for i in range(4):
        allowed(f"c{i}")
        box.put(request(f"c{i}", 3), T0)
    settle_queue.close_queue()  # the daemon stopped (or died) here
    again = settle_queue.open_queue(settle_queue.path_for(db_path))
    assert again.count() == 4 and again.waiting("c2")
    stop = threading.Event()
    deliverer = settle_queue.Deliverer(again, idle_seconds=0.01)
    thread = threading.Thread(target=deliverer.run, args=(stop,))
    thread.start()
    try:
        from .helpers import wait_until
        wait_until(lambda: again.count() == 0, 20, "the queue to empty")
    finally:
        stop.set()
        thread.join(10)
    store.init_db(db_path)  # the thread closed its connection; this one reopens
    assert [ledger_of(f"c{i}") for i in range(4)] == [1, 1, 1, 1]


# every kind of call a queued settlement may meet, each delivered twice (a crash between
# the store's commit and the queue's delete): the second changes nothing
def _charged(uid):  # authorized, answered
    allowed(uid)
    return request(uid, 30)


def _never_authorized(uid):  # the fail mode let it through: rated at delivery
    return request(uid, 30, number="1001", dialed="912345", started=T0)


def _unrated(uid):  # authorize never saw it and no rate matches
    return request(uid, 30, number="1001", dialed="812345", started=T0)


def _unbilled(uid):  # an extension nobody bills
    make_extension("1002", billing=False)
    assert calls.authorize("1002", "912345", T0, uid).result == calls.UNBILLED
    return request(uid, 30)


def _denied(uid):
    make_extension("1003")
    assert calls.authorize("1003", "912345", T0, uid).result == calls.DENIED
    return request(uid, 30)


def _expired(uid):  # its reservation was released as stale before the store came back
    allowed(uid)
    assert calls.release(uid)
    return request(uid, 30)


def _unknown(uid):  # nothing to rate it by: forgotten
    return request(uid, 30)


@pytest.mark.parametrize("kind", [_charged, _never_authorized, _unrated, _unbilled, _denied,
                                  _expired, _unknown])
def test_a_second_delivery_charges_nothing(box, db_path, kind):
    entry = kind("u1")
    box.put(entry, T0 + 60)
    first = settle_queue.deliver(box)
    assert first == 1 and box.count() == 0
    after_one = money_tables()
    assert ledger_of("u1") <= 1
    box.put(entry, T0 + 60)  # the crash kept the row: delivered again
    assert settle_queue.deliver(box) == 1
    assert money_tables() == after_one
    assert accounts.verify() == []


_examples = iter(range(10 ** 6))


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.lists(st.integers(0, 600), min_size=1, max_size=8),
       repeats=st.lists(st.integers(1, 3), min_size=8, max_size=8))
def test_queued_then_delivered_costs_what_settling_at_once_costs(db_path, tmp_path, seconds,
                                                                 repeats):
    """However often each settlement is queued (crashes before the delete), the
    balance after delivery is that of settling each call once."""
    if not Extension.select().exists():
        make_extension("1001", balance="100000")
        make_rate("9", rate="0.01", unit="1")
        settings.put("max_call_seconds", "600")
    n = next(_examples)
    queue = settle_queue.SettleQueue(tmp_path / f"queue-{n}.db")
    try:
        expected = balance()
        charged_before = Ledger.select().where(Ledger.kind == "call").count()
        for i, s in enumerate(seconds):
            allowed(f"p{n}-{i}")
            expected -= s * 100
            for _ in range(repeats[i]):
                queue.put(request(f"p{n}-{i}", s), T0)
        assert settle_queue.deliver(queue) == sum(repeats[:len(seconds)])
        assert balance() == expected
        assert Ledger.select().where(Ledger.kind == "call").count() - charged_before == \
            sum(1 for s in seconds if s)
        assert accounts.verify() == []
    finally:
        queue.close()


# -- the FastAGI side: what the settle AGI and authorize do during an outage ---------------

def test_settle_agi_queues_while_the_store_is_down_and_later_ones_wait_behind(box):
    allowed("c1")
    outage.current.down(store.Unreachable("refused"))
    done = handlers._settle_now("c1", 12, "ANSWER", "1001", "912345", lambda: "active")
    assert done.outcome == "queued" and box.count() == 1 and ledger_of("c1") == 0
    outage.current.up()  # back; but c1 waits in the queue: a second settle goes behind it
    again = handlers._settle_now("c1", 99, "ANSWER", "1001", "912345", lambda: "active")
    assert again.outcome == "queued" and box.count() == 2 and ledger_of("c1") == 0
    assert settle_queue.deliver(box) == 2
    call = Call.get(Call.uniqueid == "c1")
    assert (call.answered_s, call.cost, ledger_of("c1")) == (12, 1200, 1)  # the first one counts


def test_a_never_authorized_call_is_queued_with_what_rates_it(box):
    outage.current.down(store.Unreachable("refused"))
    uid = f"{T0}.7"
    assert handlers._settle_now(uid, 20, "ANSWER", "1001", "912345", lambda: "active").outcome == "queued"
    outage.current.up()
    settle_queue.deliver(box)
    call = Call.get(Call.uniqueid == uid)
    assert (call.status, call.reason, call.cost, call.started_utc) == (
        "charged", calls.NOT_AUTHORIZED, 2000, T0)


def test_settle_agi_without_a_queue_says_so(db_path, caplog):
    outage.current.down(store.Unreachable("refused"))
    try:
        with caplog.at_level(logging.ERROR, logger="billing_addon.pbx.handlers"):
            assert handlers._settle_now("c1", 1, "ANSWER", None, None, lambda: "active") is None
        assert "the CDR follower will charge the call" in caplog.text
    finally:
        outage.current.up()


def test_authorize_gets_the_fail_mode_at_once_while_the_store_is_down(box):
    outage.current.down(store.Unreachable("refused"))
    auth = handlers._decide_now("1001", "912345", "c1", lambda: "active")
    assert (auth.result, auth.reason) == (calls.DENIED, handlers.ERROR)
    assert Call.select().count() == 0  # the store was not asked
    outage.current.up()
    assert handlers._decide_now("1001", "912345", "c2", lambda: "active").result == calls.ALLOWED


def test_the_fastagi_loop_leaves_trying_the_store_again_to_a_worker(box, monkeypatch):
    """Past the second without tries, the next call tries the store again, which may
    take the connect timeout: never on the FastAGI loop, whose wait stalls every call."""
    from billing_addon.pbx import agi

    monkeypatch.setattr(outage, "PROBE_SECONDS", 0.0)
    outage.current.down(store.Unreachable("refused"))
    on_the_loop = []

    def loop():
        store.never_wait_here()  # what the daemon does to its FastAGI loop thread
        try:
            on_the_loop.append(handlers._decide_now("1001", "912345", "c1", lambda: "active"))
        except agi.WouldBlock:
            on_the_loop.append("to a worker")

    thread = threading.Thread(target=loop)
    thread.start()
    thread.join(10)
    assert on_the_loop == ["to a worker"] and Call.select().count() == 0
    # a worker tries: the store answers, the outage is over
    assert handlers._decide_now("1001", "912345", "c1", lambda: "active").result == calls.ALLOWED
    assert outage.current.since is None


def test_the_outage_is_logged_once_and_probed_again_after_a_second(caplog):
    now = [100.0]
    watch = outage.Outage(clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="billing_addon.outage"):
        for _ in range(50):
            watch.down(store.Unreachable("refused"))
        assert watch.skip_store()
        now[0] += outage.PROBE_SECONDS
        assert not watch.skip_store()  # time to try the store again
        watch.up()
        watch.up()
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    assert "50" in caplog.records[1].getMessage()


def test_the_cdr_follower_leaves_a_queued_call_to_the_queue(box):
    allowed(f"{T0}.1")
    uid = f"{T0}.1"
    box.put(request(uid, 7), T0 + 60)
    lines = cdr_rows(uid, "1001", "912345", T0, 6, settings.zone()).splitlines()
    rows = list(cdr.billable_rows(((f"line {i}", line) for i, line in enumerate(lines)),
                                  cdr.Stats()))
    stats = cdr.Stats()
    cdr.Settler(mark=None).settle(rows, stats)
    assert ledger_of(uid) == 0 and stats.already == 1
    settle_queue.deliver(box)
    assert Call.get(Call.uniqueid == uid).answered_s == 7  # the hangup handler's figure
    cdr.Settler(mark=None).settle(rows, cdr.Stats())  # and the CDR does not charge it again
    assert ledger_of(uid) == 1 and accounts.verify() == []


# -- the operator's view: billing-addon settle-queue ---------------------------------------

def test_the_command_line_lists_and_puts_back(tmp_path, capsys):
    from billing_addon import cli

    from .pbx_support import write_config

    ini = write_config(tmp_path)
    assert cli.main(["--config", ini, "settle-queue"]) == 0
    assert capsys.readouterr().out.startswith("0 settlement(s) waiting")
    queue = settle_queue.SettleQueue(tmp_path / "data" / settle_queue.FILE_NAME)
    try:
        queue.put(request("c1", 5), T0)
        queue.put(request("c2", 6), T0 + 1)
        queue.set_aside(queue.oldest()[1], "no such extension", T0 + 2)
        assert cli.main(["--config", ini, "settle-queue"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("1 settlement(s) waiting for the central store")
        assert "set aside #2 call c2" in out and "no such extension" in out
        before = dump_database(queue.path)
        assert cli.main(["--config", ini, "settle-queue", "--retry", "1"]) == 1  # waiting, not set aside
        assert capsys.readouterr().err.strip() == \
            "error: no set-aside settlement #1 (see billing-addon settle-queue)"
        assert dump_database(queue.path) == before
        assert cli.main(["--config", ini, "settle-queue", "--retry", "2"]) == 0
        assert "2 settlement(s) waiting" in capsys.readouterr().out
        assert queue.waiting("c2") and queue.set_aside_list() == []
    finally:
        queue.close()


def test_the_admin_page_shows_what_waits(box):
    from billing_addon.web import auth
    from billing_addon.web.app import make_app

    from billing_addon import config
    from tests.web_fakes import FakeActivation
    from tests.webclient import Client

    auth.set_admin_password("admin-secret-1")
    admin = Client(make_app(config.load(None), FakeActivation()))
    admin.login("admin", "admin-secret-1")
    assert 'id="settle-queue"' not in admin.get("/admin/settings").text  # nothing waits
    for i in range(3):
        box.put(request(f"c{i}", 5), T0)
    box.set_aside(box.oldest()[0], "refused", T0)
    page = admin.get("/admin/settings").text
    assert "2 settlements waiting for the central store." in page
    assert "1 settlement was refused by the central store and set aside" in page


class _QueueThatFailsToCount:
    """The queue, whose count() fails once after each delivery (a read of the file that
    fails: a disk I/O error, a lock held too long)."""

    def __init__(self, real):
        self.real = real
        self.path = real.path
        self.fail_next_count = False

    def count(self):
        if self.fail_next_count:
            self.fail_next_count = False
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")
        return self.real.count()

    def oldest(self, limit=100):
        rows = self.real.oldest(limit)
        self.fail_next_count = self.fail_next_count or bool(rows)
        return rows

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_the_delivering_thread_outlives_a_queue_read_that_fails(db_path, tmp_path):
    """One failed read of the queue's file after a delivery ended the thread: what was
    queued after it waited for a restart, and the watchdog never knew."""
    import time

    queue = settle_queue.SettleQueue(tmp_path / "settle-queue.db")
    settled = []

    def settle(uniqueid, *args, **kw):
        settled.append(uniqueid)
        return calls.Settlement(uniqueid, "charged")

    deliverer = settle_queue.Deliverer(_QueueThatFailsToCount(queue), settle=settle,
                                       idle_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        queue.put(calls.SettleRequest("q.1", 3, "ANSWER"), 1)
        deadline = time.monotonic() + 5
        while settled != ["q.1"] and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        queue.put(calls.SettleRequest("q.2", 3, "ANSWER"), 2)
        while "q.2" not in settled and time.monotonic() < deadline + 5:
            time.sleep(0.02)
        assert thread.is_alive() and settled == ["q.1", "q.2"], settled
    finally:
        stop.set()
        thread.join(5)
        queue.close()
