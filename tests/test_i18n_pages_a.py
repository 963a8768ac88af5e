"""Pages A in Simplified Chinese and Spanish (issue #14 item 4): sign-in, the layout,
Extensions with Recharge, Adjust, Edit and Bulk Edit, Stays with check-in, check-out and
statements, the own-password page and the error pages, through the WSGI app with the
request's locale forced (the per-user choice is another part of the item); and the
catalogs of these pages (``billing_addon/locale/<locale>/pages_a.po``): every text marked
in their sources translated, the same placeholders in each translation."""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from billing_addon.web.core import WebCore

from billing_addon import accounts, i18n, money, stays
from tests.test_web_app import admin, billing, env  # noqa: F401
from tests.webclient import Client

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ("zh_CN", "es")
PYTHON_SOURCES = ["web/core.py", "web/signin.py", "web/auth.py", "web/kept_form.py", "web/extensions.py",
                  "web/stays.py", "billing_addon/accounts.py", "billing_addon/stays.py",
                  "billing_addon/statements.py"]
TEMPLATES = ["layout", "login", "error", "field_error", "pager", "extensions", "ext_edit",
             "bulk_edit", "recharge", "recharge_confirm", "adjust", "adjust_confirm", "checkin",
             "checkin_confirm", "checkout", "checkout_confirm", "stays", "statement"]
GUESTS = ("Ada Lovelace", "Grace Hopper", "Alan Turing")
# what a page may show in Latin letters in Chinese: user data, codes, units, file types
LATIN_ALLOWED = {"PBX", "CSRF", "USD", "UTC", "PDF", "xlsx", "Room", "MB", "KB"}


def catalog(locale: str):
    with (ROOT / "billing_addon" / "locale" / locale / "pages_a.po").open("rb") as po:
        return {m.id: m for m in read_po(po, locale=locale) if m.id}


def marked_texts():
    """Every text marked for translation in the sources of pages A."""
    found = set()
    for rel in PYTHON_SOURCES:
        with (ROOT / rel).open("rb") as source:
            for _line, _func, message, _comments in extract_python(
                    source, {"_": None, "N_": None, "ngettext": (1, 2)}, [], {}):
                found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    for name in TEMPLATES:
        text = (ROOT / "web" / "views" / f"{name}.tpl").read_text(encoding="utf-8")
        found.update(re.findall(r'(?<![\w.])_\("((?:[^"\\]|\\.)*)"\)', text))
    return found


def placeholders(text: str):
    return set(re.findall(r"\{(\w*)\}", text))


# --- the catalogs ---------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_of_pages_a_has_a_translation_with_the_same_placeholders(locale):
    messages = catalog(locale)
    core = set()  # the other parts' catalogs (core.po, and those of later parts: a menu entry)
    for path in sorted((ROOT / "billing_addon" / "locale" / locale).glob("*.po")):
        if path.name != "pages_a.po":
            with path.open("rb") as po:
                core |= {m.id for m in read_po(po, locale=locale) if m.id}
    missing = sorted(marked_texts() - set(messages) - core)
    assert not missing, f"not in pages_a.po ({locale}): {missing}"
    for msgid, message in messages.items():
        assert message.string and message.string.strip(), f"{locale}: no translation of {msgid!r}"
        assert not message.fuzzy, f"{locale}: fuzzy {msgid!r}"
        assert placeholders(message.string) == placeholders(msgid), (locale, msgid, message.string)


def test_both_catalogs_have_the_same_texts():
    assert set(catalog("zh_CN")) == set(catalog("es"))


def test_one_term_per_concept():
    """The terms a front desk knows, the same on every page of these catalogs."""
    terms = {"zh_CN": {"extension": "分机", "balance": "余额", "recharge": "充值", "statement": "账单",
                       "check-in": "入住", "check-out": "退房"},
             "es": {"extension": "extensi", "balance": "saldo", "recharge": "recarga",
                    "statement": "estado", "check-in": "entrada", "check-out": "salida"}}
    for locale, words in terms.items():
        for msgid, message in catalog(locale).items():
            english_text = re.sub(r"\{\w*\}", "", msgid)
            for concept, word in words.items():
                english = {"check-in": r"check(ed)?[- ]in\b", "check-out": r"check(ed)?[- ]out\b",
                           "recharge": r"recharge(?!d)", "balance": r"\bbalance"}.get(concept, concept)
                if re.search(english, english_text, re.I):
                    assert word in message.string.lower(), (locale, concept, msgid, message.string)


# --- the pages ------------------------------------------------------------------------


