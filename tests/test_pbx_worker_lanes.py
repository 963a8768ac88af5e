"""The FastAGI worker pool with one worker a lane (the daemon's on SQLite): what queues
while the lane's worker is busy is taken together by it afterwards; another worker joins
only a lane whose worker is stuck; the urgent lane never waits for the normal one."""

import threading
import time

import pytest

from billing_addon.pbx import agi, server
from billing_addon.pbx.server import WorkerPool


class Lane:
    """Works that record how many of them run at once, and the batches they ran in."""

    def __init__(self, seconds=0.0):
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.batches = []
        self.threads = set()
        self.together = self.many  # one object: the pool chains works by ``many is``

    def many(self, batch):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.batches.append([args[0] for args in batch])
        return [(args[0], None) for args in batch]

    def work(self, name, urgent=False):
        return agi.Work(self.one, (name,), urgent=urgent, many=self.together)

    def one(self, name):
        return self.many([(name,)])[0][0]


def submit_all(pool, works):
    done = threading.Semaphore(0)
    outcomes = {}

    def finished(name):
        def record(outcome, error):
            outcomes[name] = (outcome, error)
            done.release()
        return record

    for name, work in works:
        pool.submit(work, finished(name))
    return lambda: all(done.acquire(timeout=10) for _ in works) and outcomes


@pytest.fixture
def never_stalls(monkeypatch):
    monkeypatch.setattr(server, "STALL_SECONDS", 30.0)


def test_what_queues_behind_the_lanes_worker_is_taken_together_by_it(never_stalls):
    """Four workers, one a lane: the settlements queued while the first batch runs
    wait for its worker and go in one batch, never two batches at once (the pool
    without lanes gives them to an idle worker at once)."""
    for one_a_lane, expected in ((True, [["s0"], [f"s{n}" for n in range(1, 11)]]), (False, None)):
        lane = Lane(seconds=0.2)
        pool = WorkerPool(4, one_a_lane=one_a_lane)
        try:
            wait = submit_all(pool, [("s0", lane.work("s0"))])
            time.sleep(0.05)  # a worker has s0 (its batch takes 0.2 s)
            more = submit_all(pool, [(f"s{n}", lane.work(f"s{n}")) for n in range(1, 11)])
            assert wait() == {"s0": ("s0", None)}
            assert more() == {f"s{n}": (f"s{n}", None) for n in range(1, 11)}
        finally:
            assert pool.close(10)
        if one_a_lane:
            assert lane.batches == expected and lane.most == 1
        else:  # an idle worker took them at once: two batches side by side
            assert lane.most > 1


