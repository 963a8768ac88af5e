"""The Statistics page of the billing user: calls, answered time and cost per hour, day,
month or year (for one extension or all), as a table and two bar charts drawn as inline
SVG by the template from ``bar_chart``'s geometry."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List, Sequence, Tuple

import bottle

from billing_addon import reports, settings, store

from . import auth
from .core import Route, WebCore, decoded


def statistics(ui: WebCore):
    q = decoded(bottle.request.query)
    by = q.get("by", "day")
    if by not in reports.PERIODS:
        by = "day"
    number = q.get("extension", "").strip()[:32]
    errors: Dict[str, str] = {}
    days = {}
    for key, label in (("from", "From"), ("to", "To")):
        try:
            days[key] = reports.parse_day(q.get(key, ""), label)
        except reports.ReportError as exc:
            errors[key] = str(exc)
    today = settings.local(store.now_utc()).date()
    if not errors and days["from"] is None and days["to"] is None:
        if by == "day":
            days["from"], days["to"] = today - dt.timedelta(days=30), today
        elif by == "month":
            days["from"] = dt.date(today.year - 1 if today.month < 12 else today.year,
                                   today.month % 12 + 1, 1)
            days["to"] = today
    ext_id = None
    if number:
        ext_id = reports.extension_id(number)
        if ext_id is None:
            errors["extension"] = f"there is no extension {number}"
    rows: List[reports.StatRow] = []
    total = reports.StatRow("total", 0, 0, 0, 0)
    if not errors:
        try:
            rows, total = reports.statistics(by, ext_id, days.get("from"), days.get("to"))
            rows = reports.fill_periods(rows, by, days.get("from"), days.get("to"))
        except reports.ReportError as exc:
            errors["to"] = str(exc)
    first, last = days.get("from"), days.get("to")
    filters = {"by": by, "extension": number,
               "from": first.isoformat() if first else q.get("from", ""),
               "to": last.isoformat() if last else q.get("to", "")}
    return ui.render("statistics.tpl", http_status=400 if errors else 200, title="Statistics",
                     filters=filters, errors=errors, rows=rows, total=total,
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
