"""The billing user's own account: changing their own password (the link on their name
in the page header).  Sign-in and sign-out are in ``signin.py``."""

from __future__ import annotations

from typing import Dict, List

import bottle

from . import auth
from .core import Route, WebCore, client_address, decoded


def own_password(ui: WebCore):
    """A billing user changes their own password: the current one first (a session
    left open at the front desk must not be enough), then the new one twice."""
    errors: Dict[str, str] = {}
    session = ui.session()
    assert session is not None and session.username
    if bottle.request.method == "POST":
        form = decoded(bottle.request.forms)
        current = form.get("current", "")[:auth.MAX_PASSWORD + 1]
        new, again = form.get("new", ""), form.get("again", "")
        address = client_address()
        wait = ui.throttle.blocked_for(session.username, address)
        if wait:
            errors["current"] = f"Too many wrong passwords. Try again in {wait} seconds."
        elif auth.authenticate(session.username, current) is None:
            ui.throttle.failure(session.username, address)
            errors["current"] = "This is not your current password."
        elif new != again:
            errors["again"] = "The two new passwords differ."
        else:
            try:
                # checked here: set_password makes a random one for an empty value
                auth.set_password(session.username, auth.check_new_password(new))
            except auth.AuthError as exc:
                errors["new"] = str(exc)
        if not errors:
            user = auth.get_user(session.username)
            assert user is not None
            ui.sessions.drop_user(session.username)  # other browsers sign in again
            ui.start_session(user).flashes.append(("ok", "Your password is changed."))
            bottle.redirect("/extensions")
    return ui.render("own_password.tpl", http_status=400 if errors else 200,
                     title="Change Password", errors=errors, min_length=auth.MIN_PASSWORD)


ROUTES: List[Route] = [
    ("/account/password", ["GET", "POST"], auth.BILLING, own_password),
]
