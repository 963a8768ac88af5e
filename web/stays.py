"""The Stays page: guests checked in, check-in and check-out of one extension (row actions
of the Extensions page), and the statements issued at check-out, each with a printable
page and its PDF and xlsx files (``billing_addon.statement_files``)."""

from __future__ import annotations

import datetime as dt
from typing import Dict, List, Optional
from zoneinfo import ZoneInfo

import bottle

from billing_addon import accounts, calls, localefmt, money, settings, statement_files, statements, stays
from billing_addon.digits import whole_number
from billing_addon.errors import Refusal
from billing_addon.i18n import N_, _

from . import auth
from .core import Route, WebCore, decoded

# a call's status as stored, shown on the statement page in the user's language
CALL_STATUSES = (N_("charged"), N_("unrated"), N_("expired"), N_("denied"), N_("in-progress"))


def stay_list(ui: WebCore):
    return ui.render("stays.tpl", title=_("Stays"), open_stays=stays.listing(open_only=True),
                     issued=statements.listing(limit=200))


def _extension(ui: WebCore):
    request = bottle.request
    source = decoded(request.forms if request.method == "POST" else request.query)
    try:
        ext = accounts.get_extension(source.get("n", ""))
    except accounts.AccountError:
        raise ui.error_page(404, _("There is no such extension.")) from None
    return request, source, ext


def _operator(ui: WebCore) -> str:
    session = ui.session()
    return session.username if session else ""


def _optional_amount(text: str, errors: Dict[str, str], field: str) -> Optional[int]:
    if not (text or "").strip():
        return None
    try:
        return localefmt.parse_amount(text, settings.get("currency"))
    except money.AmountError as exc:
        errors[field] = str(exc)
        return None


def check_in(ui: WebCore):
    """The form (guest, deposit, credit), a review, then the check-in."""
    request, source, ext = _extension(ui)
    stay = stays.open_stay(ext)
    if stay is not None:
        ui.flash(_("Extension {number} is checked in for {guest}: check it out first.").format(
            number=ext.number, guest=stay.guest), "error")
        bottle.redirect("/stays")
    form = {k: source.get(k, "") for k in ("guest", "deposit", "credit")}
    errors: Dict[str, str] = {}
    if request.method == "POST":
        if not form["guest"].strip():
            errors["guest"] = _("Type the guest's name.")
        elif len(form["guest"].strip()) > 80:
            errors["guest"] = _("The guest's name is at most 80 characters.")
        deposit = _optional_amount(form["deposit"], errors, "deposit") or 0
        credit = _optional_amount(form["credit"], errors, "credit")
        step = source.get("step", "")
        if not errors and step not in ("confirm", "change"):
            return ui.render("checkin_confirm.tpl",
                             title=_("Confirm Check-in of {number}").format(number=ext.number),
                             ext=ext, guest=form["guest"].strip(), deposit=deposit, credit=credit)
        if not errors and step == "confirm":
            try:
                stays.check_in(ext.number, form["guest"], deposit=deposit, credit=credit,
                               operator=_operator(ui))
            except Refusal as exc:  # nothing was done (a stay, an account, a statement)
                errors["form"] = str(exc)
            else:
                ui.flash(_("Extension {number} checked in for {guest}.").format(
                    number=ext.number, guest=form["guest"].strip()))
                bottle.redirect("/stays")
    return ui.render("checkin.tpl", http_status=400 if errors else 200,
                     title=_("Check in {number}").format(number=ext.number), ext=ext, form=form,
                     errors=errors)


