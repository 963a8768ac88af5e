"""The add-on's web UI: ``make_app(cfg, activation=None) -> bottle.Bottle``.

Two areas, separated by role:

* ``/admin/...`` - what the PBX shows under Addons -> Billing: Settings (Activate
  Billing switch, System Information, billing.ac download, license upload) and the
  Billing Manager (``bill-xxx`` users).  Only the administrator (role ``admin``).
* everything else - the billing user's pages named as in the manual: Extensions, Rate,
  Recharge History, Call Log, Statistics, Departments, Settings.  Only billing users, and
  only while the activation allows it (trial running or licensed, billing activated);
  auditors only look, department managers use a few of them (``roles.py``).

Every POST needs the session's CSRF token; every response carries the security headers
(``SECURITY_HEADERS``); bodies larger than ``[web] max_upload_kb`` are refused before
they are read.  The activation object (``hwlicense.activation.Activation`` or a stand-in
with the same methods) is injected, so tests control trial and license.

This module is the application: the Bottle app with its headers, and the route table.
Each page module lists its own routes as ``ROUTES`` (path, methods, role, handler);
``PAGES`` puts them in the order Bottle tries them.  What every page shares (sessions,
guards, rendering, error pages) is ``core.WebCore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List
from urllib.parse import urlsplit, urlunsplit

import bottle

from billing_addon import sites, store

from . import (
    account,
    admin,
    api,
    api_tokens,
    billing_settings,
    call_barring,
    call_log,
    departments,
    extensions,
    pin_accounts,
    plans,
    rates,
    recharge_history,
    rerate,
    signin,
    statistics,
    statistics_export,
    stays,
)
from .core import ANYONE, Route, WebCore

STATIC = str(Path(__file__).resolve().parent / "static")

SECURITY_HEADERS = [
    ("Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
]

ERROR_CODES = (400, 401, 403, 404, 405, 413, 500)  # shown as the layout's error page


def _relative(location: str) -> str:
    """A redirect's target without scheme and host: bottle makes it absolute from the
    request's Host header, which the client chose.  The UI only redirects within itself."""
    parts = urlsplit(location)
    path = "/" + parts.path.lstrip("/\\")  # never "//host" or "/\\host": another site
    return urlunsplit(("", "", path, parts.query, parts.fragment))


class BillingWeb(bottle.Bottle):
    """A Bottle app that adds the security headers to every response it sends,
    including redirects, errors and static files, and makes redirects relative."""

    def wsgi(self, environ, start_response):
        def with_headers(status, headers, exc_info=None):
            headers = [(name, _relative(value) if name.lower() == "location" else value)
                       for name, value in headers]
            names = {name.lower() for name, _ in headers}
            headers += [h for h in SECURITY_HEADERS if h[0].lower() not in names]
            if "cache-control" not in names:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return super().wsgi(environ, with_headers)


def static(ui: WebCore, name: str):
    response = bottle.static_file(name, root=STATIC)
    if isinstance(response, bottle.HTTPResponse) and response.status_code == 200:
        response.set_header("Cache-Control", "max-age=3600")
    return response


ROUTES: List[Route] = [
    ("/static/<name:path>", "GET", ANYONE, static),
]

# The route table, in the order Bottle tries the routes: the static files, the way in
# and out, the billing user's pages in the order of the menu, then the administrator's.
PAGES = (signin, extensions, stays, pin_accounts, rates, rerate, call_barring, recharge_history,
         call_log, statistics, statistics_export, departments, billing_settings, account, admin,
         plans, api_tokens)


def route_table() -> List[Route]:
    """Every route of the web UI as (path, methods, role, handler), in order."""
    table = list(ROUTES)
    for page in PAGES:
        table += page.ROUTES
    return table


def _default_activation(cfg):
    """The real activation of the configured board (None when licensing is missing)."""
    try:
        from hwlicense.activation import Activation
        from hwlicense.board import load_profile
    except ImportError:
        return None
    from billing_addon import __version__, usage

    board = cfg.get("box", "board") if cfg is not None else "demo"
    root = (cfg.get("box", "board_root") or None) if cfg is not None else None
    database = store.db.database  # make_app opened it: the billing history is there
    return Activation(load_profile(board, root), addon_version=__version__,
                      earliest_use=usage.earliest_use(database) if database else None)


def make_app(cfg, activation=None) -> bottle.Bottle:
    """The web UI as a WSGI app.  Opens the store from ``cfg`` unless it is already
    open; ``activation`` defaults to the configured board's real activation."""
    if store.db.database is None and cfg is not None:
        from billing_addon.cli import database_path

        store.init_db(store.url_of(cfg), box_files=database_path(cfg))
    if cfg is not None:
        sites.set_current(cfg.get("store", "site"))
    if activation is None:
        activation = _default_activation(cfg)
    ui = WebCore(cfg, activation)
    app = BillingWeb()
    for path, methods, role, handler in route_table():
        app.route(path, methods, ui.callback(role, handler))
    for code in ERROR_CODES:
        app.error(code)(ui.error_handler)
    api.install(app, ui, cfg)  # the JSON API under /api/v1 (web/api, docs/api.md)
    app.billing_ui = ui  # type: ignore[attr-defined]
    return app
