"""The FastAGI TCP server: one event loop (``loop.py``) speaks the protocol for every connection,
a few worker threads do the database work.  Scripts are chosen by the URL path
(``agi://host:port/authorize``).

Each connection reads the ``agi_*`` environment, runs the script registered for the
path (a generator of ``agi.Command`` and ``agi.Work`` steps), half-closes (right behind
a command marked ``last``, else when the script is done) and drains Asterisk's
trailing ``HANGUP``.  A peer that breaks the
protocol, sends too much, stalls or disconnects only loses its own connection: every
wait is bounded (idle and whole-session timeouts, and a short one for the environment,
which Asterisk sends at once), lines and the environment have size limits, and
simultaneous connections are capped: at the cap a new connection takes the place of the
oldest one still silent, so idle connections cannot lock Asterisk out; only when none is
silent is the new one closed at once, which the dialplan sees as "no answer" and handles
by its fail mode.  "Silent" means nothing is waiting to be read either: Asterisk sends its
environment right after connecting, but under a flood of connections the loop may accept
hundreds more before it reads those bytes, and the newest connection must not be the one
pushed out while its environment waits in the socket.  A script whose connection is
gone is told so (``agi.Abandoned``) and may undo what Asterisk never heard of
(authorize releases its reservation).

Why a loop and not a thread per connection: a call is a few short round trips, and
with one thread per connection the interpreter spent several times the cost of the
authorization switching between threads.  Database work goes to worker threads, since a
settlement waits for the disk, with two exceptions to keep the dial tone quick:

* urgent work (authorize) runs on the loop itself while ``inline_when()`` says no
  slow writer holds the database (the daemon asks the write queue): handing it to a
  thread would cost more than running it, because every SQLite call then trades the
  interpreter lock between threads.  The loop first reads everything a round of
  epoll brought, then runs that round's urgent work together (``run_together``: the
  daemon's gives it one transaction and one commit, the biggest cost of an
  authorization, and under load a round brings several).  Work that finds a lock it
  would have to wait for (another process writing) raises ``agi.WouldBlock`` and goes
  to a worker; the daemon sets that up with ``loop_setup``;
* otherwise urgent work has its own lane in the pool, ahead of settlements.
"""

from __future__ import annotations

import collections
import logging
import math
import select
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from . import agi
from .loop import EventLoop, Transport

log = logging.getLogger("billing_addon.pbx.server")

Handler = Callable[[Dict[str, str]], agi.Script]
DRAIN_LIMIT = 4096  # bytes read after the half-close before giving up on the peer
SWEEP_SECONDS = 0.1  # how often timeouts are checked
MAX_PENDING_LINES = agi.MAX_ENV_LINES + agi.MAX_REPLY_LINES
ROUND_LIMIT = 64  # urgent works the loop runs together at most
STALL_SECONDS = 0.05  # a lane's worker at one work this long: another joins (one_a_lane)
# a connection that sent part of its environment and not the rest this long after it
# opened is a slow sender, the first to give way at the connection cap
SLOW_SENDER_S = 0.5


class _Lane:
    """A queue of the pool, and the workers at its work (each with when it began)."""

    __slots__ = ("queue", "busy")

    def __init__(self) -> None:
        # (work, done, when it was queued)
        self.queue: Deque[Tuple[agi.Work, Callable[[Any, Optional[BaseException]], None],
                                float]] = collections.deque()
        self.busy: Dict[int, float] = {}


