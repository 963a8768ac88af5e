"""The API Tokens page of the billing user: the tokens of the JSON API (docs/api.md)
with their role, departments and last use, a form making one (its secret shown once,
on the page that answers the form, never again), and Revoke."""

from __future__ import annotations

from typing import Dict, List, Optional

import bottle

from billing_addon import api_tokens, departments
from billing_addon.errors import Refusal
from billing_addon.i18n import _

from . import auth, roles
from .core import Route, WebCore, decoded


def token_list(ui: WebCore, errors: Optional[Dict[str, str]] = None, form=None,
               made: Optional[api_tokens.Token] = None, secret: str = ""):
    return ui.render("api_tokens.tpl", http_status=400 if errors else 200, title=_("API Tokens"),
                     tokens=api_tokens.listed(), errors=errors or {},
                     form=form or {"name": "", "role": api_tokens.BILLING, "departments": []},
                     role_labels=roles.ROLE_LABELS, all_departments=departments.choices(),
                     made=made, secret=secret)


def token_create(ui: WebCore):
    source = decoded(bottle.request.forms)
    form = {"name": source.get("name", "")[:200], "role": source.get("role", ""),
            "departments": source.getall("departments")}
    session = ui.session()
    try:
        made, secret = api_tokens.create(form["name"], form["role"], form["departments"],
                                         created_by=session.username if session else "")
    except Refusal as exc:
        return token_list(ui, {"form": str(exc)}, form)
    return token_list(ui, made=made, secret=secret)


def token_revoke(ui: WebCore, token_id: int):
    try:
        token = api_tokens.revoke(token_id)
    except api_tokens.TokenError as exc:
        raise ui.error_page(404, str(exc)) from exc
    ui.flash(_("Token {name} revoked: it is refused from now on.").format(name=token.name))
    bottle.redirect("/api-tokens")


ROUTES: List[Route] = [
    ("/api-tokens", "GET", auth.BILLING, token_list),
    ("/api-tokens", "POST", auth.BILLING, token_create),
    ("/api-tokens/<token_id:int>/revoke", "POST", auth.BILLING, token_revoke),
]
