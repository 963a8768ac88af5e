"""The Settings page of the billing user: currency, time zone, what happens to a call
no rate matches, and the low-balance alerts with their SMTP server
(``billing_addon.settings`` checks and keeps them; the password is never shown back)."""

from __future__ import annotations

from typing import Dict, List

import bottle

from billing_addon import i18n, localefmt, lowbalance, money, settings
from billing_addon.i18n import _

from . import auth
from .core import Route, WebCore, currency_label, decoded


def billing_settings(ui: WebCore):
    errors: Dict[str, str] = {}
    values = settings.get_all()
    if bottle.request.method == "POST":
        form = decoded(bottle.request.forms)
        wanted = {"currency": form.get("currency", ""), "timezone": form.get("timezone", ""),
                  "language": form.get("language", values["language"]),
                  "unrated_policy": form.get("unrated_policy", values["unrated_policy"])}
        for key in ("hotel_name", "hotel_address", "checkout_status"):  # for statements
            wanted[key] = form.get(key, values[key])
        if "pin_length" in form:  # PIN accounts
            wanted["pin_length"] = form.get("pin_length", "")
        for key in MAIL_KEYS:
            if key in form:
                wanted[key] = form.get(key, "")
        # an empty password field keeps the one stored; the box clears it
        if form.get("smtp_password"):
            wanted["smtp_password"] = form.get("smtp_password", "")
        elif form.get("clear_password") == "1":
            wanted["smtp_password"] = ""
        elif settings.get("smtp_password") and any(
                key in wanted and wanted[key] != values[key] for key in SERVER_KEYS):
            # kept, it would go to a server (or a user) that whoever changed them chose
            errors["smtp_password"] = _("The mail server changed: type its password again, "
                                        "or clear it.")
        typed = wanted.get("low_balance_threshold", "").strip()
        if typed:  # typed with the user's decimal mark, kept with a point
            try:
                wanted["low_balance_threshold"] = money.to_decimal_string(
                    localefmt.parse_amount(typed, values["currency"]))
            except money.AmountError as exc:
                errors["low_balance_threshold"] = str(exc)
        for key, value in wanted.items():
            if key in errors:
                continue
            try:
                settings.OPTIONS[key].check(value)
            except settings.SettingError as exc:
                errors[key] = str(exc)
        if not errors:
            for key, value in wanted.items():
                settings.put(key, value)
            ui.flash(_("Settings saved."))
            bottle.redirect("/settings")
        values.update(wanted)
        values["smtp_password"] = ""
        if typed:
            values["low_balance_threshold"] = typed
    elif values["low_balance_threshold"]:
        values["low_balance_threshold"] = localefmt.plain(
            settings.threshold_units(values["low_balance_threshold"]) or 0, values["currency"])
    return ui.render("settings.tpl", http_status=400 if errors else 200, title=_("Settings"),
                     values=values, errors=errors,
                     currencies={code: currency_label(code) for code in money.CURRENCIES},
                     language_names=i18n.NAMES,
                     password_set=bool(settings.get("smtp_password")),
                     mail_failures=lowbalance.failures())


MAIL_KEYS = ("low_balance_threshold", "alert_emails", "smtp_host", "smtp_port",
             "smtp_security", "smtp_user", "smtp_from")
# where the stored password goes: changing one of them asks for the password again
SERVER_KEYS = ("smtp_host", "smtp_port", "smtp_security", "smtp_user")


def test_mail(ui: WebCore):
    """Send a test e-mail to the alert addresses now, with the saved SMTP settings."""
    recipients = settings.get("alert_emails")
    try:
        lowbalance.send(recipients, "Billing add-on: test e-mail",
                        "This is a test e-mail from the billing add-on's Settings page.")
    except lowbalance.MailError as exc:
        ui.flash(_("The test e-mail was not sent: {reason}").format(reason=exc), "error")
    else:
        ui.flash(_("Test e-mail sent to {recipients}.").format(recipients=recipients))
    bottle.redirect("/settings")


ROUTES: List[Route] = [
    ("/settings", ["GET", "POST"], auth.BILLING, billing_settings),
    ("/settings/test-mail", "POST", auth.BILLING, test_mail),
]
