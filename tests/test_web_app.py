"""In-process (WSGI) tests of the web UI: every route's status codes and permissions,
the forms' validation, CSRF, throttling, security headers, uploads and exports."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re
from decimal import Decimal
from urllib.parse import quote

import bottle
import openpyxl
import pytest
from billing_addon.web import auth
from billing_addon.web.app import SECURITY_HEADERS, make_app

from billing_addon import accounts, calls, config, money, rates, reports, settings, store
from billing_addon.cells import from_spreadsheet
from tests.web_fakes import FakeActivation
from tests.webclient import Client

ADMIN_PW = "admin-secret-1"

BILLING_GETS = [
    "/extensions", "/extensions?number=100&status=unlocked&payment_type=prepaid&billing=on&page=2",
    "/extensions/recharge?n=1001&n=1002", "/extensions/bulk-edit?n=1001", "/extensions/edit?n=1001",
    "/extensions/adjust?n=1001",
    "/rates", "/rates?q=9", "/rates/add", "/rates/test", "/rates/test?extension=1001&dialed=912345678",
    "/rates/import", "/rates/export.csv", "/recharges", "/recharges?from=2024-01-01&to=2030-01-01&q=10",
    "/recharges/export.csv", "/recharges/export.xlsx", "/calls", "/calls?q=1001", "/calls/export.csv",
    "/calls/export.xlsx", "/statistics", "/statistics?by=month", "/statistics?by=year&extension=1001",
    "/settings", "/account/password", "/account",
]
ADMIN_GETS = ["/admin/settings", "/admin/users", "/admin/billing.ac"]
BILLING_POSTS = ["/extensions/recharge", "/extensions/bulk-edit", "/extensions/edit", "/rates/add",
                 "/rates/1/edit", "/rates/1/active", "/rates/delete", "/rates/import", "/settings",
                 "/account/password", "/extensions/adjust", "/settings/test-mail",
                 "/account/language"]
ADMIN_POSTS = ["/admin/activation", "/admin/license", "/admin/users/add", "/admin/users/password",
               "/admin/users/enabled", "/admin/users/locale"]


@pytest.fixture
def env(db_path):
    cfg = config.load(None, {"web": {"max_upload_kb": "64"}})
    activation = FakeActivation()
    app = make_app(cfg, activation)
    auth.set_admin_password(ADMIN_PW)
    for n in range(1001, 1013):
        accounts.ensure_extension(str(n), f"Room {n - 1000}")
    return app, activation


@pytest.fixture
def admin(env):
    client = Client(env[0])
    client.login("admin", ADMIN_PW)
    return client


@pytest.fixture
def billing(env, admin):
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(env[0])
    client.login(user.username, password)
    client.username = user.username
    return client


def _flash(response_text):
    return [m for m in re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', response_text)]


# --- access control ------------------------------------------------------------------


def test_signed_out_pages_redirect_to_login_and_posts_are_refused(env):
    client = Client(env[0])
    assert client.get("/", check=303).location == "/login"
    client.get("/login", check=200)
    for path in BILLING_GETS + ADMIN_GETS:
        response = client.get(path, check=303)
        assert response.location.startswith("/login?next="), path
    for path in BILLING_POSTS + ADMIN_POSTS:
        # with the anonymous session's token: signed-out refused (401); without: CSRF (403)
        client.post(path, {"x": "1"}, check=401)
        client.post(path, {"x": "1"}, csrf=None, check=403)
    client.get("/static/app.css", check=200)
    assert client.get("/static/../app.py").status in (403, 404)
    client.get("/no-such-page", check=404)


def test_every_billing_page_works_for_a_billing_user(billing):
    for path in BILLING_GETS:
        if path.endswith("export.xlsx"):
            billing.download_xlsx(path)  # via its progress page
        else:
            billing.get(path, check=200)
    assert billing.get("/", check=303).location == "/extensions"


def test_billing_user_cannot_open_admin_pages_and_admin_cannot_open_billing_pages(env, billing, admin):
    for path in ADMIN_GETS:
        response = billing.get(path, check=403)
        assert "PBX administrator only" in response.text
    for path in ADMIN_POSTS:
        billing.post(path, {"activate": "0", "username": billing.username, "enabled": "0"}, check=403)
    assert env[1].on  # the forged deactivation did nothing
    for path in BILLING_GETS:
        admin.get(path, check=403)
    for path in BILLING_POSTS:
        admin.post(path, {"n": "1001", "amount": "5"}, check=403)
    assert accounts.get_extension("1001").balance == 0
    for path in ADMIN_GETS:
        admin.get(path, check=200)


def test_a_billing_user_changes_their_own_password(env, billing):
    other_browser = Client(env[0])
    other_browser.login(billing.username, "billing-pass-1")
    form = billing.get("/account/password", check=200).text
    assert 'id="current"' in form and 'autocomplete="new-password"' in form
    bad = [
        ({"current": "wrong-pass-1", "new": "new-pass-22", "again": "new-pass-22"}, "current",
         "not your current password"),
        ({"current": "billing-pass-1", "new": "new-pass-22", "again": "new-pass-23"}, "again",
         "differ"),
        ({"current": "billing-pass-1", "new": "short", "again": "short"}, "new", "at least 8"),
        ({"current": "billing-pass-1", "new": "", "again": ""}, "new", "at least 8"),
        ({"current": "billing-pass-1", "new": " padded-pass ", "again": " padded-pass "}, "new",
         "space"),
    ]
    for data, field, message in bad:
        r = billing.post("/account/password", data, check=400)
        assert f'id="err-{field}"' in r.text and message in r.text
    assert auth.authenticate(billing.username, "billing-pass-1") is not None  # unchanged
    billing.post("/account/password", {"current": "billing-pass-1", "new": "new-pass-22",
                                       "again": "new-pass-22"}, csrf="forged", check=403)
    r = billing.post("/account/password", {"current": "billing-pass-1", "new": "new-pass-22",
                                           "again": "new-pass-22"}, check=303)
    assert "Your password is changed." in billing.get(r.location, check=200).text
    assert auth.authenticate(billing.username, "billing-pass-1") is None
    assert auth.authenticate(billing.username, "new-pass-22") is not None
    billing.get("/extensions", check=200)  # this browser stays signed in
    assert other_browser.get("/extensions", check=303).location.startswith("/login")


def test_wrong_current_passwords_are_throttled(billing):
    for _ in range(12):
        r = billing.post("/account/password", {"current": "guess-pass-1", "new": "new-pass-22",
                                               "again": "new-pass-22"}, check=400)
    assert "Too many wrong passwords" in r.text
    r = billing.post("/account/password", {"current": "billing-pass-1", "new": "new-pass-22",
                                           "again": "new-pass-22"}, check=400)
    assert "Too many wrong passwords" in r.text  # even the right one, for a while
    assert auth.authenticate(billing.username, "billing-pass-1") is not None


def test_security_headers_and_session_cookie(env):
    client = Client(env[0])
    login = client.get("/login", check=200)
    for response in (login, client.get("/static/app.css"), client.get("/extensions"),
                     client.get("/nope"), client.post("/login", {}, csrf=None)):
        for name, value in SECURITY_HEADERS:
            assert response.header(name) == value, (name, response.status)
    csp = login.header("Content-Security-Policy")
    assert "http" not in csp and "frame-ancestors 'self'" in csp
    assert login.header("Cache-Control") == "no-store"
    cookie = login.header("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert "https://" not in login.text and "http://" not in login.text.replace("http://www.w3.org", "")


def test_forwarded_headers_alone_neither_make_https_nor_move_redirects(env):
    """Without waitress's trusted proxy in front, X-Forwarded-Proto is anyone's claim;
    redirects never name a host (tests/test_web_server.py: the trusted proxy)."""
    client = Client(env[0])
    r = client.get("/extensions?n=1001", check=303, headers={
        "Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert r.header("Location") == "/login?next=%2Fextensions%3Fn%3D1001"
    assert "Secure" not in r.header("Set-Cookie")
    r = client.post("/login", {"username": "admin", "password": ADMIN_PW,
                               "next": "/\\evil.example/"}, check=303)
    assert r.header("Location") == "/admin/settings"


def test_pages_use_no_external_assets(billing):
    for path in ("/extensions", "/rates/add", "/statistics", "/calls"):
        text = billing.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', text), path
        assert "style=" not in text and "<script>" not in text  # CSP: no inline style/script


# --- sign in -------------------------------------------------------------------------


def test_login_wrong_password_and_throttling(env):
    client = Client(env[0])
    client.get("/login")
    for _ in range(5):
        r = client.post("/login", {"username": "admin", "password": "wrong"}, check=401)
        assert "Wrong user name or password" in r.text
    r = client.post("/login", {"username": "admin", "password": ADMIN_PW}, check=429)
    assert "Too many failed sign-ins" in r.text
    ui = env[0].billing_ui
    ui.throttle.clock = lambda: 10**9  # the lockout is over
    client.post("/login", {"username": "admin", "password": ADMIN_PW}, check=303)


def test_failures_from_one_address_do_not_lock_the_user_out_at_another(env):
    attacker = Client(env[0], remote_addr="127.0.0.2")
    attacker.get("/login")
    for _ in range(5):
        attacker.post("/login", {"username": "admin", "password": "guess"}, check=401)
    attacker.post("/login", {"username": "admin", "password": ADMIN_PW}, check=429)
    admin = Client(env[0], remote_addr="127.0.0.3")  # the real admin, at their own desk
    admin.login("admin", ADMIN_PW, check=303)
    # the attacker's address is also limited across user names (4 x 5 failures)
    for n in range(15):
        attacker.post("/login", {"username": f"user{n}", "password": "guess"}, check=401)
    r = attacker.post("/login", {"username": "someone-else", "password": "guess"}, check=429)
    assert "Too many failed sign-ins" in r.text


def test_login_needs_csrf_and_rotates_the_session(env):
    client = Client(env[0])
    client.get("/login")
    before = client.cookies["billing_session"]
    client.post("/login", {"username": "admin", "password": ADMIN_PW}, csrf=None, check=403)
    r = client.post("/login", {"username": "admin", "password": ADMIN_PW, "next": "//evil.example/"},
                    check=303)
    assert r.location == "/admin/settings"
    assert client.cookies["billing_session"] != before


def test_billing_user_refused_when_deactivated_or_expired(env, admin):
    app, activation = env
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    r = client.login(user.username, password, check=403)
    assert "Billing is deactivated" in r.text
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    client.login(user.username, password, check=303)
    client.get("/extensions", check=200)
    # the trial runs out: the open session ends with the reason
    activation.now = activation.now.replace(year=2025)
    app.billing_ui.forget_activation()
    r = client.get("/extensions", check=303)
    assert r.location == "/login"
    r = client.get("/login", check=200)
    assert "trial expired" in r.text
    client.login(user.username, password, check=403)
    # a license lets them in again
    admin.post("/admin/license", files={"license": ("x.lic", b"LICENSE-OK\n")}, check=303)
    client.login(user.username, password, check=303)


def test_billing_users_are_told_a_week_before_the_trial_ends(env, billing, admin):
    app, activation = env
    assert 'id="trial-notice"' not in billing.get("/extensions").text  # 30 days left
    activation.now = activation.first + dt.timedelta(days=24, hours=1)  # 5 days left
    app.billing_ui.forget_activation()
    text = billing.get("/extensions").text
    assert 'id="trial-notice"' in text and "trial ends on 2024-05-31 09:00 (5 day(s) left)" in text
    assert 'id="trial-notice"' not in admin.get("/admin/settings").text  # the admin sees it there
    admin.post("/admin/license", files={"license": ("x.lic", b"LICENSE-OK\n")}, check=303)
    assert 'id="trial-notice"' not in billing.get("/extensions").text  # licensed


def test_logout(billing):
    billing.post("/logout", check=303)
    assert billing.get("/extensions", check=303).location.startswith("/login")


def test_session_expires_when_idle(env, billing):
    ui = env[0].billing_ui
    ui.sessions.clock = lambda: 10**9
    assert billing.get("/extensions", check=303).location.startswith("/login")


# --- CSRF ---------------------------------------------------------------------------


def test_forged_posts_are_refused_and_change_nothing(billing):
    for token in (None, "", "forged-token"):
        r = billing.post("/extensions/recharge", {"n": "1001", "amount": "50"}, csrf=token, check=403)
        assert "CSRF" in r.text
    billing.post("/settings", {"currency": "EUR", "timezone": "UTC"}, csrf="nope", check=403)
    assert accounts.get_extension("1001").balance == 0
    assert settings.get("currency") == "USD"


# --- a form sent after the session ended -----------------------------------------------

RECHARGE_PAGE = "/extensions/recharge?n=1001&n=1002"


def _token(text):
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def _send_recharge(client, token, amount="50", check=303, confirm=False):
    """The Recharge form of RECHARGE_PAGE sent with ``token`` (the page's own), or with
    ``confirm`` the review page's Confirm (the review is the POST result's page)."""
    fields = [("n", "1001"), ("n", "1002"), ("amount", amount), ("back", "/extensions")]
    referer = RECHARGE_PAGE
    if confirm:
        fields += [("form_page", RECHARGE_PAGE + "&back=%2Fextensions"), ("step", "confirm")]
        referer = "/extensions/recharge"
    return client.post("/extensions/recharge", fields, csrf=token, check=check,
                       headers={"Referer": "http://localhost" + referer})


def _saved_values(text):
    match = re.search(r'id="saved-form" data-action="([^"]*)"\s+data-values="([^"]*)"', text)
    return match and (match.group(1), json.loads(html.unescape(match.group(2))))


def test_a_form_sent_after_the_idle_timeout_comes_back_filled_in_after_sign_in(env, billing):
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    env[0].billing_ui.sessions.clock = lambda: 10**9  # 30 idle minutes later
    r = _send_recharge(billing, token)
    assert r.location == "/login?next=" + quote(RECHARGE_PAGE, safe="")
    assert accounts.get_extension("1001").balance == 0  # nothing was done
    login = billing.get(r.location, check=200)
    assert "Your session ended before the form was sent: nothing was changed" in login.text
    assert 'name="next" value="' + RECHARGE_PAGE.replace("&", "&amp;") + '"' in login.text
    assert "50" not in login.text  # the values wait server-side, not in the sign-in page
    r = billing.post("/login", {"username": billing.username, "password": "billing-pass-1",
                                "next": RECHARGE_PAGE}, check=303)
    assert r.location == RECHARGE_PAGE
    page = billing.get(RECHARGE_PAGE, check=200).text
    assert _saved_values(page) == ("/extensions/recharge", [["n", "1001"], ["n", "1002"],
                                                            ["amount", "50"],
                                                            ["back", "/extensions"]])
    assert accounts.get_extension("1001").balance == 0  # still nothing, until it is sent again
    assert _saved_values(billing.get(RECHARGE_PAGE).text) is None  # filled in once
    review = _send_recharge(billing, _token(page), check=200)  # sent again: the review
    assert "Confirm Recharge" in review.text
    assert accounts.get_extension("1001").balance == 0
    _send_recharge(billing, _token(review.text), confirm=True)
    assert accounts.get_extension("1001").balance == money.parse_amount("50")


def test_a_confirm_sent_after_the_session_ended_comes_back_as_the_form_not_confirmed(env, billing):
    """The review page is a POST result: its Confirm, sent after the session ended, brings
    the user back to the Recharge form (named by the review), filled in; the confirmation
    itself is never kept, so nothing moves until they review and confirm again."""
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    review = _send_recharge(billing, token, check=200)
    billing.post("/logout", check=303)  # another tab
    r = _send_recharge(billing, _token(review.text), confirm=True)
    page = RECHARGE_PAGE + "&back=%2Fextensions"
    assert r.location == "/login?next=" + quote(page, safe="")
    r = billing.post("/login", {"username": billing.username, "password": "billing-pass-1",
                                "next": page}, check=303)
    assert r.location == page
    form = billing.get(page, check=200).text
    assert 'id="recharge-confirm"' not in form and 'name="amount"' in form
    action, values = _saved_values(form)
    assert action == "/extensions/recharge" and ["amount", "50"] in values
    assert not [v for v in values if v[0] in ("step", "form_page")]
    assert accounts.get_extension("1001").balance == 0


def test_a_form_sent_after_signing_out_in_another_tab_comes_back(env, billing):
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    billing.post("/logout", check=303)  # the other tab (the same browser's cookie)
    r = _send_recharge(billing, token)
    assert r.location.startswith("/login?next=")
    billing.login(billing.username, "billing-pass-1")
    assert _saved_values(billing.get(RECHARGE_PAGE).text)[1][2] == ["amount", "50"]
    # signed in again in that other tab first: straight back to the form, filled in
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    billing.post("/logout", check=303)
    billing.login(billing.username, "billing-pass-1")
    r = _send_recharge(billing, token, amount="7")
    assert r.location == RECHARGE_PAGE
    assert _saved_values(billing.get(RECHARGE_PAGE).text)[1][2] == ["amount", "7"]
    assert accounts.get_extension("1001").balance == 0


def test_a_form_sent_after_the_admin_changed_the_password_comes_back(env, billing):
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    auth.set_password(billing.username, "changed-pass-2")  # e.g. from the Billing Manager
    r = _send_recharge(billing, token)
    assert r.location.startswith("/login?next=")
    billing.login(billing.username, "changed-pass-2")
    assert _saved_values(billing.get(RECHARGE_PAGE).text)[1][2] == ["amount", "50"]
    assert accounts.get_extension("1001").balance == 0


def test_a_kept_form_is_never_shown_to_another_user(env, billing):
    token = _token(billing.get(RECHARGE_PAGE, check=200).text)
    billing.post("/logout", check=303)
    _send_recharge(billing, token)
    other, password = auth.create_billing_user("other-pass-1")
    billing.get("/login", check=200)
    r = billing.post("/login", {"username": other.username, "password": password,
                                "next": RECHARGE_PAGE}, check=303)  # the same browser, another user
    assert r.location == RECHARGE_PAGE
    assert _saved_values(billing.get(RECHARGE_PAGE, check=200).text) is None
    billing.post("/logout", check=303)
    billing.login(billing.username, "billing-pass-1")
    assert _saved_values(billing.get(RECHARGE_PAGE, check=200).text) is None  # discarded
    # the ended session's token works once; a forged one is refused as before
    r = _send_recharge(billing, token, check=403)
    assert "CSRF" in r.text
    assert accounts.get_extension("1001").balance == 0


def test_a_kept_form_keeps_no_password(env, billing):
    token = _token(billing.get("/account/password", check=200).text)
    env[0].billing_ui.sessions.clock = lambda: 10**9
    r = billing.post("/account/password", {"current": "billing-pass-1", "new": "secret-new-1",
                                           "again": "secret-new-1"}, csrf=token, check=303)
    assert r.location == "/login?next=%2Faccount%2Fpassword"
    billing.login(billing.username, "billing-pass-1")
    page = billing.get("/account/password", check=200).text
    assert _saved_values(page) == ("/account/password", [])
    assert "secret-new-1" not in page and "billing-pass-1" not in page
    assert auth.authenticate(billing.username, "billing-pass-1") is not None


def test_no_password_field_of_any_page_is_ever_kept():
    """Every ``type="password"`` field of the templates (an account's PIN, the SMTP
    password too) is one a form kept past its session leaves out."""
    import re
    from pathlib import Path

    from billing_addon.web import kept_form

    views = Path(__file__).resolve().parents[1] / "web" / "views"
    fields = {name for tpl in views.glob("*.tpl") for name in re.findall(
        r'<input[^>]*type="password"[^>]*name="([^"]+)"|<input[^>]*name="([^"]+)"[^>]*'
        r'type="password"', tpl.read_text()) for name in name if name}
    assert {"pin", "smtp_password", "password"} <= fields
    assert fields <= kept_form.SECRET_FIELDS


def test_a_deep_link_keeps_its_query_through_sign_in(env, admin):
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(env[0])
    r = client.get("/extensions/edit?n=1001", check=303)
    assert r.location == "/login?next=%2Fextensions%2Fedit%3Fn%3D1001"
    client.get(r.location, check=200)
    r = client.post("/login", {"username": user.username, "password": password,
                               "next": "/extensions/edit?n=1001"}, check=303)
    assert r.location == "/extensions/edit?n=1001"


# --- extensions ---------------------------------------------------------------------


def test_extension_list_search_and_pagination(billing):
    for n in range(2000, 2120):
        accounts.ensure_extension(str(n), "")
    text = billing.get("/extensions").text
    assert "1–50 of 132" in text and 'rel="next"' in text
    text = billing.get("/extensions?page=3").text
    assert "101–132 of 132" in text
    accounts.edit(["1003"], status="locked", payment_type="postpaid", credit=money.parse_amount("5"))
    text = billing.get("/extensions?status=locked").text
    assert 'data-number="1003"' in text and 'data-number="1001"' not in text
    text = billing.get("/extensions?payment_type=postpaid&number=100").text
    assert "1–1 of 1" in text
    text = billing.get("/extensions?number=nothing-like-this").text
    assert "No extension matches this search" in text


def test_recharge_and_bulk_edit_take_every_page_of_a_search(billing):
    """A hotel's 130 rooms over three pages: "all that match, on every page" takes them
    all, and the forms carry the numbers, so the confirmed list is what changes."""
    rooms = [str(n) for n in range(2000, 2130)]
    for n in rooms:
        accounts.ensure_extension(n, f"Wing B {n}")
    text = billing.get("/extensions?number=Wing").text  # the search matches names too
    assert "All 130 extensions that match this search" in text and 'name="all"' in text
    assert 'name="all"' not in billing.get("/extensions?number=2001").text  # one page only
    form = billing.get("/extensions/bulk-edit?all=1&number=Wing&status=&payment_type=&billing=").text
    assert form.count('type="hidden" name="n"') == 130 and 'value="1001"' not in form
    billing.post("/extensions/bulk-edit", {"n": rooms, "set_billing": "1", "billing_enabled": "1"},
                 check=303)
    assert all(accounts.get_extension(n).billing_enabled for n in rooms)
    others = reports.extensions_page(billing="off").total  # the fixture's, billing still off
    form = billing.get("/extensions/recharge?all=1&billing=off").text
    assert form.count('type="hidden" name="n"') == others > 0 and 'value="2000"' not in form
    ticked_only = billing.get("/extensions/recharge?n=2005&number=Wing").text
    assert ticked_only.count('type="hidden" name="n"') == 1  # without all=1 the ticks count


def test_recharge_is_confirmed_with_amount_and_balances(billing):
    """Issue #13.7: the confirmation shows the amount, the extensions and each balance
    before and after, and warns when billing is off; nothing moves before Confirm."""
    accounts.edit(["1002"], billing_enabled=True)
    accounts.recharge(["1002"], money.parse_amount("3"), "test")
    text = billing.post("/extensions/recharge", {"n": ["1001", "1002"], "amount": "12.5"},
                        check=200).text
    assert 'id="confirm-amount">$12.50<' in text and "($25.00 in all)" in text
    rows = re.findall(r'<tr data-number="(\d+)">(.*?)</tr>', text, re.S)
    cells = {number: re.findall(r'data-label="([^"]+)">([^<]*)<', row) for number, row in rows}
    assert ("Balance now", "$3.00") in cells["1002"] and ("Balance after", "$15.50") in cells["1002"]
    assert ("Balance now", "$0.00") in cells["1001"] and ("Balance after", "$12.50") in cells["1001"]
    assert 'id="billing-off-warning">Billing is off for 1001:' in text
    assert accounts.get_extension("1001").balance == 0
    text = billing.post("/extensions/recharge", {"n": "1001", "amount": "12.50", "step": "change"},
                        check=200).text
    assert 'id="recharge-form"' in text and 'value="12.50"' in text
    assert accounts.get_extension("1001").balance == 0


def test_recharge_selected_and_one(billing):
    r = billing.post("/extensions/recharge", {"n": ["1001", "1002"], "amount": "12.50",
                                              "step": "confirm"}, check=303)
    assert accounts.get_extension("1001").balance == 125000
    assert accounts.get_extension("1002").balance == 125000
    text = billing.get(r.location).text
    assert "Recharged 2 extension(s) with $12.50" in text
    billing.post("/extensions/recharge", {"n": "1003", "amount": "1", "step": "confirm"}, check=303)
    assert accounts.get_extension("1003").balance == 10000
    history = billing.get("/recharges").text
    assert history.count("$12.50") >= 2 and billing.username in history


def test_a_mistyped_recharge_is_corrected_with_an_adjustment(billing):
    billing.post("/extensions/recharge", {"n": "1001", "amount": "100", "step": "confirm"},
                 check=303)  # meant 10
    for data, field, message in [
        ({"n": "1001", "amount": "-90", "reason": " "}, "reason", "Say why"),
        ({"n": "1001", "amount": "0", "reason": "x"}, "amount", "greater than zero"),
        ({"n": "1001", "amount": "-9.00001", "reason": "x"}, "amount", "at most 4 decimals"),
        ({"n": "1001", "amount": "abc", "reason": "x"}, "amount", "not a number"),
    ]:
        r = billing.post("/extensions/adjust", data, check=400)
        assert f'id="err-{field}"' in r.text and message in r.text
    billing.get("/extensions/adjust?n=9999", check=404)
    assert accounts.get_extension("1001").balance == money.parse_amount("100")
    form = {"n": "1001", "amount": "-90", "reason": "recharged 100 instead of 10"}
    review = billing.post("/extensions/adjust", form, check=200).text  # nothing moves yet
    assert 'id="confirm-amount">$90.00<' in review and "Lower the balance" in review
    assert 'id="balance-before">$100.00<' in review and 'id="balance-after">$10.00<' in review
    assert accounts.get_extension("1001").balance == money.parse_amount("100")
    r = billing.post("/extensions/adjust", dict(form, step="confirm"), check=303)
    assert "adjusted by -$90.00: now $10.00" in billing.get(r.location).text
    ext = accounts.get_extension("1001")
    assert ext.balance == money.parse_amount("10") and ext.total_recharges == money.parse_amount("100")
    history = billing.get("/recharges").text
    assert "Adjustment: recharged 100 instead of 10" in history and "-$90.00" in history
    assert "Adjustment: recharged 100 instead of 10" in billing.get("/recharges/export.csv").text
    assert accounts.verify() == []


@pytest.mark.parametrize("amount, message", [
    ("", "amount is required"), ("-5", "must not be negative"), ("abc", "is not a number"),
    ("0", "greater than zero"), ("1.23456", "at most 4 decimals"), ("1,5", "decimal point"),
])
def test_recharge_refuses_bad_amounts(billing, amount, message):
    r = billing.post("/extensions/recharge", {"n": "1001", "amount": amount}, check=400)
    assert 'id="err-amount"' in r.text and message in r.text
    assert accounts.get_extension("1001").balance == 0


def test_recharge_without_selection(billing):
    r = billing.get("/extensions/recharge", check=303)
    assert "Select at least one extension" in billing.get(r.location).text
    billing.get("/extensions/bulk-edit", check=303)
    billing.get("/extensions/edit?n=9999", check=404)


def test_bulk_edit_enables_billing_and_validates(billing):
    r = billing.post("/extensions/bulk-edit", {"n": ["1001", "1002", "1003"], "set_billing": "1",
                                               "billing_enabled": "1", "set_credit": "1",
                                               "credit": "5", "set_payment_type": "1",
                                               "payment_type": "postpaid"}, check=303)
    assert "Bulk Edit saved for 3" in billing.get(r.location).text
    for n in ("1001", "1002", "1003"):
        ext = accounts.get_extension(n)
        assert ext.billing_enabled and ext.credit == 50000 and ext.payment_type == "postpaid"
        assert ext.status == "unlocked"  # not ticked: unchanged
    r = billing.post("/extensions/bulk-edit", {"n": ["1004"], "set_billing": "1", "billing_enabled": "1",
                                               "set_credit": "1", "credit": "-3"}, check=400)
    assert 'id="err-credit"' in r.text
    assert not accounts.get_extension("1004").billing_enabled  # nothing saved
    r = billing.post("/extensions/bulk-edit", {"n": ["1004"]}, check=400)
    assert "Tick at least one property" in r.text
    r = billing.post("/extensions/bulk-edit", {"n": ["1004"], "set_status": "1", "status": "open"}, check=400)
    assert 'id="err-status"' in r.text


def test_edit_one_extension_and_escaping(billing):
    xss = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    billing.post("/extensions/edit", {"n": "1005", "name": xss, "billing_enabled": "1", "credit": "2",
                                      "status": "locked", "payment_type": "prepaid"}, check=303)
    ext = accounts.get_extension("1005")
    assert ext.name == xss and ext.status == "locked" and ext.billing_enabled and ext.credit == 20000
    text = billing.get("/extensions").text
    assert xss not in text and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    r = billing.post("/extensions/edit", {"n": "1005", "name": "x", "credit": "lots", "status": "unlocked",
                                          "payment_type": "prepaid"}, check=400)
    assert 'id="err-credit"' in r.text
    assert accounts.get_extension("1005").name == xss  # nothing saved


def test_unicode_names_survive_the_form(billing):
    billing.post("/extensions/edit", {"n": "1006", "name": "Zimmer Ä 房间", "status": "unlocked",
                                      "payment_type": "prepaid", "credit": "0"}, check=303)
    assert accounts.get_extension("1006").name == "Zimmer Ä 房间"
    assert "Zimmer Ä 房间" in billing.get("/extensions?number=%E6%88%BF%E9%97%B4").text


# --- rates ---------------------------------------------------------------------------

GOOD_RATE = {"active": "1", "remarks": "City", "prefix": "9", "length": "9", "initial_cost": "0",
             "initial_time": "0", "rate": "0.05", "unit": "60", "start": "00:00", "end": "24:00",
             "all_extensions": "1"}


def test_rate_add_edit_toggle_delete(billing):
    r = billing.post("/rates/add", GOOD_RATE, check=303)
    assert "added" in billing.get(r.location).text
    rate = store.Rate.get()
    assert (rate.prefix, rate.length, rate.rate, rate.all_extensions) == ("9", 9, 500, True)
    form = dict(GOOD_RATE, remarks="Mobile", length="12", rate="0.15", all_extensions="",
                extensions=["1001", "1002"])
    billing.post(f"/rates/{rate.id}/edit", form, check=303)
    assert rates.assignments([rate.id])[rate.id] == ["1001", "1002"]
    page = billing.get(f"/rates/{rate.id}/edit", check=200).text
    assert 'value="Mobile"' in page and 'value="1001" checked' in page
    billing.post(f"/rates/{rate.id}/active", {"active": "0"}, check=303)
    assert not store.Rate.get_by_id(rate.id).active
    billing.post(f"/rates/{rate.id}/active", {"active": "1"}, check=303)
    assert store.Rate.get_by_id(rate.id).active
    billing.get("/rates/999/edit", check=404)
    billing.post("/rates/999/active", {"active": "1"}, check=404)
    billing.post("/rates/delete", {"id": [str(rate.id)]}, check=303)
    assert store.Rate.select().count() == 0


@pytest.mark.parametrize("field, value, message", [
    ("prefix", "9a", "digits only"), ("prefix", "", "prefix is required"),
    ("length", "x", "whole number"), ("initial_cost", "-1", "negative"),
    ("initial_time", "1.5", "whole number"), ("rate", "abc", "not a number"),
    ("unit", "0", "from 1 to"), ("start", "25:00", "not a time of day"),
    ("end", "00:00", "end time must differ"),
])
def test_rate_form_shows_each_invalid_field_and_saves_nothing(billing, field, value, message):
    form = dict(GOOD_RATE, **{field: value})
    if field == "end":
        form["start"] = "00:00"
    r = billing.post("/rates/add", form, check=400)
    assert f'id="err-{field}"' in r.text and message in r.text
    assert store.Rate.select().count() == 0


def test_rate_form_several_errors_at_once_and_xss_remarks(billing):
    xss = "<b onmouseover=alert(1)>deal</b>"
    r = billing.post("/rates/add", dict(GOOD_RATE, remarks=xss, prefix="x", unit="0", rate="-"), check=400)
    for field in ("prefix", "unit", "rate"):
        assert f'id="err-{field}"' in r.text
    assert xss not in r.text and "&lt;b onmouseover=alert(1)&gt;deal&lt;/b&gt;" in r.text
    billing.post("/rates/add", dict(GOOD_RATE, remarks=xss), check=303)
    text = billing.get("/rates").text
    assert xss not in text and "&lt;b onmouseover" in text
    r = billing.post("/rates/add", dict(GOOD_RATE, all_extensions="", extensions=["7777"]), check=400)
    assert 'id="err-extensions"' in r.text and "unknown extension" in r.text


def test_rate_tester(billing):
    billing.post("/rates/add", GOOD_RATE, check=303)
    r = billing.get("/rates/test?extension=1001&dialed=912345678&at=2024-05-01T10:00&duration=61",
                    check=200)
    assert 'id="test-cost">$0.10<' in r.text and "City" in r.text
    r = billing.get("/rates/test?extension=1001&dialed=0123&duration=10", check=200)
    assert 'id="test-none"' in r.text
    r = billing.get("/rates/test?extension=1001&dialed=9x&duration=-1&at=soon", check=400)
    for field in ("dialed", "duration", "at"):
        assert f'id="err-{field}"' in r.text


def test_rate_csv_import_export(billing):
    deck = ("prefix,length,rate,unit,remarks,extensions\n"
            "9,9,0.05,60,City,*\n9,12,0.15,60,Mobile,1001 1002\n")
    r = billing.post("/rates/import", files={"file": ("deck.csv", deck.encode())}, check=303)
    assert "2 rate(s) imported" in billing.get(r.location).text
    exported = billing.get("/rates/export.csv", check=200)
    assert "attachment" in exported.header("Content-Disposition")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(from_spreadsheet(x["prefix"]), x["length"], x["rate"]) for x in rows] == [
        ("9", "9", "0.05"), ("9", "12", "0.15")]
    bad = "prefix,length,rate,unit\n9,9,0.05,60\n9x,9,0.05,60\n"
    r = billing.post("/rates/import", files={"file": ("bad.csv", bad.encode())}, check=400)
    assert "line 3" in r.text and "nothing imported" in r.text
    r = billing.post("/rates/import", files={"file": ("bin.csv", b"\xff\xfe\x00garbage")}, check=400)
    assert "not UTF-8" in r.text
    assert store.Rate.select().count() == 2
    billing.post("/rates/import", {"replace": "1"}, files={"file": ("d.csv", b"prefix,rate,unit\n8,1,60\n")},
                 check=303)
    assert store.Rate.select().count() == 1


def test_uploads_over_the_limit_are_refused(billing, env, admin):
    big = b"9,9,0.05,60\n" * (200 * 1024 // 12)  # ~200 KB, the test limit is 64 KB
    r = billing.post("/rates/import", files={"file": ("big.csv", b"prefix,length,rate,unit\n" + big)},
                     check=413)
    assert "The upload is too large" in r.text and "64 KB" in r.text
    assert store.Rate.select().count() == 0
    r = admin.post("/admin/license", files={"license": ("big.lic", b"LICENSE-OK" + b"x" * 300_000)},
                   check=413)
    assert env[1].uploads == 0 and not env[1].licensed
    r = billing.request("POST", "/settings", b"a=1", "application/x-www-form-urlencoded",
                        headers={"Transfer-Encoding": "chunked"}, check=411)


# --- call log, exports, statistics ------------------------------------------------------


def _make_calls():
    accounts.edit(["1001", "1002"], billing_enabled=True)
    accounts.recharge(["1001", "1002"], money.parse_amount("20"), "test")
    rates.add(rates.validate(dict(GOOD_RATE, remarks="City")))
    rates.add(rates.validate(dict(GOOD_RATE, remarks="Mobile", length="12", rate="0.15")))
    base = 1714557600  # 2024-05-01 10:00 UTC
    plan = [("1001", "912345678", 61, "c1"), ("1001", "912345678901", 120, "c2"),
            ("1002", "912345678", 0, "c3"), ("1002", "912345678901", 59, "c4")]
    for i, (number, dialed, seconds, uid) in enumerate(plan):
        auth_ = calls.authorize(number, dialed, at=base + i * 600, uniqueid=uid)
        assert auth_.result == calls.ALLOWED
        calls.settle(uid, seconds, "ANSWER" if seconds else "NOANSWER", at=base + i * 600 + seconds)
    return {"c1": 1000, "c2": 3000, "c3": 0, "c4": 1500}


def test_call_log_shows_costs_and_searches(billing):
    costs = _make_calls()
    text = billing.get("/calls", check=200).text
    assert text.count('data-call="') == 4
    assert "$0.10" in text and "$0.30" in text and "$0.15" in text and "Mobile" in text
    assert "2024-05-01 10:00:00" in text
    text = billing.get("/calls?q=1002").text
    assert text.count('data-call="') == 2
    text = billing.get("/calls?q=Room 1").text  # user name keyword
    assert text.count('data-call="') >= 2
    text = billing.get("/calls?from=2024-05-02").text
    assert "No call matches this search" in text
    r = billing.get("/calls?from=2024-13-01", check=400)
    assert 'id="err-from"' in r.text
    r = billing.get("/calls?from=2024-05-02&to=2024-05-01", check=400)
    assert "before the start date" in r.text
    assert sum(costs.values()) == 5500


def test_exports_have_the_same_rows_as_the_call_log(billing):
    _make_calls()
    settings.put("timezone", "Asia/Shanghai")
    r = billing.download_xlsx("/calls/export.xlsx?q=100")
    assert r.header("Content-Type").startswith("application/vnd.openxmlformats")
    assert "attachment" in r.header("Content-Disposition")
    book = openpyxl.load_workbook(io.BytesIO(r.body), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][6] == "Cost (USD)"
    assert len(rows) == 5
    assert rows[0][0] == "Start Time (Asia/Shanghai)"
    assert rows[1][0] == dt.datetime(2024, 5, 1, 18, 30)  # newest first, in the box's zone
    assert [Decimal(str(row[6])) for row in rows[1:]] == [Decimal("0.15"), Decimal("0"),
                                                          Decimal("0.3"), Decimal("0.1")]
    assert rows[4][1:5] == ("1001", "Room 1", "912345678", 61)
    r = billing.get("/calls/export.csv", check=200)
    lines = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert lines[0][6] == "Cost (USD)" and len(lines) == 5
    assert lines[4][6] == "0.10" and lines[3][6] == "0.30"
    r = billing.download_xlsx("/recharges/export.xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(r.body), read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 3 and Decimal(str(rows[1][4])) == Decimal("20")
    r = billing.get("/recharges/export.csv?q=1002", check=200)
    assert len(list(csv.reader(io.StringIO(r.text)))) == 2
    billing.get("/calls/export.xlsx?from=bad", check=400)


def test_call_log_and_exports_say_which_calls_were_never_authorized(billing):
    """Fail-open: a call billed afterwards (CDR) is shown as not-authorized, a call that
    outran its reservation as over-limit, in the page and in both exports."""
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("20"), "test")
    rates.add(rates.validate(GOOD_RATE))
    base = 1714557600
    calls.settle("open-1", 61, "ANSWER", number="1001", dialed="912345678", started=base,
                 source="cdr")
    calls.authorize("1001", "912345678", at=base + 600, uniqueid="long-1")
    calls.settle("long-1", 20 * 3600, "ANSWER", at=base + 600 + 20 * 3600)
    text = billing.get("/calls", check=200).text
    assert text.count("not-authorized") == 1 and text.count("over-limit") == 1
    lines = list(csv.reader(io.StringIO(billing.get("/calls/export.csv").text.lstrip("\ufeff"))))
    assert sorted(line[7] for line in lines[1:]) == ["charged (not-authorized)", "charged (over-limit)"]
    r = billing.download_xlsx("/calls/export.xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(r.body), read_only=True).active.iter_rows(values_only=True))
    assert sorted(row[7] for row in rows[1:]) == ["charged (not-authorized)", "charged (over-limit)"]


def test_csv_export_neutralises_formulas(billing):
    accounts.ensure_extension("1001", "")
    accounts.edit(["1001"], name="=HYPERLINK(\"http://x\")")
    accounts.recharge(["1001"], 10000, "test")
    text = billing.get("/recharges/export.csv").text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    assert "\u2060=HYPERLINK" in text  # an invisible mark keeps it text


def test_statistics_from_call_daily(billing):
    text = billing.get("/statistics?from=2024-05-01&to=2024-05-31").text
    assert 'id="total-cost">$0.00<' in text and "No calls in this period" in text
    _make_calls()
    text = billing.get("/statistics?from=2024-05-01&to=2024-05-31").text
    assert 'id="total-cost">$0.55<' in text
    assert 'id="total-calls">4<' in text
    assert 'id="total-time">0:04:00<' in text  # 61 + 120 + 59 s
    assert 'id="avg-time">0:01:20<' in text
    assert "<rect" in text and "2024-05-01" in text
    text = billing.get("/statistics?by=month&extension=1001&from=2024-01-01").text
    assert 'id="total-cost">$0.40<' in text and "2024-05" in text
    text = billing.get("/statistics?by=year").text
    assert 'id="total-cost">$0.55<' in text and ">2024<" in text
    r = billing.get("/statistics?extension=4242", check=400)
    assert "there is no extension 4242" in r.text


def test_statistics_range_follows_by_and_is_shown(billing):
    """Issue #13.1: the Day view's last 31 days used to be put in the form, so switching By
    to Year kept them and the "year" total was a month's.  The default range is shown,
    never carried by the form; a typed range that cuts a year says so."""
    _make_calls()
    today = settings.local(store.now_utc()).date()
    text = billing.get("/statistics").text
    assert 'value="" id="stat-from"' in text and 'value="" id="stat-to"' in text
    assert f'data-from="{(today - dt.timedelta(days=30)).isoformat()}"' in text
    text = billing.get("/statistics?by=year").text
    assert 'data-from="" data-to=""' in text and "every day on record" in text
    assert 'id="total-calls">4<' in text and 'id="stat-partial"' not in text
    text = billing.get("/statistics?by=year&from=2024-05-01&to=2024-05-31").text
    assert 'value="2024-05-01" id="stat-from"' in text
    assert "Only part of 2024 is in this range" in text
    assert 'href="/calls?from=2024-05-01&amp;to=2024-05-31&amp;q="' in text


def test_every_page_names_the_time_zone(billing, admin):
    """Issue #13.3: pages that show times say in which zone, with its UTC offset."""
    for path in ("/calls", "/recharges", "/statistics"):
        assert "in UTC (UTC+00:00)" in billing.get(path).text, path
    billing.post("/settings", {"currency": "USD", "timezone": "Asia/Kolkata"}, check=303)
    for path in ("/extensions", "/calls", "/recharges", "/statistics", "/rates", "/rates/test"):
        assert "Times in Asia/Kolkata (UTC+05:30)" in billing.get(path).text, path
    assert 'id="times-zone">Start times in Asia/Kolkata (UTC+05:30)' in billing.get("/calls").text
    assert "Times in Asia/Kolkata (UTC+05:30)" in admin.get("/admin/settings").text


