"""The Accounts page (PIN billing): the list with its search, New Account, Edit (name,
payment type, credit, lock, a new PIN) and Delete.  Recharge and Adjust are the
Extensions page's own forms, which take an account's number like an extension's."""

from __future__ import annotations

from typing import Any, Dict, List

import bottle

from billing_addon import (
    accounts,
    departments,
    localefmt,
    money,
    pin_accounts,
    pins,
    reports,
    settings,
    sites,
    store,
)
from billing_addon.i18n import _

from . import auth, roles
from .core import Route, WebCore, decoded


def account_list(ui: WebCore):
    q = decoded(bottle.request.query)
    search = q.get("q", "")
    errors: Dict[str, str] = {}
    filters = {"dept": q.get("dept", "").strip()[:12]}
    try:  # the chosen department, within a manager's own
        shown = roles.narrowed(ui.scope(), filters["dept"])
    except departments.DepartmentError as exc:
        shown, errors["dept"] = [], str(exc)
    page = reports.extensions_page(number=search, page=q.get("page", 1), kind="account",
                                   departments=shown)
    return ui.render("accounts.tpl", http_status=400 if errors else 200, title=_("Accounts"),
                     page=page, search=search, filters=filters, errors=errors)


def _fields(form) -> Dict[str, Any]:
    """The form's name, payment type, credit and status as keyword arguments; the
    per-field messages of what is refused (``errors``)."""
    values: Dict[str, Any] = {"name": form.get("name", "").strip(),
                              "payment_type": form.get("payment_type", ""),
                              "status": form.get("status", "")}
    errors: Dict[str, str] = {}
    if len(values["name"]) > 80:
        errors["name"] = _("the name is at most 80 characters")
    if values["payment_type"] not in accounts.PAYMENT_TYPES:
        errors["payment_type"] = _("choose Prepaid or Postpaid")
    if values["status"] not in accounts.STATUSES:
        errors["status"] = _("choose Unlocked or Locked")
    try:
        values["credit"] = localefmt.parse_amount(form.get("credit", "") or "0",
                                                  settings.get("currency"))
    except money.AmountError as exc:
        errors["credit"] = str(exc)
    values["errors"] = errors
    return values


def _pin_error(pin: str) -> str:
    try:
        pins.check_format(pin)
    except pins.PinError as exc:
        return str(exc)
    return ""


def new_account(ui: WebCore):
    request = bottle.request
    form: Any = {"payment_type": "prepaid", "status": "unlocked", "credit": ""}
    errors: Dict[str, str] = {}
    if request.method == "POST":
        form = decoded(request.forms)
        values = _fields(form)
        errors = values.pop("errors")
        pin_problem = _pin_error(form.get("pin", ""))
        if pin_problem:
            errors["pin"] = pin_problem
        if not errors:
            try:
                pin_accounts.create(form.get("number", ""), form.get("pin", ""),
                                    all_sites=form.get("sites") == "all", **values)
            except accounts.AccountError as exc:
                errors["form"] = str(exc)
            else:
                ui.flash(_("Account {number} created.").format(number=form.get("number", "").strip()))
                bottle.redirect("/accounts")
    return ui.render("account_form.tpl", http_status=400 if errors else 200,
                     title=_("New Account"), account=None, form=form, errors=errors,
                     pin_length=pins.pin_length())


def _the_account(ui: WebCore, number: str):
    try:
        return pin_accounts.get_account(number)
    except accounts.AccountError:
        raise ui.error_page(404, _("There is no such account.")) from None


def edit_account(ui: WebCore):
    request = bottle.request
    source = decoded(request.forms if request.method == "POST" else request.query)
    account = _the_account(ui, source.get("n", ""))
    errors: Dict[str, str] = {}
    form: Any = source
    if request.method == "POST":
        values = _fields(source)
        errors = values.pop("errors")
        pin = source.get("pin", "")
        if pin:  # empty: the PIN stays as it is
            pin_problem = _pin_error(pin)
            if pin_problem:
                errors["pin"] = pin_problem
        if not errors:
            try:
                with store.money_txn():  # all or nothing
                    if pin:
                        pin_accounts.set_pin(account.number, pin)
                    if sites.current():  # the form offers "all sites / this site"
                        pin_accounts.set_all_sites(account.number, source.get("sites") == "all")
                    accounts.edit([account.number], **values)
            except accounts.AccountError as exc:
                errors["form"] = str(exc)
            else:
                ui.flash(_("Account {number} saved.").format(number=account.number))
                bottle.redirect("/accounts")
    else:
        form = {"name": account.name, "payment_type": account.payment_type,
                "status": account.status, "sites": "" if account.site else "all",
                "credit": localefmt.plain(account.credit, settings.get("currency"))}
    return ui.render("account_form.tpl", http_status=400 if errors else 200,
                     title=_("Edit account {number}").format(number=account.number),
                     account=account, form=form, errors=errors, pin_length=pins.pin_length())


def delete_account(ui: WebCore):
    number = decoded(bottle.request.forms).get("n", "")
    try:
        pin_accounts.delete(number)
    except accounts.AccountError as exc:
        ui.flash(str(exc), "error")
    else:
        ui.flash(_("Account {number} deleted.").format(number=number))
    bottle.redirect("/accounts")


ROUTES: List[Route] = [
    ("/accounts", "GET", auth.BILLING, account_list),
    ("/accounts/new", ["GET", "POST"], auth.BILLING, new_account),
    ("/accounts/edit", ["GET", "POST"], auth.BILLING, edit_account),
    ("/accounts/delete", "POST", auth.BILLING, delete_account),
]