def check_out(ui: WebCore):
    """What the stay comes to so far and the payment; a review; then the statement."""
    request, source, ext = _extension(ui)
    stay = stays.open_stay(ext)
    if stay is None:
        ui.flash(_("Extension {number} is not checked in.").format(number=ext.number), "error")
        bottle.redirect("/stays")
    assert stay is not None  # bottle.redirect raised otherwise
    errors: Dict[str, str] = {}
    payment_text = source.get("payment", "")
    preview = statements.snapshot(ext, stay.checkin_utc, stays_end(), guest=stay.guest)
    # released calls no settle charged yet: check-out waits, or the desk closes them
    unknown = len(calls.released_unsettled(ext.id, stay.checkin_utc))
    close_unknown = bool(unknown) and source.get("close_unknown", "") == "1"
    payment = 0
    if request.method == "POST":
        payment = _optional_amount(payment_text, errors, "payment") or 0
        owed = max(0, -ext.balance)
        if not errors and payment > owed:
            owed_text = money.format_amount(owed, settings.get("currency"))
            errors["payment"] = _("That is more than is owed ({owed}).").format(owed=owed_text)
        if not errors and preview["in_progress"]:
            errors["form"] = _("Extension {number} has {count} call(s) in progress: check out "
                               "when they have ended.").format(number=ext.number,
                                                               count=preview["in_progress"])
        if not errors and unknown and not close_unknown:
            errors["close_unknown"] = _("Close them as not charged, or check out later.")
        step = source.get("step", "")
        if not errors and step == "confirm":
            try:
                seen = source.get("unknown_seen", "")
                snap = stays.check_out(ext.number, payment=payment, operator=_operator(ui),
                                       close_unknown=close_unknown,
                                       unknown_seen=int(seen) if whole_number(seen)
                                       and len(seen) < 7 else -1)
            except Refusal as exc:  # nothing was done (a stay, an account, a statement)
                errors["form"] = str(exc)
            else:
                ui.flash(_("Extension {number} checked out: statement {statement}.").format(
                    number=ext.number, statement=snap["number"]))
                bottle.redirect(f"/statements/{snap['number']}")
        if not errors and step != "change":
            return ui.render("checkout_confirm.tpl",
                             title=_("Confirm Check-out of {number}").format(number=ext.number),
                             ext=ext, stay=stay, payment=payment, preview=preview,
                             after_status=settings.get("checkout_status").capitalize(),
                             unknown=unknown, close_unknown=close_unknown)
    return ui.render("checkout.tpl", http_status=400 if errors else 200,
                     title=_("Check out {number}").format(number=ext.number), ext=ext, stay=stay,
                     preview=preview, payment=payment_text, errors=errors, owed=max(0, -ext.balance),
                     unknown=unknown, close_unknown=close_unknown)


def _local_time(text: str) -> Optional[int]:
    """A datetime-local field ('YYYY-MM-DDTHH:MM', the box's zone) as a UTC epoch."""
    try:
        local = dt.datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return int(local.replace(tzinfo=settings.zone()).timestamp())


def issue_statement(ui: WebCore):
    """A statement of any period of one extension (no money moves: no review step)."""
    form = decoded(bottle.request.forms)
    start, end = _local_time(form.get("from", "")), _local_time(form.get("to", ""))
    try:
        if start is None or end is None:
            raise statements.StatementError(_("give the period's start and end (date and time)"))
        snap = statements.issue_period(form.get("n", ""), start, end)
    except (statements.StatementError, accounts.AccountError) as exc:
        ui.flash(_("No statement issued: {reason}.").format(reason=exc), "error")
        bottle.redirect("/stays")
    ui.flash(_("Statement {number} issued.").format(number=snap["number"]))
    bottle.redirect(f"/statements/{snap['number']}")


def stays_end() -> int:
    """The end of a stay's period were it checked out now (as check_out sets it)."""
    from billing_addon.store import now_utc

    return now_utc() + 1


def statement_page(ui: WebCore, number: str):
    try:
        snap = statements.load(number)
    except statements.StatementError:
        raise ui.error_page(404, _("There is no such statement.")) from None
    zone = ZoneInfo(snap["zone"])
    return ui.render("statement.tpl", title=f"Statement {snap['number']}", s=snap,
                     at=lambda ts: localefmt.datetime(localefmt.from_epoch(ts), zone, seconds=False),
                     sfmt=lambda units: localefmt.amount(units, snap["currency"]),
                     note=statement_files.entry_note)


def _statement_file(ui: WebCore, number: str, kind: str):
    """The statement's PDF or xlsx, made from its stored snapshot (statement_files)."""
    try:
        snap = statements.load(number)
    except statements.StatementError:
        raise ui.error_page(404, _("There is no such statement.")) from None
    body = statement_files.to_pdf(snap) if kind == "pdf" else statement_files.to_xlsx(snap)
    types = {"pdf": "application/pdf",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    return bottle.HTTPResponse(body, headers={
        "Content-Type": types[kind],
        "Content-Disposition": f'attachment; filename="{snap["number"]}.{kind}"'})


def statement_pdf(ui: WebCore, number: str):
    return _statement_file(ui, number, "pdf")


def statement_xlsx(ui: WebCore, number: str):
    return _statement_file(ui, number, "xlsx")


ROUTES: List[Route] = [
    ("/stays", "GET", auth.BILLING, stay_list),
    ("/stays/check-in", ["GET", "POST"], auth.BILLING, check_in),
    ("/stays/check-out", ["GET", "POST"], auth.BILLING, check_out),
    ("/statements/issue", "POST", auth.BILLING, issue_statement),
    (r"/statements/<number:re:S-\d+>.pdf", "GET", auth.BILLING, statement_pdf),
    (r"/statements/<number:re:S-\d+>.xlsx", "GET", auth.BILLING, statement_xlsx),
    (r"/statements/<number:re:S-\d+>", "GET", auth.BILLING, statement_page),
]