def test_currency_applies_to_every_page_and_export(billing):
    _make_calls()
    r = billing.post("/settings", {"currency": "EUR", "timezone": "Europe/Berlin"}, check=303)
    assert "Settings saved" in billing.get(r.location).text
    for path in ("/extensions", "/calls", "/recharges", "/statistics?by=year", "/rates"):
        text = billing.get(path).text
        assert "€" in text and "$" not in re.sub(r"<script.*?</script>", "", text), path
    assert "Cost (EUR)" in billing.get("/calls/export.csv").text
    r = billing.post("/settings", {"currency": "XXX", "timezone": "Mars/Olympus"}, check=400)
    assert 'id="err-currency"' in r.text and 'id="err-timezone"' in r.text
    assert settings.get("currency") == "EUR"


def test_the_policy_for_calls_no_rate_matches_is_set_in_settings(billing):
    text = billing.get("/settings").text
    assert 'id="unrated-allow" checked' in text  # the default
    billing.post("/settings", {"currency": "USD", "timezone": "UTC", "unrated_policy": "deny"},
                 check=303)
    assert settings.get("unrated_policy") == "deny"
    accounts.edit(["1001"], billing_enabled=True)
    auth_ = calls.authorize("1001", "0049301234567", uniqueid="nr.1")  # no rate for 00
    assert (auth_.result, auth_.reason) == ("DENIED", "no-rate")
    r = billing.post("/settings", {"currency": "USD", "timezone": "UTC", "unrated_policy": "maybe"},
                     check=400)
    assert 'id="err-unrated_policy"' in r.text and settings.get("unrated_policy") == "deny"
    billing.post("/settings", {"currency": "EUR", "timezone": "UTC"}, check=303)  # kept
    assert settings.get("unrated_policy") == "deny"


