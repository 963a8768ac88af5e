"""The web UI's core: what every page shares.  ``WebCore`` holds the sessions (and their
cookie), the flash messages, the rendering of a template with the layout's context, the
error pages and the guard of every route (on POST the size limit and the CSRF token,
then the role).  A form that arrives after its session ended is not done but kept for
its user, who gets it back filled in after signing in (``kept_form``).  Page handlers
are functions ``handler(ui: WebCore, **url_args)``; each page module lists its routes
as ``ROUTES`` of ``Route`` (see ``app.py``)."""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

import bottle

from billing_addon import departments, i18n, localefmt, money, settings, sites, store

from . import auth, kept_form, roles, site_filter
from .activation_cache import ActivationCache

VIEWS = str(Path(__file__).resolve().parent / "views")
# one list for every render: bottle caches a compiled template under the id() of the
# lookup list, so a new list per call recompiled the page and its includes each time
# (about half of a page's time) and grew bottle's cache without bound
TEMPLATE_LOOKUP = [VIEWS]
COOKIE = "billing_session"

BILLING_MENU = [("/extensions", i18n.N_("Extensions")), ("/stays", i18n.N_("Stays")),
                ("/accounts", i18n.N_("Accounts")),
                ("/rates", i18n.N_("Rate")), ("/recharges", i18n.N_("Recharge History")),
                ("/calls", i18n.N_("Call Log")), ("/statistics", i18n.N_("Statistics")),
                ("/plans", i18n.N_("Calling Plans")), ("/departments", i18n.N_("Departments")),
                ("/settings", i18n.N_("Settings")), ("/api-tokens", i18n.N_("API Tokens"))]
ADMIN_MENU = [("/admin/settings", i18n.N_("Settings")), ("/admin/users", i18n.N_("Billing Manager"))]
# bottle's reason phrases, the titles of the error pages: marked here, error.tpl shows
# them in the user's language
STATUS_TITLES = (i18n.N_("Bad Request"), i18n.N_("Unauthorized"), i18n.N_("Forbidden"),
                 i18n.N_("Not Found"), i18n.N_("Method Not Allowed"), i18n.N_("Length Required"),
                 i18n.N_("Request Entity Too Large"), i18n.N_("Too Many Requests"),
                 i18n.N_("Internal Server Error"), i18n.N_("Service Unavailable"), i18n.N_("Error"))

ANYONE: Optional[str] = None  # the role of a route open to all (a POST still needs the CSRF token)
Handler = Callable[..., Any]  # handler(ui, **url_args) -> body
Route = Tuple[str, Union[str, List[str]], Optional[str], Handler]  # (path, methods, role, handler)


# a change written to a damaged file would be lost when the backup is restored
DAMAGED_MESSAGE = i18n.N_("The billing database is damaged: nothing can be changed until it is "
                          "restored from a backup (the administrator's Settings page and the "
                          "manual, On the box, Recovery). Nothing was changed.")


def decoded(forms) -> bottle.FormsDict:
    """Form or query values as proper text on bottle 0.12 and 0.13 alike."""
    return forms.decode()


def client_address() -> str:
    return bottle.request.environ.get("REMOTE_ADDR") or "?"


def fmt_duration(seconds: Optional[int]) -> str:
    if seconds is None:
        return ""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def currency_label(code: str) -> str:
    """A currency as the header and the Settings picker show it: the code and its sign,
    and for "Other" a word of the user's language (money, the pure core, cannot translate)."""
    currency = money.CURRENCIES.get(code, money.CURRENCIES["OTHER"])
    return i18n._("Other (¤)") if currency.code == "OTHER" else currency.label


