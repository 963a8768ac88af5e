"""The write queue: first come first served, urgent waiters first, reentrant."""

import threading

import pytest

from billing_addon.writequeue import WriteQueue
from tests.helpers import wait_for


def test_order_urgent_first_then_arrival():
    queue = WriteQueue()
    order = []
    queue.acquire()
    threads = []
    for name, urgent in (("s1", False), ("s2", False), ("a1", True), ("a2", True)):
        t = threading.Thread(target=lambda n=name, u=urgent: (queue.acquire(u), order.append(n),
                                                              queue.release()))
        t.start()
        threads.append(t)
        waiting = len(threads)
        assert wait_for(lambda n=waiting: len(queue._urgent) + len(queue._normal) == n, step=0.005)
    queue.release()
    for t in threads:
        t.join(5)
    assert order == ["a1", "a2", "s1", "s2"]


def test_reentrant_and_owner_checked():
    queue = WriteQueue()
    with queue.held():
        with queue.held(urgent=True):
            pass
    with pytest.raises(RuntimeError):
        queue.release()


def test_urgent_gets_it_quickly_unless_a_normal_writer_holds_it():
    q = WriteQueue()
    assert q.idle and q.urgent_gets_it_quickly
    q.acquire(urgent=True)
    assert not q.idle and q.urgent_gets_it_quickly
    q.release()
    q.acquire()
    assert not q.urgent_gets_it_quickly  # a normal writer holds it
    q.release()
    holder_in, let_go = threading.Event(), threading.Event()

    def hold(urgent):
        with q.held(urgent):
            holder_in.set()
            let_go.wait(5)

    t = threading.Thread(target=hold, args=(True,))
    t.start()
    assert holder_in.wait(5) and q.urgent_gets_it_quickly
    waiter = threading.Thread(target=lambda: (q.acquire(), q.release()))
    waiter.start()
    assert wait_for(lambda: q._normal)  # a normal writer waits
    assert q.urgent_gets_it_quickly  # an urgent one would still go first
    order = []
    urgent = threading.Thread(target=lambda: (q.acquire(urgent=True), order.append("urgent"),
                                              q.release()))
    urgent.start()
    assert wait_for(lambda: q._urgent)
    let_go.set()
    t.join(5)
    urgent.join(5)
    waiter.join(5)
    assert order == ["urgent"] and q.idle and q.urgent_gets_it_quickly


def test_a_waiter_that_times_out_leaves_the_queue():
    queue = WriteQueue()
    queue.acquire()
    got = []
    waiter = threading.Thread(target=lambda: got.append(queue.acquire(True, timeout=0.1)))
    waiter.start()
    waiter.join(5)
    assert got == [False] and not queue._urgent  # gone from the queue, not the owner
    queue.release()
    assert queue.idle
    assert queue.acquire(timeout=0.1)  # free again
    queue.release()
