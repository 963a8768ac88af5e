"""Statistics by call type: the day's totals per extension and call type
(``call_type_daily``, and through its triggers the sum of every extension,
``call_type_day_total``), counted by settling in its own transaction exactly as
``call_daily`` is, and rebuilt with it when the zone changes (``call_days``).

Statistics read these tables, never the call table: a period costs a few rows a day
whatever the number of calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict, Iterable, List, NamedTuple, Optional, Protocol, Sequence, Tuple

from . import calltypes
from .store import db, sql, sql_many

_COUNT = (
    "INSERT INTO call_type_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (local_day, extension_id, call_type) DO UPDATE SET "
    "calls = calls + excluded.calls, answered_calls = answered_calls + excluded.answered_calls, "
    "answered_s = answered_s + excluded.answered_s, cost = cost + excluded.cost")

# what settling counts (as call_days._DAILY_FROM_CALLS for call_daily)
_FROM_CALLS = (
    "INSERT INTO call_type_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) SELECT local_day, extension_id, call_type, count(*), "
    "sum(answered_s > 0), sum(answered_s), sum(cost) FROM call "
    "WHERE status IN ('charged', 'unrated') AND settled_utc IS NOT NULL "
    "GROUP BY local_day, extension_id, call_type")


class Settled(Protocol):
    """What settling knows of a call it charged (calls._Charge)."""
    @property
    def day(self) -> str: ...
    @property
    def ext_id(self) -> int: ...
    @property
    def call_type(self) -> str: ...
    @property
    def answered_s(self) -> int: ...
    @property
    def cost(self) -> int: ...


def count(settled: Iterable[Settled]) -> None:
    """Add settled calls to their day's row of their extension and type (in the caller's
    settling transaction)."""
    daily: Dict[Tuple[str, int, str], List[int]] = {}
    for c in settled:
        counts = daily.setdefault((c.day, c.ext_id, c.call_type), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += 1 if c.answered_s > 0 else 0
        counts[2] += c.answered_s
        counts[3] += c.cost
    sql_many(_COUNT, [key + tuple(counts) for key, counts in daily.items()])


class Moved(NamedTuple):
    """A settled call whose cost (and maybe type) re-rating changed (rerate.py)."""
    day: str
    ext_id: int
    old_type: str
    new_type: str
    answered_s: int
    old_cost: int
    new_cost: int


def move(moved: Iterable[Moved]) -> None:
    """Take re-rated calls out of their old type's row and count them in their new
    type's as they are now (in the caller's transaction)."""
    rows = []
    for m in moved:
        answered = 1 if m.answered_s > 0 else 0
        rows.append((m.day, m.ext_id, m.old_type, -1, -answered, -m.answered_s, -m.old_cost))
        rows.append((m.day, m.ext_id, m.new_type, 1, answered, m.answered_s, m.new_cost))
    sql_many(_COUNT, rows)


def rebuild() -> None:
    """Refill the tables from the calls (inside the zone change's write transaction)."""
    sql("DELETE FROM call_type_daily")
    sql("DELETE FROM call_type_day_total")  # the triggers fill it again
    sql(_FROM_CALLS)


@dataclass(frozen=True)
class TypeRow:
    call_type: str  # '' for calls no rate matched
    calls: int
    answered_calls: int
    answered_s: int
    cost: int

    @property
    def label(self) -> str:
        """The type's name in the user's language (calltypes.LABELS)."""
        return calltypes.label(self.call_type)


def by_type(extension_ids: Optional[Sequence[int]] = None, from_day: Optional[dt.date] = None,
            to_day: Optional[dt.date] = None) -> List[TypeRow]:
    """Totals per call type over the days (of every extension, or of ``extension_ids``),
    in CALL_TYPES order, the unrated ('') last; types without calls are left out."""
    where, params = day_range(from_day, to_day)
    table = "call_type_day_total"
    if extension_ids is not None:
        table = "call_type_daily"
        where.append(f"extension_id IN ({', '.join('?' * len(extension_ids))})"
                     if extension_ids else "0")
        params += list(extension_ids)
    rows = db.execute_sql(
        "SELECT call_type, sum(calls), sum(answered_calls), sum(answered_s), sum(cost) "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY call_type", params).fetchall()
    found = [TypeRow(*row) for row in rows if row[1]]
    order = {t: i for i, t in enumerate(calltypes.CALL_TYPES)}
    return sorted(found, key=lambda r: order.get(r.call_type, len(order)))


def day_range(from_day: Optional[dt.date], to_day: Optional[dt.date]
              ) -> Tuple[List[str], List[object]]:
    where: List[str] = ["1"]
    params: List[object] = []
    if from_day is not None:
        where.append("local_day >= ?")
        params.append(from_day.isoformat())
    if to_day is not None:
        where.append("local_day <= ?")
        params.append(to_day.isoformat())
    return where, params


def by_period(width: int, extension_ids: Optional[Sequence[int]] = None,
              from_day: Optional[dt.date] = None, to_day: Optional[dt.date] = None,
              call_type: Optional[str] = None) -> List[Tuple[str, TypeRow]]:
    """Totals per period (the first ``width`` characters of the day: 10 a day, 7 a month,
    4 a year) and call type, in period then CALL_TYPES order: a few rows a day."""
    where, params = day_range(from_day, to_day)
    table = "call_type_day_total"
    if extension_ids is not None:
        table = "call_type_daily"
        where.append(f"extension_id IN ({', '.join('?' * len(extension_ids))})"
                     if extension_ids else "0")
        params += list(extension_ids)
    if call_type is not None:
        where.append("call_type = ?")
        params.append(call_type)
    folded: Dict[Tuple[str, str], List[int]] = {}
    for day, kind, *counts in db.execute_sql(
            "SELECT local_day, call_type, calls, answered_calls, answered_s, cost "
            f"FROM {table} WHERE {' AND '.join(where)}", params).fetchall():
        acc = folded.setdefault((day[:width], kind), [0, 0, 0, 0])
        for i, value in enumerate(counts):
            acc[i] += value
    order = {t: i for i, t in enumerate(calltypes.CALL_TYPES)}
    keys = sorted((k for k, acc in folded.items() if acc[0]),
                  key=lambda k: (k[0], order.get(k[1], len(order))))
    return [(period, TypeRow(kind, *folded[(period, kind)])) for period, kind in keys]
