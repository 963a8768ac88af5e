"""The local day of every call, and the per-day statistics table, rebuilt for a new time
zone.

A call's ``local_day`` is fixed when the call is recorded, in the zone set then, and
``call_daily`` (what Statistics read, with its all-extension sum ``call_day_total`` kept
by triggers) adds settled calls to that day.  When the zone
changes, both are rebuilt here from the calls themselves, in the write transaction that
stores the new zone, so that Statistics count a day exactly as the Call Log (which
converts each call's UTC start with the current zone) shows it.

A call's day is the date of ``started_utc + offset``, with the zone's UTC offset at that
instant.  The offset is constant between the zone's transitions (DST, law changes), so
each stretch of constant offset is one set-wise UPDATE, not one Python step per call.
"""

from __future__ import annotations

import datetime as dt
from typing import List, Optional, Tuple
from zoneinfo import ZoneInfo

from .store import postgres, sql, sql_one

STEP_S = 6 * 3600  # zones change offset at most once in this long

# what settle counts in call_daily: the settled calls (charged, or unrated and free)
_DAILY_FROM_CALLS = (
    "INSERT INTO call_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) SELECT local_day, extension_id, call_type, count(*), "
    "sum(CASE WHEN answered_s > 0 THEN 1 ELSE 0 END), "
    "sum(answered_s), sum(cost) FROM call "
    "WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL "
    "GROUP BY local_day, extension_id, call_type")


# the UTC day (YYYY-MM-DD) of started_utc + ?, in each store's own date functions
_UTC_DAY = {False: "date(started_utc + ?, 'unixepoch')",
            True: "to_char(to_timestamp(started_utc + ?) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"}


def _offset(zone: ZoneInfo, ts: int) -> int:
    utcoffset = dt.datetime.fromtimestamp(ts, dt.timezone.utc).astimezone(zone).utcoffset()
    return int(utcoffset.total_seconds()) if utcoffset else 0


def _change_point(zone: ZoneInfo, low: int, high: int) -> int:
    """The first second in (low, high] whose offset differs from ``low``'s."""
    before = _offset(zone, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


def offset_stretches(zone: ZoneInfo, first: int, last: int) -> List[Tuple[int, int, int]]:
    """[start, end) UTC stretches covering ``first``..``last`` with the zone's UTC offset
    in each, in seconds.

    >>> offset_stretches(ZoneInfo("Europe/Berlin"), 1711843200, 1711929600)
    [(1711843200, 1711846800, 3600), (1711846800, 1711929601, 7200)]
    """
    stretches = []
    start, offset = first, _offset(zone, first)
    probe = first
    while probe < last:
        following = min(probe + STEP_S, last)
        if _offset(zone, following) != offset:
            change = _change_point(zone, probe, following)
            stretches.append((start, change, offset))
            start, offset = change, _offset(zone, change)
        probe = following
    stretches.append((start, last + 1, offset))
    return stretches


def rebuild(zone: ZoneInfo) -> int:
    """Set every call's local day in ``zone`` and rebuild ``call_daily`` from the calls.
    Run inside a write transaction.  Returns how many calls moved to another day."""
    span: Optional[tuple] = sql_one("SELECT min(started_utc), max(started_utc) FROM call")
    moved = 0
    if span and span[0] is not None:
        for start, end, offset in offset_stretches(zone, int(span[0]), int(span[1])):
            day = _UTC_DAY[postgres()]
            moved += sql(f"UPDATE call SET local_day = {day} WHERE started_utc >= ? "
                         f"AND started_utc < ? AND local_day != {day}",
                         (offset, start, end, offset)).rowcount
    sql("DELETE FROM call_daily")
    sql("DELETE FROM call_day_total")  # the triggers of call_daily fill it again
    sql(_DAILY_FROM_CALLS)
    return moved
