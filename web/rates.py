"""The Rate page of the billing user: the rate table with its search, the Add/Edit form,
switching rates on and off, deleting, CSV import and export, and the Rate Tester (which
rate and cost a call would get).  The rules themselves are ``billing_addon.rates``."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Dict, List, Optional

import bottle

from billing_addon import calltypes, i18n, localefmt, rates, rating, reports, settings, sites, store
from billing_addon.digits import whole_number
from billing_addon.i18n import _
from billing_addon.store import Rate

from . import auth, rate_import
from .core import Route, WebCore, decoded
from .exports import attachment


def _back(default: str) -> str:
    """The form's ``back`` address when it is a path of this site, else ``default``."""
    back = decoded(bottle.request.forms).get("back", "")
    return back if back.startswith("/") and not back.startswith("//") else default


def rate_list(ui: WebCore):
    q = decoded(bottle.request.query)
    search = reports.clean_keyword(q.get("q", ""))
    query = Rate.select().where(rates.in_force()).order_by(Rate.prefix, Rate.length, Rate.id)
    if search:
        query = query.where(Rate.prefix.startswith(search) | Rate.remarks.contains(search))
    call_type = q.get("type", "")
    if calltypes.is_call_type(call_type):
        query = query.where(Rate.call_type == call_type)
    else:
        call_type = ""
    total = query.count()
    per_page = reports.PAGE_SIZE
    page_no = reports._page_number(q.get("page", 1), total, per_page)
    rows = list(query.paginate(page_no, per_page))
    assigned = rates.assignments([r.id for r in rows])
    page = reports.Page(rows, page_no, per_page, page_no * per_page < total, total)
    return ui.render("rates.tpl", title=_("Rate"), page=page, assigned=assigned, search=search,
                     time_of_day=rates.format_time_of_day, never=rates.never_apply(),
                     call_type=call_type, call_types=calltypes.CALL_TYPES, type_label=calltypes.label)


def rate_form(ui: WebCore, rate_id: Optional[int] = None):
    request = bottle.request
    row = None
    if rate_id is not None:
        row = rates.get(rate_id)
        if row is None:
            raise ui.error_page(404, _("There is no rate {id}.").format(id=rate_id))
    errors: Dict[str, str] = {}
    if request.method == "POST":
        source = decoded(request.forms)
        form = {key: source.get(key, "") for key in
                ("remarks", "prefix", "length", "initial_cost", "initial_time", "rate", "unit",
                 "start", "end", "call_type")}
        form["active"] = source.get("active") == "1"
        form["all_extensions"] = source.get("all_extensions") == "1"
        form["extensions"] = source.getall("extensions")
        form[rates.SITE_COLUMN] = source.get(rates.SITE_COLUMN, "")
        try:
            values = rates.validate(form, currency=settings.get("currency"), locale=i18n.current())
        except rates.RateError as exc:
            errors = exc.errors
        else:
            # 23:59 is most likely meant as midnight: 24:00 is offered before it is saved
            choice = source.get("end_of_day", "")
            if values.end_s == rates.END_OF_DAY_TYPO and choice == "midnight":
                values.end_s, form["end"] = rates.DAY_END_S, "24:00"
            if values.end_s == rates.END_OF_DAY_TYPO and choice != "keep":
                return _render_form(ui, row, form, errors, offer_midnight=True)
            try:
                saved = rates.add(values) if row is None else rates.update(row.id, values)
            except rates.RateError as exc:
                errors = exc.errors
            else:
                done = _("Rate {id} ({name}) added.") if row is None else _("Rate {id} ({name}) saved.")
                ui.flash(done.format(id=saved.id, name=values.remarks or values.prefix))
                for warning in rates.save_warnings(saved.id, values):
                    ui.flash(_("Warning: rate {id}: {warning}.").format(id=saved.id, warning=warning),
                             "warning")
                bottle.redirect("/rates")
    elif row is not None:
        currency = settings.get("currency")
        form = {"active": row.active, "remarks": row.remarks, "prefix": row.prefix,
                "length": str(row.length),
                "initial_cost": localefmt.plain(row.initial_cost, currency, min_decimals=0),
                "initial_time": str(row.initial_time),
                "rate": localefmt.plain(row.rate, currency, min_decimals=0), "unit": str(row.unit),
                "start": rates.format_time_of_day(row.start_s),
                "end": rates.format_time_of_day(row.end_s),
                "all_extensions": row.all_extensions,
                "extensions": rates.assignments([row.id]).get(row.id, []),
                "call_type": row.call_type, rates.SITE_COLUMN: row.site}
    else:
        form = {"active": True, "remarks": "", "prefix": "", "length": "0", "initial_cost": "0",
                "initial_time": "0", "rate": "", "unit": "60", "start": "00:00", "end": "24:00",
                "all_extensions": True, "extensions": [], "call_type": calltypes.DEFAULT,
                rates.SITE_COLUMN: sites.current()}  # a new rate: this site's, until chosen
    return _render_form(ui, row, form, errors)


def _render_form(ui: WebCore, row, form: Dict[str, Any], errors: Dict[str, str],
                 offer_midnight: bool = False) -> str:
    return ui.render("rate_form.tpl", http_status=400 if errors else 200,
                     title=_("Edit Rate") if row else _("Add Rate"), row=row, form=form,
                     errors=errors, all_exts=reports.all_extension_numbers(),
                     offer_midnight=offer_midnight, call_types=calltypes.CALL_TYPES,
                     type_label=calltypes.label)


def rate_active(ui: WebCore, rate_id: int):
    active = decoded(bottle.request.forms).get("active") == "1"
    if not rates.set_active([rate_id], active):
        raise ui.error_page(404, _("There is no rate {id}.").format(id=rate_id))
    done = _("Rate {id} activated.") if active else _("Rate {id} deactivated.")
    ui.flash(done.format(id=rate_id))
    bottle.redirect(_back("/rates"))


