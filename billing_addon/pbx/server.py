"""A threaded FastAGI TCP server: each Asterisk connection is served by a worker
thread, scripts are chosen by the URL path.

Each connection reads the ``agi_*`` environment, runs the handler registered for the
path (``agi://host:port/authorize``), then half-closes like the recording server did and
drains Asterisk's trailing ``HANGUP``.  A peer that breaks the protocol, sends too much,
stalls or disconnects only loses its own connection: every wait is bounded (idle and
whole-session timeouts), lines and the environment have size limits, and simultaneous
connections are capped (over the cap a connection is closed at once, which the dialplan
sees as "no answer" and handles by its fail mode).

Workers are kept and reused (up to the cap): a new thread and a new SQLite connection
per call cost ten times the authorization itself.  ``thread_cleanup`` runs when a
worker ends (the daemon closes the worker's database connection there).
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from . import agi

log = logging.getLogger("billing_addon.pbx.server")

Handler = Callable[[agi.Session], object]


class AgiServer:
    """``start()`` binds and serves in background threads; ``stop()`` stops accepting
    and waits for the sessions in progress (so no settlement is cut in half)."""

    def __init__(self, handlers: Dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 *, max_connections: int = 200, idle_timeout: float = 10.0,
                 session_timeout: float = 30.0, drain_timeout: float = 2.0, backlog: int = 128,
                 thread_cleanup: Optional[Callable[[], object]] = None):
        self.handlers = dict(handlers)
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.session_timeout = session_timeout
        self.drain_timeout = drain_timeout
        self.backlog = backlog
        self.thread_cleanup = thread_cleanup
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._queue: queue.Queue[Optional[Tuple[socket.socket, object]]] = queue.Queue()
        self._workers: List[threading.Thread] = []
        self._idle = 0  # workers waiting for a connection
        self._busy = 0  # connections accepted and not finished
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self.stats = {"sessions": 0, "dropped": 0, "refused": 0, "errors": 0}

    @property
    def address(self) -> Tuple[str, int]:
        assert self._sock is not None, "not started"
        return self._sock.getsockname()[:2]

    @property
    def active(self) -> int:
        """Connections accepted and not finished."""
        with self._lock:
            return self._busy

    def start(self) -> AgiServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(self.backlog)
        sock.settimeout(0.5)  # the accept loop also notices stop() by itself
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop, name="agi-accept", daemon=True)
        self._thread.start()
        log.info("FastAGI listening on %s:%d", *self.address)
        return self

    def stop(self, wait: float = 10.0) -> bool:
        """Stop accepting; wait up to ``wait`` s for open sessions.  True when all ended."""
        self._stopping.set()
        if self._sock is not None:
            try:  # wakes a blocked accept() at once on Linux
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        end = time.monotonic() + wait
        with self._lock:
            while self._busy and time.monotonic() < end:
                self._done.wait(timeout=min(0.5, max(0.0, end - time.monotonic())))
            finished = self._busy == 0
            workers = list(self._workers)
        if not finished:
            log.warning("%d FastAGI session(s) still open at shutdown", self.active)
        for _ in workers:
            self._queue.put(None)
        for worker in workers:
            worker.join(timeout=max(0.1, end - time.monotonic()) if finished else 0.1)
        return finished

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                log.exception("accept failed")
                time.sleep(0.1)
                continue
            with self._lock:
                if self._busy >= self.max_connections:
                    self.stats["refused"] += 1
                    refused = True
                else:
                    refused = False
                    self._busy += 1
                    spawn = self._idle == 0
                    if not spawn:
                        self._idle -= 1  # that worker is taken by this connection
            if refused:
                log.warning("too many FastAGI connections (%d); closing one from %s",
                            self.max_connections, peer)
                conn.close()
                continue
            if spawn:
                worker = threading.Thread(target=self._work, name="agi-worker", daemon=True)
                with self._lock:
                    self._workers.append(worker)
                worker.start()
            self._queue.put((conn, peer))

    def _work(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                try:
                    self._serve(*item)
                finally:
                    with self._lock:
                        self._busy -= 1
                        self._idle += 1
                        self._done.notify_all()
        finally:
            if self.thread_cleanup is not None:
                try:
                    self.thread_cleanup()
                except Exception:
                    log.exception("worker cleanup failed")

    def _serve(self, conn: socket.socket, peer) -> None:
        session = agi.Session(conn, self.idle_timeout, self.session_timeout)
        try:
            env = session.read_env()
            script = agi.script_name(env)
            handler = self.handlers.get(script)
            if handler is None:
                log.warning("unknown FastAGI script %r from %s", script[:40], peer)
            else:
                handler(session)
            self._count("sessions")
            session.finish(self.drain_timeout)
        except agi.PeerGone as exc:
            self._count("dropped")
            log.info("FastAGI peer %s went away: %s", peer, exc)
            session.close()
        except agi.AgiError as exc:
            self._count("dropped")
            log.warning("FastAGI peer %s dropped: %s", peer, exc)
            session.close()
        except Exception:
            self._count("errors")
            log.exception("FastAGI session from %s failed", peer)
            session.close()
