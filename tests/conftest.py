"""Shared fixtures: a real SQLite file per test (WAL behaves differently from :memory:).

``BILLING_TEST_STORE=postgresql`` (``make test-postgres``): the same tests on a real
PostgreSQL server, each SQLite path mapped to a fresh database (tests/pg_store.py); tests
marked ``sqlite_only`` (about the SQLite file itself) are skipped there.
"""

import os

import pytest
from billing_addon.web import auth

from billing_addon import store
from tests import pg_store

# the live-PBX tier needs a real Asterisk: `make test-live` runs it (BILLING_LIVE=1)
collect_ignore = [] if os.environ.get("BILLING_LIVE") == "1" else ["live"]


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): about the SQLite file itself; "
                            "skipped when the suite runs on PostgreSQL")
    if pg_store.active():
        pg_store.start_session()


def pytest_unconfigure(config):
    if pg_store.active():
        pg_store.stop_session()


def pytest_collection_modifyitems(config, items):
    if not pg_store.active():
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "SQLite only")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))


@pytest.fixture(autouse=True)
def _postgres_databases_dropped():
    """On PostgreSQL, the databases a test made are dropped after it."""
    yield
    if pg_store.active():
        store.close_db()
        pg_store.drop_test_databases()


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "billing.db"
    store.init_db(path)
    yield path
    store.close_db()


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """The test-only scrypt cost: the shipped one takes 128 MB and ~0.4 s a hash.
    tests/test_web_app.py::test_the_shipped_hash_cost_and_rehash_at_sign_in checks the
    shipped cost."""
    monkeypatch.setattr(auth, "hash_cost", auth.ScryptCost(n=2**10, r=8, p=1))
