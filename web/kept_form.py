"""A form that reaches the box after its session ended (left open past the idle timeout,
signed out in another tab, the account changed) is never carried out.  When its CSRF
token is that of a signed-in session that has ended (``SessionStore.ended_owner``), what
was typed, passwords excepted, is kept in this browser's session for that user only
(``auth.SavedForm``).  They are sent to sign in, or, already signed in again here, straight
back; the page the form was on then shows it filled in (``WebCore.render``, the layout and
``app.js``), and nothing happens until they press its button again.  Another user signing
in at that browser never sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional
from urllib.parse import quote, urlsplit

import bottle

from billing_addon.i18n import _

from . import auth

if TYPE_CHECKING:
    from .core import WebCore

# never kept: the token, and every password field of the pages (a test reads them all)
SECRET_FIELDS = frozenset({"csrf", "password", "current", "new", "again", "smtp_password",
                           "pin"})
# a review step's answer is never kept (the action needs a fresh confirmation), nor where
# the form asks to come back to
NOT_KEPT = SECRET_FIELDS | {"step", "form_page"}
MAX_CHARACTERS = 64 * 1024  # a larger form is kept empty (the user is still sent back)


def keep(ui: WebCore, owner: Optional[str]) -> None:
    """Keep the posted form for ``owner`` and redirect; returns when it cannot be kept
    (no owner; another user is signed in at this browser)."""
    if not owner:
        return
    session = ui.session(create=True)
    if session is None or (session.signed_in and session.username != owner):
        return
    request = bottle.request
    values = tuple((k, v) for k, v in request.forms.decode().allitems() if k not in NOT_KEPT)
    if sum(len(k) + len(v) for k, v in values) > MAX_CHARACTERS:
        values = ()
    page = form_page()
    session.saved_form = auth.SavedForm(owner, request.path, page, values)
    if session.signed_in:
        bottle.redirect(page)
    ui.flash(_("Your session ended before the form was sent: nothing was changed. "
               "Sign in again to get the form back as you filled it in."), "info")
    bottle.redirect("/login?next=" + quote(page, safe=""))


def form_page() -> str:
    """The page to come back to: the one a review step names (``form_page``: the review
    itself is a POST result, which a GET cannot show again), else the page the form was on
    (path and query, from the Referer), else the path it posted to."""
    request = bottle.request
    for candidate in (request.forms.get("form_page", ""), request.get_header("Referer", "")):
        page = urlsplit(candidate or "")
        if _local_page(page.path):
            return page.path + ("?" + page.query if page.query else "")
    return request.path


def _local_page(path: str) -> bool:
    return path.startswith("/") and not path.startswith(("//", "/\\")) and path != "/login"