class WorkerPool:
    """Threads that run ``agi.Work``: urgent work first, then the rest in order.
    ``close`` lets them finish everything queued, so no settlement is left half done.

    ``one_a_lane``: a lane (urgent, normal) is worked by one worker at a time, which
    takes what queued meanwhile together; another joins only when that one has been at
    it longer than ``STALL_SECONDS`` (a disk that stalls, a lock another process holds,
    a settlement sleeping between its tries).  For SQLite, where every work writes and
    writers take turns: more workers at once only traded the interpreter lock and split
    the batches (measured: about 15 % fewer cycles a second with four at once)."""

    def __init__(self, size: int, cleanup: Optional[Callable[[], object]] = None,
                 one_a_lane: bool = False):
        self.cleanup = cleanup
        self.one_a_lane = one_a_lane
        self._urgent, self._normal = _Lane(), _Lane()
        self._ready = threading.Condition()
        self._closing = False
        self._watching = False  # an idle worker waits to see whether a lane stalls
        self._watch_until = math.inf  # when it looks again
        self._idle = 0  # workers waiting for work
        self._threads = [threading.Thread(target=self._run, name=f"agi-worker-{n}", daemon=True)
                         for n in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, work: agi.Work, done: Callable[[Any, Optional[BaseException]], None]) -> None:
        with self._ready:
            if not self._closing:
                lane = self._urgent if work.urgent else self._normal
                now = time.monotonic()
                lane.queue.append((work, done, now))
                self._wake(now)
                return
        # closed (a stop that gave up on the loop): the work, maybe a settlement, is
        # still done, here, rather than left in a queue nobody reads
        log.warning("FastAGI work submitted after the workers stopped; doing it now")
        self._do(work, done)

    def _open(self, lane: _Lane, now: float) -> bool:
        """Work waits in ``lane`` and a worker may take it now."""
        return bool(lane.queue) and (not self.one_a_lane or all(
            now - since > STALL_SECONDS for since in lane.busy.values()))

    def _next(self) -> list:
        """The next work, with the works of the same ``many`` queued right behind it
        (at most ``ROUND_LIMIT``); empty once closed and drained."""
        me = threading.get_ident()
        lanes = (self._urgent, self._normal)
        with self._ready:
            for lane in lanes:
                lane.busy.pop(me, None)
            self._idle += 1
            try:
                while True:
                    now = time.monotonic()
                    chosen = self._choose(now)
                    if chosen is not None:
                        break
                    if self._closing and not any(lane.queue for lane in lanes):
                        self._ready.notify_all()  # the others waiting for a busy lane end too
                        return []
                    self._wait(now)
            finally:
                self._idle -= 1
            chosen.busy[me] = now
            taken = [chosen.queue.popleft()[:2]]
            many = taken[0][0].many
            while (many is not None and chosen.queue and chosen.queue[0][0].many is many
                   and len(taken) < ROUND_LIMIT):
                taken.append(chosen.queue.popleft()[:2])
            self._wake(now)  # work, or a lane to watch, for another worker
            return taken

    def _choose(self, now: float) -> Optional[_Lane]:
        """The lane an idle worker takes work from now, if any.  The last idle worker is
        kept for the authorizations: it never joins a stuck normal lane (the next
        authorization would find no worker), and while authorizations wait behind a
        busy worker it stays to join that one should it stall.  A settlement that has
        waited STALL_SECONDS gets its turn all the same, even from a lone worker with
        authorizations queued; and once closing, nothing is kept back."""
        urgent, normal = self._urgent, self._normal
        if not self._open(normal, now):
            return urgent if self._open(urgent, now) else None
        if not self.one_a_lane:
            return urgent if urgent.queue else normal
        settlement_waited = now - normal.queue[0][2] >= STALL_SECONDS
        if len(self._threads) == 1 and settlement_waited:
            return normal
        if self._open(urgent, now):
            return urgent
        if self._idle > 1 or self._closing:
            return normal
        if normal.busy or (urgent.queue and not settlement_waited):
            return None
        return normal

    def _due(self, now: float) -> Optional[float]:
        """When work that cannot be taken now may become takeable (a busy lane's stall,
        a settlement's turn behind authorizations), the soonest; None: only a change
        (new work, a worker done) can make it so."""
        due = [max(lane.busy.values()) + STALL_SECONDS for lane in (self._urgent, self._normal)
               if lane.queue and lane.busy]
        if self._urgent.queue and self._normal.queue:
            due.append(self._normal.queue[0][2] + STALL_SECONDS)
        later = [when for when in due if when > now]  # those past are refused
        return min(later) if later else None

    def _wake(self, now: float) -> None:
        """After a change: wake a worker when there is work to take, or when something
        becomes takeable sooner than the watcher (if any) will look again (all of them
        then, for the watcher may not be the one a single notify wakes)."""
        if self._choose(now) is not None:
            self._ready.notify()
            return
        due = self._due(now)
        if due is not None and due < self._watch_until:
            if self._watching:
                self._ready.notify_all()
            else:
                self._ready.notify()

    def _wait(self, now: float) -> None:
        """Until work may be taken: one idle worker watches for the next time some
        becomes takeable (``_due``); the others wait until woken."""
        due = self._due(now)
        if due is None or self._watching:
            self._ready.wait()
            return
        self._watching, self._watch_until = True, due
        try:
            self._ready.wait(due - now + 0.001)
        finally:
            self._watching, self._watch_until = False, math.inf

    def _run(self) -> None:
        try:
            while True:
                items = self._next()
                if not items:
                    return
                if len(items) == 1:
                    self._do(*items[0])
                else:
                    self._do_many(items)
        finally:
            if self.cleanup is not None:
                try:
                    self.cleanup()
                except Exception:
                    log.exception("worker cleanup failed")

    @staticmethod
    def _do(work: agi.Work, done: Callable[[Any, Optional[BaseException]], None]) -> None:
        done(*agi.outcome_of(work.function, work.args))

    @staticmethod
    def _do_many(items: list) -> None:
        works = [work for work, _ in items]
        many = works[0].many
        assert many is not None
        try:
            outcomes = many([work.args for work in works])
        except Exception as exc:
            log.exception("FastAGI work run together failed")
            outcomes = [(None, exc)] * len(items)
        except BaseException as exc:
            log.exception("FastAGI work interrupted")
            outcomes = [(None, RuntimeError(f"work interrupted: {exc!r}"))] * len(items)
        for (_, done), (outcome, error) in zip(items, outcomes):
            done(outcome, error)

    def close(self, wait: float) -> bool:
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        end = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, end - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)


