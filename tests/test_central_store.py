"""The central PostgreSQL out of reach, for real (docs/scale-failures.md): a throwaway
PostgreSQL 15 server on loopback that the tests stop and start, or a relay between a box
and it that they cut.  New calls get the fail mode at once, settlements wait in the box's
queue file, and arrive exactly once when the server is back; two daemons on one server,
1,000 calls on shared accounts, one daemon killed with SIGKILL mid-run."""

from __future__ import annotations

import itertools
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from billing_addon import accounts, boottime, calls, money, outage, rates, settings, settle_queue, store
from billing_addon.pbx import handlers
from billing_addon.store import Call, Extension, Ledger

from .helpers import wait_for, wait_until
from .pbx_support import cdr_rows, logged_port, make_env, replay, write_config
from .pg_link import Link, no_postgres
from .pg_server import throwaway_server
from .test_daemon_kill import start_daemon

pytestmark = pytest.mark.skipif(bool(no_postgres()), reason=f"{no_postgres()}")

T0 = 1795441378
RATE = money.parse_amount("0.01")  # per second


class Server:
    """The throwaway server, which a test may stop and start again."""

    def __init__(self, server):
        self._server = server
        self.port = server.port
        self.running = True
        self._databases = itertools.count(1)

    def stop(self) -> None:
        self._server.stop("fast")  # sessions ended, new connections refused
        self.running = False

    def start(self) -> None:
        if not self.running:
            self._server.start()
            self.running = True

    def create_database(self) -> str:
        return self._server.create_database(f"central_{next(self._databases)}")

    def url(self, url: str, port: int) -> str:
        """``url`` reached through another port (a relay)."""
        return url.replace(f":{self.port}/", f":{port}/")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tempfile.mkdtemp(prefix="billing-pg-")  # not under pytest's root-only folder
    try:
        with throwaway_server(folder) as pg:
            yield Server(pg)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh(server):
    """A new database on the server; the test's process has it as its store."""
    url = server.create_database()
    store.init_db(url)
    yield url
    store.close_db()
    settle_queue.close_queue()
    outage.current.up()
    server.start()  # a test that stopped it gives it back running


def fund(numbers, balance="10"):
    for number in numbers:
        accounts.ensure_extension(number, f"Room {number}")
    accounts.edit(numbers, billing_enabled=True)
    accounts.recharge(numbers, money.parse_amount(balance), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))
    settings.put("max_call_seconds", "60")
    settings.put("warn_seconds", "0")


def ledger_of(uid):
    return Ledger.select().join(Call).where(Call.uniqueid == uid).count()