# --- administrator ---------------------------------------------------------------------


def test_admin_activation_license_and_billing_ac(env, admin):
    activation = env[1]
    text = admin.get("/admin/settings").text
    assert "never been activated" in text and 'id="license-uploaded">No<' in text
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    text = admin.get("/admin/settings").text
    assert "free trial, 30 day(s) left" in text
    assert 'id="first-activation">2024-05-01 09:00:00<' in text
    assert 'id="expiration">2024-05-31 09:00:00<' in text
    r = admin.get("/admin/billing.ac", check=200)
    assert r.body == activation.billing_ac() and 'filename="billing.ac"' in r.header("Content-Disposition")
    r = admin.post("/admin/license", files={"license": ("bad.lic", b"garbage")}, check=303)
    assert "License refused: the file is not a license" in admin.get(r.location).text
    r = admin.post("/admin/license", files={"license": ("good.lic", b"LICENSE-OK\n")}, check=303)
    text = admin.get(r.location).text
    assert "License uploaded and verified" in text
    assert 'id="expiration">Never Expires<' in text and 'id="license-uploaded">Yes<' in text
    admin.post("/admin/license", {}, check=303)
    admin.post("/admin/activation", {"activate": "0"}, check=303)
    assert not activation.on
    assert "Billing is deactivated" in admin.get("/admin/settings").text