def rates_delete(ui: WebCore):
    ids = []
    for value in decoded(bottle.request.forms).getall("id"):
        if whole_number(value) and int(value) <= rates.MAX_ID:
            ids.append(int(value))
    if not ids:
        ui.flash(_("Select at least one rate to delete."), "error")
    else:
        count = rates.delete(ids)
        ui.flash(_("{count} rate(s) deleted.").format(count=count))
    bottle.redirect("/rates")


def rate_test(ui: WebCore):
    q = decoded(bottle.request.query)
    form = {key: q.get(key, "") for key in ("extension", "dialed", "at", "duration")}
    errors: Dict[str, str] = {}
    result = None
    if form["dialed"] or form["extension"]:
        extension = form["extension"].strip()
        if not extension:
            errors["extension"] = _("extension is required")
        dialed = form["dialed"].strip()
        if not dialed or len(dialed) > 64 or not all(c.isdigit() or c in "*#+" for c in dialed):
            errors["dialed"] = _("the dialed number is digits (and * # +)")
        duration_text = form["duration"].strip() or "60"
        if not whole_number(duration_text) or int(duration_text) > 7 * 86400:
            errors["duration"] = _("answered seconds: a whole number from 0 to 604800")
        at = store.now_utc()
        try:
            if form["at"].strip():
                local = dt.datetime.fromisoformat(form["at"].strip())
                if local.tzinfo is None:
                    local = local.replace(tzinfo=settings.zone())
                at = int(local.timestamp())
            local = settings.local(at)  # a time at the calendar's edge has no local time
        except (ValueError, OverflowError):
            errors["at"] = _("use a date and time like 2024-05-31 14:30")
        if not errors:
            rate = rates.index().match(extension, dialed, local)
            duration = int(duration_text)
            result = {"rate": rate, "local": local, "duration": duration,
                      "cost": rating.cost(rate, duration) if rate else 0,
                      "policy": settings.get("unrated_policy"),
                      "known": reports.extension_id(extension) is not None}
    return ui.render("rate_test.tpl", http_status=400 if errors else 200, title=_("Rate Tester"),
                     form=form, errors=errors, result=result,
                     time_of_day=rates.format_time_of_day, type_label=calltypes.label)


def rates_export(ui: WebCore):
    out = io.StringIO()
    rates.export_csv(out)
    attachment(f"rates-{dt.date.today():%Y%m%d}.csv", "text/csv; charset=utf-8")
    return out.getvalue()


def rates_import(ui: WebCore):
    errors: Dict[str, str] = {}
    if bottle.request.method == "POST":
        form = decoded(bottle.request.forms)
        upload = bottle.request.files.get("file")
        if upload is None:
            errors["file"] = _("choose a CSV file to import")
        else:
            data = upload.file.read(ui.max_upload + 1)
            if len(data) > ui.max_upload:
                errors["file"] = _("the file is larger than {kb} KB").format(kb=ui.max_upload // 1024)
            else:
                try:
                    deck = rates.read_deck(rates.decode_deck(data))
                except rates.RateError as exc:
                    errors["file"] = _("nothing imported: {reason}").format(reason=exc)
                else:
                    replace = form.get("replace") == "1"
                    if len(deck.rows) > rate_import.INLINE_ROWS:
                        bottle.redirect(f"/rates/import/{rate_import.start(deck, replace)}")
                    try:
                        count = rates.put_in_force(deck, replace=replace)
                    except rates.RateError as exc:
                        errors["file"] = _("nothing imported: {reason}").format(reason=exc)
                    else:
                        _flash_imported(ui, count, rates.import_warnings())
                        bottle.redirect("/rates")
    return ui.render("rates_import.tpl", http_status=400 if errors else 200, title=_("Import Rates"),
                     errors=errors, columns=rates.csv_header(), column_keys=rates.CSV_COLUMNS)


def _flash_imported(ui: WebCore, count: int, warnings: List[str]) -> None:
    ui.flash(_("{count} rate(s) imported.").format(count=count))
    for warning in warnings:
        ui.flash(_("Warning: {warning}.").format(warning=warning), "warning")


def rates_import_progress(ui: WebCore, job_id: str):
    """How far a big import got; when it is over, its outcome on the Rate page."""
    try:
        job = rate_import.get(job_id)
    except KeyError:
        raise ui.error_page(404, _("There is no such import (it may have been shown already).")) from None
    if not job.finished:
        return ui.render("rates_import_progress.tpl", title=_("Importing Rates"), job=job)
    rate_import.forget(job_id)
    if job.error:
        ui.flash(job.error, "error")
        bottle.redirect("/rates/import")
    _flash_imported(ui, job.count, job.warnings)
    bottle.redirect("/rates")


ROUTES: List[Route] = [
    ("/rates", "GET", auth.BILLING, rate_list),
    ("/rates/add", ["GET", "POST"], auth.BILLING, rate_form),
    ("/rates/<rate_id:int>/edit", ["GET", "POST"], auth.BILLING, rate_form),
    ("/rates/<rate_id:int>/active", "POST", auth.BILLING, rate_active),
    ("/rates/delete", "POST", auth.BILLING, rates_delete),
    ("/rates/test", "GET", auth.BILLING, rate_test),
    ("/rates/export.csv", "GET", auth.BILLING, rates_export),
    ("/rates/import", ["GET", "POST"], auth.BILLING, rates_import),
    ("/rates/import/<job_id:re:[0-9a-f]{16}>", "GET", auth.BILLING, rates_import_progress),
]
