"""Shared fixtures: a real SQLite file per test (WAL behaves differently from :memory:)."""

import os

import pytest
from billing_addon.web import auth

from billing_addon import sites, store

# the live-PBX tier needs a real Asterisk: `make test-live` runs it (BILLING_LIVE=1)
collect_ignore = [] if os.environ.get("BILLING_LIVE") == "1" else ["live"]


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


@pytest.fixture(autouse=True)
def box_on_its_own():
    """Every test starts as a box on its own (tests of sites switch the site: sites.py)."""
    sites.set_current("")
    yield
    sites.set_current("")
