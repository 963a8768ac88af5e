"""A threaded FastAGI TCP server: one thread per Asterisk connection, scripts by path.

Each connection reads the ``agi_*`` environment, runs the handler registered for the
URL path (``agi://host:port/authorize``), then half-closes like the recording server
did and drains Asterisk's trailing ``HANGUP``.  A peer that breaks the protocol, sends
too much, stalls or disconnects only loses its own connection: every wait is bounded
(idle and whole-session timeouts), every line and the environment have size limits,
and the number of simultaneous connections is capped (over the cap a connection is
closed at once, which the dialplan sees as "no answer" and handles by its fail mode).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable, Dict, Optional, Set, Tuple

from . import agi

log = logging.getLogger("billing_addon.pbx.server")

Handler = Callable[[agi.Session], None]


class AgiServer:
    """``start()`` binds and serves in a background thread; ``stop()`` stops accepting
    and waits for the sessions in progress (so no settlement is cut in half)."""

    def __init__(self, handlers: Dict[str, Handler], host: str = "127.0.0.1", port: int = 4573,
                 *, max_connections: int = 200, idle_timeout: float = 10.0,
                 session_timeout: float = 30.0, drain_timeout: float = 2.0, backlog: int = 128):
        self.handlers = dict(handlers)
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.session_timeout = session_timeout
        self.drain_timeout = drain_timeout
        self.backlog = backlog
        self._slots = threading.BoundedSemaphore(max_connections)
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        self._active: Set[threading.Thread] = set()
        self._lock = threading.Lock()
        self.stats = {"sessions": 0, "dropped": 0, "refused": 0, "errors": 0}

    @property
    def address(self) -> Tuple[str, int]:
        assert self._sock is not None, "not started"
        return self._sock.getsockname()[:2]

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def start(self) -> AgiServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(self.backlog)
        sock.settimeout(0.5)  # so the accept loop notices stop()
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
        while True:
            with self._lock:
                left = list(self._active)
            if not left:
                return True
            remaining = end - time.monotonic()
            if remaining <= 0:
                log.warning("%d FastAGI session(s) still open at shutdown", len(left))
                return False
            left[0].join(timeout=min(remaining, 0.5))

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
            if not self._slots.acquire(blocking=False):
                self._count("refused")
                log.warning("too many FastAGI connections (%d); closing one from %s",
                            self.max_connections, peer)
                conn.close()
                continue
            thread = threading.Thread(target=self._serve, args=(conn, peer),
                                      name="agi-session", daemon=True)
            with self._lock:
                self._active.add(thread)
            thread.start()

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
        finally:
            with self._lock:
                self._active.discard(threading.current_thread())
            self._slots.release()
