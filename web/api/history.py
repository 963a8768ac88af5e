"""The API's Recharge History, Call Log and Statistics: the pages' filters (from, to,
q, department, type), pages by cursor (``reports.calls_after``: any page of a million
calls as quick as the first), CSV exports (the pages' own files) and the Statistics
page's figures."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Tuple

import bottle

from billing_addon import calltypes, departments, reports, settings, store

from .. import call_log, recharge_history
from ..exports import attachment, csv_stream
from .core import ApiError, Operation, Request, money_out, page_args, time_out


def _day(query, key: str) -> Optional[dt.date]:
    try:
        return reports.parse_day(query.get(key, ""), key)
    except reports.ReportError as exc:
        raise ApiError(400, "invalid", str(exc)) from None


def _range(request: Request) -> Tuple[str, Optional[int], Optional[int], reports.Departments]:
    """The keyword, [from, to) UTC bounds of the ``from``/``to`` days, and departments."""
    q = request.query
    try:
        start, end = reports.time_bounds(_day(q, "from"), _day(q, "to"))
    except reports.ReportError as exc:
        raise ApiError(400, "invalid", str(exc)) from None
    return q.get("q", ""), start, end, request.departments()


def _call_type(request: Request) -> Optional[str]:
    value = request.query.get("type", "").strip()
    if value and not calltypes.is_call_type(value):
        raise ApiError(400, "invalid", f"type: one of {', '.join(calltypes.CALL_TYPES)}")
    return value or None


def _cursor(text: Optional[str]) -> reports.Cursor:
    """A cursor as the API gives it out: "<time>.<id>" of the last row shown."""
    if text is None:
        return None
    at, _, row_id = text.partition(".")
    if not (at.isascii() and at.isdigit() and row_id.isascii() and row_id.isdigit()) \
            or len(text) > 40 or max(int(at), int(row_id)) > store.MAX_ID:
        raise ApiError(400, "invalid", "cursor: use the next_cursor of the page before")
    return int(at), int(row_id)


def _next(cursor: reports.Cursor) -> Optional[str]:
    return None if cursor is None else f"{cursor[0]}.{cursor[1]}"


def call_json(c: reports.CallRow) -> Dict[str, Any]:
    return {"id": c.id, "start": time_out(c.started_utc), "extension": c.number, "name": c.name,
            "phone": c.phone or None, "dialed": c.dialed, "answered_s": c.answered_s,
            "free_s": c.free_s, "rate": c.rate_label, "call_type": c.call_type or None,
            "cost": money_out(c.cost), "status": c.status, "reason": c.reason or None}


def list_calls(request: Request):
    cursor, limit = page_args(request.query)
    keyword, start, end, shown = _range(request)
    rows, after = reports.calls_after(_cursor(cursor), limit, start, end, keyword,
                                      departments=shown, call_type=_call_type(request))
    return {"calls": [call_json(c) for c in rows], "next_cursor": _next(after)}


def recharge_json(r: reports.RechargeRow) -> Dict[str, Any]:
    return {"id": r.id, "time": time_out(r.created_utc), "extension": r.number, "name": r.name,
            "kind": r.kind, "amount": money_out(r.amount), "balance_before": money_out(r.pre_balance),
            "balance_after": money_out(r.post_balance), "operator": r.operator,
            "reason": r.reason or None}


def list_recharges(request: Request):
    cursor, limit = page_args(request.query)
    keyword, start, end, shown = _range(request)
    rows, after = reports.recharges_after(_cursor(cursor), limit, start, end, keyword, shown)
    return {"recharges": [recharge_json(r) for r in rows], "next_cursor": _next(after)}


def _csv(stem: str, table: Tuple[List[str], Any, Dict[str, Any]]):
    headers, rows, columns = table
    attachment(f"{stem}-{dt.datetime.now():%Y%m%d-%H%M%S}.csv", "text/csv; charset=utf-8")
    return bottle.HTTPResponse(csv_stream(headers, rows, **columns), status=200,
                               headers={"Content-Type": "text/csv; charset=utf-8"})


def export_calls(request: Request):
    keyword, start, end, shown = _range(request)
    return _csv("call-log", call_log.export_table(start, end, keyword, shown, _call_type(request)))


def export_recharges(request: Request):
    keyword, start, end, shown = _range(request)
    return _csv("recharge-history", recharge_history.export_table(start, end, keyword, shown))


def statistics(request: Request):
    """The Statistics page's figures: per period, the total, per department and type."""
    q = request.query
    by = q.get("by", "day")
    if by not in reports.PERIODS:
        raise ApiError(400, "invalid", "by: day, month or year")
    first, last = _day(q, "from"), _day(q, "to")
    if first is None and last is None:
        today = settings.local(store.now_utc()).date()
        first, last = today - dt.timedelta(days=30), today
    shown = request.departments()
    number = q.get("extension", "").strip()[:32]
    ext_id = None
    if number:
        ext_id = reports.extension_id(number)
        if ext_id is None or (request.scope is not None and departments.outside([number], request.scope)):
            raise ApiError(400, "invalid", f"extension: there is no extension {number!r}")
    try:
        rows, total = reports.statistics(by, ext_id, first, last, departments=shown,
                                         call_type=_call_type(request))
        by_department = reports.department_totals(first, last, shown)
    except reports.ReportError as exc:
        raise ApiError(400, "invalid", str(exc)) from None

    def stat(r: reports.StatRow) -> Dict[str, Any]:
        return {"period": r.period, "calls": r.calls, "answered_calls": r.answered_calls,
                "answered_s": r.answered_s, "average_s": r.average_s, "cost": money_out(r.cost)}

    return {"by": by, "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
            "periods": [stat(r) for r in reports.fill_periods(rows, by, first, last)],
            "total": stat(total),
            "departments": [{"department_id": d.department_id, "name": d.name, "calls": d.calls,
                             "answered_s": d.answered_s, "cost": money_out(d.cost)}
                            for d in by_department]}


OPERATIONS: List[Operation] = [
    Operation("/api/v1/calls", "GET", ("/calls", "GET"), list_calls),
    Operation("/api/v1/calls/export.csv", "GET", ("/calls/export.<kind:re:xlsx|csv>", "GET"),
              export_calls),
    Operation("/api/v1/recharges", "GET", ("/recharges", "GET"), list_recharges),
    Operation("/api/v1/recharges/export.csv", "GET",
              ("/recharges/export.<kind:re:xlsx|csv>", "GET"), export_recharges),
    Operation("/api/v1/statistics", "GET", ("/statistics", "GET"), statistics),
]