def test_a_worker_joins_a_lane_whose_worker_is_stuck(monkeypatch):
    """The normal lane's worker is stuck (a disk that stalls, a lock another process
    holds): after STALL_SECONDS another worker takes the work queued behind it."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    gate = threading.Event()
    pool = WorkerPool(3, one_a_lane=True)
    try:
        stuck = submit_all(pool, [("stuck", agi.Work(gate.wait, (30,)))])
        time.sleep(0.05)
        started = time.monotonic()
        lane = Lane()
        behind = submit_all(pool, [("behind", lane.work("behind"))])
        assert behind() == {"behind": ("behind", None)}
        took = time.monotonic() - started
        assert not gate.is_set() and 0.1 <= took < 5, took  # joined after the stall
    finally:
        gate.set()
        assert stuck() == {"stuck": (True, None)}
        assert pool.close(10)


def test_the_urgent_lane_does_not_wait_for_a_busy_normal_lane(never_stalls):
    gate = threading.Event()
    pool = WorkerPool(2, one_a_lane=True)
    try:
        settling = submit_all(pool, [("settle", agi.Work(gate.wait, (30,)))])
        time.sleep(0.05)
        lane = Lane()
        authorize = submit_all(pool, [("authorize", lane.work("authorize", urgent=True))])
        assert authorize() == {"authorize": ("authorize", None)}
        assert not gate.is_set()
    finally:
        gate.set()
        assert settling() == {"settle": (True, None)}
        assert pool.close(10)


def test_close_does_the_queued_work_and_ends_every_worker(never_stalls):
    """Queued behind a busy lane when the pool closes: the work is still done (no
    settlement left half done) and every worker ends, the idle ones too."""
    gate = threading.Event()
    pool = WorkerPool(4, one_a_lane=True)
    lane = Lane()
    busy = submit_all(pool, [("busy", agi.Work(gate.wait, (30,)))])
    time.sleep(0.05)
    queued = submit_all(pool, [(f"q{n}", lane.work(f"q{n}")) for n in range(3)])
    closed = []
    closer = threading.Thread(target=lambda: closed.append(pool.close(10)))
    closer.start()
    time.sleep(0.2)
    assert not closed  # waiting for the busy worker
    gate.set()
    closer.join(15)
    assert closed == [True]
    assert busy() == {"busy": (True, None)}
    assert queued() == {f"q{n}": (f"q{n}", None) for n in range(3)}
    assert lane.batches == [["q0", "q1", "q2"]]


def started_at(log, name, origin):
    """A work that notes when it started (seconds after ``origin``) under ``name``."""
    def run(*_):
        log[name] = time.monotonic() - origin
        return name
    return run


def test_the_watch_passes_on_when_the_watcher_takes_work(monkeypatch):
    """The normal lane's worker is stuck; the watcher joins it at the stall and is stuck
    too: another idle worker takes up the watch, and the third work starts once both
    have stalled, not when the first one ends (the fourth worker stays idle, kept for
    authorizations)."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    first, second = threading.Event(), threading.Event()
    pool = WorkerPool(4, one_a_lane=True)
    origin, log = time.monotonic(), {}
    try:
        stuck = submit_all(pool, [("n1", agi.Work(first.wait, (30,)))])
        time.sleep(0.05)
        slow = submit_all(pool, [("n2", agi.Work(second.wait, (30,)))])
        third = submit_all(pool, [("n3", agi.Work(started_at(log, "n3", origin)))])
        assert third() == {"n3": ("n3", None)}
        assert not first.is_set() and log["n3"] < 1.5, log
    finally:
        first.set()
        second.set()
        assert stuck() and slow()
        assert pool.close(10)


def test_an_authorization_is_not_left_behind_a_later_settlement(monkeypatch):
    """An authorization waits behind the urgent lane's stuck worker; a settlement comes
    after it.  The last idle worker stays for the authorization (joins at the stall)
    rather than take the settlement and leave the authorization behind it."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    gate = threading.Event()
    pool = WorkerPool(2, one_a_lane=True)
    origin, log = time.monotonic(), {}
    try:
        stuck = submit_all(pool, [("u1", agi.Work(gate.wait, (30,), urgent=True))])
        time.sleep(0.05)
        second = submit_all(pool, [("u2", agi.Work(started_at(log, "u2", origin), urgent=True))])
        time.sleep(0.01)
        settle = submit_all(pool, [("n1", agi.Work(time.sleep, (1.5,)))])
        assert second() == {"u2": ("u2", None)}
        assert log["u2"] < 1.0, log  # at the stall (0.2 s), not after the settlement
        assert settle() == {"n1": (None, None)}
    finally:
        gate.set()
        assert stuck()
        assert pool.close(10)


def test_the_last_idle_worker_never_joins_a_stuck_normal_lane(monkeypatch):
    """Two workers, a settlement stuck: the other worker does not join the settlements
    queued behind it (the next authorization would find no worker); it takes that
    authorization at once."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    gate = threading.Event()
    pool = WorkerPool(2, one_a_lane=True)
    origin, log = time.monotonic(), {}
    try:
        stuck = submit_all(pool, [("n1", agi.Work(gate.wait, (30,)))])
        time.sleep(0.05)
        behind = submit_all(pool, [("n2", agi.Work(started_at(log, "n2", origin)))])
        time.sleep(0.5)  # well past the stall
        assert "n2" not in log
        asked = time.monotonic() - origin
        authorize = submit_all(pool, [("u", agi.Work(started_at(log, "u", origin), urgent=True))])
        assert authorize() == {"u": ("u", None)}
        assert log["u"] - asked < 0.15, (log, asked)
    finally:
        gate.set()
        assert stuck() and behind()
        assert pool.close(10)


