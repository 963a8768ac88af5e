"""The box's local queue of settlements that the central store could not take.

When the central PostgreSQL cannot be reached (``store.Unreachable``), the settle AGI of
a call that ended writes its settlement here instead: a small SQLite file of its own in
the data area (WAL, ``synchronous=FULL``), so Asterisk's hangup handler is answered only
once the settlement is on the box's disk.  A thread of the daemon (``Deliverer``) then
hands them to ``calls.settle`` in the order they came, ``BATCH`` to a store transaction,
and deletes them once that transaction committed.

* Exactly once: ``calls.settle`` is idempotent by uniqueid (a call charged already
  returns ``duplicate`` and changes nothing; so does a call authorize never saw, once
  its first settle recorded it), so a crash between the store's commit and the delete
  here delivers the settlement again and charges nothing twice.
* Order per call: while a call has a settlement waiting here (``waiting``), a later one
  of the same call (a second hangup AGI, the CDR follower) waits behind it or is left to
  it, never overtakes it.
* A settlement the store refuses (bad data: a ``Refusal``) is set aside in the file with
  its reason and logged: never retried by itself, never lost (``billing-addon
  settle-queue`` lists it, ``--retry`` puts it back).  So is one that failed
  ``MAX_ATTEMPTS`` times for another reason (a fault, not an outage).
* While the store stays unreachable, delivery is tried again after a growing pause
  (``BACKOFF_SECONDS``); the file keeps everything across restarts.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Tuple, Union

from . import calls, store
from .errors import Refusal
from .outage import Outage
from .outage import current as current_outage

log = logging.getLogger("billing_addon.settle_queue")

FILE_NAME = "settle-queue.db"  # next to the billing database, in the data area
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0)  # the pauses between tries, then the last again
MAX_ATTEMPTS = 20  # failures other than Unreachable before a settlement is set aside
# settlements delivered by one store transaction (one commit, one fsync); few, since it
# holds the store's write lock, which authorizations wait for
BATCH = 10

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settlement (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order they came in
    uniqueid TEXT NOT NULL,
    answered_s INTEGER NOT NULL,
    dial_status TEXT NOT NULL,
    number TEXT,                            -- with dialed and started: for a call
    dialed TEXT,                            -- authorize never saw (rated on delivery)
    started INTEGER,
    source TEXT NOT NULL,
    at INTEGER NOT NULL,                    -- when the call was settled (UTC seconds)
    attempts INTEGER NOT NULL DEFAULT 0,    -- failed deliveries other than Unreachable
    last_error TEXT NOT NULL DEFAULT '',
    set_aside_utc INTEGER                   -- refused: kept, no longer delivered
);
CREATE INDEX IF NOT EXISTS settlement_uniqueid ON settlement (uniqueid);
"""
_COLUMNS = "seq, uniqueid, answered_s, dial_status, number, dialed, started, source, at"


class Queued(NamedTuple):
    seq: int
    request: calls.SettleRequest
    at: int


class SetAside(NamedTuple):
    seq: int
    uniqueid: str
    at: int
    reason: str
    set_aside_utc: int


