"""An iterator run in a thread of its own, a few items ahead of its consumer.

The CDR import parses in Python (holding the GIL) while SQLite writes and syncs the
previous batch (sqlite3 lets go of the GIL while it works): the two overlap.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
_END = object()
_PUT_WAIT_S = 0.1  # how often a blocked producer looks whether its consumer left


def ahead(make: Callable[[], Iterable[T]], depth: int = 2) -> Iterator[T]:
    """The items of ``make()``, produced in another thread at most ``depth`` ahead.  An
    exception of the producer is raised here, after the items before it; when the
    consumer stops early (or fails), the producer stops at its next item."""
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                items.put(entry, timeout=_PUT_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in make():
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_END, exc))
            return
        put((_END, None))

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
