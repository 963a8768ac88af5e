"""The Extensions page of the billing user: the list with its search, and what is done to
the extensions selected in it: Recharge, Bulk Edit, Edit (one) and Adjust (one balance)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode

import bottle

from billing_addon import (
    accounts,
    barring,
    departments,
    localefmt,
    lowbalance,
    money,
    reports,
    settings,
    sites,
    stays,
)
from billing_addon.i18n import _

from . import auth, call_barring, plans, roles, site_filter
from .core import Route, WebCore, decoded


class Refused(Exception):
    """Form input refused: per-field messages for the form, nothing was saved."""

    def __init__(self, errors: Dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def extension_list(ui: WebCore):
    q = decoded(bottle.request.query)
    filters = _filters(q)
    errors: Dict[str, str] = {}
    site = site_filter.from_query(errors)
    page = reports.extensions_page(page=q.get("page", 1), site=site, **_search(ui, filters, errors))
    if site is not None:
        filters["site"] = site or sites.GROUP_WIDE
    scope = ui.scope()
    low_count = lowbalance.low_count() if scope is None else reports.extensions_page(
        low="1", departments=scope, per_page=1).total
    return ui.render("extensions.tpl", http_status=400 if errors else 200, title=_("Extensions"),
                     page=page, filters=filters, errors=errors,
                     checked_in=stays.checked_in([e.number for e in page.rows]),
                     low_count=low_count, here=sites.current(),
                     site_default=_("This site ({site})").format(site=sites.current())
                     if sites.current() else "")


def _filters(source) -> Dict[str, Any]:
    return {key: source.get(key, "")
            for key in ("number", "status", "payment_type", "billing", "low", "dept")}


def _search(ui: WebCore, filters: Dict[str, Any],
            errors: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The filters as the reports' arguments: the department filter within the user's
    departments (an unknown department finds nothing, and is said in ``errors``)."""
    search = dict(filters)
    try:
        search["departments"] = roles.narrowed(ui.scope(), search.pop("dept"))
    except departments.DepartmentError as exc:
        search["departments"] = []
        if errors is not None:
            errors["dept"] = str(exc)
    return search


def _selected(ui: WebCore, source) -> List[reports.ExtensionRow]:
    """The ticked extensions, or with ``all=1`` every one the search finds (all its
    pages).  The Recharge and Bulk Edit forms then carry the numbers themselves, so
    what is confirmed is what is changed.  A department manager naming an extension
    outside their departments is refused (403)."""
    if source.get("all") == "1":
        return reports.extensions_matching(**_search(ui, _filters(source)))
    numbers = source.getall("n")
    scope = ui.scope()
    if scope is not None and departments.outside(numbers, scope):
        raise ui.error_page(403, _("Some of these extensions are not in your departments; "
                                   "nothing was changed."), _("Not allowed"))
    return reports.extensions_by_number(numbers)


def _form_source():
    """The request and what it sends: the form of a POST, the query of a GET."""
    request = bottle.request
    return request, decoded(request.forms if request.method == "POST" else request.query)


def _one_extension(ui: WebCore):
    """The request, its form or query, and the one extension it names (else 404)."""
    request, source = _form_source()
    selected = _selected(ui, source)
    if len(selected) != 1:
        raise ui.error_page(404, _("There is no such extension."))
    return request, source, selected[0]


def _selection(ui: WebCore, missing: str):
    """The form (POST) or query (GET) and the extensions it selects; back to the
    list with ``missing`` when it selects none."""
    request, source = _form_source()
    selected = _selected(ui, source)
    if not selected:
        ui.flash(missing, "error")
        bottle.redirect("/extensions")
    return request, source, selected


def _operator(ui: WebCore) -> str:
    session = ui.session()
    return session.username if session else ""


def recharge(ui: WebCore):
    """Recharge in two steps: the form, then a review of the amount, each extension's
    balance before and after, and a warning for extensions whose billing is off; only
    the review's Confirm recharges."""
    request, source, selected = _selection(ui, _("Select at least one extension to recharge."))
    errors: Dict[str, str] = {}
    amount_text = ""
    back = source.get("back", "")
    back = back if back.startswith(("/extensions", "/accounts")) else "/extensions"
    if request.method == "POST":
        amount_text = source.get("amount", "")
        try:
            amount = localefmt.parse_amount(amount_text, settings.get("currency"), allow_zero=False)
        except money.AmountError as exc:
            errors["amount"] = str(exc)
        else:
            step = source.get("step", "")
            if step == "confirm":
                try:
                    done = accounts.recharge([e.number for e in selected], amount,
                                             operator=_operator(ui))
                except accounts.AccountError as exc:
                    errors["amount"] = str(exc)
                else:
                    ui.flash(_recharged(done, amount))
                    bottle.redirect(back)
            elif step != "change":
                form_page = "/extensions/recharge?" + urlencode(
                    [("n", e.number) for e in selected] + [("back", back)])
                return ui.render("recharge_confirm.tpl", title=_("Confirm Recharge"),
                                 selected=selected, amount=amount, back=back, form_page=form_page,
                                 billing_off=[e.number for e in selected if not e.billing_enabled])
    return ui.render("recharge.tpl", http_status=400 if errors else 200, title=_("Recharge"),
                     selected=selected, errors=errors, amount=amount_text, back=back)


