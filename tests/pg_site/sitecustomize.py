"""Python processes started by the tests on PostgreSQL map SQLite paths to the session's
databases as the test process does (tests/pg_store.py)."""

import os

if os.environ.get("BILLING_TEST_PG_URL"):
    from tests import pg_store

    pg_store.install()
