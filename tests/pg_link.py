"""For the tests of the central store out of reach (docs/scale-failures.md): whether a
PostgreSQL server can be started here, and a relay between a box and the server that a
test can cut."""

from __future__ import annotations

import socket
import threading
from typing import Optional

from .pg_server import bin_dir


def no_postgres() -> Optional[str]:
    """Why no PostgreSQL server can be started here, or None."""
    if bin_dir() is None:
        return "no PostgreSQL server here (Debian's postgresql package: make setup installs it)"
    try:
        import psycopg2  # noqa: F401
    except ModuleNotFoundError:
        return "psycopg2 is not installed (make setup installs it)"
    return None


class Link:
    """A TCP relay on loopback between one box and the server, which the test can cut
    (connections open are closed, new ones closed at once: the server is gone for the
    box) and restore.  It keeps its port meanwhile, so nothing else can take it."""

    def __init__(self, port: int):
        self.target = port
        self._lock = threading.Lock()
        self._open: list = []
        self._stop = False
        self._cut = False
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return  # closed
            if self._cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open = []

    def restore(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._listener.close()
