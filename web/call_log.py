"""The Call Log page of the billing user: calls by time range and keyword, with their
rate, cost and status, and their export as .xlsx or CSV."""

from __future__ import annotations

from typing import List

from billing_addon import reports, settings
from billing_addon.i18n import N_, _

from . import auth
from .core import Route, WebCore
from .exports import export, local_time, time_header
from .search_range import export_range, history_page

# The codes of a call's status and reason, which the page shows translated (``_(code)``)
# and the export as they are (machine-readable values).
CALL_CODES = (N_("in-progress"), N_("charged"), N_("expired"), N_("denied"), N_("unrated"),
              N_("unbilled"), N_("locked"), N_("no-funds"), N_("no-rate"),
              N_("billing-inactive"), N_("over-limit"), N_("not-authorized"),
              N_("after-release"), N_("error"))


def calls(ui: WebCore):
    return history_page(ui, "calls.tpl", _("Call Log"), reports.calls_page)


def calls_export(ui: WebCore, kind: str):
    keyword, start, end = export_range(ui)
    currency, zone = settings.get("currency"), settings.zone()
    headers = [time_header(_("Start Time"), zone), _("Extension"), _("User Name"),
               _("Dialed Number"), _("Duration (s)"), _("Rate"),
               _("Cost ({currency})").format(currency=currency), _("Status"),
               _("Free (s)")]
    rows = ((local_time(c.started_utc, zone), c.number, c.name, c.dialed,
             c.answered_s if c.answered_s is not None else "", c.rate_label, c.cost,
             c.status + (f" ({c.reason})" if c.reason else ""), c.free_s)
            for c in reports.iter_calls(start, end, keyword))
    return export(ui, kind, "call-log", _("Call Log"), headers, rows, money_columns=(6,),
                  text_columns=(1, 2, 3, 5), widths=(27, 11, 22, 18, 12, 24, 12, 20, 10))


ROUTES: List[Route] = [
    ("/calls", "GET", auth.BILLING, calls),
    ("/calls/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, calls_export),
]
