"""Group commit (issue 17 item 1): settlements and authorizations that arrive together
share one transaction; a refused member leaves the others whole; under many threads on
few extensions the reservation rules hold exactly and every answer is the database's."""

import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import peewee
import pytest

from billing_addon import accounts, calls, settings, store
from billing_addon.store import Call, Extension, Ledger

from . import group_crash_worker, pg_store
from .helpers import amount, make_extension, make_rate, store_intact, wait_until
from .test_crash import first_lines

T0 = 1795441378
ROOT = Path(__file__).resolve().parents[1]


# on PostgreSQL authorize and settle do not group: they run side by side (docs/store.md)
SIDE_BY_SIDE = pytest.mark.sqlite_only("on PostgreSQL the call path runs side by side, "
                                       "not in groups")


def one_batch(group, work):
    """Run each callable of ``work`` in a thread of its own, all in one batch of
    ``group``: the write queue is held until every one of them queued.  Their outcomes
    (a result, or the exception raised), in order."""
    outcomes = [None] * len(work)

    def run(i):
        try:
            outcomes[i] = work[i]()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[i] = exc

    batches, members = group.batches, group.members
    store._writer.acquire()
    threads = []
    try:
        for i in range(len(work)):
            threads.append(threading.Thread(target=run, args=(i,)))
            threads[-1].start()
            # one at a time, so the batch runs them in this order
            wait_until(lambda n=i + 1: len(group._queue) == n, 10, f"member {i} to queue")
    finally:
        store._writer.release()
    for t in threads:
        t.join(30)
    assert (group.batches - batches, group.members - members) == (1, len(work))
    return outcomes


def balance(number):
    row = Extension.get(Extension.number == number)
    return row.balance, row.reserved


