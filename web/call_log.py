"""The Call Log page of the billing user: calls by time range and keyword, with their
rate, cost and status, and their export as .xlsx or CSV."""

from __future__ import annotations

from typing import List

from billing_addon import reports, settings

from . import auth
from .core import Route, WebCore
from .exports import export, local_time, time_header
from .search_range import export_range, history_page


def calls(ui: WebCore):
    return history_page(ui, "calls.tpl", "Call Log", reports.calls_page)


def calls_export(ui: WebCore, kind: str):
    keyword, start, end = export_range(ui)
    currency, zone = settings.get("currency"), settings.zone()
    headers = [time_header("Start Time", zone), "Extension", "User Name", "Dialed Number",
               "Duration (s)", "Rate", f"Cost ({currency})", "Status"]
    rows = ((local_time(c.started_utc, zone), c.number, c.name, c.dialed,
             c.answered_s if c.answered_s is not None else "", c.rate_label, c.cost,
             c.status + (f" ({c.reason})" if c.reason else ""))
            for c in reports.iter_calls(start, end, keyword))
    return export(ui, kind, "call-log", "Call Log", headers, rows, money_columns=(6,),
                  text_columns=(1, 2, 3, 5), widths=(27, 11, 22, 18, 12, 24, 12, 20))


ROUTES: List[Route] = [
    ("/calls", "GET", auth.BILLING, calls),
    ("/calls/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, calls_export),
]
