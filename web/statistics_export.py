"""The Statistics download (.xlsx or CSV): the totals of the page's range per period and
call type (calls, answered, answered seconds, cost), for all extensions or one, one type
or all: the same filters as the page (``statistics``)."""

from __future__ import annotations

import datetime as dt
from typing import List, Optional

import bottle

from billing_addon import call_type_stats, calltypes, reports, settings, store
from billing_addon.i18n import N_, _

from . import auth, site_filter
from .core import Route, WebCore, decoded
from .exports import export
from .statistics import default_range


def statistics_export(ui: WebCore, kind: str):
    q = decoded(bottle.request.query)
    by = q.get("by", "day") if q.get("by", "day") in reports.PERIODS else "day"
    problems: List[str] = []
    days: List[Optional[dt.date]] = []
    for key, label in (("from", N_("From")), ("to", N_("To"))):
        try:
            days.append(reports.parse_day(q.get(key, ""), label))
        except reports.ReportError as exc:
            problems.append(str(exc))
            days.append(None)
    first, last = days
    if not problems and first is None and last is None:
        first, last = default_range(by, settings.local(store.now_utc()).date())
    number = q.get("extension", "").strip()[:32]
    ext_ids = None
    if number:
        found = reports.extension_id(number)
        if found is None:
            problems.append(_("there is no extension {number}").format(number=number))
        ext_ids = [found] if found is not None else []
    site = site_filter.for_export(ui)
    if site is not None and ext_ids is None:  # the site's extensions and accounts
        ext_ids = reports.site_member_ids(site)
    call_type = q.get("type", "").strip()
    if call_type and not calltypes.is_call_type(call_type):
        problems.append(_("unknown call type {type}: use {types}").format(
            type=repr(call_type[:20]), types=", ".join(calltypes.CALL_TYPES)))
    if problems:
        raise ui.error_page(400, "; ".join(problems))
    currency = settings.get("currency")
    headers = [{"day": _("Day"), "month": _("Month"), "year": _("Year")}[by], _("Call Type"),
               _("Calls"), _("Answered"), _("Duration (s)"),
               _("Cost ({currency})").format(currency=currency)]
    # the type as its code ('' when no rate matched), as the Call Log export has it
    rows = ((period, row.call_type, row.calls, row.answered_calls, row.answered_s, row.cost)
            for period, row in call_type_stats.by_period(
                reports.PERIODS[by], ext_ids, first, last, call_type or None))
    return export(ui, kind, "statistics", _("Statistics"), headers, rows, money_columns=(5,),
                  text_columns=(0, 1), widths=(12, 16, 10, 10, 14, 14))


ROUTES: List[Route] = [
    ("/statistics/export.<kind:re:xlsx|csv>", "GET", auth.BILLING, statistics_export),
]
