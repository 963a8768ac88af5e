"""Group commit: the writes that arrive together share one transaction and one fsync.

Leader and followers.  A thread that brings work (``CommitGroup.run``) queues it; when
no thread leads, it leads: it takes the write lock, then everything queued by then (its
own work first), and hands the lot to ``run_batch``, which runs it in one transaction.
Work that arrives meanwhile waits for the next batch, led by the first thread in the
queue once this batch is over.  Each thread gets its own outcome only after
``run_batch`` returned, that is after the commit holding its work is durable: an answer
is never given for work that a crash could still undo.

A waiter with a deadline (authorize: the caller waits for the dial tone) that is still
queued when the deadline passes leaves the queue and gets "database is locked", as it
would have waiting for the write lock itself; once its batch has started it waits for
the batch's outcome, which ``run_batch`` bounds by the earliest deadline in the batch.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple


class Locked(Exception):
    """The write lock could not be had before the deadline; nothing was written."""


# the turn of a member that is never queued (``store.reserve_together``'s): never waited
# on, so it needs no Event of its own (2 µs each, on every authorization of the loop)
_NEVER_QUEUED = threading.Event()


class Member:
    """One piece of work in a batch: ``run_batch`` sets ``result`` or ``error``."""

    __slots__ = ("function", "args", "deadline", "together", "result", "error", "_turn",
                 "_lead")

    def __init__(self, function: Callable[..., Any], args: tuple, deadline: Optional[float],
                 together: Any = None):
        self.function = function
        self.args = args
        self.deadline = deadline  # time.monotonic() value, None: no deadline
        self.together = together  # for run_batch: how to run it with others of its kind
        self.result: Any = None
        self.error: Optional[BaseException] = None
        # set: the outcome is there, or this thread leads now (``run`` gives each its own)
        self._turn = _NEVER_QUEUED
        self._lead = False

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class CommitGroup:
    """``acquire(deadline) -> bool`` and ``release()``: the write lock, taken by the
    leader before it takes its batch (so whatever queued while it waited joins);
    ``run_batch(members)``: runs them all in one transaction and sets each one's outcome
    (it must not raise for a member's failure)."""

    def __init__(self, acquire: Callable[[Optional[float]], bool], release: Callable[[], None],
                 run_batch: Callable[[List[Member]], object], limit: int = 64):
        self._acquire = acquire
        self._release = release
        self._run_batch = run_batch
        self.limit = limit  # members a batch (a bound on the time the lock is held)
        self._mutex = threading.Lock()
        self._queue: Deque[Member] = collections.deque()
        self._leading = False
        self.batches = 0  # batches run, and members in them (figures for tests and bench)
        self.members = 0
        self.largest = 0

    def run(self, function: Callable[..., Any], args: tuple = (),
            deadline: Optional[float] = None, together: Any = None) -> Any:
        """``function(*args)`` run inside a group transaction; its result (or exception)
        once that transaction committed."""
        me = Member(function, args, deadline, together)
        me._turn = threading.Event()
        with self._mutex:
            self._queue.append(me)
            lead = me._lead = not self._leading
            self._leading = True
        if not lead:
            self._follow(me)
            if not me._lead:
                return me.outcome()
        self._lead_batch(me)
        return me.outcome()

    def run_all(self, works: Sequence[Tuple[Callable[..., Any], tuple, Any]]) -> List[Member]:
        """Several ``(function, args, together)`` of one thread queued at once, next to
        each other (so they share a batch, as far as ``limit`` allows): their members,
        each with its outcome, once every one of them committed (or failed).  No deadline."""
        members = [Member(function, args, None, together) for function, args, together in works]
        if not members:  # nothing to queue, and nobody to lead
            return members
        for member in members:
            member._turn = threading.Event()
        with self._mutex:
            self._queue.extend(members)
            if not self._leading:  # the queue was empty: ours come first
                members[0]._lead = True
                self._leading = True
        for member in members:  # done ones return at once; one whose turn came leads
            if not member._lead:
                self._follow(member)
            if member._lead:
                self._lead_batch(member)
        return members

    def _follow(self, me: Member) -> None:
        """Wait for the outcome, or for the turn to lead (``me._lead``)."""
        left = None if me.deadline is None else me.deadline - time.monotonic()
        if me._turn.wait(left if left is None else max(0.0, left)):
            return
        with self._mutex:
            if not me._lead and me in self._queue:  # still queued: give up
                self._queue.remove(me)
                me.error = Locked("database is locked (commit group)")
                return
        me._turn.wait()  # led now, or in a batch under way: its outcome comes

    def _lead_batch(self, me: Member) -> None:
        batch: List[Member] = []
        try:
            if not self._acquire(me.deadline):
                with self._mutex:
                    self._queue.remove(me)
                me.error = Locked("database is locked (write queue)")
                return
            try:
                with self._mutex:
                    while self._queue and len(batch) < self.limit:
                        batch.append(self._queue.popleft())
                self._run_batch(batch)
                self.batches += 1
                self.members += len(batch)
                self.largest = max(self.largest, len(batch))
            finally:
                self._release()
        except BaseException as exc:  # the batch is not committed: no member may wait on
            for member in batch:
                if member.error is None:
                    member.result, member.error = None, exc
            raise
        finally:
            for member in batch:
                if member is not me:
                    member._turn.set()
            with self._mutex:
                if self._queue:
                    successor = self._queue[0]
                    successor._lead = True
                    successor._turn.set()
                else:
                    self._leading = False
