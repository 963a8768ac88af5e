"""Statistics by call type: ``call_daily`` holds the day's totals per extension and
call type (migration 0014; counted by settling, rebuilt when the zone changes:
``call_days``), and through its triggers ``call_day_total`` the sum of every extension
per day and type.

Statistics read these tables, never the call table: a period costs a few rows a day
whatever the number of calls.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from . import calltypes
from .store import db, sql_many

# re-rating's change of a day's row (calls.py counts settled calls the same way)
_ADD = (
    "INSERT INTO call_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (extension_id, local_day, call_type) DO UPDATE SET "
    "calls = call_daily.calls + excluded.calls, "
    "answered_calls = call_daily.answered_calls + excluded.answered_calls, "
    "answered_s = call_daily.answered_s + excluded.answered_s, "
    "cost = call_daily.cost + excluded.cost")


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
    """Take re-rated calls out of their old type's day row and count them in their new
    type's as they are now (in the caller's transaction): a call that keeps its type
    only changes its row's cost."""
    rows: Dict[Tuple[str, int, str], List[int]] = {}
    for m in moved:
        answered = 1 if m.answered_s > 0 else 0
        old = rows.setdefault((m.day, m.ext_id, m.old_type), [0, 0, 0, 0])
        new = rows.setdefault((m.day, m.ext_id, m.new_type), [0, 0, 0, 0])
        for i, value in enumerate((1, answered, m.answered_s)):
            old[i] -= value
            new[i] += value
        old[3] -= m.old_cost
        new[3] += m.new_cost
    sql_many(_ADD, [key + tuple(counts) for key, counts in rows.items() if any(counts)])


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
    table, where, params = _days_of(extension_ids, from_day, to_day)
    rows = db.execute_sql(
        "SELECT call_type, sum(calls), sum(answered_calls), sum(answered_s), sum(cost) "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY call_type", params).fetchall()
    found = [TypeRow(*row) for row in rows if row[1]]
    order = {t: i for i, t in enumerate(calltypes.CALL_TYPES)}
    return sorted(found, key=lambda r: order.get(r.call_type, len(order)))


def day_range(from_day: Optional[dt.date], to_day: Optional[dt.date],
              column: str = "local_day") -> Tuple[List[str], List[object]]:
    """Conditions (and their parameters) keeping the days of ``column`` from/to the
    given days (both included; None: open)."""
    where: List[str] = ["1 = 1"]
    params: List[object] = []
    if from_day is not None:
        where.append(f"{column} >= ?")
        params.append(from_day.isoformat())
    if to_day is not None:
        where.append(f"{column} <= ?")
        params.append(to_day.isoformat())
    return where, params


def _days_of(extension_ids: Optional[Sequence[int]], from_day: Optional[dt.date],
             to_day: Optional[dt.date]) -> Tuple[str, List[str], List[object]]:
    """The table to read (every extension's day totals, or the rows of ``extension_ids``)
    and the conditions of the days."""
    where, params = day_range(from_day, to_day)
    if extension_ids is None:
        return "call_day_total", where, params
    where.append(f"extension_id IN ({', '.join('?' * len(extension_ids))})"
                 if extension_ids else "1 = 0")
    return "call_daily", where, params + list(extension_ids)


def by_period(width: int, extension_ids: Optional[Sequence[int]] = None,
              from_day: Optional[dt.date] = None, to_day: Optional[dt.date] = None,
              call_type: Optional[str] = None) -> List[Tuple[str, TypeRow]]:
    """Totals per period (the first ``width`` characters of the day: 10 a day, 7 a month,
    4 a year) and call type, in period then CALL_TYPES order: a few rows a day."""
    table, where, params = _days_of(extension_ids, from_day, to_day)
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
