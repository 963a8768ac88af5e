"""The API's rates: list, get, create, replace, delete, import and export a rate file
(the CSV of the Rate page), and the Rate Tester, by ``billing_addon.rates``' own checks."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Dict, List

import bottle

from billing_addon import calltypes, money, rates, rating, reports, settings, store
from billing_addon.digits import whole_number
from billing_addon.store import Rate

from ..exports import attachment
from .core import ApiError, Operation, Request, flag_in, money_in, money_out, page_args

RATE_FIELDS = ("prefix", "length", "initial_cost", "initial_time", "rate", "unit", "start", "end",
               "remarks", "active", "all_extensions", "extensions", "call_type")


def rate_json(row: Rate, extensions: List[str]) -> Dict[str, Any]:
    return {"id": row.id, "prefix": row.prefix, "length": row.length,
            "initial_cost": money_out(row.initial_cost), "initial_time": row.initial_time,
            "rate": money_out(row.rate), "unit": row.unit,
            "start": rates.format_time_of_day(row.start_s), "end": rates.format_time_of_day(row.end_s),
            "remarks": row.remarks, "active": bool(row.active),
            "all_extensions": bool(row.all_extensions), "extensions": extensions,
            "call_type": row.call_type}


def _rate(rate_id: int) -> Rate:
    row = rates.get(rate_id)
    if row is None:
        raise ApiError(404, "not-found", f"there is no rate {rate_id}")
    return row


def list_rates(request: Request):
    """The rates in force by id, a page after ``cursor`` (the last id shown); the Rate
    page's search (prefix starts with or remarks contain ``q``) and call type filter."""
    cursor, limit = page_args(request.query)
    if cursor is not None and not (whole_number(cursor) and len(cursor) < 20
                                   and int(cursor) <= rates.MAX_ID):
        raise ApiError(400, "invalid", "cursor: use the next_cursor of the page before")
    query = Rate.select().where(rates.in_force()).order_by(Rate.id).limit(limit + 1)
    if cursor is not None:
        query = query.where(Rate.id > int(cursor))
    search = reports.clean_keyword(request.query.get("q", ""))
    if search:
        query = query.where(Rate.prefix.startswith(search) | Rate.remarks.contains(search))
    call_type = request.query.get("type", "").strip()
    if call_type:
        if not calltypes.is_call_type(call_type):
            raise ApiError(400, "invalid", f"type: one of {', '.join(calltypes.CALL_TYPES)}")
        query = query.where(Rate.call_type == call_type)
    rows = list(query)
    assigned = rates.assignments([r.id for r in rows[:limit]])
    return {"rates": [rate_json(r, assigned.get(r.id, [])) for r in rows[:limit]],
            "next_cursor": str(rows[limit - 1].id) if len(rows) > limit else None}


def get_rate(request: Request, rate_id: int):
    row = _rate(rate_id)
    return rate_json(row, rates.assignments([row.id]).get(row.id, []))


def _values(body: Dict[str, Any]) -> rates.RateValues:
    """The body as the rate form's values, checked by ``rates.validate``."""
    form: Dict[str, Any] = {}
    for key in ("initial_cost", "rate"):
        if key in body:
            form[key] = money.to_decimal_string(money_in(body, key, allow_zero=True))
    for key in ("length", "initial_time", "unit"):
        if key in body:
            if not isinstance(body[key], int) or isinstance(body[key], bool):
                raise ApiError(400, "invalid", f"{key}: a whole number")
            form[key] = str(body[key])
    for key in ("prefix", "start", "end", "remarks", "call_type"):
        if key in body:
            if not isinstance(body[key], str):
                raise ApiError(400, "invalid", f"{key}: a string")
            form[key] = body[key]
    for key in ("active", "all_extensions"):
        if key in body:
            form[key] = flag_in(body, key)
    if "extensions" in body:
        numbers = body["extensions"]
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise ApiError(400, "invalid", "extensions: a list of extension numbers")
        form["extensions"] = numbers
    if "extensions" not in body and "all_extensions" not in body:
        form["all_extensions"] = True  # as the Add Rate form starts
    if "rate" not in form:
        raise ApiError(400, "invalid", "rate is required")
    return rates.validate(form)


