"""The add-on's web UI: ``make_app(cfg, activation=None) -> bottle.Bottle``.

Two areas, separated by role:

* ``/admin/...`` - what the PBX shows under Addons -> Billing: Settings (Activate
  Billing switch, System Information, billing.ac download, license upload) and the
  Billing Manager (``bill-xxx`` users).  Only the administrator (role ``admin``).
* everything else - the billing user's pages named as in the manual: Extensions, Rate,
  Recharge History, Call Log, Statistics, Settings.  Only billing users, and only while
  the activation allows it (trial running or licensed, billing activated).

Every POST needs the session's CSRF token; every response carries the security headers
(``SECURITY_HEADERS``); bodies larger than ``[web] max_upload_kb`` are refused before
they are read.  The activation object (``hwlicense.activation.Activation`` or a stand-in
with the same methods) is injected, so tests control trial and license.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote, urlencode

import bottle

from billing_addon import accounts, money, rates, rating, reports, settings, store
from billing_addon.store import Rate

from . import auth
from .activation_cache import ActivationCache
from .exports import attachment, export, local_text

HERE = Path(__file__).resolve().parent
VIEWS = str(HERE / "views")
STATIC = str(HERE / "static")
COOKIE = "billing_session"

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

BILLING_MENU = [("/extensions", "Extensions"), ("/rates", "Rate"),
                ("/recharges", "Recharge History"), ("/calls", "Call Log"),
                ("/statistics", "Statistics"), ("/settings", "Settings")]
ADMIN_MENU = [("/admin/settings", "Settings"), ("/admin/users", "Billing Manager")]


class BillingWeb(bottle.Bottle):
    """A Bottle app that adds the security headers to every response it sends,
    including redirects, errors and static files."""

    def wsgi(self, environ, start_response):
        def with_headers(status, headers, exc_info=None):
            names = {name.lower() for name, _ in headers}
            headers = list(headers) + [h for h in SECURITY_HEADERS if h[0].lower() not in names]
            if "cache-control" not in names:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return super().wsgi(environ, with_headers)


class Refused(Exception):
    """Form input refused: per-field messages for the form, nothing was saved."""

    def __init__(self, errors: Dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


# --- small helpers used by the routes and the templates ---------------------------------


def _decoded(forms) -> bottle.FormsDict:
    """Form or query values as proper text on bottle 0.12 and 0.13 alike."""
    return forms.decode()


def fmt_duration(seconds: Optional[int]) -> str:
    if seconds is None:
        return ""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _client_address() -> str:
    return bottle.request.environ.get("REMOTE_ADDR") or "?"


class WebUI:
    """Routes and per-request context; one instance per ``make_app``."""

    def __init__(self, cfg, activation):
        web = cfg.section("web") if cfg is not None else {}
        self.activation = activation
        self.max_upload = int(web.get("max_upload_kb", 2048)) * 1024
        self.sessions = auth.SessionStore(int(web.get("session_minutes", 30)) * 60)
        self.throttle = auth.Throttle()
        self.activation_cache = ActivationCache(activation)
        self.app = BillingWeb()
        self._routes()

    def forget_activation(self) -> None:
        """After the activation changed: ask it again on the next request."""
        self.activation_cache.forget()

    # -- sessions --------------------------------------------------------------------

    def session(self, create: bool = False) -> Optional[auth.Session]:
        env = bottle.request.environ
        if "billing.session" in env:
            return env["billing.session"]
        session = self.sessions.get(bottle.request.get_cookie(COOKIE))
        if session is None and create:
            session = self.sessions.new()
            self._set_cookie(session)
        env["billing.session"] = session
        return session

    def _set_cookie(self, session: auth.Session) -> None:
        secure = "; Secure" if bottle.request.urlparts.scheme == "https" else ""
        bottle.response.add_header(
            "Set-Cookie", f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Strict; "
                          f"Max-Age={self.sessions.max_age}{secure}")

    def _clear_cookie(self) -> None:
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

        def when(ts: Optional[int], fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
            if ts is None:
                return ""
            return dt.datetime.fromtimestamp(int(ts), zone).strftime(fmt)

        def when_dt(value: Optional[dt.datetime]) -> str:
            if value is None:
                return ""
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

        flashes = []
        if session is not None:
            flashes, session.flashes = session.flashes, []
        context = dict(
            user=session.username if session and session.signed_in else "",
            role=role,
            csrf=session.csrf if session else "",
            flashes=flashes,
            menu=ADMIN_MENU if role == auth.ADMIN else BILLING_MENU if role == auth.BILLING else [],
            path=bottle.request.path,
            currency=currency,
            currency_label=money.CURRENCIES.get(currency, money.CURRENCIES["OTHER"]).label,
            fmt=lambda units: money.format_amount(int(units), currency),
            plain=lambda units: money.to_decimal_string(int(units)),
            dur=fmt_duration,
            when=when,
            when_dt=when_dt,
            errors={},
            url=self.url_with,
            qs=lambda value: quote(str(value), safe=""),
            title="",
            trial_notice=self.activation_cache.trial_notice() if role == auth.BILLING else "",
        )
        context.update(values)
        bottle.response.status = http_status
        bottle.response.content_type = "text/html; charset=utf-8"
        return bottle.template(name, template_lookup=[VIEWS], **context)

    @staticmethod
    def url_with(**changes: Any) -> str:
        query = [(k, v) for k, v in _decoded(bottle.request.query).allitems() if k not in changes]
        query += [(k, str(v)) for k, v in changes.items() if v not in (None, "")]
        return bottle.request.path + ("?" + urlencode(query) if query else "")

    def error_page(self, status: int, message: str, title: str = "") -> bottle.HTTPResponse:
        body = self.render("error.tpl", http_status=status, message=message,
                           title=title or bottle.HTTP_CODES.get(status, "Error"))
        return bottle.HTTPResponse(body, status=status, headers={"Content-Type": "text/html; charset=utf-8"})

    # -- access control ----------------------------------------------------------------

    def guard(self, role: Optional[str]) -> Callable:
        """Decorator: size limit and CSRF on POST, then the role check."""

        def decorate(handler: Callable) -> Callable:
            @functools.wraps(handler)
            def wrapper(*args, **kwargs):
                request = bottle.request
                if request.method == "POST":
                    self.check_body_size()
                    session = self.session()
                    token = _decoded(request.forms).get("csrf", "") or request.get_header("X-CSRF-Token", "")
                    if session is None or not token or not _equal(token, session.csrf):
                        raise self.error_page(403, "The form was refused: its security token is "
                                              "missing or expired (CSRF check). Reload the page "
                                              "and try again.", "Form refused")
                if role is not None:
                    self.require(role)
                return handler(*args, **kwargs)

            return wrapper

        return decorate

    def check_body_size(self) -> None:
        request = bottle.request
        if request.environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            raise self.error_page(411, "Uploads must state their size (Content-Length).")
        try:
            length = int(request.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_upload + 16 * 1024:
            limit_kb = self.max_upload // 1024
            raise self.error_page(
                413, f"The upload is too large ({length / 1048576:.1f} MB). The largest file "
                     f"accepted is {limit_kb} KB ({limit_kb / 1024:.1f} MB); nothing was changed.",
                "Upload too large")

    def require(self, role: str) -> auth.Session:
        session = self.session()
        request = bottle.request
        if session is None or not session.signed_in:
            if request.method == "GET":
                self.flash("Please sign in.", "info")
                bottle.redirect("/login?next=" + quote(request.fullpath, safe="/"))
            raise self.error_page(401, "Please sign in first.", "Sign-in required")
        user = auth.get_user(session.username)
        if user is None or not user.enabled or auth.password_tag(user) != session.tag:
            self.sessions.drop(session.id)
            bottle.request.environ.pop("billing.session", None)
            self.flash("Your session ended (the account changed). Please sign in again.", "info")
            bottle.redirect("/login")
        if session.role != role:
            area = "the PBX administrator" if role == auth.ADMIN else "billing users"
            raise self.error_page(403, f"This page is for {area} only.", "Not allowed")
        if role == auth.BILLING:
            allowed, reason = self.activation_cache.may_sign_in()
            if not allowed:
                self.sessions.drop(session.id)
                bottle.request.environ.pop("billing.session", None)
                self.flash(reason, "error")
                bottle.redirect("/login")
        return session

    # -- routes ----------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        g = self.guard
        route = app.route
        route("/static/<name:path>", "GET", self.static)
        route("/", "GET", self.home)
        route("/login", "GET", g(None)(self.login_form))
        route("/login", "POST", g(None)(self.login))
        route("/logout", "POST", g(None)(self.logout))
        # billing user
        B = auth.BILLING
        route("/extensions", "GET", g(B)(self.extensions))
        route("/extensions/recharge", ["GET", "POST"], g(B)(self.recharge))
        route("/extensions/bulk-edit", ["GET", "POST"], g(B)(self.bulk_edit))
        route("/extensions/edit", ["GET", "POST"], g(B)(self.edit_extension))
        route("/extensions/adjust", ["GET", "POST"], g(B)(self.adjust_balance))
        route("/rates", "GET", g(B)(self.rates))
        route("/rates/add", ["GET", "POST"], g(B)(self.rate_form))
        route("/rates/<rate_id:int>/edit", ["GET", "POST"], g(B)(self.rate_form))
        route("/rates/<rate_id:int>/active", "POST", g(B)(self.rate_active))
        route("/rates/delete", "POST", g(B)(self.rates_delete))
        route("/rates/test", "GET", g(B)(self.rate_test))
        route("/rates/export.csv", "GET", g(B)(self.rates_export))
        route("/rates/import", ["GET", "POST"], g(B)(self.rates_import))
        route("/recharges", "GET", g(B)(self.recharges))
        route("/recharges/export.<kind:re:xlsx|csv>", "GET", g(B)(self.recharges_export))
        route("/calls", "GET", g(B)(self.calls))
        route("/calls/export.<kind:re:xlsx|csv>", "GET", g(B)(self.calls_export))
        route("/statistics", "GET", g(B)(self.statistics))
        route("/settings", ["GET", "POST"], g(B)(self.billing_settings))
        route("/account/password", ["GET", "POST"], g(B)(self.own_password))
        # administrator
        A = auth.ADMIN
        route("/admin", "GET", g(A)(lambda: bottle.redirect("/admin/settings")))
        route("/admin/settings", "GET", g(A)(self.admin_settings))
        route("/admin/activation", "POST", g(A)(self.admin_activation))
        route("/admin/billing.ac", "GET", g(A)(self.admin_billing_ac))
        route("/admin/license", "POST", g(A)(self.admin_license))
        route("/admin/users", "GET", g(A)(self.admin_users))
        route("/admin/users/add", "POST", g(A)(self.admin_user_add))
        route("/admin/users/password", "POST", g(A)(self.admin_user_password))
        route("/admin/users/enabled", "POST", g(A)(self.admin_user_enabled))
        for code in (400, 401, 403, 404, 405, 413, 500):
            app.error(code)(self._error_handler)

    def _error_handler(self, error: bottle.HTTPError) -> str:
        status = error.status_code
        message = {404: "There is no such page.", 405: "This page does not accept that request.",
                   500: "Something went wrong on the box; the error is in the add-on's log."}.get(
            status, str(error.body or "The request was refused."))
        try:
            return self.render("error.tpl", http_status=status, message=message,
                               title=bottle.HTTP_CODES.get(status, "Error"))
        except Exception:  # noqa: BLE001 - an error page must never fail itself
            bottle.response.content_type = "text/plain; charset=utf-8"
            return message

    def static(self, name: str):
        response = bottle.static_file(name, root=STATIC)
        if isinstance(response, bottle.HTTPResponse) and response.status_code == 200:
            response.set_header("Cache-Control", "max-age=3600")
        return response

    def home(self):
        session = self.session()
        if session and session.signed_in:
            bottle.redirect("/admin/settings" if session.role == auth.ADMIN else "/extensions")
        bottle.redirect("/login")

    # -- sign in / out -----------------------------------------------------------------

    def login_form(self, errors: Optional[Dict[str, str]] = None, username: str = "", status: int = 200):
        session = self.session(create=True)
        if session and session.signed_in:
            return self.home()
        return self.render("login.tpl", http_status=status, title="Sign in", errors=errors or {},
                           username=username, admin_exists=auth.admin_exists(),
                           next=_decoded(bottle.request.query).get("next", ""))

    def login(self):
        form = _decoded(bottle.request.forms)
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")[:auth.MAX_PASSWORD + 1]
        address = _client_address()
        wait = self.throttle.blocked_for(username, address)
        if wait:
            return self.login_form({"form": f"Too many failed sign-ins. Try again in {wait} seconds."},
                                   username, 429)
        user = auth.authenticate(username, password)
        if user is None:
            self.throttle.failure(username, address)
            return self.login_form({"form": "Wrong user name or password."}, username, 401)
        if user.role == auth.BILLING:
            allowed, reason = self.activation_cache.may_sign_in()
            if not allowed:
                return self.login_form({"form": reason}, username, 403)
        self.throttle.success(username, address)
        old = self.session()
        if old is not None:
            self.sessions.drop(old.id)
        self._start_session(user)
        target = form.get("next", "")
        home = "/admin/settings" if user.role == auth.ADMIN else "/extensions"
        if not (target.startswith("/") and not target.startswith("//")) or \
                target.startswith("/admin") != (user.role == auth.ADMIN):
            target = home
        bottle.redirect(target)

    def _start_session(self, user) -> auth.Session:
        """A new signed-in session for ``user``, tied to their password, as the cookie."""
        session = self.sessions.new()
        session.username, session.role, session.tag = user.username, user.role, auth.password_tag(user)
        bottle.request.environ["billing.session"] = session
        self._set_cookie(session)
        return session

    def logout(self):
        session = self.session()
        if session is not None:
            self.sessions.drop(session.id)
        bottle.request.environ["billing.session"] = None
        self._clear_cookie()
        fresh = self.sessions.new()
        fresh.flashes.append(("ok", "You are signed out."))
        bottle.request.environ["billing.session"] = fresh
        self._set_cookie(fresh)
        bottle.redirect("/login")

    # -- extensions ----------------------------------------------------------------------

    def extensions(self):
        q = _decoded(bottle.request.query)
        filters = self._extension_filters(q)
        page = reports.extensions_page(page=q.get("page", 1), **filters)
        return self.render("extensions.tpl", title="Extensions", page=page, filters=filters)

    @staticmethod
    def _extension_filters(source) -> Dict[str, str]:
        return {key: source.get(key, "") for key in ("number", "status", "payment_type", "billing")}

    def _selected(self, source) -> List[reports.ExtensionRow]:
        """The ticked extensions, or with ``all=1`` every one the search finds (all its
        pages).  The Recharge and Bulk Edit forms then carry the numbers themselves, so
        what is confirmed is what is changed."""
        if source.get("all") == "1":
            return reports.extensions_matching(**self._extension_filters(source))
        return reports.extensions_by_number(source.getall("n"))

    @staticmethod
    def _form_source():
        """The request and what it sends: the form of a POST, the query of a GET."""
        request = bottle.request
        return request, _decoded(request.forms if request.method == "POST" else request.query)

    def _one_extension(self):
        """The request, its form or query, and the one extension it names (else 404)."""
        request, source = self._form_source()
        selected = self._selected(source)
        if len(selected) != 1:
            raise self.error_page(404, "There is no such extension.")
        return request, source, selected[0]

    def _selection(self, missing: str):
        """The form (POST) or query (GET) and the extensions it selects; back to the
        list with ``missing`` when it selects none."""
        request, source = self._form_source()
        selected = self._selected(source)
        if not selected:
            self.flash(missing, "error")
            bottle.redirect("/extensions")
        return request, source, selected

    def recharge(self):
        request, source, selected = self._selection("Select at least one extension to recharge.")
        errors: Dict[str, str] = {}
        amount_text = ""
        if request.method == "POST":
            amount_text = source.get("amount", "")
            try:
                amount = money.parse_amount(amount_text, allow_zero=False)
                session = self.session()
                done = accounts.recharge([e.number for e in selected], amount,
                                         operator=session.username if session else "")
            except (money.AmountError, accounts.AccountError) as exc:
                errors["amount"] = str(exc)
            else:
                currency = settings.get("currency")
                summary = ", ".join(f"{r.number}: {money.format_amount(r.pre_balance, currency)} -> "
                                    f"{money.format_amount(r.post_balance, currency)}" for r in done[:10])
                more = f" and {len(done) - 10} more" if len(done) > 10 else ""
                self.flash(f"Recharged {len(done)} extension(s) with "
                           f"{money.format_amount(amount, currency)}: {summary}{more}.")
                bottle.redirect(source.get("back", "") if source.get("back", "").startswith("/extensions")
                                else "/extensions")
        return self.render("recharge.tpl", http_status=400 if errors else 200, title="Recharge",
                           selected=selected, errors=errors, amount=amount_text,
                           back=source.get("back", "/extensions"))

    def bulk_edit(self):
        request, source, selected = self._selection("Select at least one extension for Bulk Edit.")
        errors: Dict[str, str] = {}
        if request.method == "POST":
            try:
                changes = self._extension_changes(source, bulk=True)
                count = accounts.edit([e.number for e in selected], **changes)
            except Refused as exc:
                errors = exc.errors
            except accounts.AccountError as exc:
                errors = {"form": str(exc)}
            else:
                self.flash(f"Bulk Edit saved for {count} extension(s).")
                bottle.redirect("/extensions")
        return self.render("bulk_edit.tpl", http_status=400 if errors else 200, title="Bulk Edit",
                           selected=selected, errors=errors, form=source)

    def _extension_changes(self, form, bulk: bool) -> Dict[str, Any]:
        """Edit-form values as keyword arguments of ``accounts.edit``; in a bulk edit only
        the properties whose 'change' box is ticked."""
        errors: Dict[str, str] = {}
        changes: Dict[str, Any] = {}

        def wanted(name: str) -> bool:
            return not bulk or form.get("set_" + name) == "1"

        if wanted("billing"):
            changes["billing_enabled"] = form.get("billing_enabled") == "1"
        if wanted("credit"):
            try:
                changes["credit"] = money.parse_amount(form.get("credit", ""))
            except money.AmountError as exc:
                errors["credit"] = str(exc)
        if wanted("status"):
            if form.get("status") not in accounts.STATUSES:
                errors["status"] = "choose Unlocked or Locked"
            changes["status"] = form.get("status")
        if wanted("payment_type"):
            if form.get("payment_type") not in accounts.PAYMENT_TYPES:
                errors["payment_type"] = "choose Prepaid or Postpaid"
            changes["payment_type"] = form.get("payment_type")
        if not bulk:
            name = form.get("name", "").strip()
            if len(name) > 80:
                errors["name"] = "the name is at most 80 characters"
            changes["name"] = name
        if bulk and not changes:
            errors["form"] = "Tick at least one property to change."
        if errors:
            raise Refused(errors)
        return changes

    def edit_extension(self):
        request, source, ext = self._one_extension()
        errors: Dict[str, str] = {}
        form: Any = None
        if request.method == "POST":
            form = source
            try:
                accounts.edit([ext.number], **self._extension_changes(source, bulk=False))
            except Refused as exc:
                errors = exc.errors
            except accounts.AccountError as exc:
                errors = {"form": str(exc)}
            else:
                self.flash(f"Extension {ext.number} saved.")
                bottle.redirect("/extensions")
        if form is None:
            form = {"name": ext.name, "billing_enabled": "1" if ext.billing_enabled else "",
                    "credit": money.to_decimal_string(ext.credit), "status": ext.status,
                    "payment_type": ext.payment_type}
        return self.render("ext_edit.tpl", http_status=400 if errors else 200,
                           title=f"Edit {ext.number}", ext=ext, errors=errors, form=form)

    def adjust_balance(self):
        """Correct one extension's balance up or down, with a reason (a mistyped recharge,
        a refund); it shows in the Recharge History, and is not a recharge."""
        request, source, ext = self._one_extension()
        errors: Dict[str, str] = {}
        form = {"amount": source.get("amount", ""), "reason": source.get("reason", "")}
        if request.method == "POST":
            try:
                change = money.parse_amount(form["amount"], allow_negative=True, allow_zero=False)
            except money.AmountError as exc:
                errors["amount"] = str(exc)
            if not form["reason"].strip():
                errors["reason"] = "Say why (it is kept with the adjustment)."
            if not errors:
                session = self.session()
                try:
                    entry = accounts.adjust(ext.number, change, form["reason"],
                                            operator=session.username if session else "")
                except accounts.AccountError as exc:
                    errors["form"] = str(exc)
                else:
                    currency = settings.get("currency")
                    self.flash(f"Balance of {ext.number} adjusted by "
                               f"{money.format_amount(change, currency)}: now "
                               f"{money.format_amount(entry.balance_after, currency)}.")
                    bottle.redirect("/extensions")
        return self.render("adjust.tpl", http_status=400 if errors else 200,
                           title=f"Adjust {ext.number}", ext=ext, errors=errors, form=form)

    # -- rates -------------------------------------------------------------------------

    def rates(self):
        q = _decoded(bottle.request.query)
        search = reports.clean_keyword(q.get("q", ""))
        query = Rate.select().order_by(Rate.prefix, Rate.length, Rate.id)
        if search:
            query = query.where(Rate.prefix.startswith(search) | Rate.remarks.contains(search))
        total = query.count()
        page_no = reports._page_number(q.get("page", 1))
        per_page = reports.PAGE_SIZE
        rows = list(query.paginate(page_no, per_page))
        assigned = rates.assignments([r.id for r in rows])
        page = reports.Page(rows, page_no, per_page, page_no * per_page < total, total)
        return self.render("rates.tpl", title="Rate", page=page, assigned=assigned, search=search,
                           time_of_day=rates.format_time_of_day)

    def rate_form(self, rate_id: Optional[int] = None):
        request = bottle.request
        row = None
        if rate_id is not None:
            row = Rate.get_or_none(Rate.id == rate_id)
            if row is None:
                raise self.error_page(404, f"There is no rate {rate_id}.")
        errors: Dict[str, str] = {}
        if request.method == "POST":
            source = _decoded(request.forms)
            form = {key: source.get(key, "") for key in
                    ("remarks", "prefix", "length", "initial_cost", "initial_time", "rate", "unit",
                     "start", "end")}
            form["active"] = source.get("active") == "1"
            form["all_extensions"] = source.get("all_extensions") == "1"
            form["extensions"] = source.getall("extensions")
            try:
                values = rates.validate(form)
                if row is None:
                    saved = rates.add(values)
                else:
                    saved = rates.update(row.id, values)
            except rates.RateError as exc:
                errors = exc.errors
            else:
                self.flash(f"Rate {saved.id} ({values.remarks or values.prefix}) "
                           f"{'added' if row is None else 'saved'}.")
                bottle.redirect("/rates")
        elif row is not None:
            form = {"active": row.active, "remarks": row.remarks, "prefix": row.prefix,
                    "length": str(row.length),
                    "initial_cost": money.to_decimal_string(row.initial_cost, min_decimals=0),
                    "initial_time": str(row.initial_time),
                    "rate": money.to_decimal_string(row.rate, min_decimals=0), "unit": str(row.unit),
                    "start": rates.format_time_of_day(row.start_s),
                    "end": rates.format_time_of_day(row.end_s),
                    "all_extensions": row.all_extensions,
                    "extensions": rates.assignments([row.id]).get(row.id, [])}
        else:
            form = {"active": True, "remarks": "", "prefix": "", "length": "0", "initial_cost": "0",
                    "initial_time": "0", "rate": "", "unit": "60", "start": "00:00", "end": "24:00",
                    "all_extensions": True, "extensions": []}
        return self.render("rate_form.tpl", http_status=400 if errors else 200,
                           title="Edit Rate" if row else "Add Rate", row=row, form=form,
                           errors=errors, all_exts=reports.all_extension_numbers())

    def rate_active(self, rate_id: int):
        active = _decoded(bottle.request.forms).get("active") == "1"
        if not rates.set_active([rate_id], active):
            raise self.error_page(404, f"There is no rate {rate_id}.")
        self.flash(f"Rate {rate_id} {'activated' if active else 'deactivated'}.")
        bottle.redirect(_back("/rates"))

    def rates_delete(self):
        ids = []
        for value in _decoded(bottle.request.forms).getall("id"):
            if value.isdigit():
                ids.append(int(value))
        if not ids:
            self.flash("Select at least one rate to delete.", "error")
        else:
            count = rates.delete(ids)
            self.flash(f"{count} rate(s) deleted.")
        bottle.redirect("/rates")

    def rate_test(self):
        q = _decoded(bottle.request.query)
        form = {key: q.get(key, "") for key in ("extension", "dialed", "at", "duration")}
        errors: Dict[str, str] = {}
        result = None
        if form["dialed"] or form["extension"]:
            extension = form["extension"].strip()
            if not extension:
                errors["extension"] = "extension is required"
            dialed = form["dialed"].strip()
            if not dialed or len(dialed) > 64 or not all(c.isdigit() or c in "*#+" for c in dialed):
                errors["dialed"] = "the dialed number is digits (and * # +)"
            duration_text = form["duration"].strip() or "60"
            if not duration_text.isdigit() or int(duration_text) > 7 * 86400:
                errors["duration"] = "answered seconds: a whole number from 0 to 604800"
            at = store.now_utc()
            if form["at"].strip():
                try:
                    local = dt.datetime.fromisoformat(form["at"].strip())
                    if local.tzinfo is None:
                        local = local.replace(tzinfo=settings.zone())
                    at = int(local.timestamp())
                except ValueError:
                    errors["at"] = "use a date and time like 2024-05-31 14:30"
            if not errors:
                local = settings.local(at)
                rate = rates.index().match(extension, dialed, local)
                duration = int(duration_text)
                result = {"rate": rate, "local": local, "duration": duration,
                          "cost": rating.cost(rate, duration) if rate else 0,
                          "policy": settings.get("unrated_policy"),
                          "known": reports.extension_id(extension) is not None}
        return self.render("rate_test.tpl", http_status=400 if errors else 200, title="Rate Tester",
                           form=form, errors=errors, result=result,
                           time_of_day=rates.format_time_of_day)

    def rates_export(self):
        out = io.StringIO()
        rates.export_csv(out)
        attachment(f"rates-{dt.date.today():%Y%m%d}.csv", "text/csv; charset=utf-8")
        return out.getvalue()

    def rates_import(self):
        errors: Dict[str, str] = {}
        if bottle.request.method == "POST":
            form = _decoded(bottle.request.forms)
            upload = bottle.request.files.get("file")
            if upload is None:
                errors["file"] = "choose a CSV file to import"
            else:
                data = upload.file.read(self.max_upload + 1)
                if len(data) > self.max_upload:
                    errors["file"] = f"the file is larger than {self.max_upload // 1024} KB"
                else:
                    try:
                        text = data.decode("utf-8-sig")
                    except UnicodeDecodeError:
                        errors["file"] = "the file is not UTF-8 text (save it as CSV UTF-8)"
                    else:
                        try:
                            count = rates.import_csv(text, replace=form.get("replace") == "1")
                        except rates.RateError as exc:
                            errors["file"] = f"nothing imported: {exc}"
                        else:
                            self.flash(f"{count} rate(s) imported.")
                            bottle.redirect("/rates")
        return self.render("rates_import.tpl", http_status=400 if errors else 200, title="Import Rates",
                           errors=errors, columns=rates.CSV_COLUMNS)

    # -- recharge history and call log -----------------------------------------------------

    def _range_filters(self) -> Tuple[Dict[str, str], Dict[str, str], Tuple[Optional[int], Optional[int]]]:
        q = _decoded(bottle.request.query)
        filters = {key: q.get(key, "").strip()[:40] for key in ("from", "to", "q")}
        errors: Dict[str, str] = {}
        days = {}
        for key, label in (("from", "From"), ("to", "To")):
            try:
                days[key] = reports.parse_day(filters[key], label)
            except reports.ReportError as exc:
                errors[key] = str(exc)
                days[key] = None
        bounds: Tuple[Optional[int], Optional[int]] = (None, None)
        if not errors:
            try:
                bounds = reports.time_bounds(days["from"], days["to"])
            except reports.ReportError as exc:
                errors["to"] = str(exc)
        return filters, errors, bounds

    def recharges(self):
        filters, errors, (start, end) = self._range_filters()
        page = reports.recharges_page(start, end, filters["q"],
                                      _decoded(bottle.request.query).get("page", 1)) if not errors else None
        return self.render("recharges.tpl", http_status=400 if errors else 200, title="Recharge History",
                           filters=filters, errors=errors, page=page,
                           export_query=urlencode(filters))

    def calls(self):
        filters, errors, (start, end) = self._range_filters()
        page = reports.calls_page(start, end, filters["q"],
                                  _decoded(bottle.request.query).get("page", 1)) if not errors else None
        return self.render("calls.tpl", http_status=400 if errors else 200, title="Call Log",
                           filters=filters, errors=errors, page=page,
                           export_query=urlencode(filters))

    def recharges_export(self, kind: str):
        filters, errors, (start, end) = self._range_filters()
        if errors:
            raise self.error_page(400, "; ".join(errors.values()))
        currency = settings.get("currency")
        zone = settings.zone()
        headers = ["Time", "Extension", "User Name", f"Pre-balance ({currency})",
                   f"Recharge Amount ({currency})", f"Post-balance ({currency})", "Operator",
                   "Note"]
        rows = ((local_text(r.created_utc, zone), r.number, r.name, r.pre_balance, r.amount,
                 r.post_balance, r.operator, r.note)
                for r in reports.iter_recharges(start, end, filters["q"]))
        return export(kind, "recharge-history", "Recharge History", headers, rows,
                            money_columns=(3, 4, 5), text_columns=(2, 6, 7),
                            widths=(20, 11, 22, 16, 18, 16, 14, 30))

    def calls_export(self, kind: str):
        filters, errors, (start, end) = self._range_filters()
        if errors:
            raise self.error_page(400, "; ".join(errors.values()))
        currency = settings.get("currency")
        zone = settings.zone()
        headers = ["Start Time", "Extension", "User Name", "Dialed Number", "Duration (s)", "Rate",
                   f"Cost ({currency})", "Status"]
        rows = ((local_text(c.started_utc, zone), c.number, c.name, c.dialed,
                 c.answered_s if c.answered_s is not None else "", c.rate_label, c.cost,
                 c.status + (f" ({c.reason})" if c.reason else ""))
                for c in reports.iter_calls(start, end, filters["q"]))
        return export(kind, "call-log", "Call Log", headers, rows, money_columns=(6,),
                            text_columns=(2, 5), widths=(20, 11, 22, 18, 12, 24, 12, 20))

    # -- statistics --------------------------------------------------------------------

    def statistics(self):
        q = _decoded(bottle.request.query)
        by = q.get("by", "day")
        if by not in reports.PERIODS:
            by = "day"
        number = q.get("extension", "").strip()[:32]
        errors: Dict[str, str] = {}
        days = {}
        for key, label in (("from", "From"), ("to", "To")):
            try:
                days[key] = reports.parse_day(q.get(key, ""), label)
            except reports.ReportError as exc:
                errors[key] = str(exc)
        today = settings.local(store.now_utc()).date()
        if not errors and days["from"] is None and days["to"] is None:
            if by == "day":
                days["from"], days["to"] = today - dt.timedelta(days=30), today
            elif by == "month":
                days["from"] = dt.date(today.year - 1 if today.month < 12 else today.year,
                                       today.month % 12 + 1, 1)
                days["to"] = today
        ext_id = None
        if number:
            ext_id = reports.extension_id(number)
            if ext_id is None:
                errors["extension"] = f"there is no extension {number}"
        rows: List[reports.StatRow] = []
        total = reports.StatRow("total", 0, 0, 0, 0)
        if not errors:
            try:
                rows, total = reports.statistics(by, ext_id, days.get("from"), days.get("to"))
                rows = reports.fill_periods(rows, by, days.get("from"), days.get("to"))
            except reports.ReportError as exc:
                errors["to"] = str(exc)
        filters = {"by": by, "extension": number,
                   "from": days["from"].isoformat() if days.get("from") else q.get("from", ""),
                   "to": days["to"].isoformat() if days.get("to") else q.get("to", "")}
        return self.render("statistics.tpl", http_status=400 if errors else 200, title="Statistics",
                           filters=filters, errors=errors, rows=rows, total=total,
                           chart_cost=bar_chart([(r.period, r.cost) for r in rows]),
                           chart_time=bar_chart([(r.period, r.answered_s) for r in rows]))

    # -- billing settings ----------------------------------------------------------------

    def billing_settings(self):
        errors: Dict[str, str] = {}
        values = settings.get_all()
        if bottle.request.method == "POST":
            form = _decoded(bottle.request.forms)
            wanted = {"currency": form.get("currency", ""), "timezone": form.get("timezone", ""),
                      "unrated_policy": form.get("unrated_policy", values["unrated_policy"])}
            for key, value in wanted.items():
                try:
                    settings.OPTIONS[key].check(value)
                except settings.SettingError as exc:
                    errors[key] = str(exc)
            if not errors:
                for key, value in wanted.items():
                    settings.put(key, value)
                self.flash("Settings saved.")
                bottle.redirect("/settings")
            values.update(wanted)
        return self.render("settings.tpl", http_status=400 if errors else 200, title="Settings",
                           values=values, errors=errors, currencies=money.CURRENCIES)

    def own_password(self):
        """A billing user changes their own password: the current one first (a session
        left open at the front desk must not be enough), then the new one twice."""
        errors: Dict[str, str] = {}
        session = self.session()
        assert session is not None and session.username
        if bottle.request.method == "POST":
            form = _decoded(bottle.request.forms)
            current = form.get("current", "")[:auth.MAX_PASSWORD + 1]
            new, again = form.get("new", ""), form.get("again", "")
            address = _client_address()
            wait = self.throttle.blocked_for(session.username, address)
            if wait:
                errors["current"] = f"Too many wrong passwords. Try again in {wait} seconds."
            elif auth.authenticate(session.username, current) is None:
                self.throttle.failure(session.username, address)
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
                self.sessions.drop_user(session.username)  # other browsers sign in again
                self._start_session(user).flashes.append(("ok", "Your password is changed."))
                bottle.redirect("/extensions")
        return self.render("own_password.tpl", http_status=400 if errors else 200,
                           title="Change Password", errors=errors, min_length=auth.MIN_PASSWORD)

    # -- administrator: Addons -> Billing -> Settings ----------------------------------------

    def admin_settings(self):
        status = self.activation.status() if self.activation is not None else None
        return self.render("admin_settings.tpl", title="Billing Settings", status=status,
                           max_upload_kb=self.max_upload // 1024)

    def admin_activation(self):
        if self.activation is None:
            raise self.error_page(503, "Licensing is not available on this box.")
        on = _decoded(bottle.request.forms).get("activate") == "1"
        status = self.activation.activate() if on else self.activation.deactivate()
        self.forget_activation()
        if on:
            if status.licensed:
                self.flash("Billing activated (licensed: Never Expires).")
            elif status.state == "expired":
                self.flash("Billing is switched on, but the trial has expired: upload a license "
                           "to let billing users sign in.", "error")
            else:
                self.flash(f"Billing activated. Trial: {status.days_left} day(s) left.")
        else:
            self.flash("Billing deactivated: no call is billed or blocked, billing users cannot "
                       "sign in.")
        bottle.redirect("/admin/settings")

    def admin_billing_ac(self):
        if self.activation is None:
            raise self.error_page(503, "Licensing is not available on this box.")
        try:
            data = self.activation.billing_ac()
        except Exception as exc:  # noqa: BLE001 - identity errors vary by board
            self.flash(f"The billing source file could not be made: {exc}", "error")
            bottle.redirect("/admin/settings")
        attachment("billing.ac", "application/octet-stream")
        return data

    def admin_license(self):
        if self.activation is None:
            raise self.error_page(503, "Licensing is not available on this box.")
        upload = bottle.request.files.get("license")
        if upload is None:
            self.flash("Choose the license file to upload.", "error")
            bottle.redirect("/admin/settings")
        data = upload.file.read(self.max_upload + 1)
        if len(data) > self.max_upload:
            self.flash(f"License refused: the file is larger than {self.max_upload // 1024} KB.", "error")
            bottle.redirect("/admin/settings")
        result = self.activation.upload_license(data)
        self.forget_activation()
        if getattr(result, "ok", False):
            self.flash("License uploaded and verified. Time of expiration: Never Expires.")
        else:
            reason = getattr(result, "reason", "") or "the file is not a valid license for this device"
            self.flash(f"License refused: {reason}. Nothing was changed.", "error")
        bottle.redirect("/admin/settings")

    # -- administrator: Billing Manager ------------------------------------------------------

    def admin_users(self):
        return self.render("admin_users.tpl", title="Billing Manager", users=auth.list_users(),
                           errors={}, created=None)

    def admin_user_add(self):
        user, password = auth.create_billing_user()
        self.flash(f"Billing user {user.username} created.")
        return self.render("admin_users.tpl", title="Billing Manager", users=auth.list_users(),
                           errors={}, created=(user.username, password))

    def admin_user_password(self):
        form = _decoded(bottle.request.forms)
        username = form.get("username", "")
        new = form.get("password", "")
        try:
            password = auth.set_password(username, new or None)
        except auth.AuthError as exc:
            return self.render("admin_users.tpl", http_status=400, title="Billing Manager",
                               users=auth.list_users(), errors={username: str(exc)}, created=None)
        self.sessions.drop_user(username)
        self.flash(f"Password of {username} changed.")
        if new:
            bottle.redirect("/admin/users")
        return self.render("admin_users.tpl", title="Billing Manager", users=auth.list_users(),
                           errors={}, created=(username, password))

    def admin_user_enabled(self):
        form = _decoded(bottle.request.forms)
        username = form.get("username", "")
        enabled = form.get("enabled") == "1"
        try:
            auth.set_enabled(username, enabled)
        except auth.AuthError as exc:
            self.flash(str(exc), "error")
            bottle.redirect("/admin/users")
        if not enabled:
            self.sessions.drop_user(username)
        self.flash(f"Billing user {username} {'enabled' if enabled else 'disabled'}.")
        bottle.redirect("/admin/users")


# --- chart -----------------------------------------------------------------------------


def bar_chart(points: Sequence[Tuple[str, int]], height: int = 160) -> Dict[str, Any]:
    """Geometry of a bar chart (inline SVG, no script, no inline style): one bar per
    period scaled to the largest value."""
    width_each = 28 if len(points) <= 40 else max(6, 1100 // max(len(points), 1))
    top = max((v for _, v in points), default=0)
    bars = []
    for i, (label, value) in enumerate(points):
        h = 0 if top <= 0 else max(1 if value > 0 else 0, value * height // top)
        bars.append({"x": 40 + i * width_each, "y": 10 + height - h, "w": max(width_each - 4, 3),
                     "h": h, "label": label, "value": value})
    every = max(1, len(points) // 12)
    return {"bars": bars, "height": height, "width": 50 + len(points) * width_each,
            "top": top, "base": 10 + height, "every": every}


# --- the factory -----------------------------------------------------------------------


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _back(default: str) -> str:
    back = _decoded(bottle.request.forms).get("back", "")
    return back if back.startswith("/") and not back.startswith("//") else default


def _default_activation(cfg):
    """The real activation of the configured board (None when licensing is missing)."""
    try:
        from hwlicense.activation import Activation
        from hwlicense.board import load_profile
    except ImportError:
        return None
    board = cfg.get("box", "board") if cfg is not None else "demo"
    root = (cfg.get("box", "board_root") or None) if cfg is not None else None
    return Activation(load_profile(board, root))


def make_app(cfg, activation=None) -> bottle.Bottle:
    """The web UI as a WSGI app.  Opens the store from ``cfg`` unless it is already
    open; ``activation`` defaults to the configured board's real activation."""
    if store.db.database is None and cfg is not None:
        from billing_addon.cli import database_path

        store.init_db(database_path(cfg))
    if activation is None:
        activation = _default_activation(cfg)
    ui = WebUI(cfg, activation)
    ui.app.billing_ui = ui  # type: ignore[attr-defined]
    return ui.app
