"""The UI in the user's language (issue #14 item 4): a language per billing user and a
box default, amounts typed and shown with the locale's decimal mark, formats by locale."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from billing_addon.web import auth
from billing_addon.web.app import make_app

from billing_addon import accounts, config, i18n, localefmt, settings, store
from tests.web_fakes import FakeActivation
from tests.webclient import Client

ADMIN_PW = "admin-secret-1"


@pytest.fixture
def env(db_path):
    app = make_app(config.load(None, {}), FakeActivation())
    auth.set_admin_password(ADMIN_PW)
    for n in ("1001", "1002"):
        accounts.ensure_extension(n, f"Room {n}")
    return app


@pytest.fixture
def admin(env):
    client = Client(env)
    client.login("admin", ADMIN_PW)
    client.post("/admin/activation", {"activate": "1"}, check=303)
    return client


def _user(env, locale=None):
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(env)
    client.login(user.username, password)
    client.username = user.username
    if locale:
        client.post("/account/language", {"locale": locale}, check=303)
    return client


def _flashes(text):
    return re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', text)


def _error(text, field):
    match = re.search(rf'id="err-{field}"[^>]*>([^<]*)<', text)
    return match and match.group(1)


def test_the_migration_adds_the_users_language(db_path):
    columns = [row[1] for row in store.db.execute_sql("PRAGMA table_info(billing_user)").fetchall()]
    assert "locale" in columns
    assert max(v for v, _n, _s in store.available_migrations()) >= 6


def test_a_user_chooses_their_language_on_their_account_page(env, admin):
    desk = _user(env)
    page = desk.get("/account/password", check=200).text
    assert "Your account" in page and 'id="locale"' in page and 'id="password-form"' in page
    assert ">简体中文<" in page and ">Español<" in page and ">English<" in page
    r = desk.post("/account/language", {"locale": "zh_CN"}, check=303)
    assert r.location == "/account/password"
    assert auth.user_locale(desk.username) == "zh_CN"
    page = desk.get("/account/password", check=200).text
    assert '<html lang="zh-CN">' in page and "退出登录" in page and "我的账户" in page
    assert _flashes(page) == ["语言已保存。"]
    # the administrator's pages and another user's stay in the box's default (English)
    assert "Sign out" in admin.get("/admin/users", check=200).text
    assert "Sign out" in _user(env).get("/extensions", check=200).text


def test_a_language_not_offered_is_refused_and_changes_nothing(env, admin):
    desk = _user(env, "es")
    r = desk.post("/account/language", {"locale": "fr"}, check=400)
    assert _error(r.text, "locale") == "Elija uno de los idiomas de la lista."
    assert auth.user_locale(desk.username) == "es"
    r = admin.post("/admin/users/locale", {"username": desk.username, "locale": "xx"}, check=400)
    assert "unknown language &#039;xx&#039;" in r.text
    assert auth.user_locale(desk.username) == "es"


def test_the_box_default_and_the_admins_choice_for_a_user(env, admin):
    desk, other = _user(env), _user(env, "zh_CN")
    r = desk.post("/settings", {"currency": "USD", "timezone": "UTC", "language": "es"}, check=303)
    assert settings.get("language") == "es"
    assert "Cerrar sesión" in desk.get("/extensions", check=200).text  # no choice: the default
    assert "退出登录" in other.get("/extensions", check=200).text  # their own choice wins
    assert "Cerrar sesión" in admin.get("/admin/users", check=200).text
    assert '<html lang="es">' in Client(env).get("/login", check=200).text  # before sign-in
    r = desk.post("/settings", {"currency": "USD", "timezone": "UTC", "language": "de"}, check=400)
    assert _error(r.text, "language") and settings.get("language") == "es"
    # the administrator gives the first user English, then back to the box's default
    admin.post("/admin/users/locale", {"username": desk.username, "locale": "en"}, check=303)
    assert "Sign out" in desk.get("/extensions", check=200).text
    admin.post("/admin/users/locale", {"username": desk.username, "locale": ""}, check=303)
    assert auth.user_locale(desk.username) is None
    assert "Cerrar sesión" in desk.get("/extensions", check=200).text


def test_a_spanish_user_types_amounts_with_a_decimal_comma(env, admin):
    desk = _user(env, "es")
    page = desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12,50")], check=200).text
    assert 'name="amount" value="12,50"' in page  # the review page carries it in the same mark
    desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12,50"), ("step", "confirm")],
              check=303)
    assert accounts.get_extension("1001").balance == 125000
    r = desk.post("/extensions/recharge", [("n", "1001"), ("amount", "1,000")], check=400)
    assert _error(r.text, "amount") == ("&#039;1,000&#039; es ambiguo (¿un separador de miles?): "
                                        "escriba 1000, o 1,0 para el decimal")
    r = desk.post("/extensions/recharge", [("n", "1001"), ("amount", "1.000,5")], check=400)
    assert "una sola coma decimal (12,50)" in _error(r.text, "amount")
    assert accounts.get_extension("1001").balance == 125000  # nothing changed
    desk.post("/extensions/edit?n=1002", {"n": "1002", "name": "Room 2", "credit": "3,25",
                                           "status": "unlocked", "payment_type": "prepaid",
                                           "low_threshold": "0,5"}, check=303)
    ext = accounts.get_extension("1002")
    assert (ext.credit, ext.low_balance_threshold) == (32500, 5000)
    form = desk.get("/extensions/edit?n=1002", check=200).text
    assert 'value="3,25"' in form and 'value="0,50"' in form
    desk.post("/settings", {"currency": "USD", "timezone": "UTC", "language": "en",
                            "low_balance_threshold": "7,5"}, check=303)
    assert settings.get("low_balance_threshold") == "7.50"
    assert 'value="7,50"' in desk.get("/settings", check=200).text
    desk.post("/rates/add", {"prefix": "9", "rate": "0,0125", "initial_cost": "1,5",
                             "unit": "60", "all_extensions": "1"}, check=303)
    assert 'value="0,0125"' in desk.get("/rates/1/edit", check=200).text


def test_a_chinese_user_types_a_point_even_for_euros(env, admin):
    settings.put("currency", "EUR")
    desk = _user(env, "zh_CN")
    r = desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12,50")], check=400)
    assert _error(r.text, "amount") == ("&#039;12,50&#039;：请使用小数点而不是逗号，且不要使用千位"
                                        "分隔符（12.50）")
    desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12.5"), ("step", "confirm")],
              check=303)
    assert accounts.get_extension("1001").balance == 125000
    assert "€12.50" in desk.get("/extensions", check=200).text


def test_english_keeps_the_currencys_mark(env, admin):
    """Nothing changed for English users: a point for dollars, a comma (or a point) for euros."""
    desk = _user(env)
    r = desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12,50")], check=400)
    assert "use a decimal point, not a comma" in _error(r.text, "amount")
    settings.put("currency", "EUR")
    desk.post("/extensions/recharge", [("n", "1001"), ("amount", "12,50"), ("step", "confirm")],
              check=303)
    assert accounts.get_extension("1001").balance == 125000
    assert "€12,50" in desk.get("/extensions", check=200).text


def test_pages_show_money_and_times_in_the_users_formats(env, admin):
    desk = _user(env, "es")
    accounts.recharge(["1001"], 12345678, operator="t")  # 1234.5678
    assert "1.234,5678\xa0$" in desk.get("/extensions", check=200).text
    # the Recharge History's time: Babel's medium Spanish format, "30 nov 2026, 6:04:02"
    recharges = desk.get("/recharges", check=200).text
    assert re.search(r">\d{1,2} [a-z]{3,4} \d{4}, \d{1,2}:\d\d:\d\d<", recharges)
    with i18n.using("zh_CN"):
        assert localefmt.amount(12345678, "USD") == "$1,234.5678"


def test_a_requests_language_ends_with_the_request(env, admin):
    """A thread serves many users: one user's language must not stay for the next
    request (here the test's own thread, which runs the app in-process)."""
    desk = _user(env, "es")
    assert "Cerrar sesión" in desk.get("/extensions", check=200).text
    assert i18n.current() == "en"
    assert '<html lang="es">' in desk.get("/no-such-page", check=404).text  # error pages too
    assert "Sign out" in admin.get("/admin/users", check=200).text


def test_the_licensing_sentences_are_in_the_users_language(db_path):
    """hwlicense speaks English; the trial notice and the sign-in refusals are made for
    each request in its user's language (the box default before sign-in)."""
    activation = FakeActivation()
    app = make_app(config.load(None, {}), activation)
    auth.set_admin_password(ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    desk = _user(app, "es")
    activation.now = activation.first + dt.timedelta(days=24, hours=1)  # 5 days left
    app.billing_ui.forget_activation()
    notice = re.search(r'id="trial-notice">([^<]*)<', desk.get("/extensions", check=200).text).group(1)
    assert notice.startswith("La prueba de facturación termina el") and "(quedan 5 día(s))" in notice
    assert "31 may 2024" in notice  # the date as Spanish writes it
    admin.post("/admin/activation", {"activate": "0"}, check=303)
    settings.put("language", "zh_CN")
    page = Client(app).get("/login", check=200).text
    user, password = auth.create_billing_user("billing-pass-2")
    refused = Client(app).login(user.username, password, check=403).text
    assert "计费已停用" in refused and "Billing is deactivated" not in refused
    assert "<html lang=\"zh-CN\">" in page
