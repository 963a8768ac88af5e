"""The Statistics page of the billing user: calls, answered time and cost per hour, day,
month or year (for one extension or all), as a table and two bar charts drawn as inline
SVG by the template from ``bar_chart``'s geometry."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple
from urllib.parse import urlencode

import bottle

from billing_addon import call_type_stats, calltypes, departments, reports, settings, sites, store
from billing_addon.i18n import N_, _

from . import auth, roles, site_filter
from .core import Route, WebCore, decoded


def default_range(by: str, today: dt.date) -> Tuple[Optional[dt.date], Optional[dt.date]]:
    """The range shown when no date is given: Day the last 31 days, Month the last 12
    months (whole months), Year every year.  It follows the By choice: the form never
    carries it, so switching By shows that choice's own range."""
    if by == "day":
        return today - dt.timedelta(days=30), today
    if by == "month":
        return dt.date(today.year - 1 if today.month < 12 else today.year, today.month % 12 + 1, 1), today
    return None, None


def range_text(first: Optional[dt.date], last: Optional[dt.date]) -> str:
    if first and last:
        return _("{first} to {last}").format(first=first.isoformat(), last=last.isoformat())
    if first:
        return _("from {first} on").format(first=first.isoformat())
    if last:
        return _("up to {last}").format(last=last.isoformat())
    return _("every day on record")


def partial_periods(by: str, first: Optional[dt.date], last: Optional[dt.date],
                    today: dt.date) -> Set[str]:
    """The months or years that the range cuts: their totals cover only part of them
    (a range up to today leaves the current period whole: its later days have no calls)."""
    if by == "day":
        return set()
    width = reports.PERIODS[by]

    def same_period(a: dt.date, b: dt.date) -> bool:
        return a.isoformat()[:width] == b.isoformat()[:width]

    cut = set()
    if first and same_period(first - dt.timedelta(days=1), first):
        cut.add(first.isoformat()[:width])
    if last and last < today and same_period(last + dt.timedelta(days=1), last):
        cut.add(last.isoformat()[:width])
    return cut


def statistics(ui: WebCore):
    q = decoded(bottle.request.query)
    by = q.get("by", "day")
    if by not in reports.PERIODS:
        by = "day"
    number = q.get("extension", "").strip()[:32]
    errors: Dict[str, str] = {}
    days: Dict[str, Optional[dt.date]] = {}
    for key, label in (("from", N_("From")), ("to", N_("To"))):
        try:
            days[key] = reports.parse_day(q.get(key, ""), label)
        except reports.ReportError as exc:
            errors[key] = str(exc)
            days[key] = None
    typed = days["from"] is not None or days["to"] is not None
    first, last = days["from"], days["to"]
    today = settings.local(store.now_utc()).date()
    if not errors and not typed:
        first, last = default_range(by, today)
    try:
        shown_departments = roles.narrowed(ui.scope(), q.get("dept", ""))
    except departments.DepartmentError as exc:
        errors["dept"], shown_departments = str(exc), []
    ext_id = None
    if number:
        ext_id = reports.extension_id(number)
        scope = ui.scope()
        if ext_id is None or (scope is not None and departments.outside([number], scope)):
            errors["extension"] = _("there is no extension {number}").format(number=number)
    site = site_filter.from_query(errors)
    call_type = q.get("type", "").strip()
    if call_type and not calltypes.is_call_type(call_type):
        errors["type"] = _("unknown call type {type}: use {types}").format(
            type=repr(call_type[:20]), types=", ".join(calltypes.CALL_TYPES))
    rows: List[reports.StatRow] = []
    total = reports.StatRow("total", 0, 0, 0, 0)
    by_department: List[reports.DepartmentTotal] = []
    by_type: List[call_type_stats.TypeRow] = []
    if not errors:
        try:
            rows, total = reports.statistics(by, ext_id, first, last, departments=shown_departments,
                                             call_type=call_type or None, site=site)
            rows = reports.fill_periods(rows, by, first, last)
            by_department = reports.department_totals(first, last, shown_departments)
            members = (None if shown_departments is None
                       else departments.member_ids(shown_departments))
            if site is not None:  # the site's, within the departments shown
                in_site = reports.site_member_ids(site)
                members = in_site if members is None else sorted(set(members) & set(in_site))
            by_type = call_type_stats.by_type(
                [ext_id] if ext_id is not None else members, first, last)
        except reports.ReportError as exc:
            errors["to"] = str(exc)
    filters = {"by": by, "extension": number, "dept": q.get("dept", "").strip()[:12],
               "type": call_type[:20],
               "from": q.get("from", "").strip()[:10], "to": q.get("to", "").strip()[:10]}
    if site is not None:
        filters["site"] = site or sites.GROUP_WIDE
    shown = {"from": first.isoformat() if first else "", "to": last.isoformat() if last else "",
             "text": range_text(first, last), "default": not typed}
    call_log = "/calls?" + urlencode({"from": shown["from"], "to": shown["to"], "q": number,
                                      **({"type": call_type} if call_type and not errors else {})})
    call_log += "&" + urlencode({"dept": filters["dept"]}) if filters["dept"] else ""
    call_log += "&" + urlencode({"site": filters["site"]}) if filters.get("site") else ""
    return ui.render("statistics.tpl", http_status=400 if errors else 200, title=_("Statistics"),
                     filters=filters, errors=errors, rows=rows, total=total, shown=shown,
                     call_log=call_log, partial=partial_periods(by, first, last, today),
                     by_department=by_department,
                     by_type=by_type, call_types=calltypes.CALL_TYPES, type_label=calltypes.label,
                     chart_cost=bar_chart([(r.period, r.cost) for r in rows]),
                     chart_time=bar_chart([(r.period, r.answered_s) for r in rows]))


def bar_chart(points: Sequence[Tuple[str, int]], height: int = 160) -> Dict[str, Any]:
    """Geometry of a bar chart (inline SVG, no script, no inline style): one bar per
    period scaled to the largest value."""
    width_each = 28 if len(points) <= 40 else max(6, 1100 // max(len(points), 1))
    top = max((v for _, v in points), default=0)
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0 if top <= 0 else max(1 if value > 0 else 0, value * height // top)
        bars.append({"x": 40 + i * width_each, "y": 10 + height - h, "w": max(width_each - 4, 3),
                     "h": h, "label": label, "value": value})
    every = max(1, len(points) // 12)
    return {"bars": bars, "height": height, "width": 50 + len(points) * width_each,
            "top": top, "base": 10 + height, "every": every}


ROUTES: List[Route] = [
    ("/statistics", "GET", auth.BILLING, statistics),
]
