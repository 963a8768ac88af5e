"""The way in and out: the start page (to the signed-in user's area or to sign-in),
sign-in with its throttle and the activation's gate for billing users, and sign-out."""

from __future__ import annotations

from typing import Dict, List, Optional

import bottle

from billing_addon.i18n import _

from . import auth
from .core import ANYONE, Route, WebCore, client_address, decoded


def home(ui: WebCore):
    session = ui.session()
    if session and session.signed_in:
        bottle.redirect("/admin/settings" if session.role == auth.ADMIN else "/extensions")
    bottle.redirect("/login")


def login_form(ui: WebCore, errors: Optional[Dict[str, str]] = None, username: str = "", status: int = 200):
    session = ui.session(create=True)
    if session and session.signed_in:
        return home(ui)
    return ui.render("login.tpl", http_status=status, title=_("Sign in"), errors=errors or {},
                     username=username, admin_exists=auth.admin_exists(),
                     next=decoded(bottle.request.query).get("next", ""))


def login(ui: WebCore):
    form = decoded(bottle.request.forms)
    username = form.get("username", "").strip()[:64]
    password = form.get("password", "")[:auth.MAX_PASSWORD + 1]
    address = client_address()
    wait = ui.throttle.blocked_for(username, address)
    if wait:
        return login_form(ui, {"form": _("Too many failed sign-ins. Try again in {seconds} seconds.").format(
            seconds=wait)},
                          username, 429)
    user = auth.authenticate(username, password)
    if user is None:
        ui.throttle.failure(username, address)
        return login_form(ui, {"form": _("Wrong user name or password.")}, username, 401)
    if user.role in auth.BILLING_ROLES:
        allowed, reason = ui.activation_cache.may_sign_in()
        if not allowed:
            return login_form(ui, {"form": reason}, username, 403)
    ui.throttle.success(username, address)
    old = ui.session()
    if old is not None:
        ui.sessions.drop(old.id)
    session = ui.start_session(user)
    saved = old.saved_form if old is not None else None
    if saved is not None and saved.owner == user.username:  # never to another user
        session.saved_form = saved
    target = form.get("next", "")
    home_page = "/admin/settings" if user.role == auth.ADMIN else "/extensions"
    if not (target.startswith("/") and not target.startswith(("//", "/\\"))) or \
            target.startswith("/admin") != (user.role == auth.ADMIN):
        target = home_page
    bottle.redirect(target)


def logout(ui: WebCore):
    session = ui.session()
    if session is not None:
        ui.sessions.drop(session.id)
    bottle.request.environ["billing.session"] = None
    ui.clear_cookie()
    fresh = ui.sessions.new()
    fresh.flashes.append(("ok", _("You are signed out.")))
    bottle.request.environ["billing.session"] = fresh
    ui.set_cookie(fresh)
    bottle.redirect("/login")


ROUTES: List[Route] = [
    ("/", "GET", ANYONE, home),
    ("/login", "GET", ANYONE, login_form),
    ("/login", "POST", ANYONE, login),
    ("/logout", "POST", ANYONE, logout),
]