def test_server_stopped_fail_mode_then_queued_settlements_arrive_once(server, fresh, tmp_path,
                                                                      caplog):
    fund(["1001"])
    queue = settle_queue.open_queue(tmp_path / settle_queue.FILE_NAME)
    for uid in ("c1", "c2"):
        assert handlers._decide_now("1001", "912345", uid, lambda: "active").result == calls.ALLOWED
    server.stop()
    with caplog.at_level("INFO", logger="billing_addon"):
        began = time.monotonic()
        first = handlers._decide_now("1001", "912345", "c3", lambda: "active")
        took = time.monotonic() - began
        assert (first.result, first.reason) == (calls.DENIED, handlers.ERROR) and took < 1.5
        began = time.monotonic()
        for n in range(20):  # the next calls do not even try
            auth = handlers._decide_now("1001", "912345", f"d{n}", lambda: "active")
            assert (auth.result, auth.reason) == (calls.DENIED, handlers.ERROR)
        assert time.monotonic() - began < 0.5
        for uid, seconds in (("c1", 12), ("c2", 7)):
            done = handlers._settle_now(uid, seconds, "ANSWER", "1001", "912345", lambda: "active")
            assert done.outcome == "queued"
        deliverer = settle_queue.Deliverer(queue)
        assert deliverer.once() == 0 and deliverer.failures == 1 and queue.count() == 2
        server.start()
        wait_until(lambda: deliverer.once() == 2 or queue.count() == 0, 30, "the delivery")
    assert queue.count() == 0
    assert [ledger_of("c1"), ledger_of("c2")] == [1, 1]
    assert {c.uniqueid: c.cost for c in Call.select().where(Call.status == "charged")} == {
        "c1": 12 * RATE, "c2": 7 * RATE}
    assert not Call.select().where(Call.uniqueid.in_(["c3", "d0"])).exists()
    assert accounts.verify() == []
    downs = [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert len(downs) == 1  # one outage, one line
    time.sleep(outage.PROBE_SECONDS)
    assert handlers._decide_now("1001", "912345", "c9", lambda: "active").result == calls.ALLOWED


# -- two boxes on one server, 1,000 calls, one box killed -------------------------------------

EXTENSIONS = [str(n) for n in range(3001, 3011)]
WORKERS = 40
CALLS = 1000


class Box:
    """One daemon process (a box): its own folder, queue file and Master.csv."""

    def __init__(self, folder: Path, url: str, stale_check_seconds: int = 3600):
        folder.mkdir()
        self.folder = folder
        self.ini = write_config(folder, store={"url": url}, web={"enabled": "no"},
                                daemon={"shutdown_seconds": "10",
                                        "stale_check_seconds": str(stale_check_seconds)})
        self.pid_file = str(folder / "run" / "daemon.pid")
        self.log = folder / "log" / "daemon.log"
        self.master = folder / "cdr" / "Master.csv"
        self.queue_file = folder / "data" / settle_queue.FILE_NAME
        self.proc = None
        self.port = 0
        self.write_lock = threading.Lock()

    def start(self) -> None:
        size = self.log.stat().st_size if self.log.exists() else 0
        self.proc = start_daemon(self.ini, self.pid_file)
        self.port = logged_port(self.log, "agi", after=size)

    def queued(self) -> list:
        if not self.queue_file.exists():
            return []
        queue = settle_queue.SettleQueue(self.queue_file)
        try:
            return [q.request.uniqueid for q in queue.oldest(10000)]
        finally:
            queue.close()


class Load:
    """Worker threads playing the two boxes' Asterisks: authorize, talk a little, settle,
    append the CDR rows; a call is dialed only when ALLOWED reached it (fail closed)."""

    def __init__(self, boxes):
        self.boxes = boxes
        self.lock = threading.Lock()
        self.calls = []  # (uniqueid, box index, allowed, answered)
        self.no_daemon = 0
        self.allowed_at = {}  # uniqueid -> when its call ended
        self.zone = settings.zone()

    def done(self) -> int:
        with self.lock:
            return len(self.calls)

    def worker(self, w: int) -> None:
        rnd = random.Random(w)
        index = w % 2
        box = self.boxes[index]
        n, give_up = 0, time.monotonic() + 240
        while n < CALLS // WORKERS and time.monotonic() < give_up:
            i = w * 1000 + n
            uid = f"{T0 + i}.{i}"
            ext = rnd.choice(EXTENSIONS)
            try:
                auth = replay(("127.0.0.1", box.port), make_env("authorize", uid, [ext, "912345"],
                                                                callerid=ext), timeout=10)
            except OSError:  # no daemon listening (killed): this call waits for the restart
                with self.lock:
                    self.no_daemon += 1
                time.sleep(0.1)
                continue
            n += 1
            if auth.variables.get("BILLING_RESULT") != "ALLOWED":  # denied, or cut short
                with self.lock:
                    self.calls.append((uid, index, False, 0))
                time.sleep(0.02)
                continue
            limit_s = int(auth.variables["BILLING_LIMIT_MS"]) // 1000
            answered = rnd.randint(0, min(limit_s, 20))
            time.sleep(rnd.uniform(0, 0.2))  # the call
            env = make_env("settle", uid, [str(answered), "ANSWER", uid, str(answered)], callerid=ext)
            try:
                replay(("127.0.0.1", box.port), env, timeout=10)
            except OSError:
                pass  # the hangup AGI found no daemon: the CDR tells
            rows = cdr_rows(uid, ext, "912345", T0 + i, answered, self.zone,
                            disposition="ANSWERED" if answered else "NO ANSWER")
            with box.write_lock:
                with open(box.master, "a", encoding="utf-8") as fh:
                    fh.write(rows)
            with self.lock:
                self.calls.append((uid, index, True, answered))
                self.allowed_at[uid] = time.monotonic()


def test_two_daemons_one_killed_while_its_store_is_cut(server, fresh, tmp_path):
    fund(EXTENSIONS, balance="3")  # about 300 s of calls each: many are denied no-funds
    link = Link(server.port)
    a = Box(tmp_path / "a", server.url(fresh, port=link.port))  # the box that loses the store
    b = Box(tmp_path / "b", fresh)
    load = Load([a, b])
    threads = [threading.Thread(target=load.worker, args=(w,)) for w in range(WORKERS)]
    killed_queue: list = []
    try:
        a.start()
        b.start()
        for t in threads:
            t.start()
        wait_until(lambda: load.done() >= 250, 120, "calls through both boxes")
        link.cut()  # box A loses the store: its calls fail closed, its settlements queue
        wait_until(lambda: len(a.queued()) >= 3, 60, "settlements queued on box A")
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(30)
        killed_queue = a.queued()
        link.restore()
        a.start()  # the restart delivers what waited
        restarted_at = time.monotonic()
        for t in threads:
            t.join(300)
        assert not any(t.is_alive() for t in threads)
        allowed = {uid: answered for uid, _, ok, answered in load.calls if ok}
        wait_for(lambda: Call.select().where(Call.uniqueid.in_(list(allowed))
                                             & Call.settled_utc.is_null(False)).count()
                 == len(allowed), timeout=120)
        wait_until(lambda: a.queued() == [] and b.queued() == [], 60, "the queues to empty")
        for box in (a, b):
            box.proc.send_signal(signal.SIGTERM)
            assert box.proc.wait(30) == 0
    finally:
        link.close()
        for box in (a, b):
            if box.proc is not None and box.proc.poll() is None:
                box.proc.kill()
                box.proc.wait()
    print(f"{len(allowed)} calls allowed, {CALLS - len(allowed)} not; box A killed with "
          f"{len(killed_queue)} settlements queued; {load.no_daemon} tries found no daemon")
    assert len(load.calls) == CALLS
    assert killed_queue, "box A had nothing queued when it was killed"
    assert any(at > restarted_at for uid, at in load.allowed_at.items()
               if uid in {c[0] for c in load.calls if c[1] == 0}), "no call through A after restart"
    assert len(allowed) > 200 and sum(1 for *_, ok, _ in load.calls if not ok) > 50
    for uid, answered in allowed.items():
        call = Call.get(Call.uniqueid == uid)
        assert (call.status, call.answered_s, call.cost) == ("charged", answered, answered * RATE), uid
        assert ledger_of(uid) == (1 if answered else 0), uid  # nothing charged twice
    for uid in killed_queue:
        assert Call.get(Call.uniqueid == uid).status == "charged"  # arrived after the restart
    refused = [uid for uid, _, ok, _ in load.calls if not ok]
    assert Ledger.select().join(Call).where(Call.uniqueid.in_(refused)).count() == 0
    assert Ledger.select().where(Ledger.kind == "call").count() == sum(1 for s in allowed.values() if s)
    # no overspend: no shared account below -credit
    assert not Extension.select().where(Extension.balance + Extension.credit < 0).exists()
    # A commit whose answer the cut lost (the server committed, box A got Unreachable and
    # answered the fail mode) leaves its call's reservation for the stale release, which
    # frees it at the call's expiry or the next boot: only such calls may be left open.
    left = {c.uniqueid for c in Call.select().where(Call.status == "in-progress")}
    assert left <= set(refused), left
    calls.release_stale(running=boottime.Running("a later boot", 0.0))
    assert not Extension.select().where(Extension.reserved != 0).exists()
    assert accounts.verify() == []


def test_a_silent_server_costs_a_second_not_a_hang(server):
    """A server that accepts the connection and never answers (hung, or a network that
    swallows the replies): connecting gives up after the connect timeout."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        began = time.monotonic()
        with pytest.raises(store.Unreachable):
            store.init_db(f"postgresql://billing@127.0.0.1:{silent.getsockname()[1]}/x")
        assert time.monotonic() - began < 2.5
    finally:
        silent.close()
        store.close_db()


def test_a_daemon_starts_while_the_store_is_out_of_reach(server, fresh, tmp_path):
    """A box (re)started while its central store is down answers at once with the fail
    mode, queues what ends, and bills again once the store is back."""
    fund(["1001"])
    link = Link(server.port)
    link.cut()
    # housekeeping every second: its rounds meet the outage too
    box = Box(tmp_path / "box", server.url(fresh, port=link.port), stale_check_seconds=1)
    try:
        box.start()
        env = make_env("authorize", f"{T0}.1", ["1001", "912345"])
        answer = replay(("127.0.0.1", box.port), env, timeout=10).variables
        assert (answer["BILLING_RESULT"], answer["BILLING_REASON"]) == ("DENIED", "error")
        settle = make_env("settle", f"{T0}.2", ["9", "ANSWER", f"{T0}.2", "9", "1001", "912345"])
        replay(("127.0.0.1", box.port), settle, timeout=10)
        assert box.queued() == [f"{T0}.2"]  # a call the fail mode let through (open)
        time.sleep(6)  # a round of each of the daemon's threads meets the outage
        log = box.log.read_text(encoding="utf-8")
        assert "Traceback" not in log and log.count("ERROR billing_addon.outage") == 1  # once
        link.restore()

        def allowed():
            env = make_env("authorize", f"{T0}.3", ["1001", "912345"])
            return replay(("127.0.0.1", box.port), env, timeout=10).variables.get(
                "BILLING_RESULT") == "ALLOWED"

        wait_until(allowed, 30, "the box to bill again")
        wait_until(lambda: box.queued() == [], 30, "the queued settlement")
        call = Call.get(Call.uniqueid == f"{T0}.2")
        assert (call.status, call.reason, call.cost) == ("charged", calls.NOT_AUTHORIZED, 9 * RATE)
        # lost again while running: its threads (mail every 5 s...) log no traceback a round
        size = box.log.stat().st_size
        link.cut()
        time.sleep(6)
        log = box.log.read_bytes()[size:].decode("utf-8")
        assert "Traceback" not in log, log
        link.restore()
        box.proc.send_signal(signal.SIGTERM)
        assert box.proc.wait(30) == 0
    finally:
        link.close()
        if box.proc is not None and box.proc.poll() is None:
            box.proc.kill()
            box.proc.wait()


def test_the_connection_timeouts_are_added_to_the_url():
    import doctest

    from billing_addon import pgstore

    assert doctest.testmod(pgstore).failed == 0
    url = pgstore.with_timeouts("postgresql://u:p@h:5432/db?sslmode=require&tcp_user_timeout=9")
    assert url.startswith("postgresql://u:p@h:5432/db?sslmode=require&tcp_user_timeout=9&")
    assert "connect_timeout=1" in url and url.count("tcp_user_timeout") == 1


def test_a_group_that_loses_its_connection_gives_every_member_unreachable(server, fresh):
    """Settlements committed together (group commit) whose connection dies mid-batch each
    get store.Unreachable, so that each is queued (not a plain database error, which
    would leave it to the CDR)."""
    from billing_addon import groupcommit

    def cut():  # the server ends this session, as a restart or a cut network does
        store.sql("SELECT pg_terminate_backend(pg_backend_pid())")

    members = [groupcommit.Member(cut, (), None), groupcommit.Member(lambda: 1, (), None)]
    store._run_batch(members, "FULL", False)
    assert [type(m.error) for m in members] == [store.Unreachable, store.Unreachable]