class _Visible(HTMLParser):
    """The text a user reads: text outside script and style, and the attributes shown
    as tooltips, placeholders, labels of stacked rows and confirmations."""

    SHOWN = {"title", "placeholder", "aria-label", "data-label", "data-confirm", "data-selected",
             "data-none", "data-need-selection-message"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [value for name, value in attrs if name in self.SHOWN and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(page_html: str) -> str:
    parser = _Visible()
    parser.feed(page_html)
    return html.unescape(" ".join(" ".join(parser.parts).split()))


def english_left(text: str, locale: str):
    """Texts of the catalogs still in English on a page in ``locale``: a msgid's literal
    parts (between its placeholders) found as whole words where a translation exists."""
    left = []
    for msgid, message in catalog(locale).items():
        if message.string == msgid:
            continue
        for part in re.split(r"\{\w*\}", msgid):
            part = part.strip(" .,:;()?")
            if len(re.sub(r"[^A-Za-z]", "", part)) >= 3 and \
                    re.search(r"(?<![\w-])" + re.escape(part) + r"(?![\w-])", text):
                left.append(part)
    return left


def latin_words(text: str, data):
    text = re.sub(r"\{\w+\}", " ", text)  # the placeholders of texts app.js fills in
    for value in data:
        text = text.replace(value, " ")
    return sorted({w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in LATIN_ALLOWED})


@pytest.fixture
def front_desk(env, billing, monkeypatch):  # noqa: F811
    """The billing user's client; 1002 checked in, 1003 checked out with its statement."""
    store_now = stays.now_utc()
    stays.check_in("1003", GUESTS[2], deposit=money.parse_amount("20"), at=store_now - 7200)
    statement = stays.check_out("1003", at=store_now - 3600)["number"]
    stays.check_in("1002", GUESTS[0], deposit=money.parse_amount("10"))
    chosen = {"locale": "en"}
    monkeypatch.setattr(WebCore, "request_locale", lambda self: chosen["locale"])
    yield billing, statement, chosen
    i18n.set_current(i18n.DEFAULT_LOCALE)  # the tests share this thread


# (what is asked, the key words it must show in Chinese and in Spanish)
PAGES = [
    (("GET", "/extensions"), ("余额", "Saldo")),
    (("GET", "/extensions?number=none-such"), ("没有符合此搜索的分机", "Ninguna extensión coincide")),
    (("GET", "/extensions/recharge?n=1001&n=1002"), ("充值金额", "Importe de la recarga")),
    (("POST", "/extensions/recharge", {"n": ["1001", "1002"], "amount": "5", "back": "/extensions"}),
     ("确认充值", "Confirmar recarga")),
    (("POST", "/extensions/recharge", {"n": ["1001", "1002"], "amount": "5", "step": "confirm",
                                       "back": "/extensions"}), ("已为 2 个分机各充值", "Recargadas 2")),
    (("GET", "/extensions/bulk-edit?n=1001&n=1002"), ("批量编辑", "Edición masiva")),
    (("POST", "/extensions/bulk-edit", {"n": "1001"}), ("至少勾选一项", "Marque al menos")),
    (("GET", "/extensions/edit?n=1001"), ("低余额阈值", "Umbral de saldo bajo")),
    (("GET", "/extensions/adjust?n=1001"), ("核对调整", "Revisar ajuste")),
    (("POST", "/extensions/adjust", {"n": "1001", "amount": "-1", "reason": "typo"}),
     ("余额减少", "Reducir el saldo")),
    (("GET", "/stays/check-in?n=1004"), ("押金", "Depósito")),
    (("POST", "/stays/check-in", {"n": "1004", "guest": GUESTS[1], "deposit": "10"}),
     ("确认入住", "Confirmar entrada")),
    (("GET", "/stays/check-out?n=1002"), ("期初余额", "Saldo inicial")),
    (("POST", "/stays/check-out", {"n": "1002", "payment": ""}), ("确认退房", "Confirmar salida")),
    (("GET", "/stays"), ("已入住", "Estados de cuenta")),
    (("GET", "/statements/{statement}"), ("期末余额", "Saldo final")),
    (("POST", "/extensions/adjust", {"n": "1001", "amount": "1", "reason": " "}),
     ("请说明原因", "Indique el motivo")),
    (("POST", "/stays/check-in", {"n": "1002", "guest": "x"}), ("请先办理退房", "registre primero")),
    (("POST", "/statements/issue", {"n": "1001", "from": "", "to": ""}),
     ("请填写期间的开始和结束", "indique el inicio y el fin")),
    (("GET", "/extensions/edit?n=9999"), ("没有这个分机", "Esa extensión no existe")),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("request_, words", PAGES, ids=[" ".join(p[0][:2]) for p in PAGES])
def test_pages_a_in_chinese_and_spanish(front_desk, locale, request_, words):
    client, statement, chosen = front_desk
    chosen["locale"] = locale
    method, path = request_[0], request_[1].format(statement=statement)
    response = client.get(path) if method == "GET" else client.post(path, request_[2])
    if response.status == 303:  # done, or refused with a flash: the page it goes to says so
        response = client.get(response.location)
    assert response.status in (200, 400, 404), (path, response.status)
    text = visible_text(response.text)
    assert words[LOCALES.index(locale)] in text, (path, text)
    assert ("分机" if locale == "zh_CN" else "Extensiones") in text  # the menu
    assert english_left(text, locale) == [], (path, text)
    if locale == "zh_CN":  # nothing else in English either (not even a text left unmarked)
        data = [*GUESTS, statement, "typo", "bill-xxx",
                "billing-addon admin set-password", "Content-Length", client.username]
        assert latin_words(text, data) == [], (path, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_sign_in_and_the_flash_messages_in_chinese_and_spanish(front_desk, env, locale):  # noqa: F811
    client, _statement, chosen = front_desk
    chosen["locale"] = locale
    zh = locale == "zh_CN"
    signed_out = Client(env[0])
    page = visible_text(signed_out.get("/login").text)
    assert ("用户名" if zh else "Nombre de usuario") in page and english_left(page, locale) == []
    page = visible_text(signed_out.post("/login", {"username": "bill-nobody", "password": "nope"}).text)
    assert ("用户名或密码错误" if zh else "Usuario o contraseña incorrectos") in page
    client.post("/extensions/recharge", {"n": ["1001", "1002"], "amount": "5", "step": "confirm",
                                         "back": "/extensions"}, check=303)
    page = visible_text(client.get("/extensions").text)
    assert ("已为 2 个分机各充值" if zh else "Recargadas 2 extensión(es) con") in page, page
    assert english_left(page, locale) == []


@pytest.mark.parametrize("locale, deposit, paid", [
    ("zh_CN", "押金：Grace Hopper", "退房时付款：Grace Hopper"),
    ("es", "depósito: Grace Hopper", "pagado a la salida: Grace Hopper"),
    ("en", "deposit: Grace Hopper", "paid at check-out: Grace Hopper"),
])
def test_the_notes_of_a_deposit_and_a_payment_in_the_readers_language(front_desk, locale, deposit, paid):
    """Check-in and check-out store their notes in English; a statement, its page and its
    xlsx, shows them in the language of who reads it (English exactly as stored)."""
    client, _statement, chosen = front_desk
    stays.check_in("1005", GUESTS[1], deposit=money.parse_amount("10"), at=stays.now_utc() - 60)
    accounts.adjust("1005", -money.parse_amount("15"), "minibar", "frontdesk")
    number = stays.check_out("1005", payment=money.parse_amount("5"))["number"]
    chosen["locale"] = locale
    page = visible_text(client.get(f"/statements/{number}").text)
    assert deposit in page and paid in page, page
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/statements/{number}.xlsx", check=200).body))
    notes = [row[3] for row in book.worksheets[2].iter_rows(min_row=2, values_only=True)]
    assert deposit in notes and paid in notes and "minibar" in notes, notes


@pytest.mark.parametrize("locale, words", [
    ("zh_CN", {"balance": "操作后余额", "after": "退房后分机状态", "in": "1004 入住", "out": "1002 退房"}),
    ("es", {"balance": "Saldo resultante", "after": "Extensión tras la salida",
            "in": "Registrar entrada en 1004", "out": "Registrar salida de 1002"}),
])
def test_the_reviews_read_naturally(front_desk, locale, words):
    """Wordings the audit changed: "Balance after" (not "Saldo después", "之后余额"), the
    state of the extension after check-out, the titles of check-in and check-out."""
    client, _statement, chosen = front_desk
    chosen["locale"] = locale
    assert words["in"] in visible_text(client.get("/stays/check-in?n=1004").text)
    assert words["out"] in visible_text(client.get("/stays/check-out?n=1002").text)
    review = visible_text(client.post("/stays/check-out", {"n": "1002", "payment": ""}).text)
    assert words["balance"] in review and words["after"] in review, review


def test_english_stays_the_source_language(front_desk):
    client, statement, chosen = front_desk
    page = visible_text(client.get("/extensions/recharge?n=1001").text)
    assert "Recharge Amount (USD ($))" in page and "Times in UTC (UTC+00:00)" in page
    assert "Statement " + statement in visible_text(client.get(f"/statements/{statement}").text)

