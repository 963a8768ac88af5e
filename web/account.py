"""The billing user's own account ("Your account", the link on their name in the page
header): the language of their pages and their password.  Sign-in and sign-out are in
``signin.py``."""

from __future__ import annotations

from typing import Dict, List

import bottle

from billing_addon import i18n, settings
from billing_addon.i18n import _

from . import auth
from .core import Route, WebCore, client_address, decoded


def _page(ui: WebCore, errors: Dict[str, str]):
    session = ui.session()
    assert session is not None and session.username
    return ui.render("account.tpl", http_status=400 if errors else 200, title=_("Your account"),
                     errors=errors, min_length=auth.MIN_PASSWORD, language_names=i18n.NAMES,
                     chosen=auth.user_locale(session.username) or "",
                     box_default=settings.get("language"))


def own_account(ui: WebCore):
    return _page(ui, {})


def own_language(ui: WebCore):
    """A billing user picks the language of their own pages (empty: the box's default)."""
    session = ui.session()
    assert session is not None and session.username
    chosen = decoded(bottle.request.forms).get("locale", "").strip()
    if chosen and chosen not in i18n.LOCALES:
        return _page(ui, {"locale": _("Choose one of the languages in the list.")})
    auth.set_locale(session.username, chosen or None)
    with i18n.using(chosen or settings.get("language")):  # the message in the new language
        ui.flash(_("Your language is saved."))
    bottle.redirect("/account/password")


def own_password(ui: WebCore):
    """A billing user changes their own password: the current one first (a session
    left open at the front desk must not be enough), then the new one twice."""
    if bottle.request.method != "POST":
        return _page(ui, {})
    errors: Dict[str, str] = {}
    session = ui.session()
    assert session is not None and session.username
    form = decoded(bottle.request.forms)
    current = form.get("current", "")[:auth.MAX_PASSWORD + 1]
    new, again = form.get("new", ""), form.get("again", "")
    address = client_address()
    wait = ui.throttle.blocked_for(session.username, address)
    if wait:
        errors["current"] = _("Too many wrong passwords. Try again in {seconds} seconds.").format(
            seconds=wait)
    elif auth.authenticate(session.username, current) is None:
        ui.throttle.failure(session.username, address)
        errors["current"] = _("This is not your current password.")
    elif new != again:
        errors["again"] = _("The two new passwords differ.")
    else:
        try:
            # checked here: set_password makes a random one for an empty value
            auth.set_password(session.username, auth.check_new_password(new))
        except auth.AuthError as exc:
            errors["new"] = str(exc)
    if errors:
        return _page(ui, errors)
    user = auth.get_user(session.username)
    assert user is not None
    ui.sessions.drop_user(session.username)  # other browsers sign in again
    ui.start_session(user).flashes.append(("ok", _("Your password is changed.")))
    bottle.redirect("/extensions")


ROUTES: List[Route] = [
    ("/account", "GET", auth.BILLING, own_account),
    ("/account/password", ["GET", "POST"], auth.BILLING, own_password),
    ("/account/language", "POST", auth.BILLING, own_language),
]
