"""Migration 0014: call_daily split by call type replaces call_daily + call_type_daily.

A file at schema 0013 with settled calls (their per-day tables as the 0013 code kept
them) keeps every statistic, by day, extension, call type and department, through the
upgrade; where its two per-day tables disagree, both come from the calls."""

import random

import pytest

from billing_addon import call_type_stats, plans, reports, store
from billing_addon.store import sql

TYPES = ("local", "national", "mobile", "international", "")
DAYS = ("2026-10-31", "2026-11-01", "2026-11-02")

# what the 0013 code's settling (and zone-change rebuild) counted, from the calls
_OLD_DAILY = (
    "INSERT INTO call_daily (local_day, extension_id, calls, answered_calls, answered_s, cost) "
    "SELECT local_day, extension_id, count(*), sum(answered_s > 0), sum(answered_s), sum(cost) "
    "FROM call WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL "
    "GROUP BY local_day, extension_id")
_OLD_TYPE_DAILY = (
    "INSERT INTO call_type_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) SELECT local_day, extension_id, call_type, count(*), sum(answered_s > 0), "
    "sum(answered_s), sum(cost) FROM call WHERE status IN ('charged', 'unrated') "
    "AND settled_utc IS NOT NULL GROUP BY local_day, extension_id, call_type")


def _at_schema_13(path, monkeypatch):
    real = store.available_migrations
    monkeypatch.setattr(store, "available_migrations", lambda: [m for m in real() if m[0] <= 13])
    store.init_db(path)
    monkeypatch.setattr(store, "available_migrations", real)
    assert store.schema_version() == 13


def _fill(seed: int) -> None:
    """Extensions, an account, two departments and a few hundred settled (and some
    unsettled or denied) calls of several types over three days, as 0013 stored them."""
    rnd = random.Random(seed)
    sql("INSERT INTO department (id, name, created_utc, updated_utc) VALUES "
        "(1, 'Sales', 0, 0), (2, 'Support', 0, 0)")
    members = {1001: 1, 1002: 1, 1003: 2, 1004: None, 1005: 2}
    for number, dept in members.items():
        kind = "account" if number == 1005 else "extension"
        sql("INSERT INTO extension (id, number, name, balance, created_utc, updated_utc, kind, "
            "department_id) VALUES (?, ?, '', 0, 0, 0, ?, ?)", (number, str(number), kind, dept))
    for i in range(400):
        ext = rnd.choice(list(members))
        call_type = rnd.choice(TYPES)
        status = rnd.choice(("charged",) * 6 + ("unrated", "in-progress", "denied"))
        if call_type == "" and status == "charged":
            status = "unrated"
        answered = rnd.choice((0, rnd.randint(1, 900)))
        cost = rnd.randint(1, 5000) if status == "charged" and answered else 0
        settled = None if status == "in-progress" else 1
        sql("INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, status, "
            "answered_s, cost, settled_utc, call_type) VALUES (?, ?, '9', 0, ?, ?, ?, ?, ?, ?)",
            (f"u{i}", ext, rnd.choice(DAYS), status, answered, cost, settled, call_type))
    sql(_OLD_DAILY)  # the triggers of 0007 and 0011 fill the all-extension totals
    sql(_OLD_TYPE_DAILY)


def _rows(query, params=()):
    return sorted(tuple(r) for r in sql(query, params).fetchall() if any(r[-4:]))


def _old_statistics():
    """Every statistic, read from the 0013 tables as its code read them."""
    return {
        "day": _rows("SELECT local_day, calls, answered_calls, answered_s, cost FROM call_day_total"),
        "extension": _rows("SELECT extension_id, local_day, calls, answered_calls, answered_s, "
                           "cost FROM call_daily"),
        "type": _rows("SELECT call_type, local_day, calls, answered_calls, answered_s, cost "
                      "FROM call_type_day_total"),
        "extension_type": _rows("SELECT extension_id, call_type, local_day, calls, "
                                "answered_calls, answered_s, cost FROM call_type_daily"),
        "department": _rows("SELECT e.department_id, d.local_day, sum(d.calls), "
                            "sum(d.answered_calls), sum(d.answered_s), sum(d.cost) FROM "
                            "call_daily d JOIN extension e ON e.id = d.extension_id "
                            "WHERE e.department_id IS NOT NULL GROUP BY 1, 2"),
        "department_totals": _rows("SELECT coalesce(e.department_id, 0), sum(d.calls), sum(d.answered_s), "
                                   "sum(d.cost) FROM call_daily d JOIN extension e "
                                   "ON e.id = d.extension_id GROUP BY 1"),
    }


def _stat_rows(key, rows):
    return [key + (r.period, r.calls, r.answered_calls, r.answered_s, r.cost) for r in rows
            if r.calls or r.cost]