def _recharged(done: List[accounts.Recharge], amount: int) -> str:
    currency = settings.get("currency")
    summary = ", ".join(f"{r.number}: {money.format_amount(r.pre_balance, currency)} -> "
                        f"{money.format_amount(r.post_balance, currency)}" for r in done[:10])
    if len(done) > 10:
        text = _("Recharged {count} extension(s) with {amount}: {summary} and {more} more.")
    else:
        text = _("Recharged {count} extension(s) with {amount}: {summary}.")
    return text.format(count=len(done), amount=money.format_amount(amount, currency),
                       summary=summary, more=len(done) - 10)


def bulk_edit(ui: WebCore):
    request, source, selected = _selection(ui, _("Select at least one extension for Bulk Edit."))
    errors: Dict[str, str] = {}
    if request.method == "POST":
        count, errors = _edit([e.number for e in selected], source, bulk=True)
        if not errors:
            ui.flash(_("Bulk Edit saved for {count} extension(s).").format(count=count))
            bottle.redirect("/extensions")
    return ui.render("bulk_edit.tpl", http_status=400 if errors else 200, title=_("Bulk Edit"),
                     selected=selected, errors=errors, form=source,
                     default_threshold=settings.get("low_balance_threshold"),
                     **call_barring.template_values())


def _extension_changes(form, bulk: bool, barred: bool = False) -> Dict[str, Any]:
    """Edit-form values as keyword arguments of ``accounts.edit``; in a bulk edit only
    the properties whose 'change' box is ticked."""
    errors: Dict[str, str] = {}
    changes: Dict[str, Any] = {}

    def wanted(name: str) -> bool:
        return not bulk or form.get("set_" + name) == "1"

    if wanted("billing"):
        changes["billing_enabled"] = form.get("billing_enabled") == "1"
    if wanted("account_billing"):  # PIN accounts: the phone's calls ask for one
        changes["account_billing"] = form.get("account_billing") == "1"
    if wanted("credit"):
        try:
            changes["credit"] = localefmt.parse_amount(form.get("credit", ""), settings.get("currency"))
        except money.AmountError as exc:
            errors["credit"] = str(exc)
    if wanted("status"):
        if form.get("status") not in accounts.STATUSES:
            errors["status"] = _("choose Unlocked or Locked")
        changes["status"] = form.get("status")
    if wanted("payment_type"):
        if form.get("payment_type") not in accounts.PAYMENT_TYPES:
            errors["payment_type"] = _("choose Prepaid or Postpaid")
        changes["payment_type"] = form.get("payment_type")
    if not bulk:
        name = form.get("name", "").strip()
        if len(name) > 80:
            errors["name"] = _("the name is at most 80 characters")
        changes["name"] = name
    if wanted("low_threshold"):
        threshold = form.get("low_threshold", "").strip()
        if not threshold:
            changes["low_threshold"] = accounts.USE_DEFAULT
        else:
            try:
                changes["low_threshold"] = localefmt.parse_amount(threshold, settings.get("currency"))
            except money.AmountError as exc:
                errors["low_threshold"] = str(exc)
    if bulk and not changes and not barred:
        errors["form"] = _("Tick at least one property to change.")
    if errors:
        raise Refused(errors)
    return changes


def _department_change(form, bulk: bool) -> Tuple[bool, Any]:
    """(whether to set the department, its id or None for none) from the edit form."""
    if (bulk and form.get("set_department") != "1") or (not bulk and "department" not in form):
        return False, None
    chosen = form.get("department", "").strip()
    try:
        return True, departments.get(chosen).id if chosen else None
    except departments.DepartmentError as exc:
        raise Refused({"department": str(exc)}) from exc