@SIDE_BY_SIDE
def test_a_refused_settlement_leaves_its_batch_whole(db_path):
    make_extension("1001", balance="10")
    make_extension("1002", balance="10")
    make_rate("9", rate="0.01", unit="1")
    settings.put("max_call_seconds", "60")  # a call reserves 0.61
    for uid, number in (("c1", "1001"), ("c2", "1001"), ("c3", "1002"), ("c4", "1002")):
        assert calls.authorize(number, "912345", T0, uid).result == calls.ALLOWED

    def recharge_then_fail():
        with store.money_txn():
            accounts.recharge(["1002"], amount("5"), "undone")
            raise accounts.AccountError("refused after writing")

    failing = store.grouped(store.money_group)(recharge_then_fail)
    outcomes = one_batch(store.money_group, [
        lambda: calls.settle("c1", 30, "ANSWER", T0 + 60),
        lambda: calls.settle("c2", -1, "ANSWER", T0 + 60),  # refused: bad seconds
        failing,  # wrote, then refused: its writes are undone, nobody else's
        lambda: calls.settle("c3", 12, "ANSWER", T0 + 60),
        lambda: calls.settle("nobody", 5, "ANSWER", T0 + 60),
        lambda: calls.settle("c1", 30, "ANSWER", T0 + 60),  # the same call again
        lambda: calls.settle("c4", 7, "ANSWER", T0 + 120),  # settled at another time
        lambda: calls.settle("c4", 7, "ANSWER", at=T0 + 120, bad="argument"),
    ])
    first, bad_seconds, refused, third, unknown, again, fourth, bad_call = outcomes
    assert (first.outcome, first.cost) == ("charged", amount("0.30"))
    assert isinstance(bad_seconds, calls.CallError)
    assert isinstance(refused, accounts.AccountError)
    assert (third.outcome, third.cost) == ("charged", amount("0.12"))
    assert unknown.outcome == "unknown"
    assert (again.outcome, again.cost) == ("duplicate", amount("0.30"))
    assert (fourth.outcome, fourth.cost) == ("charged", amount("0.07"))
    assert isinstance(bad_call, TypeError)
    assert Call.get(Call.uniqueid == "c1").settled_utc == T0 + 60
    assert Call.get(Call.uniqueid == "c4").settled_utc == T0 + 120
    assert Call.get(Call.uniqueid == "c2").status == "in-progress"  # still reserved
    assert Ledger.select().where(Ledger.operator == "undone").count() == 0
    assert Ledger.select().where(Ledger.kind == "call").count() == 3
    assert balance("1001")[0] == amount("9.70")
    assert balance("1002")[0] == amount("9.81")
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_refused_authorizations_leave_their_batch_whole(db_path):
    make_extension("1001", balance="10")
    make_extension("1002", balance="10")
    accounts.edit(["1002"], status="locked")
    make_extension("1003", balance="0.01")  # one second: not enough for a call
    make_rate("9", rate="0.01", unit="1")
    settings.put("max_call_seconds", "60")  # a call reserves 0.61
    outcomes = one_batch(store.reservation_group, [
        lambda: calls.authorize("1001", "912345", T0, "a1"),
        lambda: calls.authorize("1002", "912345", T0, "a2"),
        lambda: calls.authorize("1003", "912345", T0, "a3"),
        lambda: calls.authorize("1001", "9x", T0, "a4"),  # refused: not a number
        lambda: calls.authorize("1001", "912345", T0, "a5"),
        lambda: calls.authorize("1001", "955555", T0, "a1"),  # a1 again, another number
    ])
    a1, a2, a3, a4, a5, again = outcomes
    assert a1.result == calls.ALLOWED and a5.result == calls.ALLOWED
    assert (a2.result, a2.reason) == (calls.DENIED, calls.LOCKED)
    assert (a3.result, a3.reason) == (calls.DENIED, calls.NO_FUNDS)
    assert isinstance(a4, calls.CallError)
    assert (again.result, again.reason) == (calls.DENIED, calls.ERROR)
    assert a1.reserved == a5.reserved == amount("0.61")
    assert balance("1001")[1] == amount("1.22")
    assert Call.get_or_none(Call.uniqueid == "a4") is None
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_a_failed_commit_fails_every_member_and_writes_nothing(db_path):
    """The transaction itself fails (here: the first member makes SQLite give it up):
    no member is answered as if written, and none of their writes stay."""
    make_extension("1001", balance="10")
    make_rate("9", rate="0.01", unit="1")
    assert calls.authorize("1001", "912345", T0, "c1").result == calls.ALLOWED

    def end_the_transaction():
        if store.postgres():  # what a server does on, say, a failed statement
            store.sql("ROLLBACK")
        else:
            store.db.connection().rollback()  # what SQLite does on, say, a full disk

    ender = store.grouped(store.money_group)(end_the_transaction)
    outcomes = one_batch(store.money_group, [
        lambda: calls.settle("c1", 30, "ANSWER", T0 + 60),
        ender,
        lambda: calls.settle("c1", 30, "ANSWER", T0 + 60),
    ])
    assert all(isinstance(o, peewee.OperationalError) for o in outcomes), outcomes
    assert Call.get(Call.uniqueid == "c1").status == "in-progress"
    assert Ledger.select().where(Ledger.kind == "call").count() == 0
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_a_queued_authorization_gives_up_at_its_deadline(db_path):
    make_extension("1001", balance="10")
    make_rate("9", rate="0.01", unit="1")
    outcome = []
    store._writer.acquire()
    try:
        def waiter():
            with store.lock_wait(0.3):
                try:
                    outcome.append(calls.authorize("1001", "912345", T0, "late"))
                except Exception as exc:  # noqa: BLE001
                    outcome.append(exc)

        threads = [threading.Thread(target=waiter) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        store._writer.release()
    assert len(outcome) == 2
    assert all(isinstance(o, peewee.OperationalError) and "locked" in str(o) for o in outcome)
    assert not store.reservation_group._queue and not store.reservation_group._leading
    assert calls.authorize("1001", "912345", T0, "late").result == calls.ALLOWED


@pytest.mark.parametrize("durability", ["full", "normal"])
def test_many_threads_on_few_extensions(tmp_path, durability):
    """24 threads, 3 extensions with little money: calls overlap, batches form, the
    money runs out.  No extension spends past balance + credit, every answer is what
    the database holds, and the ledger explains every balance."""
    store.init_db(tmp_path / "billing.db", durability=durability)
    try:
        numbers = ["2001", "2002", "2003"]
        for number in numbers:
            make_extension(number, balance="3", credit="1")
        make_rate("9", rate="0.01", unit="1")
        settings.put("max_call_seconds", "60")  # a call reserves 0.61: many at once
        auths, settles = [], []
        lock = threading.Lock()
        money_before = (store.money_group.members, store.money_group.batches)
        auth_before = (store.reservation_group.members, store.reservation_group.batches)

        def caller(t):
            rnd = random.Random(t)
            for i in range(40):
                uid = f"t{t}-{i}"
                auth = calls.authorize(numbers[(t + i) % 3], "912345", T0 + i, uid)
                with lock:
                    auths.append(auth)
                if auth.result != calls.ALLOWED:
                    continue
                # short calls, so the money lasts most of the run; now and then one
                # that talks up to its limit (where the PBX cuts it)
                limit_s = auth.limit_ms // 1000
                answered = limit_s if rnd.random() < 0.05 else min(limit_s, rnd.randint(0, 3))
                result = calls.settle(uid, answered, "ANSWER", T0 + i + 60)
                with lock:
                    settles.append((auth, answered, result))

        threads = [threading.Thread(target=caller, args=(t,)) for t in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(auths) == 24 * 40
        money_members = store.money_group.members - money_before[0]
        money_batches = store.money_group.batches - money_before[1]
        auth_members = store.reservation_group.members - auth_before[0]
        auth_batches = store.reservation_group.batches - auth_before[1]
        if not store.postgres():  # there: side by side instead
            assert money_members == len(settles) and auth_members == len(auths)
            assert money_batches < money_members and auth_batches < auth_members  # they grouped
        denied = [a for a in auths if a.result == calls.DENIED]
        assert denied and all(a.reason == calls.NO_FUNDS for a in denied)  # money ran out
        for auth, answered, result in settles:
            call = Call.get(Call.uniqueid == auth.uniqueid)
            assert (result.outcome, result.cost) == ("charged", answered * amount("0.01"))
            assert result.cost <= auth.reserved and not result.over_limit
            assert (call.status, call.cost, call.limit_ms) == ("charged", result.cost, auth.limit_ms)
            entries = Ledger.select().where(Ledger.call == call).count()
            assert entries == (1 if result.cost else 0)
        for auth in denied:
            assert Call.get(Call.uniqueid == auth.uniqueid).status == "denied"
        for number in numbers:
            bal, reserved = balance(number)
            assert reserved == 0 and bal >= -amount("1")  # never past its credit
        assert accounts.verify() == []
    finally:
        store.close_db()


@pytest.mark.parametrize("how", ["threads", "taken"])
def test_sigkill_mid_batch_loses_no_acknowledged_settlement(tmp_path, how):
    """kill -9 of a process whose settlements commit in groups of many (threads that
    settle at once, or a FastAGI worker's settlements taken together): every
    settlement it acknowledged is in the ledger exactly once; the calls it had not
    acknowledged, settled again (the CDR's replay), are charged once, none twice."""
    path = tmp_path / "crash.db"
    store.init_db(path)
    for number in group_crash_worker.EXTENSIONS:
        make_extension(number, balance="100000")
    make_rate("9", rate="0.01", unit="1")
    store.close_db()
    rnd = random.Random(17)
    lines = []
    for round_ in range(4):
        child = subprocess.Popen([sys.executable, "-m", "tests.group_crash_worker", str(path),
                                  str(round_ * 10_000_000)] + (["taken"] if how == "taken" else []),
                                 stdout=subprocess.PIPE, text=True, cwd=ROOT)
        lines += first_lines(child, 40)  # at work: the groups are forming
        time.sleep(rnd.random() * 0.5)
        child.kill()  # SIGKILL, in the middle of a batch: the groups follow each other
        out, _ = child.communicate(timeout=30)
        lines += out.split("\n")
    acknowledged = {line.split()[1] for line in lines if line.startswith("settled ")}
    largest = max((int(line.split()[1]) for line in lines if line.startswith("grouped ")),
                  default=1)
    assert len(acknowledged) > 100, len(acknowledged)
    assert largest > 2 or pg_store.active(), largest  # PostgreSQL: side by side instead

    def index_of(uid):
        return int(uid.split("-")[1])

    store.init_db(path)
    try:
        assert store_intact()
        assert accounts.verify() == []
        for uid in acknowledged:
            call = Call.get(Call.uniqueid == uid)
            expected = group_crash_worker.answered_of(index_of(uid)) * amount("0.01")
            assert (call.status, call.cost) == ("charged", expected), uid
            assert Ledger.select().where(Ledger.call == call).count() == 1, uid
        # the replay: every call settled again, acknowledged or not
        unsettled = [c.uniqueid for c in Call.select().where(Call.status == "in-progress")]
        assert unsettled  # the kills cut calls whose settlement was under way
        for uid in unsettled + sorted(acknowledged):
            calls.settle(uid, group_crash_worker.answered_of(index_of(uid)), "ANSWER")
        for call in Call.select():
            expected = group_crash_worker.answered_of(index_of(call.uniqueid)) * amount("0.01")
            assert (call.status, call.cost) == ("charged", expected), call.uniqueid
        charges = Ledger.select().where(Ledger.kind == "call").count()
        assert charges == Call.select().count()
        assert accounts.verify() == []
    finally:
        store.close_db()


def _statements_of_this_thread():
    """The SQL statements this thread's connection runs from here on (a list)."""
    seen = []
    store.db.connection().set_trace_callback(seen.append)
    return seen


@SIDE_BY_SIDE
def test_reserve_together_is_one_transaction_with_a_savepoint_each(db_path):
    """The FastAGI loop's round of authorizations: one BEGIN and one COMMIT for them
    all; one that raises after it wrote undoes its own writes only."""
    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")

    def writes_then_fails():
        with store.reservation_txn():
            store.sql("INSERT INTO setting (key, value) VALUES ('half', 'done')")
            raise ValueError("refused after writing")

    seen = _statements_of_this_thread()
    try:
        members = store.reserve_together([
            lambda: calls.authorize("1001", "912345", T0, "t1"),
            writes_then_fails,
            lambda: calls.authorize("1001", "912345", T0, "t3")], 1.0)
    finally:
        store.db.connection().set_trace_callback(None)
    assert [m.result.result for m in (members[0], members[2])] == [calls.ALLOWED] * 2
    assert isinstance(members[1].error, ValueError) and members[1].result is None
    assert sum(s.startswith("BEGIN") for s in seen) == 1, seen
    assert sum(s.startswith("SAVEPOINT") for s in seen) >= 3
    assert {c.uniqueid for c in Call.select()} == {"t1", "t3"}
    assert store.sql_one("SELECT count(*) FROM setting WHERE key = 'half'")[0] == 0
    assert balance("1001")[1] == sum(c.reserved for c in Call.select())
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_reserve_together_runs_each_alone_when_the_transaction_failed(db_path):
    """A failure of the transaction itself (not a refusal of one member) writes
    nothing; each function then runs again on its own, so none is answered with
    another's failure, and none is written twice."""
    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    ran = []

    def end_the_transaction():  # what SQLite does on, say, a full disk
        ran.append("ender")
        store.db.connection().rollback()

    members = store.reserve_together([
        lambda: calls.authorize("1001", "912345", T0, "t4"),
        end_the_transaction,
        lambda: calls.authorize("1001", "912345", T0, "t5")], 1.0)
    assert ran == ["ender", "ender"]
    assert [m.error for m in members] == [None] * 3
    assert [m.result.result for m in (members[0], members[2])] == [calls.ALLOWED] * 2
    assert sorted(c.uniqueid for c in Call.select()) == ["t4", "t5"]
    assert balance("1001")[1] == sum(c.reserved for c in Call.select())
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_reserve_together_on_the_loop_gives_way_to_another_process(db_path):
    """On the FastAGI loop (which never waits), the write lock held by another process
    (the CLI): nothing runs, nothing is written, and every member is handed back to
    go to a worker (``agi.WouldBlock``)."""
    from billing_addon.pbx import agi, handlers

    from .helpers import on_the_loop_beside_the_write_lock

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    ran, outcomes = [], []

    def authorize(uniqueid):
        ran.append(uniqueid)
        return calls.authorize("1001", "912345", T0, uniqueid)

    on_the_loop_beside_the_write_lock(db_path, lambda: outcomes.extend(
        handlers.run_together(1.0)([agi.Work(authorize, (f"t{n}",), urgent=True)
                                    for n in range(3)])), timeout=10)
    assert ran == [] and len(outcomes) == 3
    assert all(result is None and isinstance(error, agi.WouldBlock) for result, error in outcomes)
    assert Call.select().count() == 0


@SIDE_BY_SIDE
def test_settlements_a_worker_took_together_share_one_commit(db_path):
    """The settle works a FastAGI worker found queued together: one money transaction
    (one fsync), charged set-wise; a refused one (bad input) changes nothing and the
    others are charged; each exactly once."""
    from billing_addon.pbx import handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    for n in range(5):
        assert calls.authorize("1001", "912345", T0, f"s{n}").result == calls.ALLOWED
    batches, members = store.money_group.batches, store.money_group.members
    state = lambda: "active"  # noqa: E731
    batch = [(f"s{n}", 30, "ANSWER", None, None, state) for n in range(5)]
    batch.insert(2, ("s9", -1, "ANSWER", None, None, state))  # refused: negative seconds
    # calls authorize never saw: rated now while billing is on, not billed while it is off
    batch += [(f"{T0}.7", 30, "ANSWER", "1001", "912345", state),
              (f"{T0}.8", 30, "ANSWER", "1001", "912345", lambda: "deactivated")]
    outcomes = handlers._settle_many_now(batch)
    assert (store.money_group.batches - batches, store.money_group.members - members) == (1, 8)
    assert [o[1] for o in outcomes] == [None] * 8
    assert outcomes[2] == (None, None)
    assert [o[0].outcome for i, o in enumerate(outcomes) if i != 2] == ["charged"] * 6 + [
        "unknown"]
    assert {c.status for c in Call.select()} == {"charged"}
    assert balance("1001") == (amount("1000") - 6 * amount("0.30"), 0)
    assert Ledger.select().where(Ledger.kind == "call").count() == 6
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_settlements_taken_together_go_alone_when_their_transaction_fails(db_path, monkeypatch):
    """Their set-wise charge fails (the disk, say): nothing of it was written, and each
    settlement takes the single call's way, with its tries: charged exactly once."""
    from billing_addon.pbx import handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    for n in range(4):
        assert calls.authorize("1001", "912345", T0, f"f{n}").result == calls.ALLOWED
    real, failed = calls.settle_many, []

    def fails_once(requests, at=None):
        if not failed:
            failed.append(len(requests))
            raise peewee.OperationalError("disk I/O error")
        return real(requests, at)

    monkeypatch.setattr(calls, "settle_many", fails_once)
    state = lambda: "active"  # noqa: E731
    outcomes = handlers._settle_many_now([(f"f{n}", 30, "ANSWER", None, None, state)
                                          for n in range(4)])
    assert failed == [4]
    assert [o[0].outcome for o in outcomes] == ["charged"] * 4
    assert balance("1001") == (amount("1000") - 4 * amount("0.30"), 0)
    assert Ledger.select().where(Ledger.kind == "call").count() == 4
    assert accounts.verify() == []


def test_run_all_queues_one_threads_works_next_to_each_other():
    """``CommitGroup.run_all``: one thread's works share batches (past the limit, the
    rest leads the next batch itself), each with its own outcome, in order."""
    from billing_addon import groupcommit

    lock, batches = threading.Lock(), []

    def run_batch(members):
        batches.append(len(members))
        for member in members:
            try:
                member.result = member.function(*member.args)
            except Exception as exc:  # noqa: BLE001 - the outcome under test
                member.error = exc

    group = groupcommit.CommitGroup(lambda deadline: lock.acquire(), lock.release, run_batch,
                                    limit=2)
    members = group.run_all([(lambda n=n: 10 / n, (), None) for n in range(5)])
    assert batches == [2, 2, 1]
    assert isinstance(members[0].error, ZeroDivisionError)
    assert [m.result for m in members[1:]] == [10.0, 5.0, 10 / 3, 2.5]
    assert not group._queue and not group._leading


def test_run_all_of_nothing_leaves_the_group_free():
    """``CommitGroup.run_all([])``: nothing queued, no leader left behind (a group that
    believed itself led would hold every later member back for ever)."""
    from billing_addon import groupcommit

    lock = threading.Lock()
    group = groupcommit.CommitGroup(lambda deadline: lock.acquire(), lock.release,
                                    lambda members: None)
    assert group.run_all([]) == []
    assert not group._queue and not group._leading


@SIDE_BY_SIDE
def test_a_round_on_the_loop_waits_for_the_write_queue_at_most_its_seconds(db_path):
    """The write queue held by a slow urgent writer (this thread, standing for a worker's
    reservation that turned out slow) while the loop may still authorize itself: a round
    of several authorizations gives up after its seconds, as a round of one does, and
    goes to the workers; it never holds up the loop for the other writer.
    (A writer waiting for another process's lock is not such a one: ``writes_quick``
    says no while it waits, and the loop hands its calls to the workers at once.)"""
    from billing_addon.pbx import agi, handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    assert calls.authorize("1001", "912345", T0, "r0").result == calls.ALLOWED
    state = lambda: "active"  # noqa: E731
    waited, outcomes = {}, {}

    def round_on_the_loop(size):
        store.never_wait_here()
        try:
            works = [agi.Work(handlers._decide_now,
                              ("1001", "912345", f"{T0}.{size}{n}", state, 0.3), urgent=True)
                     for n in range(size)]
            start = time.monotonic()
            outcomes[size] = handlers.run_together(0.3)(works)
            waited[size] = time.monotonic() - start
        finally:
            store.close_db()

    assert store._writer.acquire(urgent=True)
    try:
        assert store.writes_quick()
        for size in (1, 3):
            loop = threading.Thread(target=round_on_the_loop, args=(size,))
            loop.start()
            loop.join(5)
    finally:
        store._writer.release()
    for size in (1, 3):
        assert waited[size] < 1.5, (size, waited)
        assert all(result is None and isinstance(error, agi.WouldBlock)
                   for result, error in outcomes[size])
    assert Call.select().count() == 1 and accounts.verify() == []


@SIDE_BY_SIDE
def test_settlements_taken_together_that_all_wait_in_the_local_queue(db_path, tmp_path):
    """Every settlement a worker took together has an earlier one waiting in the
    box's local queue (put back by ``settle-queue --retry``, say): each takes the single
    way, and the money group stays free for the next settlement."""
    from billing_addon import settle_queue
    from billing_addon.pbx import handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    for n in range(3):
        assert calls.authorize("1001", "912345", T0, f"q{n}").result == calls.ALLOWED
    queue = settle_queue.open_queue(tmp_path / "settle-queue.db")
    try:
        for n in range(2):
            queue.put(calls.SettleRequest(f"q{n}", 30, "ANSWER"), T0 + 60)
        state = lambda: "active"  # noqa: E731
        outcomes = handlers._settle_many_now([(f"q{n}", 30, "ANSWER", None, None, state)
                                              for n in range(2)])
        assert len(outcomes) == 2 and all(error is None for _, error in outcomes)
        assert not store.money_group._leading and not store.money_group._queue
        later = []
        thread = threading.Thread(target=lambda: later.append(
            calls.settle("q2", 30, "ANSWER", T0 + 60)))
        thread.start()
        thread.join(10)
        assert later and later[0].outcome == "charged"
    finally:
        settle_queue.close_queue()
    assert accounts.verify() == []


@SIDE_BY_SIDE
@pytest.mark.parametrize("kind", ["round", "settlements"])
def test_a_batch_whose_commit_fails_runs_each_again_alone_once(db_path, monkeypatch, kind):
    """The COMMIT of a round's or a settle batch's transaction fails (a full disk):
    nothing of it was written, the round's members run again alone, the settlements
    again together a second later, and no call is reserved or charged twice."""
    from billing_addon.pbx import agi, handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    state = lambda: "active"  # noqa: E731
    if kind == "settlements":
        for n in range(4):
            assert calls.authorize("1001", "912345", T0, f"c{n}").result == calls.ALLOWED
    real, failed = type(store.db).commit, []

    def commit_fails_once(self):
        if not failed and self.transaction_depth() == 1:
            failed.append(1)
            raise peewee.OperationalError("database or disk is full")
        return real(self)

    monkeypatch.setattr(type(store.db), "commit", commit_fails_once)
    if kind == "round":
        from billing_addon import rates

        rates.index()  # built by housekeeping: the loop never builds it
        outcomes = []

        def on_the_loop():
            store.never_wait_here()
            try:
                outcomes.extend(handlers.run_together(0.5)(
                    [agi.Work(handlers._decide_now, ("1001", "912345", f"{T0}.{n}", state, 0.5),
                              urgent=True) for n in range(4)]))
            finally:
                store.close_db()

        loop = threading.Thread(target=on_the_loop)
        loop.start()
        loop.join(10)
        assert [result.result for result, _ in outcomes] == [calls.ALLOWED] * 4
        assert Call.select().count() == 4
    else:
        outcomes = handlers._settle_many_now([(f"c{n}", 30, "ANSWER", None, None, state)
                                              for n in range(4)])
        assert [result.outcome for result, _ in outcomes] == ["charged"] * 4
        assert Ledger.select().where(Ledger.kind == "call").count() == 4
    assert failed == [1]
    assert balance("1001")[1] == sum(c.reserved for c in Call.select())
    assert accounts.verify() == []


def _settle_batch_failing(monkeypatch, n, fails):
    """``n`` calls of 1001 authorized; the settle batch's transaction then fails as a
    whole while ``fails()`` says so (its COMMIT: a full disk).  The batch's outcomes,
    how long it took, and the commits tried (the depth-1 ones)."""
    from billing_addon.pbx import handlers

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    for i in range(n):
        assert calls.authorize("1001", "912345", T0, f"c{i}").result == calls.ALLOWED
    real, tried = type(store.db).commit, []

    def commit(self):
        if self.transaction_depth() == 1:
            tried.append(1)
            if fails():
                raise peewee.OperationalError("database or disk is full")
        return real(self)

    monkeypatch.setattr(type(store.db), "commit", commit)
    state = lambda: "active"  # noqa: E731
    started = time.monotonic()
    outcomes = handlers._settle_many_now([(f"c{i}", 30, "ANSWER", None, None, state)
                                          for i in range(n)])
    return outcomes, time.monotonic() - started, len(tried)


@SIDE_BY_SIDE
def test_a_failed_settle_batch_is_tried_again_together(db_path, monkeypatch):
    """The disk is full for the first try: a second later the eight settlements are
    tried again in one transaction (not eight, each with its own tries and sleeps)."""
    attempts = []
    outcomes, took, commits = _settle_batch_failing(
        monkeypatch, 8, lambda: attempts.append(1) or len(attempts) == 1)
    assert [result.outcome for result, _ in outcomes] == ["charged"] * 8
    assert commits == 2 and 0.9 < took < 5, (commits, took)
    assert Ledger.select().where(Ledger.kind == "call").count() == 8
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_a_settle_batch_on_a_full_disk_gives_up_in_seconds(db_path, monkeypatch):
    """The disk stays full: three tries together a second apart, then one alone each
    (one of them might be what fails the rest), and the batch gives up in about two
    seconds, not two a settlement.  Nothing is charged; the calls stay in progress, for
    the CDR follower to charge once the disk has room."""
    outcomes, took, commits = _settle_batch_failing(monkeypatch, 8, lambda: True)
    assert outcomes == [(None, None)] * 8
    assert commits == 3 + 8 and took < 6, (commits, took)
    assert {c.status for c in Call.select()} == {"in-progress"}
    assert Ledger.select().where(Ledger.kind == "call").count() == 0
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_a_settle_batch_behind_a_lock_is_not_tried_alone_after_its_tries(db_path, monkeypatch,
                                                                        tmp_path):
    """Another process holds the write lock through the batch's tries: each settlement
    alone would wait for the same lock, so they are given up at once (the CDR follower
    charges them), not waited for one after another."""
    from billing_addon.pbx import handlers

    from .helpers import store_write_lock_held

    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    for i in range(4):
        assert calls.authorize("1001", "912345", T0, f"c{i}").result == calls.ALLOWED
    alone = []
    real = handlers._settle_now
    monkeypatch.setattr(handlers, "_settle_now", lambda *a, **kw: alone.append(a) or real(*a, **kw))
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.3)
    store.db.execute_sql("PRAGMA busy_timeout = 300")
    state = lambda: "active"  # noqa: E731
    started = time.monotonic()
    with store_write_lock_held(db_path):
        outcomes = handlers._settle_many_now([(f"c{i}", 30, "ANSWER", None, None, state)
                                              for i in range(4)])
    took = time.monotonic() - started
    assert outcomes == [(None, None)] * 4 and alone == []
    assert took < 6, took  # three tries of 0.3 s, two sleeps of 1 s
    assert Ledger.select().where(Ledger.kind == "call").count() == 0
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_a_settlement_that_fails_its_run_sends_the_others_alone_at_once(db_path, monkeypatch):
    """One bad request fails its run with an error that is not the transaction's (a
    bug, a constraint): no second of waiting to try the batch again; the others are
    charged alone at once and the bad one gets its error."""

    real = calls.settle_many

    def bad_c3(requests, at=None):
        if any(r.uniqueid == "c3" for r in requests):
            raise peewee.IntegrityError("a constraint")
        return real(requests, at)

    monkeypatch.setattr(calls, "settle_many", bad_c3)
    outcomes, took, _ = _settle_batch_failing(monkeypatch, 6, lambda: False)
    assert took < 0.9, took
    assert [r.outcome for r, _ in outcomes[:3] + outcomes[4:]] == ["charged"] * 5
    assert outcomes[3][0] is None and isinstance(outcomes[3][1], peewee.IntegrityError)
    assert Ledger.select().where(Ledger.kind == "call").count() == 5
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_an_error_in_a_later_try_leaves_the_answers_of_the_charged_alone(db_path, monkeypatch):
    """The batch's first try charged some and failed the rest; the second try cannot
    even look at the local queue: only those not charged get that error, the charged
    keep their answers."""
    from billing_addon import groupcommit, settle_queue

    tries = []
    real_run_all = store.run_all

    def first_half_fails(decorated, invocations):
        members = real_run_all(decorated, invocations[:2])
        failed = [groupcommit.Member(None, (), None) for _ in invocations[2:]]
        for member in failed:
            member.error = peewee.OperationalError("database or disk is full")
        return members + failed

    def waiting(uniqueid):
        tries.append(uniqueid)
        if len(tries) > 4:  # the second try
            raise sqlite3.OperationalError("unable to open database file")
        return False

    monkeypatch.setattr(store, "run_all", first_half_fails)
    monkeypatch.setattr(settle_queue, "waiting", waiting)
    outcomes, _, _ = _settle_batch_failing(monkeypatch, 4, lambda: False)
    assert [r.outcome for r, _ in outcomes[:2]] == ["charged"] * 2
    assert [r for r, _ in outcomes[2:]] == [None, None]
    assert all(isinstance(e, sqlite3.OperationalError) for _, e in outcomes[2:])
    assert accounts.verify() == []


@SIDE_BY_SIDE
def test_each_failed_settlement_is_judged_by_its_own_error(db_path, monkeypatch):
    """Settlements of one try failed for different reasons (in transactions of their
    own: more than a group's limit, say): after the tries, those behind the lock are
    given up, those on a full disk go alone once; neither error decides for the other."""
    from billing_addon import groupcommit
    from billing_addon.pbx import handlers

    errors = [peewee.OperationalError("database or disk is full")] * 2 + \
        [peewee.OperationalError("database is locked")] * 2
    tries = []

    def all_fail(decorated, invocations):
        tries.append(len(invocations))
        members = [groupcommit.Member(None, (), None) for _ in invocations]
        for member, error in zip(members, errors):
            member.error = error
        return members

    alone = []
    monkeypatch.setattr(store, "run_all", all_fail)
    monkeypatch.setattr(handlers, "_settle_now", lambda *args, **kw: alone.append(args[0]))
    outcomes, _, _ = _settle_batch_failing(monkeypatch, 4, lambda: False)
    assert tries == [4, 4, 4] and sorted(alone) == ["c0", "c1"]
    assert outcomes == [(None, None)] * 4


def test_a_lock_wait_inside_another_keeps_the_sooner_deadline(db_path):
    """A round of the loop bounds its members' waits: a ``lock_wait`` inside another
    waits no longer than the outer one allows."""
    held, release = threading.Event(), threading.Event()

    def holder():
        with store.reservation_txn():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    start = time.monotonic()
    try:
        with store.lock_wait(0.2), store.lock_wait(5.0):
            with pytest.raises(peewee.OperationalError, match="locked"):
                with store.reservation_txn():
                    pass
    finally:
        release.set()
        thread.join(10)
    assert time.monotonic() - start < 2.0


@SIDE_BY_SIDE
def test_reserve_together_runs_each_alone_within_its_seconds(db_path):
    """After the transaction failed as a whole, another writer takes the write queue
    before the members run again alone: they give up at the round's deadline (a
    worker takes them from there), not each after a wait of its own."""
    make_extension("1001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    release, holding = threading.Event(), threading.Event()

    def slow_writer():  # queued behind the batch: it gets the queue when the batch fails
        with store.staging_txn():
            holding.set()
            release.wait(10)

    writer = threading.Thread(target=slow_writer)

    def end_the_transaction():
        if not writer.is_alive():
            writer.start()
            wait_until(lambda: store._writer._normal, 10, "the slow writer to queue")
        store.db.connection().rollback()

    start = time.monotonic()
    try:
        members = store.reserve_together([
            lambda: calls.authorize("1001", "912345", T0, "t6"), end_the_transaction,
            lambda: calls.authorize("1001", "912345", T0, "t7")], 0.3)
        waited = time.monotonic() - start
    finally:
        release.set()
        writer.join(10)
    assert holding.is_set() and waited < 2.0, waited
    assert all(m.error is not None and store.is_locked(m.error) for m in (members[0], members[2]))
    assert Call.select().count() == 0 and accounts.verify() == []
