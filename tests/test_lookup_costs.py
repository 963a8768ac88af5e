"""What the money path's lookups and the reports' first pages cost does not grow with
the calls a box has kept.

A box keeps a year of calls or more.  Work that names its calls (settling a batch of
them, a CDR batch, a re-rate of one day, the sweep for stale reservations), the first
Call Log page of a department and the first Recharge History page must cost the same in
a file of 2,000 old calls as in one of 20,000: SQLite's planner has no statistics, and
an index that holds every row under one key (0016's site indexes, on a file of one
site) once made the lookups walk every call; a page sorted all of its rows.  Measured
in SQLite's own steps (its virtual machine's instructions), not in time, so the test
does not depend on the machine's speed.
"""

import pytest

from billing_addon import calls, departments, reports, rerate, store
from billing_addon.pbx import cdr

from .helpers import make_extension, make_rate

pytestmark = pytest.mark.sqlite_only("counts the steps of SQLite's virtual machine")

T0 = 1714564800  # 2024-05-01 12:00 UTC: the day the work is about (the zone is UTC)
DAY = "2024-05-01"
SMALL, LARGE = 2_000, 20_000
STEP = 100  # the progress handler runs every STEP instructions


def _old_calls(count: int) -> None:
    """``count`` charged calls of 1001 and 1002 in turn, one every half hour, all before
    DAY, each corrected by an adjustment (as a re-rate leaves them)."""
    store.sql("INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, "
              "reason, reserved, cost, answered_s, settled_utc, source) "
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
              "SELECT 'old-' || i, (SELECT id FROM extension WHERE number = 1001 + i % 2), "
              "'912345678', ? - 1800 * i, '2024-01-01', 'charged', '', 0, 5, 30, ? - 1800 * i, "
              "'agi' FROM n", (count, T0 - 86400, T0 - 86400))
    store.sql("INSERT INTO ledger (extension_id, kind, amount, balance_after, reason, operator, "
              "created_utc) SELECT extension_id, 'adjustment', 0, 0, 're-rating', 'test', "
              "settled_utc + 60 FROM call")


def _steps(work) -> int:
    """SQLite instructions (in units of STEP) that ``work()`` runs on this thread."""
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    conn = store.db.connection()
    conn.set_progress_handler(count, STEP)
    try:
        work()
    finally:
        conn.set_progress_handler(None, STEP)
    return counted[0]


def _authorized(prefix: str, count: int) -> list:
    uids = [f"{prefix}-{i}" for i in range(count)]
    for i, uid in enumerate(uids):
        assert calls.authorize("1001", "912345678", T0 + i, uid).result == calls.ALLOWED
    return uids


def _settle_ten() -> None:
    uids = _authorized("hangup", 10)
    results = calls.settle_many([calls.SettleRequest(uid, 30, "ANSWER") for uid in uids],
                                at=T0 + 600)
    assert [r.outcome for r in results] == ["charged"] * 10


def _cdr_batch() -> None:
    """Ten CDR rows: five of calls authorize saw, five it never saw."""
    seen = _authorized("seen", 5)
    rows = [cdr.CdrRow("", "1001", "912345678", "PJSIP/1001-0001", "Dial", "2024-05-01 12:05:00",
                       40, 30, "ANSWERED", uid, uid) for uid in seen + [f"cdr-{i}" for i in range(5)]]
    stats = cdr.Stats()
    cdr.Settler(mark=None).settle(rows, stats)
    assert (stats.charged, stats.errors) == (10, 0)


def _release_stale() -> None:
    _authorized("open", 3)
    calls.release_stale(at=T0 + 10)  # nothing is stale yet


def _rerate_one_day() -> None:
    for uid in _authorized("day", 5):
        calls.settle(uid, 30, "ANSWER", T0 + 600)
    make_rate("91", rate="0.02", unit="1")  # today's rates charge the day's calls more
    run = rerate.preview(DAY, DAY, at=T0 + 30 * 86400)
    assert run.changed == 5


def _department_call_log() -> None:
    """The first Call Log page of a department of 1001 and 1002: all the old calls are
    theirs (looked up by extension, every one was read and sorted for one page)."""
    front = departments.create("Front")
    departments.assign(["1001", "1002"], front)
    found = reports.calls_page(departments=[front])
    assert len(found.rows) == reports.PAGE_SIZE and found.has_next


def _recharge_history() -> None:
    found = reports.recharges_page()
    assert len(found.rows) == reports.PAGE_SIZE and found.has_next


@pytest.mark.parametrize("work", [_settle_ten, _cdr_batch, _release_stale, _rerate_one_day,
                                  _department_call_log, _recharge_history],
                         ids=["settle-ten", "cdr-batch", "release-stale", "rerate-one-day",
                              "department-call-log", "recharge-history"])
def test_the_work_costs_the_same_with_ten_times_the_calls(tmp_path, monkeypatch, work):
    # fewer than either file has: the Call Log's walk then has the same bound in both
    monkeypatch.setattr(reports, "_WALK_CALLS", 1_000)
    steps = {}
    for old in (SMALL, LARGE):
        store.init_db(tmp_path / f"{old}.db")
        try:
            make_extension("1001", balance="10000")
            make_extension("1002")
            make_rate("9", rate="0.01", unit="1")
            _old_calls(old)
            steps[old] = _steps(work)
        finally:
            store.close_db()
    # a walk over the old calls would take about ten times the steps at LARGE
    assert steps[LARGE] < steps[SMALL] * 1.5, steps


def test_0017_drops_only_the_site_indexes_of_a_version_16_file(tmp_path, monkeypatch):
    real = store.available_migrations
    monkeypatch.setattr(store, "available_migrations", lambda: [m for m in real() if m[0] <= 16])
    store.init_db(tmp_path / "old.db")
    try:
        make_extension("1001", balance="10")
        make_extension("1002")
        make_rate("9", rate="0.01", unit="1")
        _old_calls(50)
        names = "SELECT name FROM sqlite_master WHERE type = 'index'"
        before = {name for (name,) in store.sql(names)}
        monkeypatch.setattr(store, "available_migrations", real)
        assert store.migrate() == [17]
        after = {name for (name,) in store.sql(names)}
        assert before - after == {"call_site_started", "rate_site", "extension_site"}
        assert after < before
        assert store.sql_one("SELECT COUNT(*) FROM call")[0] == 50  # the calls are kept
    finally:
        store.close_db()