class _Connection:
    """One Asterisk connection.  States: env (reading the environment), reply (a
    command was sent), work (a worker has the script's work), script (the work's
    outcome is being handed to the script), gone (Asterisk left while a worker had the
    work: its outcome is still given to the script, nothing more is sent), drain
    (half-closed, waiting for Asterisk to close), closed."""

    def __init__(self, server: AgiServer):
        self.server = server
        self.transport: Optional[Transport] = None
        self.peer: Any = None
        self.state = "env"
        self.buffer = bytearray()
        self.pending: Deque[str] = collections.deque()  # complete lines not yet used
        self.env_reader: Optional[agi.EnvReader] = agi.EnvReader()
        self.reply_reader = agi.ReplyReader()
        self.script: Optional[agi.Script] = None
        self.hungup = False  # Asterisk sent an unsolicited HANGUP
        self.half_closed = False  # our side is closed for writing (after the last command)
        now = time.monotonic()
        self.opened = now
        self.last_heard = now
        self.deadline = now + server.session_timeout
        self.work_started = now
        self.drained = 0

    # -- the loop's callbacks ---------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        server = self.server
        if len(server.connections) >= server.max_connections:
            oldest = server.oldest_silent()
            if oldest is not None:
                server.stats["evicted"] += 1
                oldest._drop(agi.AgiError("silent; its place taken by a new connection"))
                server.connections.add(self)
                return
            server.stats["refused"] += 1
            log.warning("too many FastAGI connections (%d); closing one from %s",
                        server.max_connections, self.peer)
            self.state = "closed"
            transport.abort()
            return
        server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.state == "drain":
            self.drained += len(data)
            if self.drained > DRAIN_LIMIT:
                self._close()
            return
        if self.state in ("closed", "gone"):
            return
        self.last_heard = time.monotonic()
        self.buffer += data
        try:
            self.pending.extend(agi.split_lines(self.buffer))
            if len(self.pending) > MAX_PENDING_LINES:
                raise agi.AgiError("too much input nobody asked for")
            self._process()
        except agi.AgiError as exc:
            self._drop(exc)
        except Exception:
            self._fail()

    def eof_received(self) -> bool:
        if self.state == "drain":
            self._close()
        elif self.state == "work":
            self.state = "gone"  # the worker's result is still used, nothing more is sent
        elif self.state not in ("closed", "gone"):
            self._drop(agi.PeerGone("EOF"))
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.state == "work":
            self.state = "gone"
        elif self.state not in ("closed", "gone"):
            if self.state != "drain":
                self.server.stats["dropped"] += 1
                log.info("FastAGI peer %s went away: %s", self.peer, exc or "closed")
            self.state = "closed"
            self._abandon_script()
        self._forget()
        self.transport = None  # no cycle left for the garbage collector

    # -- protocol ------------------------------------------------------------------
    def _process(self) -> None:
        """Feed the lines received so far to whatever waits for them.  Lines that come
        while a worker has the script wait for the next command's reply."""
        while self.pending and self.state in ("env", "reply"):
            if self.state == "env":
                assert self.env_reader is not None
                if self.env_reader.feed_lines(self.pending):
                    self._start_script()
            else:
                line = self.pending.popleft()
                reply = self.reply_reader.feed(line)
                if reply is not None:
                    self.hungup = self.hungup or self.reply_reader.hungup
                    self.reply_reader = agi.ReplyReader()
                    self._advance(reply)

    def _start_script(self) -> None:
        assert self.env_reader is not None
        env, self.hungup = self.env_reader.env, self.env_reader.hungup
        self.env_reader = None
        script = agi.script_name(env)
        handler = self.server.handlers.get(script)
        if handler is None:
            log.warning("unknown FastAGI script %r from %s", script[:40], self.peer)
            self._finish()
            return
        self.script = handler(env)
        self._advance(None)

    def _advance(self, outcome: Any, error: Optional[BaseException] = None) -> None:
        """Give the script the outcome of its last step and carry out the next one:
        a command is sent, work goes to a worker, or (urgent work the loop may run)
        joins the work this loop runs together once it has read what this round brought."""
        assert self.script is not None
        try:
            step = self.script.send(outcome) if error is None else self.script.throw(error)
        except StopIteration:
            self._finish()
            return
        if isinstance(step, agi.Work):
            if self.state != "gone":
                self.state = "work"
            self.work_started = time.monotonic()
            if step.urgent and self.server.run_inline():
                self.server.run_with_round(self, step)
            else:
                self.hand_to_worker(step)
            return
        if self.state == "gone":  # Asterisk left; the script cannot go on
            self._abandon_script()
            self.server.stats["dropped"] += 1
            self.state = "closed"
            self._forget()
            return
        assert self.transport is not None
        self.state = "reply"
        self.last_heard = time.monotonic()
        self.transport.write(step.text.encode("utf-8") + b"\n")
        if step.last:
            self._half_close()

    def _work_done_threadsafe(self, outcome: Any, error: Optional[BaseException]) -> None:
        self.server.call_soon(self._work_done, outcome, error)

    def hand_to_worker(self, work: agi.Work) -> None:
        self.server.pool.submit(work, self._work_done_threadsafe)

    def _work_done(self, outcome: Any, error: Optional[BaseException]) -> None:
        if self.state == "closed":  # dropped meanwhile: the work still counted
            if self.script is None:
                return
            self.state = "gone"  # the script sees the outcome, then that it was abandoned
        if self.state == "work":
            self.state = "script"
            now = time.monotonic()
            self.last_heard = now
            self.deadline += now - self.work_started  # our own wait is not the peer's
        try:
            self._advance(outcome, error)
            self._process()
        except agi.AgiError as exc:
            self._drop(exc)
        except Exception:
            self._fail()

    def _finish(self) -> None:
        """The script is done: half-close and wait for Asterisk to close its side."""
        self.server.stats["sessions"] += 1
        self.script = None
        if self.state == "gone" or self.transport is None or self.transport.is_closing():
            self.state = "closed"
            self._forget()
            return
        self.state = "drain"
        self.deadline = time.monotonic() + self.server.drain_timeout
        self._half_close()

    def _half_close(self) -> None:
        if self.half_closed or self.transport is None:
            return
        self.half_closed = True
        try:
            self.transport.write_eof()
        except OSError:
            self._close()

    # -- endings -------------------------------------------------------------------
    def _drop(self, exc: Exception) -> None:
        self.server.stats["dropped"] += 1
        if isinstance(exc, agi.PeerGone):
            log.info("FastAGI peer %s went away: %s", self.peer, exc)
        else:
            log.warning("FastAGI peer %s dropped: %s", self.peer, exc)
        self._abandon()

    def _fail(self) -> None:
        self.server.stats["errors"] += 1
        log.exception("FastAGI session from %s failed", self.peer)
        self._abandon()

    def _abandon(self) -> None:
        if self.state == "work":
            self.state = "closed"  # the worker finishes; the script sees its outcome, then this
        else:
            self._abandon_script()
        self._close()

    def _abandon_script(self) -> None:
        """Tell the script its connection is gone; the one ``Work`` it may yield then
        (an undo) goes to a worker, whose outcome nobody waits for."""
        script, self.script = self.script, None
        if script is None:
            return
        try:
            step = script.throw(agi.Abandoned())
        except (StopIteration, agi.Abandoned):
            return
        except Exception:
            log.exception("FastAGI script from %s failed when abandoned", self.peer)
            return
        if isinstance(step, agi.Work):
            self.server.pool.submit(step, _undo_done)
        script.close()

    def _close(self) -> None:
        self.state = "closed"
        if self.transport is not None:
            self.transport.close()
        self._forget()

    def env_started(self) -> bool:
        """Has part of the environment come (and not all of it)?"""
        return bool(self.buffer or self.pending
                    or (self.env_reader is not None and self.env_reader.started))

    def unread(self) -> bool:
        """Are bytes waiting in the socket that the loop has not read yet?"""
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is None or sock.fileno() < 0:
            return False
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def _forget(self) -> None:
        if self.state in ("closed", "gone") and self in self.server.connections:
            if self.state == "closed" or self.script is None:
                self.server.connections.discard(self)
                self.server.changed()

    def check_time(self, now: float) -> None:
        """Called by the sweeper: enforce the idle, session and drain limits."""
        if self.state == "drain":
            if now >= self.deadline:
                self._close()
        elif self.state in ("env", "reply"):
            if self.state == "env" and now - self.opened >= self.server.env_timeout:
                self._drop(agi.AgiError("no environment in time"))
            elif now >= self.deadline:
                self._drop(agi.AgiError("session took too long"))
            elif now - self.last_heard >= self.server.idle_timeout:
                self._drop(agi.AgiError("peer too slow"))


