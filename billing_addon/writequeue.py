"""The write queue: a reentrant lock that serves waiters first come, first served, with
an express lane.

``threading.RLock`` lets the releasing thread take the lock straight back, which under
a steady stream of writers starves some of them for a long time.  Here each waiter
queues behind the ones that came before it, and waiters marked ``urgent`` (authorize: a
caller is waiting for the dial tone) go before the others (settlements: the caller has
already hung up).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from typing import Deque, Iterator, Optional, Tuple

_Waiter = Tuple[int, threading.Event]


class WriteQueue:
    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._urgent: Deque[_Waiter] = collections.deque()
        self._normal: Deque[_Waiter] = collections.deque()
        self._owner: Optional[int] = None
        self._owner_urgent = False
        self._depth = 0

    def acquire(self, urgent: bool = False, timeout: Optional[float] = None) -> bool:
        """Take the lock; False when ``timeout`` seconds passed first."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._urgent and not self._normal:
                self._owner, self._depth, self._owner_urgent = me, 1, urgent
                return True
            turn = threading.Event()
            queue = self._urgent if urgent else self._normal
            queue.append((me, turn))
        if turn.wait(timeout):  # release() makes us the owner before it sets the event
            return True
        with self._mutex:
            if self._owner == me:  # handed over between the timeout and here
                return True
            queue.remove((me, turn))
        return False

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a lock this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            waiting = self._urgent or self._normal
            if waiting:
                self._owner_urgent = waiting is self._urgent
                self._owner, turn = waiting.popleft()
                self._depth = 1
                turn.set()
            else:
                self._owner = None

    def owned(self) -> bool:
        """This thread holds the lock."""
        return self._owner == threading.get_ident()

    @property
    def idle(self) -> bool:
        """Nobody holds the lock or waits for it (a hint: it may change at once)."""
        return self._owner is None and not self._urgent and not self._normal

    @property
    def wanted(self) -> bool:
        """Somebody waits for the lock (a hint: it may change at once)."""
        return bool(self._urgent or self._normal)

    @property
    def urgent_gets_it_quickly(self) -> bool:
        """Nobody holds the lock, or one who came by the express lane: an urgent
        ``acquire`` now waits only for urgent writers, since they go before the normal
        ones that may wait (a hint)."""
        return self._owner is None or self._owner_urgent

    @contextlib.contextmanager
    def held(self, urgent: bool = False) -> Iterator[None]:
        self.acquire(urgent)
        try:
            yield
        finally:
            self.release()