def _edit(numbers: List[str], form, bulk: bool) -> Tuple[int, Dict[str, str]]:
    """The edit form applied to the extensions ``numbers``: (how many were saved, {}),
    or (0, the form's errors) when nothing was saved."""
    try:
        set_department, department = _department_change(form, bulk)
        barred = call_barring.barred_in_form(form, bulk)
        if set_department and bulk and not any(form.get(k) == "1" for k in form.keys()
                                               if k.startswith("set_") and k != "set_department"):
            return departments.assign(numbers, department), {}
        count = accounts.edit(numbers, **_extension_changes(form, bulk, barred is not None))
        if barred is not None:
            barring.bar_extensions(numbers, barred)
        if set_department:
            departments.assign(numbers, department)
        return count, {}
    except call_barring.BarringRefused as exc:
        return 0, {"barred": str(exc)}
    except Refused as exc:
        return 0, exc.errors
    except (accounts.AccountError, departments.DepartmentError, barring.BarringError) as exc:
        return 0, {"form": str(exc)}


def edit_extension(ui: WebCore):
    request, source, ext = _one_extension(ui)
    errors: Dict[str, str] = {}
    form: Any = None
    if request.method == "POST":
        form = source
        plan, errors = plans.extension_choice(source)  # checked before anything is saved
        if not errors:
            _count, errors = _edit([ext.number], source, bulk=False)
        if not errors:
            refused = plans.save_extension_choice(ext.number, plan)
            ui.flash(refused or _("Extension {number} saved.").format(number=ext.number),
                     "error" if refused else "ok")
            bottle.redirect("/extensions")
    if form is None:
        form = {"name": ext.name, "billing_enabled": "1" if ext.billing_enabled else "",
                "credit": localefmt.plain(ext.credit, settings.get("currency")), "status": ext.status,
                "payment_type": ext.payment_type,
                "low_threshold": _threshold_text(ext.number),
                "account_billing": "1" if accounts.get_extension(ext.number).account_billing else "",
                "department": str(accounts.get_extension(ext.number).department_id or ""),
                "barred": barring.of_extension(ext.number)}
    return ui.render("ext_edit.tpl", http_status=400 if errors else 200,
                     title=_("Edit {number}").format(number=ext.number), ext=ext, errors=errors, form=form,
                     default_threshold=settings.get("low_balance_threshold"),
                     plan_field=plans.extension_field(ext.id, form),
                     **call_barring.template_values())


def _threshold_text(number: str) -> str:
    own = accounts.get_extension(number).low_balance_threshold
    return "" if own is None else localefmt.plain(own, settings.get("currency"))


def adjust_balance(ui: WebCore):
    """Correct one extension's balance up or down, with a reason (a mistyped recharge,
    a refund); it shows in the Recharge History, and is not a recharge.  Like Recharge,
    a review of the balance before and after comes before it is done."""
    request, source, ext = _one_extension(ui)
    errors: Dict[str, str] = {}
    form = {"amount": source.get("amount", ""), "reason": source.get("reason", "")}
    if request.method == "POST":
        try:
            change = localefmt.parse_amount(form["amount"], settings.get("currency"),
                                            allow_negative=True, allow_zero=False)
        except money.AmountError as exc:
            errors["amount"] = str(exc)
        if not form["reason"].strip():
            errors["reason"] = _("Say why (it is kept with the adjustment).")
        step = source.get("step", "")
        if not errors and step not in ("confirm", "change"):
            return ui.render("adjust_confirm.tpl",
                             title=_("Confirm Adjustment of {number}").format(number=ext.number),
                             ext=ext, change=change, reason=form["reason"].strip(),
                             form_page="/extensions/adjust?" + urlencode({"n": ext.number}))
        if not errors and step == "confirm":
            try:
                entry = accounts.adjust(ext.number, change, form["reason"], operator=_operator(ui))
            except accounts.AccountError as exc:
                errors["form"] = str(exc)
            else:
                currency = settings.get("currency")
                ui.flash(_("Balance of {number} adjusted by {change}: now {balance}.").format(
                    number=ext.number, change=money.format_amount(change, currency),
                    balance=money.format_amount(entry.balance_after, currency)))
                is_account = accounts.get_extension(ext.number).kind == "account"
                bottle.redirect("/accounts" if is_account else "/extensions")
    return ui.render("adjust.tpl", http_status=400 if errors else 200,
                     title=_("Adjust {number}").format(number=ext.number), ext=ext, errors=errors, form=form)


ROUTES: List[Route] = [
    ("/extensions", "GET", auth.BILLING, extension_list),
    ("/extensions/recharge", ["GET", "POST"], auth.BILLING, recharge),
    ("/extensions/bulk-edit", ["GET", "POST"], auth.BILLING, bulk_edit),
    ("/extensions/edit", ["GET", "POST"], auth.BILLING, edit_extension),
    ("/extensions/adjust", ["GET", "POST"], auth.BILLING, adjust_balance),
]
