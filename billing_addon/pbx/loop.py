"""A small event loop for the FastAGI server: one thread, epoll, non-blocking sockets,
and the part of asyncio's protocol interface the server's connections use.

A connection is a protocol object (``connection_made``, ``data_received``,
``eof_received``, ``connection_lost``, called as asyncio calls them) and a
``Transport`` (``write``, ``write_eof``, ``close``, ``abort``, ``is_closing``,
``get_extra_info``).  ``connection_lost`` comes once, from the loop, after the
transport was closed or the peer failed.

Why not asyncio: a FastAGI session is a few short reads and one or two writes, and
asyncio's tasks, handles and transport layers cost about as much Python per session
as everything the server does with it (bench/bench_call.py measured the loop's CPU per
session both ways).  Linux only (epoll), as the box is.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import select
import socket
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

log = logging.getLogger("billing_addon.pbx.loop")

READ_SIZE = 65536
ACCEPT_BATCH = 64  # connections accepted per wake-up before the others get a turn
ACCEPT_PAUSE_S = 1.0  # after a failed accept (no file descriptor left, say)
_IN, _OUT = select.EPOLLIN, select.EPOLLOUT
_TRY_AGAIN = (BlockingIOError, InterruptedError)


class Transport:
    """One accepted socket.  Writes go out at once; what the socket does not take is
    kept and sent when it can (the protocol's writes are a line or two)."""

    __slots__ = ("_loop", "_sock", "_fd", "_peer", "_protocol", "_out", "_eof_wanted",
                 "_closing", "_lost", "_events")

    def __init__(self, loop: EventLoop, sock: socket.socket, peer: Any):
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._peer = peer
        self._protocol: Any = None
        self._out: Optional[bytearray] = None
        self._eof_wanted = False
        self._closing = False
        self._lost = False
        self._events = 0  # what epoll watches for this socket (0: not registered)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._peer
        if name == "socket":
            return None if self._lost else self._sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes) -> None:
        if self._closing or self._eof_wanted or not data:
            return
        if self._out:
            self._out += data
            return
        try:
            sent = self._sock.send(data)
        except _TRY_AGAIN:
            sent = 0
        except OSError as exc:
            self._fail(exc)
            return
        if sent < len(data):
            self._out = bytearray(data[sent:])
            self._watch(self._events | _OUT)

    def write_eof(self) -> None:
        """Half-close once everything written has gone out."""
        if self._closing or self._eof_wanted:
            return
        self._eof_wanted = True
        if not self._out:
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Stop reading; once what was written has gone out, the connection is lost."""
        if self._closing:
            return
        self._closing = True
        if self._out:
            self._watch(_OUT)
        else:
            self._watch(0)
            self._loop.call_soon(self._connection_lost, None)

    def abort(self) -> None:
        """Close now, dropping anything not yet sent."""
        self._fail(None)

    def _fail(self, exc: Optional[BaseException]) -> None:
        if self._lost:
            return
        self._closing = True
        self._out = None
        self._watch(0)
        self._loop.call_soon(self._connection_lost, exc)

    def _watch(self, events: int) -> None:
        if events != self._events and not self._lost:
            self._loop.watch(self._fd, events, self._events, self._ready)
            self._events = events

    def _connection_lost(self, exc: Optional[BaseException]) -> None:
        if self._lost:
            return
        self._watch(0)
        self._lost = True
        protocol, self._protocol = self._protocol, None
        try:
            if protocol is not None:
                protocol.connection_lost(exc)
        finally:
            self._sock.close()

    def _ready(self, events: int) -> None:
        """epoll says the socket can be read (or has failed), or written."""
        if events & _OUT and self._out:
            self._flush()
        if events & ~_OUT and not self._closing:
            self._read()

    def _read(self) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except _TRY_AGAIN:
            return
        except OSError as exc:
            self._fail(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        self._watch(self._events & _OUT)  # nothing more will come
        if not self._protocol.eof_received():
            self.close()

    def _flush(self) -> None:
        assert self._out is not None
        try:
            sent = self._sock.send(self._out)
        except _TRY_AGAIN:
            return
        except OSError as exc:
            self._fail(exc)
            return
        del self._out[:sent]
        if self._out:
            return
        self._out = None
        if self._closing:
            self._watch(0)
            self._loop.call_soon(self._connection_lost, None)
            return
        self._watch(self._events & ~_OUT)
        if self._eof_wanted:
            try:
                self._sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                self._fail(exc)


class EventLoop:
    """``run_forever`` in one thread; ``call_soon_threadsafe`` from any other."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._handlers: Dict[int, Callable[[int], None]] = {}
        self._ready: Deque[Tuple[Callable[..., Any], tuple]] = collections.deque()
        self._timers: List[Tuple[float, int, Callable[[], Any]]] = []
        self._order = itertools.count()
        self._wake_in, self._wake_out = socket.socketpair()
        for end in (self._wake_in, self._wake_out):
            end.setblocking(False)
        self._woken = False
        self._stopping = False
        self._closed = False
        self.watch(self._wake_in.fileno(), _IN, 0, self._drain_wake_ups)

    # -- scheduling ----------------------------------------------------------------
    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """From the loop's own thread."""
        self._ready.append((callback, args))

    def call_soon_threadsafe(self, callback: Callable[..., Any], *args: Any) -> None:
        if self._closed:
            raise RuntimeError("the loop is closed")
        self._ready.append((callback, args))
        if not self._woken:  # one wake-up byte for any number of callbacks
            self._woken = True
            try:
                self._wake_out.send(b"\0")
            except _TRY_AGAIN:
                pass  # the loop has bytes to wake on already
            except OSError:
                pass  # closed meanwhile

    def call_later(self, delay: float, callback: Callable[[], Any]) -> None:
        """From the loop's own thread."""
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), callback))

    def stop(self) -> None:
        self._stopping = True

    def is_closed(self) -> bool:
        return self._closed

    # -- sockets -------------------------------------------------------------------
    def watch(self, fd: int, events: int, before: int, handler: Callable[[int], None]) -> None:
        """Have epoll watch ``fd`` for ``events`` (0: not at all) instead of ``before``."""
        if not before:
            self._epoll.register(fd, events)
            self._handlers[fd] = handler
        elif not events:
            self._handlers.pop(fd, None)
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass
        else:
            self._epoll.modify(fd, events)

    def listen(self, sock: socket.socket, protocol_factory: Callable[[], Any]) -> Callable[[], None]:
        """Accept connections on ``sock`` for protocols from ``protocol_factory``;
        returns what stops accepting (and closes ``sock``)."""
        sock.setblocking(False)
        fd = sock.fileno()

        def accept(_events: int) -> None:
            for _ in range(ACCEPT_BATCH):
                try:
                    conn, peer = sock.accept()
                except _TRY_AGAIN:
                    return
                except OSError as exc:  # out of file descriptors and the like
                    # the listener stays readable: pause it, or the loop would spin on it
                    log.warning("FastAGI accept failed: %s; accepting again in %.0f s",
                                exc, ACCEPT_PAUSE_S)
                    self.watch(fd, 0, _IN, accept)
                    self.call_later(ACCEPT_PAUSE_S, resume)
                    return
                self._connect(conn, peer, protocol_factory())

        def resume() -> None:
            if sock.fileno() >= 0 and fd not in self._handlers:
                self.watch(fd, _IN, 0, accept)

        def stop_listening() -> None:
            if fd in self._handlers:
                self.watch(fd, 0, _IN, accept)
            sock.close()  # a pause's resume then finds it closed

        self.watch(fd, _IN, 0, accept)
        return stop_listening

    def _connect(self, sock: socket.socket, peer: Any, protocol: Any) -> None:
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        transport = Transport(self, sock, peer)
        transport._protocol = protocol
        protocol.connection_made(transport)
        if not transport._closing:
            transport._watch(_IN)

    def _drain_wake_ups(self, _events: int) -> None:
        try:
            while self._wake_in.recv(4096):
                pass
        except _TRY_AGAIN:
            pass
        # only now, and before this round's callbacks run: a callback queued while
        # ``_woken`` was still set is in the queue already; one queued after this sends
        # a byte again (reset before the drain, that byte could be read here unheeded)
        self._woken = False

    # -- running -------------------------------------------------------------------
    def run_forever(self) -> None:
        self._stopping = False
        while not self._stopping:
            self.run_once()

    def run_once(self, timeout: Optional[float] = None) -> None:
        """Wait for sockets (or the next timer, or ``timeout``), then run what is due."""
        if self._ready:
            wait = 0.0
        else:
            wait = -1.0 if timeout is None else timeout
            if self._timers:
                first = max(0.0, self._timers[0][0] - time.monotonic())
                wait = first if wait < 0 else min(wait, first)
        try:
            events = self._epoll.poll(wait)
        except InterruptedError:
            events = []
        handlers = self._handlers
        for fd, mask in events:
            handler = handlers.get(fd)
            if handler is not None:
                self._guarded(handler, (mask,))
        if self._timers:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                self._ready.append((heapq.heappop(self._timers)[2], ()))
        for _ in range(len(self._ready)):  # what these schedule runs next time round
            callback, args = self._ready.popleft()
            self._guarded(callback, args)

    @staticmethod
    def _guarded(callback: Callable[..., Any], args: tuple) -> None:
        try:
            callback(*args)
        except (Exception, SystemExit):  # one connection's failure never stops the loop
            log.exception("FastAGI loop callback %r failed", callback)

    def close(self) -> None:
        """After the loop stopped: close the wake-up pair and epoll."""
        if self._closed:
            return
        self._closed = True
        self._wake_in.close()
        self._wake_out.close()
        self._epoll.close()
