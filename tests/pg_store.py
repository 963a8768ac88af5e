"""The test suite on PostgreSQL (``BILLING_TEST_STORE=postgresql``, ``make test-postgres``).

The tests name their store by a SQLite path (``db_path``, a config's ``[box] database``,
a worker's argument).  Here ``store.init_db`` maps each such path to a database of one
throwaway server started for the session: the same path, the same database, in this
process and in the subprocesses the tests start (``pg_site/sitecustomize.py`` installs the
same mapping there, from ``BILLING_TEST_PG_URL``).  Each database is a copy of one
migrated template; every test's databases are dropped after it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

TEMPLATE = "billing_template"
URL_VAR = "BILLING_TEST_PG_URL"  # the server's URL without a database name
SITE = Path(__file__).resolve().parent / "pg_site"
ROOT = Path(__file__).resolve().parents[1]

_server = None
_folder: Optional[str] = None


def active() -> bool:
    return os.environ.get("BILLING_TEST_STORE") == "postgresql"


def start_session() -> None:
    """Start the server, migrate the template, install the mapping (here and for children)."""
    global _server, _folder
    from billing_addon import store
    from tests.pg_server import throwaway_server

    _folder = tempfile.mkdtemp(prefix="billing-pg-")
    _server = throwaway_server(_folder)
    server = _server.__enter__()
    store.init_db(server.create_database(TEMPLATE))
    store.close_db()
    os.environ[URL_VAR] = server.url("")
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SITE), str(ROOT), path) if p)
    install()


def stop_session() -> None:
    global _server
    if _server is not None:
        _server.__exit__(None, None, None)
        _server = None
    if _folder:
        shutil.rmtree(_folder, ignore_errors=True)


def database_for(path) -> str:
    """The URL of the database that stands for the SQLite file ``path`` (made on first use)."""
    import psycopg2
    import psycopg2.errors

    name = "t_" + hashlib.sha1(os.fspath(Path(path).resolve()).encode()).hexdigest()[:24]
    base = os.environ[URL_VAR]
    conn = psycopg2.connect(base + "postgres")
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            try:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
            except psycopg2.errors.DuplicateDatabase:
                pass  # another process of the test made it meanwhile
    finally:
        conn.close()
    return base + name


def drop_test_databases() -> None:
    """Drop every database made for the test that ended (its connections closed by force)."""
    import psycopg2

    conn = psycopg2.connect(os.environ[URL_VAR] + "postgres")
    try:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'")
        for (name,) in cur.fetchall():
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def install() -> None:
    """``store.init_db(path)`` opens the database that stands for ``path``."""
    from billing_addon import store

    if getattr(store.init_db, "maps_paths", False):
        return
    original = store.init_db

    def init_db(path, **kwargs):
        if not store.is_url(path):
            kwargs.setdefault("box_files", path)  # the box's own files stay beside the path
            path = database_for(path)
        return original(path, **kwargs)

    init_db.maps_paths = True  # type: ignore[attr-defined]
    init_db.original = original  # type: ignore[attr-defined]
    init_db.__doc__ = original.__doc__
    store.init_db = init_db
