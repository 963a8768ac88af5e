"""A throwaway PostgreSQL 15 server for the tests and the benchmark (Debian's
``postgresql`` package: initdb and pg_ctl, a cluster in a temp folder, 127.0.0.1 on a free
port, its socket in the folder too).

initdb refuses root: as root the cluster belongs to the ``postgres`` user (the package
makes it) and runs as that user.  The server is stopped by its own pg_ctl at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterator, List, Optional

USER = "billing"  # the cluster's superuser (trust on loopback: a throwaway cluster)


def bin_dir() -> Optional[Path]:
    """Where initdb and pg_ctl are: PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path, fsync: bool) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.fsync = fsync
        self._as: List[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._bin = bin_dir()
        if self._bin is None:
            raise RuntimeError("no PostgreSQL server found (/usr/lib/postgresql/*/bin; PG_BIN): "
                               "install Debian's postgresql (tools/install-system-packages.sh)")

    def _run(self, *args: str) -> None:
        subprocess.run(self._as + [str(self._bin / args[0]), *args[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", USER, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")

    def start(self) -> None:
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
                   "-c max_connections=300")
        if not self.fsync:  # the functional tests: durability is not what they check
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.folder / "server.log"), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data))

    def cpu_seconds(self) -> float:
        """CPU time the server has used so far, its ended backends included (what the
        postmaster reaped is in its children's times)."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            if int(entry) == main:  # utime, stime, cutime, cstime
                total += sum(int(value) for value in fields[11:15])
            elif int(fields[1]) == main:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, statement: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as the superuser."""
        import psycopg2

        conn = psycopg2.connect(self.url())
        try:
            conn.autocommit = True
            conn.cursor().execute(statement)
        finally:
            conn.close()

    def create_database(self, name: str, template: Optional[str] = None) -> str:
        """A new database (a copy of ``template``); its URL."""
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def throwaway_server(folder, *, fsync: bool = False) -> Iterator[Server]:
    """A started server whose cluster lives in ``folder`` (emptied first); stopped at the end."""
    folder = Path(folder)
    shutil.rmtree(folder / "data", ignore_errors=True)
    server = Server(folder, fsync)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop("immediate")
