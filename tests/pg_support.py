"""A throwaway PostgreSQL 15 server for the tests: a cluster in a temp folder (initdb,
pg_ctl), on loopback TCP and a unix socket in that folder; stopped and started by the
tests that need the store out of reach.  As root, the server runs as ``postgres``
(PostgreSQL refuses to run as root)."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

PG_BIN = Path(os.environ.get("BILLING_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "billing"


def no_postgres() -> Optional[str]:
    """Why no PostgreSQL server can be started here, or None when one can."""
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL server here ({PG_BIN}/initdb missing: apt-get install postgresql-15)"
    try:
        import psycopg2  # noqa: F401
    except ModuleNotFoundError:
        return "psycopg2 is not installed (make setup installs it)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PgServer:
    _names = itertools.count(1)

    def __init__(self, folder: Path, port: int):
        self.folder = folder
        self.data = folder / "data"
        self.port = port

    @classmethod
    def start_new(cls) -> PgServer:
        folder = Path(tempfile.mkdtemp(prefix="billing-pg-"))
        server = cls(folder, _free_port())
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(folder, account.pw_uid, account.pw_gid)
        server._run("initdb", "-D", str(server.data), "-A", "trust", "-U", USER, "-E", "UTF8",
                    "--no-sync")
        server.start()
        return server

    def _run(self, tool: str, *args: str) -> None:
        command: List[str] = [str(PG_BIN / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--"] + command
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.folder, timeout=120)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        if self.running():
            return
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.folder} -c fsync=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"),
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, new connections refused."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def url(self, database: str, port: Optional[int] = None) -> str:
        name = database.rsplit("/", 1)[-1]
        return f"postgresql://{USER}@127.0.0.1:{port or self.port}/{name}"

    def create_database(self) -> str:
        import psycopg2

        name = f"t{os.getpid()}_{next(self._names)}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres")
        try:
            conn.autocommit = True
            conn.cursor().execute(f"CREATE DATABASE {name}")
        finally:
            conn.close()
        return self.url(name)

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
