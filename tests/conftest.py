"""Shared fixtures: a real SQLite file per test (WAL behaves differently from :memory:)."""

import os

import pytest

from billing_addon import store

# the live-PBX tier needs a real Asterisk: `make test-live` runs it (BILLING_LIVE=1)
collect_ignore = [] if os.environ.get("BILLING_LIVE") == "1" else ["live"]


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "billing.db"
    store.init_db(path)
    yield path
    store.close_db()
