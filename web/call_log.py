"""The Call Log page of the billing user: calls by time range and keyword, with their
rate, cost and status, and their export as .xlsx or CSV."""

from __future__ import annotations

import functools
from typing import List, Optional

import bottle

from billing_addon import calltypes, reports, settings
from billing_addon.i18n import N_, _

from . import auth, site_filter
from .core import Route, WebCore, decoded
from .exports import export, local_time, time_header
from .search_range import export_range, history_page

# The codes of a call's status and reason, which the page shows translated (``_(code)``)
# and the export as they are (machine-readable values).
CALL_CODES = (N_("in-progress"), N_("charged"), N_("expired"), N_("denied"), N_("unrated"),
              N_("unbilled"), N_("locked"), N_("no-funds"), N_("no-rate"),
              N_("billing-inactive"), N_("over-limit"), N_("not-authorized"),
              N_("after-release"), N_("closed-at-check-out"), N_("error"))


def call_type_filter(ui: WebCore) -> Optional[str]:
    """The query's call type (None: every type); an unknown one is an error page."""
    value = decoded(bottle.request.query).get("type", "").strip()
    if value and not calltypes.is_call_type(value):
        raise ui.error_page(400, _("unknown call type {type}: use {types}").format(
            type=repr(value[:20]), types=", ".join(calltypes.CALL_TYPES)))
    return value or None


def calls(ui: WebCore):
    call_type = call_type_filter(ui)
    return history_page(ui, "calls.tpl", _("Call Log"),
                        functools.partial(reports.calls_page, call_type=call_type),
                        extra={"type": call_type or ""}, call_types=calltypes.CALL_TYPES,
                        type_label=calltypes.label)


def calls_export(ui: WebCore, kind: str):
    keyword, start, end, departments = export_range(ui)
    site, with_site = site_filter.for_export(ui), site_filter.shown()
    headers, rows, columns = export_table(start, end, keyword, departments, call_type_filter(ui),
                                          site, with_site)
    return export(ui, kind, "call-log", _("Call Log"), headers, rows,
                  widths=(27, 11, 22, 18, 12, 24, 12, 20, 14, 10) + ((14,) if with_site else ()),
                  **columns)


def export_table(start, end, keyword, departments, call_type, site=None, with_site=False):
    """The Call Log's export as (headers, rows, their money and text columns): the
    page's download and the API's (web/api/history.py)."""
    currency, zone = settings.get("currency"), settings.zone()
    headers = [time_header(_("Start Time"), zone), _("Extension"), _("User Name"),
               _("Dialed Number"), _("Duration (s)"), _("Rate"),
               _("Cost ({currency})").format(currency=currency), _("Status"), _("Call Type"),
               _("Free (s)")] + ([_("Site")] if with_site else [])
    # the type as its code (local, mobile...), like the status: machine-readable
    rows = ((local_time(c.started_utc, zone), c.number, c.name, c.dialed,
             c.answered_s if c.answered_s is not None else "", c.rate_label, c.cost,
             c.status + (f" ({c.reason})" if c.reason else ""), c.call_type, c.free_s)
            + ((c.site,) if with_site else ())
            for c in reports.iter_calls(start, end, keyword, departments=departments,
                                        call_type=call_type, site=site))
    return headers, rows, {"money_columns": (6,),
                           "text_columns": (1, 2, 3, 5) + ((10,) if with_site else ())}


ROUTES: List[Route] = [
    ("/calls", "GET", auth.BILLING, calls),
    ("/calls/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, calls_export),
]
