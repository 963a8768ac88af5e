"""The Recharge History page of the billing user: recharges and balance adjustments by
time range and keyword, and their export as .xlsx or CSV."""

from __future__ import annotations

from typing import List

from billing_addon import reports, settings

from . import auth
from .core import Route, WebCore
from .exports import export, local_time, time_header
from .search_range import export_range, history_page


def recharges(ui: WebCore):
    return history_page(ui, "recharges.tpl", "Recharge History", reports.recharges_page)


def recharges_export(ui: WebCore, kind: str):
    keyword, start, end = export_range(ui)
    currency, zone = settings.get("currency"), settings.zone()
    headers = [time_header("Time", zone), "Extension", "User Name", f"Pre-balance ({currency})",
               f"Recharge Amount ({currency})", f"Post-balance ({currency})", "Operator",
               "Note"]
    rows = ((local_time(r.created_utc, zone), r.number, r.name, r.pre_balance, r.amount,
             r.post_balance, r.operator, r.note)
            for r in reports.iter_recharges(start, end, keyword))
    return export(ui, kind, "recharge-history", "Recharge History", headers, rows,
                  money_columns=(3, 4, 5), text_columns=(1, 2, 6, 7),
                  widths=(27, 11, 22, 16, 18, 16, 14, 30))


ROUTES: List[Route] = [
    ("/recharges", "GET", auth.BILLING, recharges),
    ("/recharges/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, recharges_export),
]