class SettleQueue:
    """The queue file; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=10, isolation_level=None,
                                     check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # acknowledged = on disk
            self._conn.executescript(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def put(self, request: calls.SettleRequest, at: int) -> int:
        """Keep a settlement (committed and synced when this returns); its number."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO settlement (uniqueid, answered_s, dial_status, number, dialed, "
                "started, source, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (request.uniqueid, request.answered_s, request.dial_status, request.number,
                 request.dialed, request.started, request.source, at))
            return int(cursor.lastrowid or 0)

    def waiting(self, uniqueid: str) -> bool:
        """Whether a settlement of this call waits here (a later one must not pass it).
        Read from the file: the command line may have put one back (``retry``)."""
        with self._lock:
            return self._conn.execute("SELECT 1 FROM settlement WHERE uniqueid = ? AND "
                                      "set_aside_utc IS NULL LIMIT 1", (uniqueid,)).fetchone() \
                is not None

    def count(self) -> int:
        """Settlements waiting for the store."""
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM settlement "
                                      "WHERE set_aside_utc IS NULL").fetchone()[0]

    def oldest(self, limit: int = 100) -> List[Queued]:
        """The first ``limit`` settlements waiting, in order."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM settlement WHERE set_aside_utc IS NULL "
                "ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [Queued(seq, calls.SettleRequest(uid, answered, status, number, dialed, started,
                                                source), at)
                for seq, uid, answered, status, number, dialed, started, source, at in rows]

    def done(self, entries: List[Queued]) -> None:
        """The store took them: forget them (one transaction)."""
        if not entries:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("DELETE FROM settlement WHERE seq = ?",
                                       [(entry.seq,) for entry in entries])
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def failed(self, entry: Queued, error: str) -> int:
        """A delivery failed for a reason other than an outage; the failures so far."""
        with self._lock:
            self._conn.execute("UPDATE settlement SET attempts = attempts + 1, last_error = ? "
                               "WHERE seq = ?", (error[:500], entry.seq))
            row = self._conn.execute("SELECT attempts FROM settlement WHERE seq = ?",
                                     (entry.seq,)).fetchone()
        return row[0] if row else 0

    def set_aside(self, entry: Queued, reason: str, at: Optional[int] = None) -> None:
        """Keep it, with why, and deliver it no more."""
        with self._lock:
            self._conn.execute("UPDATE settlement SET set_aside_utc = ?, last_error = ? "
                               "WHERE seq = ? AND set_aside_utc IS NULL",
                               (store.now_utc() if at is None else at, reason[:500], entry.seq))

    def set_aside_list(self) -> List[SetAside]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, uniqueid, at, last_error, set_aside_utc FROM settlement "
                "WHERE set_aside_utc IS NOT NULL ORDER BY seq").fetchall()
        return [SetAside(*row) for row in rows]

    def retry(self, seq: int) -> bool:
        """Put a set-aside settlement back in line, in its old place (once what refused
        it is fixed); False when no set-aside settlement has that number."""
        with self._lock:
            return self._conn.execute("UPDATE settlement SET set_aside_utc = NULL, attempts = 0 "
                                      "WHERE seq = ? AND set_aside_utc IS NOT NULL",
                                      (seq,)).rowcount > 0


def path_for(database: Union[str, Path]) -> Path:
    """The queue file of a box whose billing database is (or would be) ``database``."""
    return Path(database).parent / FILE_NAME


# the daemon's queue (``open_queue``); None: settlements are not queued in this process
_queue: Optional[SettleQueue] = None


def open_queue(path: Union[str, Path]) -> SettleQueue:
    global _queue
    close_queue()
    _queue = SettleQueue(path)
    return _queue


def close_queue() -> None:
    global _queue
    if _queue is not None:
        _queue.close()
        _queue = None


def current() -> Optional[SettleQueue]:
    return _queue


def status() -> Optional[Tuple[int, int]]:
    """(settlements waiting, set aside) in the daemon's queue; None without one."""
    queue = _queue
    if queue is None:
        return None
    try:
        return queue.count(), len(queue.set_aside_list())
    except sqlite3.Error:
        return None


def waiting(uniqueid: str) -> bool:
    """Whether the daemon's queue holds a settlement of this call.  A queue file that
    cannot be read counts as holding none (logged): every hangup settlement must not
    fail for it."""
    queue = _queue
    if queue is None:
        return False
    try:
        return queue.waiting(uniqueid)
    except sqlite3.Error as exc:
        log.error("the settlement queue %s cannot be read (%s); settling %r directly",
                  queue.path, exc, uniqueid[:64])
        return False


# --- delivery ------------------------------------------------------------------------

Settle = Callable[..., calls.Settlement]


def deliver(queue: SettleQueue, settle: Settle = calls.settle,
            outage: Outage = current_outage, stop: Optional[threading.Event] = None,
            now: Callable[[], int] = store.now_utc) -> int:
    """Deliver what waits, in order, until the queue is empty; the number delivered.
    Raises ``store.Unreachable`` (the rest waits) or the error of a failed delivery
    (counted; the settlement set aside after ``MAX_ATTEMPTS``)."""
    delivered = 0
    while stop is None or not stop.is_set():
        batch = queue.oldest(BATCH)
        if not batch:
            return delivered
        delivered += _deliver_batch(queue, batch, settle, outage, now)
    return delivered