class WebCore:
    """Per-request context of the pages; one instance per ``make_app``."""

    def __init__(self, cfg, activation):
        web = cfg.section("web") if cfg is not None else {}
        self.activation = activation
        self.activation_cache = ActivationCache(activation)
        self.max_upload = int(web.get("max_upload_kb", 2048)) * 1024
        self.sessions = auth.SessionStore(int(web.get("session_minutes", 30)) * 60)
        self.throttle = auth.Throttle()

    def forget_activation(self) -> None:
        """After the activation changed: ask it again on the next request."""
        self.activation_cache.forget()

    # -- sessions --------------------------------------------------------------------

    def session(self, create: bool = False) -> Optional[auth.Session]:
        env = bottle.request.environ
        if env.get("billing.session") is not None or ("billing.session" in env and not create):
            return env["billing.session"]
        session = self.sessions.get(bottle.request.get_cookie(COOKIE))
        if session is None and create:
            session = self.sessions.new()
            self.set_cookie(session)
        env["billing.session"] = session
        return session

    def start_session(self, user) -> auth.Session:
        """A new signed-in session for ``user``, tied to their password, as the cookie."""
        session = self.sessions.new()
        session.username, session.role, session.tag = user.username, user.role, auth.password_tag(user)
        bottle.request.environ["billing.session"] = session
        self.set_cookie(session)
        return session

    def set_cookie(self, session: auth.Session) -> None:
        # the server's scheme: waitress sets it from X-Forwarded-Proto only for the
        # configured [web] trusted_proxy (bottle's urlparts would believe anyone)
        secure = "; Secure" if bottle.request.environ.get("wsgi.url_scheme") == "https" else ""
        bottle.response.add_header(
            "Set-Cookie", f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Strict; "
                          f"Max-Age={self.sessions.max_age}{secure}")

    @staticmethod
    def clear_cookie() -> None:
        bottle.response.add_header("Set-Cookie", f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")

    def flash(self, message: str, kind: str = "ok") -> None:
        session = self.session(create=True)
        if session is not None:
            session.flashes.append((kind, message))

    # -- rendering -------------------------------------------------------------------

    def render(self, name: str, http_status: int = 200, **values: Any) -> str:
        session = self.session()
        role = session.role if session and session.signed_in else ""
        currency = settings.get("currency") if store.db.database else money.DEFAULT_CURRENCY
        zone = settings.zone() if store.db.database else dt.timezone.utc
        zone_label = settings.zone_label(store.now_utc()) if store.db.database else "UTC (UTC+00:00)"

        def when(ts: Optional[int]) -> str:
            return localefmt.datetime(localefmt.from_epoch(ts), zone)

        def when_dt(value: Optional[dt.datetime]) -> str:
            return localefmt.datetime(value, zone)

        def day(ts: Optional[int]) -> str:
            return localefmt.date(localefmt.from_epoch(ts), zone)

        flashes = []
        if session is not None:
            flashes, session.flashes = session.flashes, []
        saved = session.saved_form if session is not None else None
        if saved is not None and session is not None and saved.owner == session.username \
                and urlsplit(saved.page).path == bottle.request.path:
            session.saved_form = None  # shown once, to its owner, on its page
        else:
            saved = None
        context = dict(
            user=session.username if session and session.signed_in else "",
            role=role,
            csrf=session.csrf if session else "",
            flashes=flashes,
            menu=ADMIN_MENU if role == auth.ADMIN else roles.menu(role, BILLING_MENU)
            if role in auth.BILLING_ROLES else [],
            may=lambda path, method="POST": roles.may(role, path, method),
            department_choices=lambda: departments.choices(self.scope()),
            site_choices=site_filter.choices,
            box_site=sites.current,
            path=bottle.request.path,
            currency=currency,
            currency_label=currency_label(currency),
            fmt=lambda units: localefmt.amount(int(units), currency),
            plain=lambda units: localefmt.plain(int(units), currency),
            num=localefmt.number,
            dur=fmt_duration,
            when=when,
            when_dt=when_dt,
            day=day,
            zone_label=zone_label,
            errors={},
            url=self.url_with,
            qs=lambda value: quote(str(value), safe=""),
            title="",
            trial_notice=self.activation_cache.trial_notice() if role in auth.BILLING_ROLES else "",
            saved_form=saved,
            saved_values=json.dumps(saved.values) if saved else "",
            database_damaged=bool(store.damaged) and bool(role),
            _=i18n._,
            ngettext=i18n.ngettext,
            lang=i18n.current().replace("_", "-"),
        )
        context.update(values)
        bottle.response.status = http_status
        bottle.response.content_type = "text/html; charset=utf-8"
        return bottle.template(name, template_lookup=TEMPLATE_LOOKUP, **context)

    @staticmethod
    def page_url() -> str:
        """This request's path with its query: where sign-in brings the user back."""
        query = bottle.request.query_string
        return bottle.request.path + ("?" + query if query else "")

    @staticmethod
    def url_with(**changes: Any) -> str:
        query = [(k, v) for k, v in decoded(bottle.request.query).allitems() if k not in changes]
        query += [(k, str(v)) for k, v in changes.items() if v not in (None, "")]
        return bottle.request.path + ("?" + urlencode(query) if query else "")

    def scope(self) -> Optional[List[int]]:
        """The departments the signed-in user sees (None: all; a manager: theirs)."""
        session = self.session()
        if session is None or not session.signed_in:
            return []
        return roles.scope(session.role, session.username)

    # -- error pages -----------------------------------------------------------------

    def error_page(self, status: int, message: str, title: str = "") -> bottle.HTTPResponse:
        body = self.render("error.tpl", http_status=status, message=message,
                           title=title or bottle.HTTP_CODES.get(status, "Error"))
        return bottle.HTTPResponse(body, status=status, headers={"Content-Type": "text/html; charset=utf-8"})

    def error_handler(self, error: bottle.HTTPError) -> str:
        """Bottle's errors (no such page, wrong method, a crash) as the layout's error page."""
        status = error.status_code
        message = {404: i18n.N_("There is no such page."),
                   405: i18n.N_("This page does not accept that request."),
                   500: i18n.N_("Something went wrong on the box; the error is in the add-on's log.")}.get(
            status, str(error.body or i18n.N_("The request was refused.")))
        disk = store.disk_problem(error.exception) if status == 500 and error.exception else None
        if disk:  # a full or read-only disk: say so in one line, plainly
            bottle.response.status = 503
            bottle.response.content_type = "text/plain; charset=utf-8"
            return f"The box cannot save anything: {disk}\n"
        try:
            with i18n.using(self.request_locale() if status != 500 else i18n.DEFAULT_LOCALE):
                return self.render("error.tpl", http_status=status, message=message,
                                   title=bottle.HTTP_CODES.get(status, "Error"))
        except Exception:  # noqa: BLE001 - an error page must never fail itself
            bottle.response.content_type = "text/plain; charset=utf-8"
            return message

    # -- access control ----------------------------------------------------------------

    def callback(self, role: Optional[str], handler: Handler) -> Callable:
        """``handler(self, **url_args)`` as a Bottle callback behind the guard of ``role``."""

        @functools.wraps(handler)
        def bound(*args, **kwargs):
            return handler(self, *args, **kwargs)

        return self.guard(role)(bound)

    def guard(self, role: Optional[str]) -> Callable:
        """Decorator: size limit and CSRF on POST, then the role check."""

        def decorate(handler: Callable) -> Callable:
            @functools.wraps(handler)
            def wrapper(*args, **kwargs):
                # the request's language for this request only: a thread serves many users
                with i18n.using(self.request_locale()):
                    return guarded(*args, **kwargs)

            def guarded(*args, **kwargs):
                request = bottle.request
                if request.method == "POST":
                    self.check_body_size()
                    session = self.session()
                    form_token = decoded(request.forms).get("csrf", "")
                    token = form_token or request.get_header("X-CSRF-Token", "")
                    if session is None or not token or not _equal(token, session.csrf):
                        if role is not None and form_token:
                            kept_form.keep(self, self.sessions.ended_owner(form_token))
                        raise self.error_page(403, i18n._("The form was refused: its security token "
                                                          "is missing or expired (CSRF check). Reload "
                                                          "the page and try again."),
                                              i18n._("Form refused"))
                if role is not None:
                    self.require(role)
                    if request.method == "POST" and store.damaged:
                        raise self.error_page(503, i18n._(DAMAGED_MESSAGE), i18n._("Database damaged"))
                return handler(*args, **kwargs)

            return wrapper

        return decorate

    def request_locale(self) -> str:
        """The language of this request's pages: the signed-in user's choice, else the
        box's default (the ``language`` setting; the sign-in page and the administrator's
        pages use it too).  Read once per request."""
        env = bottle.request.environ
        if "billing.locale" not in env:
            env["billing.locale"] = self._read_locale()
        return env["billing.locale"]

    def _read_locale(self) -> str:
        if not store.db.database:
            return i18n.DEFAULT_LOCALE
        session = self.session()
        if session is not None and session.signed_in and session.role in auth.BILLING_ROLES:
            chosen = auth.user_locale(session.username)
            if chosen:
                return chosen
        return settings.get("language")

    def check_body_size(self) -> None:
        request = bottle.request
        if request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            raise self.error_page(411, i18n._("Uploads must state their size (Content-Length)."))
        try:
            length = int(request.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_upload + 16 * 1024:
            limit_kb = self.max_upload // 1024
            raise self.error_page(
                413, i18n._("The upload is too large ({size} MB). The largest file accepted is "
                            "{limit_kb} KB ({limit_mb} MB); nothing was changed.").format(
                    size=f"{length / 1048576:.1f}", limit_kb=limit_kb, limit_mb=f"{limit_kb / 1024:.1f}"),
                i18n._("Upload too large"))

    def require(self, role: str) -> auth.Session:
        session = self.session()
        request = bottle.request
        if session is None or not session.signed_in:
            if request.method == "GET":
                self.flash(i18n._("Please sign in."), "info")
                bottle.redirect("/login?next=" + quote(self.page_url(), safe=""))
            raise self.error_page(401, i18n._("Please sign in first."), i18n._("Sign-in required"))
        user = auth.get_user(session.username)
        if user is None or not user.enabled or auth.password_tag(user) != session.tag:
            self.sessions.drop(session.id)
            bottle.request.environ.pop("billing.session", None)
            if request.method == "POST":
                kept_form.keep(self, session.username)
            self.flash(i18n._("Your session ended (the account changed). Please sign in again."), "info")
            bottle.redirect("/login")
        if session.role != role and not (role == auth.BILLING and session.role in auth.BILLING_ROLES):
            only = (i18n._("This page is for the PBX administrator only.") if role == auth.ADMIN
                    else i18n._("This page is for billing users only."))
            raise self.error_page(403, only, i18n._("Not allowed"))
        if role == auth.BILLING:
            refused = roles.refusal(session.role, request.route.rule, request.method)
            if refused:
                raise self.error_page(403, refused, i18n._("Not allowed"))
        if role == auth.BILLING:
            allowed, reason = self.activation_cache.may_sign_in()
            if not allowed:
                self.sessions.drop(session.id)
                bottle.request.environ.pop("billing.session", None)
                self.flash(reason, "error")
                bottle.redirect("/login")
        return session