def _new_statistics():
    """The same statistics, read by the code of 0014 (reports, call_type_stats)."""
    stats = {"day": _stat_rows((), reports.statistics("day")[0]),
             "extension": [], "type": [], "extension_type": [], "department": []}
    ext_ids = [r[0] for r in sql("SELECT id FROM extension ORDER BY id")]
    for ext_id in ext_ids:
        stats["extension"] += _stat_rows((ext_id,), reports.statistics("day", ext_id)[0])
        for call_type in TYPES:
            stats["extension_type"] += _stat_rows(
                (ext_id, call_type), reports.statistics("day", ext_id, call_type=call_type)[0])
    for call_type in TYPES:
        stats["type"] += _stat_rows((call_type,), reports.statistics("day", call_type=call_type)[0])
    for dept in (1, 2):
        stats["department"] += _stat_rows((dept,), reports.statistics("day", departments=[dept])[0])
    stats["department_totals"] = sorted(
        (t.department_id or 0, t.calls, t.answered_s, t.cost) for t in reports.department_totals()
        if t.calls or t.cost)
    stats = {key: sorted(rows) for key, rows in stats.items()}
    # by_period and by_type (the Statistics page's table by type) agree with them
    assert sorted((kind, period) + (r.calls, r.answered_calls, r.answered_s, r.cost)
                  for period, r in call_type_stats.by_period(10)
                  for kind in [r.call_type]) == stats["type"]
    for ext_id in ext_ids:
        assert sorted((ext_id, r.call_type, r.calls, r.answered_s, r.cost)
                      for r in call_type_stats.by_type([ext_id])) == sorted(
            (e, t, sum(x[3] for x in g), sum(x[5] for x in g), sum(x[6] for x in g))
            for e, t in {(x[0], x[1]) for x in stats["extension_type"] if x[0] == ext_id}
            for g in [[x for x in stats["extension_type"] if (x[0], x[1]) == (e, t)]])
    return stats


def _statistics_from_calls():
    """What settling every call anew would count."""
    with store.db.atomic() as txn:
        sql("DELETE FROM call_daily")
        sql(_OLD_DAILY.replace("extension_id, calls", "extension_id, call_type, calls")
            .replace("SELECT local_day, extension_id,", "SELECT local_day, extension_id, call_type,")
            .replace("GROUP BY local_day, extension_id", "GROUP BY local_day, extension_id, call_type"))
        stats = _new_statistics()
        txn.rollback()
    return stats


def _tables():
    return {r[0] for r in sql("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger', "
                              "'index')")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_upgrade_keeps_every_statistic(tmp_path, monkeypatch, seed):
    path = tmp_path / "old.db"
    _at_schema_13(path, monkeypatch)
    try:
        with store.db.atomic():
            _fill(seed)
            # a call changed since it was counted (say re-rated by hand): the two tables
            # still agree, and the upgrade keeps what they say, not a recount
            sql("UPDATE call SET cost = cost + 7 WHERE id = (SELECT min(id) FROM call "
                "WHERE status = 'charged')")
        before = _old_statistics()
        assert store.migrate()[0] == 14  # and the later ones
        after = _new_statistics()
        assert after == before
        assert after != _statistics_from_calls()
        assert not {"call_type_daily", "call_type_day_total", "call_type_daily_added"} & _tables()
        assert {"call_daily_added", "call_daily_removed", "call_daily_changed",
                "call_daily_moved"} <= _tables()
        # the all-extension totals are the sum of call_daily, per day and type
        assert _rows("SELECT local_day, call_type, calls, answered_calls, answered_s, cost "
                     "FROM call_day_total") == _rows(
            "SELECT local_day, call_type, sum(calls), sum(answered_calls), sum(answered_s), "
            "sum(cost) FROM call_daily GROUP BY local_day, call_type")
    finally:
        store.close_db()


def test_tables_that_disagree_are_rebuilt_from_the_calls(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    _at_schema_13(path, monkeypatch)
    try:
        with store.db.atomic():
            _fill(4)
            sql("UPDATE call_type_daily SET cost = cost + 1 WHERE (local_day, extension_id, "
                "call_type) = (SELECT local_day, extension_id, call_type FROM call_type_daily "
                "LIMIT 1)")
        assert store.migrate()[0] == 14  # and the later ones
        assert _new_statistics() == _statistics_from_calls()
    finally:
        store.close_db()


def test_the_upgrade_notes_the_call_types_plans_cover(tmp_path, monkeypatch):
    """Authorize looks for free seconds only for the types of plans in use (plans.IN_USE):
    a file whose plans were assigned before 0014 gets the setting from its tables."""
    path = tmp_path / "old.db"
    _at_schema_13(path, monkeypatch)
    try:
        with store.db.atomic():
            _fill(5)
            sql("INSERT INTO plan (id, name, created_utc, updated_utc) VALUES (1, 'a', 0, 0), "
                "(2, 'b', 0, 0), (3, 'unused', 0, 0)")
            sql("INSERT INTO plan_allowance (plan_id, call_type, free_s) VALUES (1, 'mobile', 60), "
                "(2, 'local', 60), (2, 'national', 0), (3, 'international', 60)")
            sql("UPDATE extension SET plan_id = 1 WHERE id = 1001")
            sql("UPDATE department SET plan_id = 2 WHERE id = 2")
        store.migrate()
        assert store.sql_one("SELECT value FROM setting WHERE key = ?", (plans.IN_USE,))[0] \
            in ("mobile,local", "local,mobile")
    finally:
        store.close_db()