def _deliver_batch(queue: SettleQueue, batch: List[Queued], settle: Settle, outage: Outage,
                   now: Callable[[], int]) -> int:
    """Settle ``batch`` in one store transaction (each settle a savepoint in it), then,
    once it committed, forget those taken and set aside those refused."""
    taken: List[Tuple[Queued, calls.Settlement]] = []
    refused: List[Tuple[Queued, Exception]] = []
    failing = batch[0]
    try:
        with store.money_txn():
            for entry in batch:
                failing, q = entry, entry.request
                try:
                    taken.append((entry, settle(
                        q.uniqueid, q.answered_s, q.dial_status, entry.at, number=q.number,
                        dialed=q.dialed, started=q.started, source=q.source)))
                except Refusal as exc:  # it wrote nothing; the others go on
                    refused.append((entry, exc))
    except store.Unreachable as exc:
        outage.down(exc)
        raise
    except Exception as exc:
        attempts = queue.failed(failing, f"{type(exc).__name__}: {exc}")
        if attempts < MAX_ATTEMPTS:
            raise
        log.error("queued settlement #%d of call %s failed %d times (%s); set aside "
                  "(billing-addon settle-queue)", failing.seq, failing.request.uniqueid[:64],
                  attempts, exc)
        queue.set_aside(failing, f"{type(exc).__name__}: {exc}", now())
        return 0
    outage.up()
    queue.done([entry for entry, _ in taken])  # a crash before this delivers them again
    for entry, refusal in refused:
        log.error("queued settlement #%d of call %s refused by the store: %s; set aside "
                  "(billing-addon settle-queue)", entry.seq, entry.request.uniqueid[:64], refusal)
        queue.set_aside(entry, str(refusal), now())
    for entry, result in taken:
        log.debug("queued settlement #%d of call %s delivered: %s %d", entry.seq,
                 entry.request.uniqueid[:64], result.outcome, result.cost)
    return len(taken)


class Deliverer:
    """The daemon's delivery thread: ``run(stop)`` delivers what waits, and tries again
    after a growing pause while the store is unreachable or delivery fails."""

    def __init__(self, queue: SettleQueue, settle: Settle = calls.settle,
                 outage: Outage = current_outage, idle_seconds: float = 0.5):
        self.queue = queue
        self.settle = settle
        self.outage = outage
        self.idle_seconds = idle_seconds
        self.failures = 0  # tries in a row that failed
        self.last_error = ""

    def pause(self) -> float:
        if not self.failures:
            return self.idle_seconds
        return BACKOFF_SECONDS[min(self.failures, len(BACKOFF_SECONDS)) - 1]

    def once(self, stop: Optional[threading.Event] = None) -> int:
        """One round: deliver what waits; the number delivered (0 on a failure)."""
        if store.damaged:  # a damaged store bills nothing
            return 0
        try:
            delivered = deliver(self.queue, self.settle, self.outage, stop)
        except store.Unreachable as exc:
            self.failures += 1
            self.last_error = str(exc)
            return 0
        except Exception as exc:  # noqa: BLE001 - counted in the file, tried again later
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("delivering queued settlements failed (%s); trying again in %.1f s",
                        self.last_error, self.pause())
            return 0
        self.failures, self.last_error = 0, ""
        if delivered:
            log.info("%d queued settlement(s) delivered to the store; %d waiting",
                     delivered, self.queue.count())
        return delivered

    def run(self, stop: threading.Event) -> None:
        try:
            waiting = self.queue.count()
        except sqlite3.Error as exc:
            log.error("the settlement queue %s cannot be read: %s", self.queue.path, exc)
            waiting = 0
        if waiting:
            log.warning("%d settlement(s) waiting for the central store in %s",
                        waiting, self.queue.path)
        while not stop.wait(self.pause()):
            try:
                self.once(stop)
            except Exception:  # this thread must outlive any error: it is all that delivers
                self.failures += 1
                log.exception("delivering queued settlements failed; trying again in %.1f s",
                              self.pause())
        store.db.close()
