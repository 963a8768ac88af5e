"""The Recharge History page of the billing user: recharges and balance adjustments by
time range and keyword, and their export as .xlsx or CSV."""

from __future__ import annotations

from typing import List

from billing_addon import reports, settings
from billing_addon.i18n import _

from . import auth, site_filter
from .core import Route, WebCore
from .exports import export, local_time, time_header
from .search_range import export_range, history_page


def recharges(ui: WebCore):
    return history_page(ui, "recharges.tpl", _("Recharge History"), reports.recharges_page)


def recharges_export(ui: WebCore, kind: str):
    keyword, start, end, departments = export_range(ui)
    site, with_site = site_filter.for_export(ui), site_filter.shown()
    headers, rows, columns = export_table(start, end, keyword, departments, site, with_site)
    return export(ui, kind, "recharge-history", _("Recharge History"), headers, rows,
                  widths=(27, 11, 22, 16, 18, 16, 14, 30) + ((14,) if with_site else ()),
                  **columns)


def export_table(start, end, keyword, departments, site=None, with_site=False):
    """The Recharge History's export as (headers, rows, their money and text columns):
    the page's download and the API's (web/api/history.py)."""
    currency, zone = settings.get("currency"), settings.zone()
    headers = [time_header(_("Time"), zone), _("Extension"), _("User Name"),
               _("Pre-balance ({currency})").format(currency=currency),
               _("Recharge Amount ({currency})").format(currency=currency),
               _("Post-balance ({currency})").format(currency=currency), _("Operator"), _("Note")]
    headers += [_("Site")] if with_site else []
    rows = ((local_time(r.created_utc, zone), r.number, r.name, r.pre_balance, r.amount,
             r.post_balance, r.operator, r.note) + ((r.site,) if with_site else ())
            for r in reports.iter_recharges(start, end, keyword, departments, site))
    return headers, rows, {"money_columns": (3, 4, 5),
                           "text_columns": (1, 2, 6, 7) + ((8,) if with_site else ())}


ROUTES: List[Route] = [
    ("/recharges", "GET", auth.BILLING, recharges),
    ("/recharges/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, recharges_export),
]
