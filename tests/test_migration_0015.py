"""Migration 0015 (the JSON API's tokens and kept answers): on SQLite it upgrades a file
of version 14 in place, adding tables only; its PostgreSQL twin runs on a real
PostgreSQL 15 after the 0014 baseline (a throwaway cluster on a unix socket)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from billing_addon import store

PG_BIN = Path("/usr/lib/postgresql/15/bin")
MIGRATIONS = Path(store.__file__).resolve().parent / "migrations"


def test_0015_upgrades_a_version_14_file_adding_only_tables(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    real = store.available_migrations
    monkeypatch.setattr(store, "available_migrations", lambda: [m for m in real() if m[0] <= 14])
    store.init_db(path)
    with sqlite3.connect(str(path)) as con:
        before = {r[0]: r[1] for r in con.execute("SELECT name, sql FROM sqlite_master")}
    monkeypatch.setattr(store, "available_migrations", lambda: [m for m in real() if m[0] <= 15])
    assert store.migrate() == [15]
    store.close_db()
    with sqlite3.connect(str(path)) as con:
        after = {r[0]: r[1] for r in con.execute("SELECT name, sql FROM sqlite_master")}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing rebuilt
    assert {"api_token", "api_token_department", "api_idempotency"} <= set(after)


def _as_postgres(args, **kw):
    """Run a PostgreSQL tool as the user ``postgres`` when we are root (initdb refuses root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + args, check=True, capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="postgresql-15 is not installed")
def test_0015_runs_on_postgresql_after_the_baseline():
    folder = Path(tempfile.mkdtemp(prefix="billing-pg-"))  # pytest's tmp is closed to postgres
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, socket = folder / "data", str(folder)
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
                  "-o", f"-c listen_addresses='' -k {socket}", "start"])
    try:
        script = folder / "schema.sql"
        script.write_text((MIGRATIONS / "postgresql" / "0014_baseline.sql").read_text()
                          + (MIGRATIONS / "postgresql" / "0015_api.sql").read_text())
        script.chmod(0o644)
        _as_postgres(["psql", "-h", socket, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                      "-f", str(script)])
        tables = _as_postgres(["psql", "-h", socket, "-U", "postgres", "-At", "-c",
                               "SELECT tablename FROM pg_tables WHERE tablename LIKE 'api_%' "
                               "ORDER BY 1"]).stdout.split()
        assert tables == ["api_idempotency", "api_token", "api_token_department"]
        # the same statements as api_tokens.py and idempotency.py write
        _as_postgres(["psql", "-h", socket, "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c",
                      "INSERT INTO api_token (name, role, secret_sha256, created_by, created_utc) "
                      "VALUES ('kiosk', 'billing', 'h', 'u', 1); "
                      "INSERT INTO api_idempotency (token_id, idem_key, request_hash, status, body, "
                      "created_utc) VALUES (1, 'k', 'r', 201, '{}', 1)"])
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