@pytest.mark.parametrize("workers, together", [(2, False), (1, True)])
def test_settlements_get_their_turn_under_a_stream_of_authorizations(monkeypatch, workers,
                                                                     together):
    """Authorizations arriving all the time, their queue never empty: a settlement still
    starts once it has waited STALL_SECONDS, not when they stop; with two workers (the
    authorizations taken one by one) and with a lone worker (taken together)."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    stop = threading.Event()
    pool = WorkerPool(workers, one_a_lane=True)
    origin, log = time.monotonic(), {}
    lane = Lane(seconds=0.01)

    def authorization():
        return lane.work("u", urgent=True) if together else \
            agi.Work(time.sleep, (0.01,), urgent=True)

    def stream():
        while not stop.is_set():
            pool.submit(authorization(), lambda *_: None)
            time.sleep(0.004)

    feeder = threading.Thread(target=stream)
    feeder.start()
    try:
        time.sleep(0.1)
        asked = time.monotonic() - origin
        settle = submit_all(pool, [("n", agi.Work(started_at(log, "n", origin)))])
        assert settle() == {"n": ("n", None)}
        assert log["n"] - asked < 0.6, (log, asked)
        assert not stop.is_set()
    finally:
        stop.set()
        feeder.join(10)
        assert pool.close(10)


def test_an_idle_worker_kept_for_authorizations_sleeps(monkeypatch):
    """The last idle worker refuses a stuck normal lane while an authorization waits
    behind a busy one; it waits for that one's stall, and does not wake every
    millisecond to look again."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.4)
    waits = []

    class Counting(WorkerPool):
        def _wait(self, now):
            waits.append(now)
            super()._wait(now)

    settling, authorizing = threading.Event(), threading.Event()
    pool = Counting(3, one_a_lane=True)
    origin = time.monotonic()
    try:
        stuck = submit_all(pool, [("n1", agi.Work(settling.wait, (30,)))])
        time.sleep(0.05)
        queued = submit_all(pool, [("n2", agi.Work(time.sleep, (0,)))])
        time.sleep(0.15)
        busy = submit_all(pool, [("u1", agi.Work(authorizing.wait, (30,), urgent=True))])
        time.sleep(0.05)
        behind = submit_all(pool, [("u2", agi.Work(time.sleep, (0,), urgent=True))])
        # n1 stalls 0.4 s after the start, u1 0.4 s after it started (about 0.6 s)
        time.sleep(max(0.0, origin + 0.42 - time.monotonic()))
        counted = len(waits)
        time.sleep(0.12)
        assert len(waits) - counted < 20, len(waits) - counted
    finally:
        settling.set()
        authorizing.set()
        assert stuck() and queued() and busy() and behind()
        assert pool.close(10)


def test_close_does_the_work_behind_a_stuck_lane(monkeypatch):
    """Closing, with a settlement stuck and another behind it: the idle worker is no
    longer kept for authorizations (none can come) and settles the one behind."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    gate = threading.Event()
    pool = WorkerPool(2, one_a_lane=True)
    stuck = submit_all(pool, [("n1", agi.Work(gate.wait, (30,)))])
    time.sleep(0.05)
    lane = Lane()
    behind = submit_all(pool, [("n2", lane.work("n2"))])
    try:
        assert not pool.close(1.0)  # n1 is still stuck
        assert behind() == {"n2": ("n2", None)}  # done meanwhile
    finally:
        gate.set()
        assert stuck()


def test_a_watcher_looking_later_is_woken_for_an_earlier_stall(monkeypatch):
    """A watcher waits for the normal lane's stall; an authorization then queues behind
    an urgent worker that stalls sooner: it is joined at that stall, not the later one."""
    monkeypatch.setattr(server, "STALL_SECONDS", 0.2)
    authorizing, settling = threading.Event(), threading.Event()
    pool = WorkerPool(4, one_a_lane=True)
    origin, log = time.monotonic(), {}
    try:
        u1 = submit_all(pool, [("u1", agi.Work(authorizing.wait, (30,), urgent=True))])
        time.sleep(0.15)
        n1 = submit_all(pool, [("n1", agi.Work(settling.wait, (30,)))])
        time.sleep(0.01)
        n2 = submit_all(pool, [("n2", agi.Work(time.sleep, (0,)))])  # a watch until ~0.36
        time.sleep(0.01)
        u2 = submit_all(pool, [("u2", agi.Work(started_at(log, "u2", origin), urgent=True))])
        assert u2() == {"u2": ("u2", None)}
        assert log["u2"] < 0.3, log  # u1 stalled at 0.2
    finally:
        authorizing.set()
        settling.set()
        assert u1() and n1() and n2()
        assert pool.close(10)
