"""Whether the central store is down: one log line when an outage starts and one when
it ends, however many calls meet it (docs/scale.md).

While it is down, calls do not try the store again for ``PROBE_SECONDS`` after the last
failure (each try may wait for the connect timeout): they get the fail mode, and their
settlements go to the local queue (``settle_queue``) at once.  The queue's delivery
thread keeps trying, so it is usually the one that finds the store back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

log = logging.getLogger("billing_addon.outage")

PROBE_SECONDS = 1.0


class Outage:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self.since: Optional[float] = None  # when it started (the clock's time), None: up
        self._failed_at = 0.0
        self.failures = 0  # calls and deliveries that met it, this outage

    def down(self, exc: BaseException) -> None:
        """The store could not be reached (``store.Unreachable``)."""
        with self._lock:
            now = self._clock()
            self._failed_at = now
            self.failures += 1
            if self.since is not None:
                return
            self.since = now
        log.error("the central store cannot be reached (%s): new calls get the fail mode and "
                  "settlements wait in the local queue until it is back", exc)

    def up(self) -> None:
        """The store answered."""
        if self.since is None:  # the call path: one attribute read when all is well
            return
        with self._lock:
            if self.since is None:
                return
            lasted, failures = self._clock() - self.since, self.failures
            self.since, self.failures = None, 0
        log.warning("the central store is reachable again after %.0f s (%d call(s) or "
                    "deliveries met the outage)", lasted, failures)

    def skip_store(self) -> bool:
        """Whether a call should not try the store now (it failed less than
        ``PROBE_SECONDS`` ago)."""
        return self.since is not None and self._clock() - self._failed_at < PROBE_SECONDS


# the daemon's: the FastAGI scripts and the queue's delivery thread share it
current = Outage()
