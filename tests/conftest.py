"""Shared fixtures: a real SQLite file per test (WAL behaves differently from :memory:)."""

import pytest

from billing_addon import store


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "billing.db"
    store.init_db(path)
    yield path
    store.close_db()