def _real_board(db_path, tmp_path, activation=None, board="demo"):
    """The web UI on a board under tmp_path with the real activation (``None``:
    make_app's default for the config), an admin signed in."""
    cfg = config.load(None, {"box": {"board": board, "board_root": str(tmp_path / "box")}})
    app = make_app(cfg, activation)
    auth.set_admin_password(ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    return app, admin


def test_admin_settings_shows_the_running_time_left_whatever_the_clock(db_path, tmp_path):
    from hwlicense.activation import Activation
    from hwlicense.board import load_profile
    from tests.helpers import BoxClock

    clock = BoxClock()
    activation = Activation(load_profile("demo", tmp_path / "box"), clock=clock,
                            uptime=clock.uptime, boot_id=clock.boot_id)
    app, admin = _real_board(db_path, tmp_path, activation)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    clock.now = clock.now + dt.timedelta(days=20)
    assert "free trial, 10 day(s) left" in admin.get("/admin/settings").text
    clock.jump(clock.now - dt.timedelta(days=365))  # the customer sets the clock back
    text = admin.get("/admin/settings").text
    assert "free trial, 10 day(s) left" in text
    assert 'id="clock-warning">the clock' in text and "365 day(s) behind" in text


@pytest.mark.sqlite_only("the license reads the earliest billed call from the SQLite file")
def test_the_web_uis_default_activation_refuses_a_trial_where_calls_were_billed(db_path, tmp_path):
    accounts.ensure_extension("1001")
    accounts.edit(["1001"], billing_enabled=True, credit=money.parse_amount("5"))
    rates.add(rates.validate({"prefix": "9", "rate": "0.10", "unit": "60", "all_extensions": True}))
    assert calls.authorize("1001", "912345678", billing_state="active").result == "ALLOWED"
    app, admin = _real_board(db_path, tmp_path)
    r = admin.post("/admin/activation", {"activate": "1"}, check=303)
    text = admin.get(r.location).text
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    assert f"Billing was not activated: this box has billing history since {today}" in text
    assert "Billing has never been activated" in text


def test_a_device_that_cannot_be_identified_starts_no_trial(db_path, tmp_path):
    app, admin = _real_board(db_path, tmp_path, board="qemu")  # no DMI, no NIC under the root
    r = admin.post("/admin/activation", {"activate": "1"}, check=303)
    text = admin.get(r.location).text
    assert "Billing was not activated: cannot identify this QEMU device" in text
    assert "Billing has never been activated" in text


def test_billing_manager(env, admin):
    r = admin.post("/admin/users/add", check=303)  # a redirect: a reload adds nobody
    assert r.location == "/admin/users"
    r = admin.get(r.location, check=200)
    username = re.search(r'id="new-username">(bill-[a-z0-9]{3,})<', r.text).group(1)
    password = re.search(r'id="new-password">([A-Za-z0-9]{12})<', r.text).group(1)
    assert "shown only once" in r.text
    assert password not in admin.get("/admin/users").text  # shown once
    assert [u.username for u in auth.list_users()] == [username]
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user = Client(env[0])
    user.login(username, password)
    user.get("/extensions", check=200)
    # a password change by the admin ends the user's session
    admin.post("/admin/users/password", {"username": username, "password": "new-password-9"}, check=303)
    assert user.get("/extensions", check=303).location.startswith("/login")
    user.login(username, password, check=401)
    user.login(username, "new-password-9")
    r = admin.post("/admin/users/password", {"username": username, "password": "short"}, check=400)
    assert "at least 8 characters" in r.text
    # an empty "Change" asks first and changes nothing
    r = admin.post("/admin/users/password", {"username": username}, check=200)
    assert 'id="confirm-random"' in r.text and 'id="new-password"' not in r.text
    assert auth.authenticate(username, "new-password-9") is not None
    r = admin.post("/admin/users/password", {"username": username, "random": "1"}, check=303)
    r = admin.get(r.location, check=200)
    new_password = re.search(r'id="new-password">([A-Za-z0-9]{12})<', r.text).group(1)
    assert new_password not in admin.get("/admin/users").text
    # disabling ends the session and refuses sign-in
    admin.post("/admin/users/enabled", {"username": username, "enabled": "0"}, check=303)
    assert user.get("/extensions", check=303).location.startswith("/login")
    user.login(username, new_password, check=401)
    admin.post("/admin/users/enabled", {"username": username, "enabled": "1"}, check=303)
    user.login(username, new_password, check=303)
    r = admin.post("/admin/users/enabled", {"username": "admin", "enabled": "0"}, check=303)
    assert "no such billing user" in admin.get(r.location).text
    admin.get("/admin/settings", check=200)  # the admin cannot be disabled from here


def test_login_page_without_admin_says_how_to_set_it(db_path):
    app = make_app(config.load(None), FakeActivation())
    text = Client(app).get("/login").text
    assert "billing-addon admin set-password" in text


# --- accounts module and CLI ------------------------------------------------------------


def test_password_hashing():
    stored = auth.hash_password("correct horse")
    assert stored.startswith("scrypt$1024$8$1$") and "correct horse" not in stored  # test cost
    assert auth.check_password("correct horse", stored)
    assert not auth.check_password("correct horsE", stored)
    assert not auth.check_password("x", "md5$abc")
    assert not auth.check_password("x", "scrypt$1048576$8$1$c2FsdA==$ZGlnZXN0")  # 1 GB: refused
    assert auth.hash_password("same") != auth.hash_password("same")


def test_the_shipped_hash_cost_and_rehash_at_sign_in(env, monkeypatch):
    """The shipped cost is scrypt N=2**17, r=8, p=1; a user whose hash was made with the
    old N=2**14 gets the new one at their next sign-in, and their sessions go on."""
    assert auth.SHIPPED_COST == auth.ScryptCost(n=2**17, r=8, p=1)
    monkeypatch.setattr(auth, "hash_cost", auth.ScryptCost(n=2**14, r=8, p=1))
    user, password = auth.create_billing_user("billing-pass-1")
    assert user.password_hash.startswith("scrypt$16384$8$1$")
    env[1].activate()
    first = Client(env[0])
    first.login(user.username, password)
    monkeypatch.setattr(auth, "hash_cost", auth.SHIPPED_COST)
    second = Client(env[0])
    second.login(user.username, password)
    stored = auth.get_user(user.username).password_hash
    assert stored.startswith("scrypt$131072$8$1$")
    assert auth.check_password(password, stored)
    assert stored.split("$")[4] == user.password_hash.split("$")[4]  # the same salt
    first.get("/extensions", check=200)  # not signed out by the re-hash
    assert auth.rehashed(password, stored) is None  # done once


def test_throttle_doubles_the_lockout():
    now = [0.0]
    throttle = auth.Throttle(limit=3, lockout=10, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.blocked_for("bob", "1.2.3.4") == 0
        throttle.failure("bob", "1.2.3.4")
    assert throttle.blocked_for("bob", "1.2.3.4") == 10
    assert throttle.blocked_for("BOB ", "1.2.3.4") == 10
    assert throttle.blocked_for("bob", "9.9.9.9") == 0  # another address: not locked out
    now[0] = 11
    assert throttle.blocked_for("bob", "1.2.3.4") == 0
    for _ in range(3):
        throttle.failure("bob", "1.2.3.4")
    assert throttle.blocked_for("bob", "1.2.3.4") == 20
    throttle.success("bob", "1.2.3.4")
    assert throttle.blocked_for("bob", "1.2.3.4") == 0


def test_throttle_limits_an_address_across_user_names():
    throttle = auth.Throttle(limit=3, lockout=10, clock=lambda: 0.0)
    for n in range(11):
        throttle.failure(f"user{n}", "1.2.3.4")
    assert throttle.blocked_for("anyone", "1.2.3.4") == 0
    throttle.failure("user11", "1.2.3.4")  # the 12th failure from that address
    assert throttle.blocked_for("anyone", "1.2.3.4") == 10
    assert throttle.blocked_for("anyone", "1.2.3.5") == 0


def test_cli_admin_set_password_and_users(db_path, tmp_path, monkeypatch, capsys):
    from billing_addon import cli

    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {db_path}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["--config", str(ini), "admin", "set-password"]) == 1
    assert "at least 8" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-password\n"))
    assert cli.main(["--config", str(ini), "admin", "set-password"]) == 0
    store.init_db(db_path)
    assert auth.authenticate("admin", "a-good-password").role == auth.ADMIN
    assert cli.main(["--config", str(ini), "user", "add"]) == 0
    out = capsys.readouterr().out
    name = re.search(r"billing user (bill-\w+) created", out).group(1)
    password = re.search(r"password: (\S+)", out).group(1)
    store.init_db(db_path)
    assert auth.authenticate(name, password) is not None
    assert cli.main(["--config", str(ini), "user", "disable", name]) == 0
    store.init_db(db_path)
    assert auth.authenticate(name, password) is None
    assert cli.main(["--config", str(ini), "user", "disable", "admin"]) == 1


# --- issue 13 items 9-12 -------------------------------------------------------------


class RealRefusal(FakeActivation):
    """Refuses every license with the real verifier's result (its reason carries
    hwlicense's own "license refused:")."""

    def upload_license(self, data: bytes):
        from hwlicense.verify import verify_license

        self.uploads += 1
        return verify_license(data, {}, None)  # type: ignore[arg-type]


def test_license_refusal_says_refused_once(db_path):
    app = make_app(config.load(None), RealRefusal())
    auth.set_admin_password(ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    r = admin.post("/admin/license", files={"license": ("bad.lic", b"garbage")}, check=303)
    flashes = _flash(admin.get(r.location).text)
    assert any(f.startswith("License refused: the file is not a license file") for f in flashes)
    assert not any("refused: license refused" in f.lower() for f in flashes)


@pytest.mark.parametrize("path, status", [
    ("/calls?from=0001-01-01&to=9999-12-31", 200),      # days no timestamp holds: open ends
    ("/recharges?from=0001-01-01&to=9999-12-31", 200),
    ("/calls/export.csv?from=0001-01-01&to=9999-12-31", 200),
    ("/rates/99999999999999999999/edit", 404),           # past SQLite's integers: no rate
])
def test_far_dates_and_huge_ids_are_no_crash(billing, path, status):
    billing.get(path, check=status)


def test_huge_ids_in_posts_are_no_crash(billing):
    billing.post("/rates/99999999999999999999/active", {"active": "1"}, check=404)
    billing.post("/rates/99999999999999999999/edit", {"prefix": "9", "rate": "1", "unit": "60"},
                 check=404)
    billing.post("/rates/delete", {"id": "99999999999999999999"}, check=303)


@pytest.mark.parametrize("page", ["100000000000000000000000", "1e23", "١٢", "-3", "9999999"])
def test_a_page_past_the_end_shows_the_last_page(billing, page):
    for n in range(3):
        rates.add(rates.validate({"prefix": str(n + 1), "rate": "1", "unit": "60"}))
    for path in ("/extensions", "/rates"):
        text = billing.get(f"{path}?page={quote(page)}", check=200).text
        assert "Page 1 of 1" in text, path


def test_look_alike_digits_in_web_forms_are_refused(billing):
    r = billing.post("/rates/add", {"prefix": "9", "rate": "１", "unit": "60", "all_extensions": "1",
                                    "active": "1"}, check=400)
    assert "digits 0-9 only" in r.text
    r = billing.post("/rates/add", {"prefix": "9", "rate": "1", "unit": "٦٠", "all_extensions": "1",
                                    "start": "00:00", "end": "24:00", "active": "1"}, check=400)
    assert "digits 0-9 only" in r.text
    r = billing.get("/rates/test?extension=1001&dialed=912345678&duration=" + quote("١٢"), check=400)
    assert 'id="err-duration"' in r.text
    assert store.Rate.select().count() == 0


def test_decimal_comma_in_web_forms(billing):
    settings.put("currency", "EUR")
    billing.post("/rates/add", {"prefix": "9", "rate": "0,0125", "initial_cost": "1,50",
                                "unit": "1", "all_extensions": "1", "active": "1"}, check=303)
    rate = store.Rate.get()
    assert (rate.rate, rate.initial_cost) == (125, 15000)
    text = billing.get(f"/rates/{rate.id}/edit", check=200).text
    assert 'value="0,0125"' in text and 'value="1,5"' in text
    assert "€0,0125" in billing.get("/rates", check=200).text
    r = billing.post("/rates/add", {"prefix": "8", "rate": "1,000", "unit": "60",
                                    "all_extensions": "1", "active": "1"}, check=400)
    assert "ambiguous" in r.text and store.Rate.select().count() == 1


@pytest.mark.sqlite_only("names rate ids as SQLite gives them (a deleted last id again)")
def test_duplicate_rates_and_2359_are_warned_and_marked(billing):
    form = {"prefix": "9", "length": "9", "rate": "1", "unit": "60", "all_extensions": "1",
            "active": "1", "start": "00:00", "end": "24:00"}
    billing.post("/rates/add", form, check=303)
    # 23:59: 24:00 is offered before anything is saved; either answer saves once
    offer = billing.post("/rates/add", dict(form, end="23:59"), check=200)
    assert 'id="end-of-day-offer"' in offer.text and store.Rate.select().count() == 1
    billing.post("/rates/add", dict(form, end="23:59", end_of_day="midnight"), check=303)
    assert store.Rate.get_by_id(2).end_s == 24 * 3600
    store.Rate.delete_by_id(2)
    r = billing.post("/rates/add", dict(form, end="23:59", end_of_day="keep"), check=303)
    assert store.Rate.select().count() == 2
    text = billing.get(r.location).text
    assert any("ends at 23:59" in f and "use 24:00" in f for f in _flash(text))
    r = billing.post("/rates/add", form, check=303)
    flashes = _flash(billing.get(r.location).text)
    assert any(f.startswith("Warning: rate 3: it never applies: rate 1 ") for f in flashes)
    listing = billing.get("/rates", check=200).text
    assert 'id="never-3"' in listing and 'id="never-1"' not in listing and 'id="never-2"' not in listing
    deck = "prefix,length,rate,unit,extensions\n9,9,1,60,*\n"
    r = billing.post("/rates/import", files={"file": ("d.csv", deck.encode())}, check=303)
    assert any("2 rate(s) never apply" in f for f in _flash(billing.get(r.location).text))


def test_a_big_import_runs_beside_the_page_and_shows_its_progress(db_path):
    import time

    app = make_app(config.load(None, {"web": {"max_upload_kb": "1024"}}), FakeActivation())
    auth.set_admin_password(ADMIN_PW)
    accounts.ensure_extension("1001")
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user, password = auth.create_billing_user("billing-pass-1")
    billing = Client(app)
    billing.login(user.username, password)
    rates.add(rates.validate({"prefix": "9", "rate": "1", "unit": "60", "all_extensions": True}))
    deck = "prefix,rate,unit,extensions\n" + "".join(f"8{i:06d},0.02,60,*\n" for i in range(6000))
    with rates._import_lock:  # another import is running: this one waits its turn
        r = billing.post("/rates/import", {"replace": "1"},
                         files={"file": ("big.csv", deck.encode())}, check=303)
        progress = r.location
        assert re.fullmatch(r"/rates/import/[0-9a-f]{16}", progress)
        r = billing.get(progress, check=200)
        assert 'id="import-done">0<' in r.text and "Importing 6000 rates" in r.text
        assert [r.prefix for r in rates.load_all()] == ["9"]
    pages = []
    for _ in range(600):  # at most a minute
        r = billing.get(progress)
        if r.status == 303:
            break
        assert r.status == 200 and 'id="import-progress"' in r.text
        pages.append(int(re.search(r'id="import-done">(\d+)<', r.text).group(1)))
        time.sleep(0.1)
    assert r.status == 303 and r.location == "/rates", pages
    assert "6000 rate(s) imported" in " ".join(_flash(billing.get("/rates").text))
    assert [r.prefix for r in rates.load_all()][:1] == ["8000000"] and len(rates.load_all()) == 6000
    billing.get(progress, check=404)  # shown once
    bad = deck + "7,0.01,60,4040\n"  # refused before anything runs: at once, on the form
    r = billing.post("/rates/import", files={"file": ("bad.csv", bad.encode())}, check=400)
    assert "line 6002" in r.text and "unknown extension" in r.text


def test_pages_are_compiled_once_not_on_every_request(billing):
    """bottle keeps a compiled template under the id() of the lookup list it is given:
    one list for every render, or each page is compiled again (and kept) per request."""
    for path in ("/calls", "/extensions", "/statistics"):
        billing.get(path, check=200)
    cached = len(bottle.TEMPLATES)
    for _ in range(10):
        for path in ("/calls", "/extensions", "/statistics"):
            billing.get(path, check=200)
    assert len(bottle.TEMPLATES) == cached