def create_rate(request: Request):
    saved = rates.add(_values(request.body))
    return 201, get_rate(request, saved.id)


def replace_rate(request: Request, rate_id: int):
    _rate(rate_id)
    rates.update(rate_id, _values(request.body))
    return get_rate(request, rate_id)


def delete_rate(request: Request, rate_id: int):
    _rate(rate_id)
    rates.delete([rate_id])
    return {"deleted": rate_id}


def import_rates(request: Request):
    """A rate file (the Rate page's CSV) as the body: all rows or none in force;
    ``?replace=1`` takes the old rates out of force."""
    if bottle.request.content_type.split(";")[0].strip().lower() != "text/csv":
        raise ApiError(415, "not-csv", "send the rate file as text/csv")
    deck = rates.read_deck(rates.decode_deck(bottle.request.body.read()))
    replace = request.query.get("replace", "") == "1"
    count = rates.put_in_force(deck, replace=replace)
    return 201, {"imported": count, "replaced": replace, "warnings": rates.import_warnings()}


def export_rates(request: Request):
    out = io.StringIO()
    rates.export_csv(out)
    attachment(f"rates-{dt.date.today():%Y%m%d}.csv", "text/csv; charset=utf-8")
    return bottle.HTTPResponse(out.getvalue(), status=200,
                               headers={"Content-Type": "text/csv; charset=utf-8"})


def test_rate(request: Request):
    """Which rate a call would get and what it costs (the Rate Tester)."""
    q = request.query
    extension, dialed = q.get("extension", "").strip(), q.get("dialed", "").strip()
    if not extension:
        raise ApiError(400, "invalid", "extension is required")
    if not dialed or len(dialed) > 64 or not all(c.isdigit() or c in "*#+" for c in dialed):
        raise ApiError(400, "invalid", "dialed: digits (and * # +)")
    duration = q.get("duration", "60").strip()
    if not whole_number(duration) or int(duration) > 7 * 86400:
        raise ApiError(400, "invalid", "duration: a whole number of seconds from 0 to 604800")
    at = store.now_utc()
    try:
        if q.get("at", "").strip():
            local = dt.datetime.fromisoformat(q["at"].strip())
            at = int((local if local.tzinfo else local.replace(tzinfo=settings.zone())).timestamp())
        local = settings.local(at)  # a time at the calendar's edge has no local time
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid", "at: a time like 2024-05-31T14:30:00+08:00") from None
    rate = rates.index().match(extension, dialed, local)
    return {"extension": extension, "dialed": dialed, "at": local.isoformat(),
            "duration_s": int(duration),
            "rate_id": rate.id if rate else None, "call_type": rate.call_type if rate else None,
            "cost": money_out(rating.cost(rate, int(duration)) if rate else 0),
            "unrated_policy": None if rate else settings.get("unrated_policy")}


R = "/api/v1/rates/<rate_id:int>"
OPERATIONS: List[Operation] = [
    Operation("/api/v1/rates", "GET", ("/rates", "GET"), list_rates),
    Operation("/api/v1/rates", "POST", ("/rates/add", "POST"), create_rate, RATE_FIELDS),
    Operation("/api/v1/rates/test", "GET", ("/rates/test", "GET"), test_rate),
    Operation("/api/v1/rates/export.csv", "GET", ("/rates/export.csv", "GET"), export_rates),
    Operation("/api/v1/rates/import", "POST", ("/rates/import", "POST"), import_rates, raw_body=True),
    Operation(R, "GET", ("/rates", "GET"), get_rate),
    Operation(R, "PUT", ("/rates/<rate_id:int>/edit", "POST"), replace_rate, RATE_FIELDS),
    Operation(R, "DELETE", ("/rates/delete", "POST"), delete_rate),
]
