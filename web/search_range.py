"""The search of the history pages (Recharge History, Call Log and their exports): From
and To days and a keyword, read from the query (the form of ``search_range.tpl``)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple
from urllib.parse import urlencode

import bottle

from billing_addon import departments, reports, sites
from billing_addon.i18n import N_

from . import roles, site_filter
from .core import WebCore, decoded

Bounds = Tuple[Optional[int], Optional[int]]  # UTC seconds, either end open


def range_filters() -> Tuple[Dict[str, str], Dict[str, str], Bounds]:
    """The query's filters, the errors in them per field, and the time bounds they give."""
    q = decoded(bottle.request.query)
    filters = {key: q.get(key, "").strip()[:40] for key in ("from", "to", "q", "dept")}
    errors: Dict[str, str] = {}
    days = {}
    for key, label in (("from", N_("From")), ("to", N_("To"))):
        try:
            days[key] = reports.parse_day(filters[key], label)
        except reports.ReportError as exc:
            errors[key] = str(exc)
            days[key] = None
    bounds: Bounds = (None, None)
    if not errors:
        try:
            bounds = reports.time_bounds(days["from"], days["to"])
        except reports.ReportError as exc:
            errors["to"] = str(exc)
    return filters, errors, bounds


def history_page(ui: WebCore, template: str, title: str, find: Callable[..., reports.Page],
                 extra: Optional[Dict[str, str]] = None, **values: Any) -> str:
    """A history page: the search and one page of what ``find(start, end, keyword,
    page number)`` finds (nothing, and status 400, when the search is wrong).  ``extra``:
    the page's own filters (already applied by ``find``), kept in the search and its
    downloads; ``values`` go to the template."""
    filters, errors, (start, end) = range_filters()
    filters.update(extra or {})
    site = site_filter.from_query(errors)
    if site is not None:  # kept in the search and its downloads
        filters["site"] = site or sites.GROUP_WIDE
    shown = None if errors else department_scope(ui, filters, errors)
    page = None if errors else find(start, end, filters["q"], decoded(bottle.request.query).get("page", 1),
                                    departments=shown, site=site)
    return ui.render(template, http_status=400 if errors else 200, title=title,
                     filters=filters, errors=errors, page=page,
                     export_query=urlencode(filters), **values)


def department_scope(ui: WebCore, filters: Dict[str, str],
                     errors: Dict[str, str]) -> reports.Departments:
    """The departments the search shows: the chosen one within the user's own (a
    department manager's); an unknown one is an error of the ``dept`` field."""
    try:
        return roles.narrowed(ui.scope(), filters.get("dept", ""))
    except departments.DepartmentError as exc:
        errors["dept"] = str(exc)
        return []


def export_range(ui: WebCore) -> Tuple[str, Optional[int], Optional[int], reports.Departments]:
    """The keyword, time bounds and departments of an export (an error page, 400, when
    the search is wrong)."""
    filters, errors, (start, end) = range_filters()
    shown = department_scope(ui, filters, errors)
    if errors:
        raise ui.error_page(400, "; ".join(errors.values()))
    return filters["q"], start, end, shown