def _listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def one_by_one(works: List[agi.Work]) -> List[agi.Outcome]:
    """Urgent work of one round run as it comes, each on its own (``AgiServer``'s
    ``run_together`` when none is given)."""
    return [agi.outcome_of(work.function, work.args) for work in works]


def _undo_done(outcome: Any, error: Optional[BaseException]) -> None:
    if error is not None:
        log.error("undoing the work of an abandoned FastAGI session failed: %s", error)


class AgiServer:
    """``start()`` binds and serves from a background thread; ``stop()`` stops accepting
    and waits for the sessions in progress (so no settlement is cut in half)."""

    def __init__(self, handlers: Dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 *, max_connections: int = 200, idle_timeout: float = 10.0,
                 session_timeout: float = 30.0, drain_timeout: float = 2.0, backlog: int = 1024,
                 env_timeout: float = 1.5,
                 workers: int = 4, thread_cleanup: Optional[Callable[[], object]] = None,
                 one_worker_a_lane: bool = False,
                 inline_when: Optional[Callable[[], bool]] = None,
                 loop_setup: Optional[Callable[[], object]] = None,
                 run_together: Callable[[List[agi.Work]], List[agi.Outcome]] = one_by_one):
        self.handlers = dict(handlers)
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.session_timeout = session_timeout
        self.env_timeout = env_timeout
        self.drain_timeout = drain_timeout
        self.backlog = backlog
        self.workers = workers
        self.one_worker_a_lane = one_worker_a_lane
        self.thread_cleanup = thread_cleanup
        self.inline_when = inline_when
        self.loop_setup = loop_setup
        self.run_together = run_together
        self.connections: Set[_Connection] = set()
        # rounds: the loop's runs of urgent work together; largest_round: the most in one
        self.stats = {"sessions": 0, "dropped": 0, "refused": 0, "evicted": 0,
                      "errors": 0, "rounds": 0, "largest_round": 0}
        self._round: List[Tuple[_Connection, agi.Work]] = []
        self.pool: WorkerPool
        self._loop: Optional[EventLoop] = None
        self._stop_listening: Optional[Callable[[], None]] = None
        self._thread: Optional[threading.Thread] = None
        self._address: Optional[Tuple[str, int]] = None
        self._idle = threading.Condition()

    @property
    def address(self) -> Tuple[str, int]:
        assert self._address is not None, "not started"
        return self._address

    @property
    def active(self) -> int:
        """Connections accepted and not finished."""
        return len(self.connections)

    def call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the loop (from any thread); dropped once stopped."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # closed between the check and the call
                pass

    def oldest_silent(self) -> Optional[_Connection]:
        """The connection to drop for a new one at the cap: the oldest that sent part of
        its environment and, after SLOW_SENDER_S, not the rest (Asterisk writes it at
        once: a peer sending a byte at a time always has one waiting, and must not keep
        Asterisk out); else the oldest with nothing heard and nothing waiting to be read."""
        silent = sorted((conn for conn in self.connections if conn.state == "env"),
                        key=lambda conn: conn.opened)
        now = time.monotonic()
        slow = next((conn for conn in silent
                     if now - conn.opened >= SLOW_SENDER_S and conn.env_started()), None)
        return slow or next((conn for conn in silent if not conn.unread()), None)

    def run_inline(self) -> bool:
        """May urgent work run on the loop now?"""
        return self.inline_when is not None and self.inline_when()

    def run_with_round(self, conn: _Connection, work: agi.Work) -> None:
        """Run ``work`` on the loop once it has handled everything this round brought,
        together with the other urgent work that came with it (``run_together``: the
        daemon's runs it all in one transaction, with one commit)."""
        if not self._round:
            assert self._loop is not None
            self._loop.call_soon(self._run_round)  # after this round's events
        self._round.append((conn, work))

    def _run_round(self) -> None:
        assert self._loop is not None
        if not self.run_inline():  # a slow writer came meanwhile: workers wait for it
            batch, self._round = self._round, []
            for conn, work in batch:
                conn.hand_to_worker(work)
            return
        batch, self._round = self._round[:ROUND_LIMIT], self._round[ROUND_LIMIT:]
        if self._round:  # the rest after the next round of epoll (a bound on the lock held)
            self._loop.call_soon(self._run_round)
        self.stats["rounds"] += 1
        self.stats["largest_round"] = max(self.stats["largest_round"], len(batch))
        outcomes, failure = agi.outcome_of(self.run_together, ([work for _, work in batch],))
        if failure is not None:  # a fault of its own: the sessions must still end
            log.error("FastAGI: a round's work failed as a whole", exc_info=failure)
            outcomes = [(None, failure)] * len(batch)
        for (conn, work), (outcome, error) in zip(batch, outcomes):
            if isinstance(error, agi.WouldBlock):  # it would wait for a lock
                conn.hand_to_worker(work)
            else:
                conn._work_done(outcome, error)

    def changed(self) -> None:
        with self._idle:
            self._idle.notify_all()

    def start(self) -> AgiServer:
        self.pool = WorkerPool(self.workers, self.thread_cleanup, self.one_worker_a_lane)
        started = threading.Event()
        failure: List[BaseException] = []

        def run() -> None:
            loop: Optional[EventLoop] = None
            listener: Optional[socket.socket] = None
            try:
                loop = self._loop = EventLoop()  # out of descriptors: a failure to report
                if self.loop_setup is not None:
                    self.loop_setup()
                listener = _listening_socket(self.host, self.port, self.backlog)
                self._address = listener.getsockname()[:2]
                self._stop_listening = loop.listen(listener, lambda: _Connection(self))
            except BaseException as exc:
                failure.append(exc)
                started.set()
                if listener is not None:
                    listener.close()
                if loop is not None:
                    loop.close()
                return
            started.set()
            loop.call_soon(self._sweep)
            try:
                loop.run_forever()
            finally:
                # ended for good (a stop, or a fault of the loop's own): Asterisk's new
                # connections are refused at once rather than left in the backlog
                self._stop_listening()
                for conn in list(self.connections):
                    if conn.transport is not None:
                        conn.transport.abort()
                loop.run_once(timeout=0)  # their connection_lost
                loop.close()
                if self.thread_cleanup is not None:  # inline work used this thread too
                    self.thread_cleanup()

        self._thread = threading.Thread(target=run, name="agi-loop", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self.pool.close(1.0)
            raise failure[0]
        log.info("FastAGI listening on %s:%d", *self.address)
        return self

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            try:
                conn.check_time(now)
            except Exception:
                log.exception("FastAGI timeout check failed")
        assert self._loop is not None
        self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def stop(self, wait: float = 10.0) -> bool:
        """Stop accepting; wait up to ``wait`` s for open sessions.  True when all ended."""
        end = time.monotonic() + wait
        if self._stop_listening is not None:
            self.call_soon(self._stop_listening)
        with self._idle:
            while self.connections and time.monotonic() < end:
                self._idle.wait(timeout=min(0.2, max(0.0, end - time.monotonic())))
            finished = not self.connections
        if not finished:
            log.warning("%d FastAGI session(s) still open at shutdown", self.active)
        loop = self._loop
        if loop is not None and self._thread is not None:
            self.call_soon(loop.stop)
            self._thread.join(timeout=max(1.0, end - time.monotonic()))
            if self._thread.is_alive():
                log.error("the FastAGI loop did not stop")
                finished = False
        # queued work (settlements) is still done before the workers end
        finished = self.pool.close(max(1.0, end - time.monotonic())) and finished
        return finished
