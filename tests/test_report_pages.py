"""Report pages read only what they show, and show exactly the rows of their filter,
newest first (ties in a second broken by id), telling whether another page follows:

- the Call Log's pages of many extensions' calls (a department, a keyword matching many
  names), found by walking the newest calls (reports._page_of_newest_calls) or, when
  those do not hold the page, by the extensions' index;
- the Recharge History's pages, the recharges and the adjustments (re-rating leaves one
  a call) each read in time order and merged."""

import random

import pytest

from billing_addon import departments, reports, store

from .helpers import make_extension

T0 = 1714564800


def _calls(rnd: random.Random, count: int) -> None:
    """``count`` charged calls of 1001..1008, many in the same second, a few unbilled."""
    rows = []
    for i in range(count):
        started = T0 + rnd.randint(0, count // 3)  # about three calls a second: ties
        status = "unbilled" if rnd.random() < 0.05 else "charged"
        rows.append((f"u-{i}", rnd.randint(1, 8), "912345678", started, "2024-05-01", status, "", 0,
                     5, 30, "agi"))
    store.sql_many("INSERT INTO call (uniqueid, extension_id, dialed, started_utc, local_day, "
                   "status, reason, reserved, cost, answered_s, source) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _expected(extension_ids, from_utc=None, to_utc=None) -> list:
    rows = store.sql("SELECT id, started_utc, extension_id FROM call WHERE status != 'unbilled'")
    kept = [(started, call_id) for call_id, started, ext in rows
            if ext in extension_ids and (from_utc is None or started >= from_utc)
            and (to_utc is None or started < to_utc)]
    return [call_id for _started, call_id in sorted(kept, reverse=True)]


@pytest.mark.parametrize("walk", [1, 7, 40, 20_000])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_page_of_a_department_is_its_calls_newest_first(db_path, monkeypatch, walk, seed):
    monkeypatch.setattr(reports, "_WALK_CALLS", walk)  # the walk holds the page, or not
    for n in range(1001, 1009):
        make_extension(str(n), name=f"Room {n}")
    front = departments.create("Front")
    departments.assign(["1002", "1003", "1005", "1007"], front)
    rnd = random.Random(seed)
    _calls(rnd, 300)
    for period in [(None, None), (T0 + 20, T0 + 70), (T0 + 90, None)]:
        expected = _expected({2, 3, 5, 7}, *period)
        got, page = [], 1
        while True:
            found = reports.calls_page(*period, page=page, per_page=9, departments=[front])
            got += [row.id for row in found.rows]
            if not found.has_next:
                break
            page += 1
        assert got == expected, (walk, period)
        assert len(found.rows) == len(expected) - 9 * (page - 1)


@pytest.mark.parametrize("walk", [5, 20_000])
def test_a_keyword_matching_many_extensions_pages_like_the_index(db_path, monkeypatch, walk):
    monkeypatch.setattr(reports, "_WALK_CALLS", walk)
    for n in range(1001, 1009):
        make_extension(str(n), name=f"Room {n}" if n % 2 else f"Office {n}")
    _calls(random.Random(4), 200)
    expected = _expected({1, 3, 5, 7})  # the rooms: 1001, 1003, 1005, 1007
    pages = [reports.calls_page(keyword="Room", page=p, per_page=25) for p in range(1, 20)]
    assert [row.id for found in pages for row in found.rows] == expected
    assert [found.has_next for found in pages[:3]] == [True, True, True]
    assert all(row.number in {"1001", "1003", "1005", "1007"} for found in pages for row in found.rows)


def _ledger_rows(rnd: random.Random, count: int) -> None:
    """``count`` recharges and adjustments of 1001..1008, many in the same second, with
    call charges among them (never shown)."""
    rows = [(rnd.randint(1, 8), rnd.choice(("recharge", "adjustment", "adjustment", "call")),
             rnd.randint(-500, 500), 0, "r", "op", T0 + rnd.randint(0, count // 3))
            for _ in range(count)]
    store.sql_many("INSERT INTO ledger (extension_id, kind, amount, balance_after, reason, "
                   "operator, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.mark.parametrize("keyword", ["", "Room", "1003"])
def test_every_recharge_history_page_is_its_entries_newest_first(db_path, keyword):
    for n in range(1001, 1009):
        make_extension(str(n), name=f"Room {n}" if n % 2 else f"Office {n}")
    _ledger_rows(random.Random(5), 400)
    wanted = {"": set(range(1, 9)), "Room": {1, 3, 5, 7}, "1003": {3}}[keyword]
    for period in [(None, None), (T0 + 10, T0 + 90)]:
        rows = store.sql("SELECT id, created_utc, extension_id, kind FROM ledger")
        expected = [entry_id for _t, entry_id in sorted(
            ((created, entry_id) for entry_id, created, ext, kind in rows
             if kind in ("recharge", "adjustment") and ext in wanted
             and (period[0] is None or period[0] <= created < period[1])), reverse=True)]
        got, page = [], 1
        while True:
            found = reports.recharges_page(*period, keyword=keyword, page=page, per_page=13)
            got += [row.id for row in found.rows]
            if not found.has_next:
                break
            page += 1
        assert got == expected, period
        assert expected  # the filter keeps entries: the test pages through something


@pytest.mark.parametrize("walk", [1, 7, 20_000])
def test_the_api_cursor_pages_of_a_department_and_of_the_recharges(db_path, monkeypatch, walk):
    """calls_after and recharges_after (the JSON API's pages by cursor) give the same rows
    as the pages above, whatever the walk holds."""
    monkeypatch.setattr(reports, "_WALK_CALLS", walk)
    for n in range(1001, 1009):
        make_extension(str(n), name=f"Room {n}")
    front = departments.create("Front")
    departments.assign(["1001", "1004", "1006"], front)
    rnd = random.Random(6)
    _calls(rnd, 250)
    _ledger_rows(rnd, 250)
    for period in [(None, None), (T0 + 15, T0 + 60)]:
        calls, cursor = [], None
        while True:
            rows, cursor = reports.calls_after(cursor, 11, *period, departments=[front])
            calls += [row.id for row in rows]
            if cursor is None:
                break
        assert calls == _expected({1, 4, 6}, *period)
        entries, cursor = [], None
        while True:
            rows, cursor = reports.recharges_after(cursor, 11, *period)
            entries += [row.id for row in rows]
            if cursor is None:
                break
        pages = [reports.recharges_page(*period, page=p, per_page=1000) for p in (1,)]
        assert entries == [row.id for row in pages[0].rows] and entries
