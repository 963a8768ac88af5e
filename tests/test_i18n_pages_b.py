"""The billing pages of part B in Simplified Chinese and Spanish (Rate, Rate Tester, rate
import, Call Log, Recharge History, Statistics, downloads, Settings, the administrator's
Billing Settings and Billing Manager): their catalogs (billing_addon/locale/*/pages_b.po)
are complete, the pages show no English text of theirs, the exports speak the
requester's language, and a rate file exported in Spanish imports back unchanged.

The locale is forced by replacing ``WebCore.request_locale`` (the per-user choice is
another part of the product)."""

from __future__ import annotations

import ast
import csv
import html
import io
import re
from pathlib import Path

import openpyxl
import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from billing_addon.web import auth, rate_import
from billing_addon.web.app import make_app
from billing_addon.web.core import WebCore
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from billing_addon import accounts, calls, config, i18n, money, rates, settings, store
from hwlicense.activation import Activation
from hwlicense.board import load_profile
from tests.helpers import wait_until
from tests.spreadsheet import libreoffice_reads
from tests.web_fakes import FakeActivation
from tests.webclient import Client

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ("zh_CN", "es")
PYTHON = ["web/rates.py", "web/rate_import.py", "web/call_log.py", "web/recharge_history.py",
          "web/search_range.py", "web/statistics.py", "web/exports.py",
          "web/billing_settings.py", "web/admin.py", "billing_addon/rates.py",
          "billing_addon/settings.py", "billing_addon/reports.py", "billing_addon/lowbalance.py"]
TEMPLATES = ["rates.tpl", "rate_form.tpl", "rate_test.tpl", "rates_import.tpl",
             "rates_import_progress.tpl", "calls.tpl", "recharges.tpl", "search_range.tpl",
             "statistics.tpl", "chart.tpl", "settings.tpl",
             "admin_settings.tpl", "admin_users.tpl"]
ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC
GOOD_RATE = {"active": "1", "remarks": "City", "prefix": "9", "length": "9", "initial_cost": "0",
             "initial_time": "0", "rate": "0.05", "unit": "60", "start": "00:00", "end": "24:00",
             "all_extensions": "1"}


def catalog(locale: str) -> dict:
    with (ROOT / "billing_addon/locale" / locale / "pages_b.po").open("rb") as po:
        return {m.id: m for m in read_po(po, locale=locale) if m.id}


def placeholders(text: str) -> set:
    return set(re.findall(r"\{(\w*)\}", text))


def marked_texts() -> set:
    """Every text these pages mark for translation: ``_``, ``N_`` and ``ngettext`` in
    the Python modules, ``_("...")`` in the templates."""
    found = set()
    for rel in PYTHON:
        with (ROOT / rel).open("rb") as source:
            for _line, _func, message, _comments in extract_python(
                    source, {"_": None, "N_": None, "ngettext": (1, 2)}, [], {}):
                found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    call = re.compile(r'''\b_\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)''')
    for name in TEMPLATES:
        text = (ROOT / "web/views" / name).read_text(encoding="utf-8")
        found.update(ast.literal_eval(m.group(1)) for m in call.finditer(text))
    return found


@pytest.fixture(autouse=True)
def back_to_english():
    """A request served in this thread leaves its locale set (the next request sets its
    own); the tests after these run in English again."""
    yield
    i18n.set_current(i18n.DEFAULT_LOCALE)


# --- the catalogs ----------------------------------------------------------------------


def test_every_text_of_these_pages_has_a_translation_with_the_same_placeholders():
    marked = marked_texts()
    assert len(marked) > 300  # the extraction above found the pages' texts
    for locale in LOCALES:
        messages = catalog(locale)
        shared = set(catalog_of_core(locale))
        assert not marked - set(messages) - shared, (locale, sorted(marked - set(messages) - shared))
        for msgid, message in messages.items():
            assert message.string and not message.fuzzy, (locale, msgid)
            assert placeholders(msgid) == placeholders(message.string), (locale, msgid)
            assert message.string.count("<") == msgid.count("<"), (locale, msgid)  # same markup
    assert set(catalog("zh_CN")) == set(catalog("es"))


def catalog_of_core(locale: str) -> dict:
    """The other catalogs of ``locale``, which may translate a text of these pages first."""
    found: dict = {}
    for path in sorted((ROOT / "billing_addon/locale" / locale).glob("*.po")):
        if path.name != "pages_b.po":
            with path.open("rb") as po:
                found.update((m.id, m) for m in read_po(po, locale=locale) if m.id and m.string)
    return found


def test_a_rate_files_header_names_one_column_in_every_language():
    names = {}
    for locale in i18n.LOCALES:
        with i18n.using(locale):
            header = rates.csv_header()
        assert len(set(h.lower() for h in header)) == len(rates.CSV_COLUMNS), locale
        for column, name in zip(rates.CSV_COLUMNS, header):
            assert names.setdefault(name.lower(), column) == column, (locale, name)
    with i18n.using("en"):
        assert rates.csv_header() == rates.CSV_COLUMNS  # the documented format, as before


# --- the pages ---------------------------------------------------------------------------


@pytest.fixture
def app(db_path):
    app = make_app(config.load(None, {}), FakeActivation())
    auth.set_admin_password(ADMIN_PW)
    return app


def speak(monkeypatch, locale: str) -> None:
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)


@pytest.fixture
def admin(app):
    client = Client(app)
    client.login("admin", ADMIN_PW)
    client.post("/admin/activation", {"activate": "1"}, check=303)
    return client


@pytest.fixture
def billing(app, admin):
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


def _some_of_everything(billing):
    accounts.ensure_extension("1001", "Room 1")
    accounts.edit(["1001"], billing_enabled=True, name="Room 1")
    accounts.recharge(["1001"], money.parse_amount("20"), "frontdesk")
    accounts.adjust("1001", -money.parse_amount("1"), "typo", "frontdesk")
    billing.post("/rates/add", GOOD_RATE, check=303)
    billing.post("/rates/add", dict(GOOD_RATE, remarks="Night", start="22:00", end="23:59",
                                    end_of_day="keep"), check=303)
    calls.settle("x1", 61, "ANSWER", number="1001", dialed="912345678", started=T0, source="cdr")
    settings.put("alert_emails", "frontdesk@example.org")
    billing.get("/rates", check=200)  # the English messages of the above, shown


def main_text(page: str) -> str:
    """What a user reads in the page's main part (the layout around it is another part's):
    its text and the texts of its attributes that are read (placeholders, titles...)."""
    main = page[page.index("<main>"):page.index("</main>")]
    main = re.sub(r'<nav class="pager".*?</nav>', " ", main, flags=re.S)  # the pager is shared
    attributes = re.findall(r'(?:placeholder|title|aria-label|data-confirm|data-need-selection-message'
                            r'|data-too-large)="([^"]*)"', main)
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S))
    return html.unescape(" ".join([text] + attributes))


def english_left(text: str, locale: str) -> list:
    """The English texts of this catalog that ``text`` still shows: every run of words
    between the placeholders and markup of a msgid whose translation differs."""
    left = []
    for msgid, message in catalog(locale).items():
        if message.string == msgid:
            continue
        for piece in re.split(r"\{\w*\}|<[^>]+>", msgid):
            piece = piece.strip(" .:;,()“”\"'")
            if not re.search(r"[A-Za-z]{2}", piece) or piece in message.string:
                continue
            if re.search(r"(?<![A-Za-z0-9-])" + re.escape(piece) + r"(?![A-Za-z0-9-])", text):
                left.append(piece)
    return left


BILLING_PAGES = [  # (page, a word it shows in Chinese, in Spanish)
    ("/rates", "费率", "Tarifa"),
    ("/rates?q=77", "没有与", "Ninguna tarifa coincide"),
    ("/rates/add", "号码长度", "Longitud del número"),
    ("/rates/1/edit", "计费单位", "Unidad de facturación"),
    ("/rates/test?extension=1001&dialed=912345678&at=2024-05-01T10:00&duration=61", "匹配费率",
     "Coincide la tarifa"),
    ("/rates/test?extension=1009&dialed=0123&duration=10", "无费率通话的策略", "Política para llamadas"),
    ("/rates/import", "替换整个费率表", "Reemplazar toda la tabla"),
    ("/calls", "被叫号码", "Número marcado"),
    ("/calls?q=nobody", "没有符合此搜索的通话", "Ninguna llamada coincide"),
    ("/recharges", "充值金额", "Importe de la recarga"),
    ("/statistics", "总通话时长", "Tiempo total de llamadas"),
    ("/statistics?by=year&from=2024-03-01", "只有一部分", "Solo una parte"),
    ("/statistics?by=month&extension=1001", "分机 1001", "Extensión 1001"),
    ("/settings", "邮件服务器", "Servidor de correo"),
]
ADMIN_PAGES = [
    ("/admin/settings", "系统信息", "Información del sistema"),
    ("/admin/users", "创建计费用户", "Crear usuario de facturación"),
]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_page_in_chinese_and_spanish(app, admin, billing, monkeypatch, locale):
    _some_of_everything(billing)
    speak(monkeypatch, locale)
    admin.post("/admin/users/add", {}, check=303)  # its message and password, shown once
    word = {"zh_CN": 1, "es": 2}[locale]
    for client, pages in ((billing, BILLING_PAGES), (admin, ADMIN_PAGES)):
        for page in pages:
            text = main_text(client.get(page[0], check=200).text)
            assert page[word] in text, (locale, page[0])
            assert not english_left(text, locale), (locale, page[0], english_left(text, locale))


@pytest.mark.parametrize("locale", LOCALES)
def test_messages_and_field_errors_in_chinese_and_spanish(billing, admin, monkeypatch, locale):
    _some_of_everything(billing)
    speak(monkeypatch, locale)
    zh = locale == "zh_CN"
    r = billing.post("/rates/add", dict(GOOD_RATE, prefix="x", unit="0", start="25:00"), check=400)
    errors = " ".join(re.findall(r'id="err-\w+"[^>]*>([^<]*)<', r.text))
    for shown in (("前缀只能包含数字", "计费单位必须在 1 到 86400 之间", "不是有效的时刻") if zh else
                  ("el prefijo solo admite dígitos", "la unidad de facturación debe estar entre 1 y 86400",
                   "no es una hora del día")):
        assert shown in errors, (locale, errors)
    r = billing.post("/rates/delete", {"id": ["1", "2"]}, check=303)
    assert ("已删除 2 个费率。" if zh else "2 tarifa(s) eliminada(s).") in billing.get(r.location).text
    r = billing.post("/settings", {"currency": "USD", "timezone": "Mars/Base", "smtp_port": "0"},
                     check=400)
    assert ("未知时区 'Mars/Base'" if zh else "zona horaria desconocida 'Mars/Base'") in html.unescape(r.text)
    r = billing.get("/calls?from=2024-13-01", check=400)
    assert ("从：请使用 2024-05-31 这样的日期" if zh else "Desde: use una fecha como 2024-05-31") in r.text
    r = admin.post("/admin/users/enabled", {"username": "nobody", "enabled": "0"}, check=303)
    r = admin.post("/admin/users/add", {}, check=303)
    assert ("已创建计费用户" if zh else "Usuario de facturación") in admin.get(r.location).text


def test_the_english_pages_keep_their_texts(billing):
    """English is the source language: the same words as before the pages were marked."""
    _some_of_everything(billing)
    text = main_text(billing.get("/statistics?by=year&from=2024-03-01").text)
    assert "All extensions, by year:" in text
    assert "(the default range for By Year; pick dates to change it)" not in text
    assert "Only part of 2024 is in this range: its total is for the days shown above, not the " \
           "whole year." in text
    assert "No rate matches “77”. Show all rates ." in " ".join(
        main_text(billing.get("/rates?q=77").text).split())


# --- the exports -------------------------------------------------------------------------


CALL_LOG_ZH = ["开始时间 (UTC)", "分机", "用户名", "被叫号码", "时长（秒）", "费率", "费用（USD）", "状态",
               "呼叫类型", "免费（秒）"]


def test_a_call_log_export_in_chinese_has_chinese_headers_and_machine_values(
        billing, monkeypatch, tmp_path):
    _some_of_everything(billing)
    speak(monkeypatch, "zh_CN")
    lines = list(csv.reader(io.StringIO(billing.get("/calls/export.csv", check=200).text.lstrip("\ufeff"))))
    assert lines[0] == CALL_LOG_ZH
    # numbers and codes as in English
    assert lines[1][4:] == ["61", "City", "0.10", "charged (not-authorized)", "other", "0"]
    path = tmp_path / "calls.xlsx"
    path.write_bytes(billing.download_xlsx("/calls/export.xlsx").body)
    book = libreoffice_reads(path, tmp_path)
    assert book.sheetnames == ["通话记录"]
    ws = book.active
    assert [c.value for c in ws[1]] == CALL_LOG_ZH
    assert ws["G2"].data_type == "n" and ws["H2"].value == "charged (not-authorized)"


def test_an_xlsx_is_built_in_the_language_of_who_asked(billing, monkeypatch):
    """The rows are read in the build's own thread: its texts (here the note of an
    adjustment) are in the requester's language, not the box's."""
    _some_of_everything(billing)
    speak(monkeypatch, "es")
    book = openpyxl.load_workbook(io.BytesIO(billing.download_xlsx("/recharges/export.xlsx").body))
    assert book.sheetnames == ["Historial de recargas"]
    ws = book.active
    assert [c.value for c in ws[1]][3:6] == ["Saldo anterior (USD)", "Importe de la recarga (USD)",
                                             "Saldo posterior (USD)"]
    assert sorted(c.value or "" for c in ws["H"][1:]) == ["", "Ajuste: typo"]


def test_a_rate_file_exported_in_spanish_imports_back_unchanged(billing, monkeypatch):
    _some_of_everything(billing)
    billing.post("/rates/add", dict(GOOD_RATE, remarks="Móvil, 1001", prefix="+346", length="12",
                                    initial_cost="0.2", initial_time="30", rate="0.125", unit="6",
                                    all_extensions="", extensions=["1001"], active=""), check=303)
    speak(monkeypatch, "es")
    exported = billing.get("/rates/export.csv", check=200).text
    header = next(csv.reader(io.StringIO(exported)))
    assert header == ["Activar", "Observaciones", "Prefijo", "Longitud del número", "Coste inicial",
                      "Tiempo inicial", "Tarifa", "Unidad de facturación", "Hora de inicio",
                      "Hora de fin", "Extensiones", "Tipo de llamada"]
    before = _rate_rows()
    for locale in ("es", "zh_CN", "en"):  # read back whatever language the importer speaks
        speak(monkeypatch, locale)
        r = billing.post("/rates/import", {"replace": "1"},
                         files={"file": ("tarifas.csv", exported.encode())}, check=303)
        assert "/rates" == r.location
        assert _rate_rows() == before, locale
    speak(monkeypatch, "es")
    assert billing.get("/rates/export.csv", check=200).text == exported


def _rate_rows():
    return sorted((r.active, r.remarks, r.prefix, r.length, r.initial_cost, r.initial_time, r.rate,
                   r.unit, r.start_s, r.end_s, r.all_extensions, tuple(sorted(
                       rates.assignments([r.id]).get(r.id, []))))
                  for r in store.Rate.select().where(rates.in_force()))


def test_a_bad_rate_file_is_refused_in_the_users_language(billing, monkeypatch):
    speak(monkeypatch, "zh_CN")
    bad = "前缀,费率,Unidad de facturación,color\n9,0.05,60,red\n"
    r = billing.post("/rates/import", files={"file": ("bad.csv", bad.encode())}, check=400)
    assert "未导入任何内容：第 1 行：表头：未知列 color；应为：启用,备注,前缀" in html.unescape(r.text)
    assert store.Rate.select().count() == 0


def test_a_big_import_reports_in_the_language_of_who_started_it(billing, monkeypatch):
    """A big deck is put in force in a thread of its own: its warnings are counted there,
    in the importer's language."""
    monkeypatch.setattr(rate_import, "INLINE_ROWS", 1)
    speak(monkeypatch, "zh_CN")
    deck = "prefix,rate,unit,end\n9,0.05,60,23:59\n8,0.05,60,24:00\n"
    r = billing.post("/rates/import", files={"file": ("deck.csv", deck.encode())}, check=303)
    assert re.fullmatch(r"/rates/import/[0-9a-f]{16}", r.location)
    wait_until(lambda: rate_import.get(r.location.rsplit("/", 1)[1]).finished, 30, "the import")
    r = billing.get(r.location, check=303)
    shown = " ".join(re.findall(r'class="flash flash-\w+"[^>]*>([^<]*)<', billing.get(r.location).text))
    assert "已导入 2 个费率。" in shown
    assert "警告：1 个费率在 23:59 结束，23:59:00-23:59:59 没有费率（请用 24:00）。" in shown


@pytest.mark.parametrize("locale, other", [("zh_CN", "其他 (¤)"), ("es", "Otra (¤)"), ("en", "Other (¤)")])
def test_the_other_currency_is_named_in_the_users_language(billing, monkeypatch, locale, other):
    """On the Settings picker, and in the header's currency once chosen."""
    speak(monkeypatch, locale)
    labels = re.findall(r'name="currency" value="(\w+)"[^>]*>\s*([^<]*)</label>',
                        billing.get("/settings", check=200).text)
    assert [(code, html.unescape(label).strip()) for code, label in labels] == [
        ("USD", "USD ($)"), ("CNY", "CNY (¥)"), ("EUR", "EUR (€)"), ("GBP", "GBP (£)"), ("OTHER", other)]
    settings.put("currency", "OTHER")
    header = re.search(r'<a class="currency"[^>]*>([^<]*)</a>', billing.get("/rates", check=200).text)
    assert header and html.unescape(header.group(1)) == other


@pytest.mark.parametrize("locale, data, reason", [
    ("zh_CN", b"garbage", "授权被拒绝：该文件不是授权文件。"),
    ("es", b"garbage", "Licencia rechazada: el archivo no es una licencia."),
    ("zh_CN", b"", "授权被拒绝：文件为空。"),
    ("en", b"garbage",
     "License refused: the file is not a license file (unknown first line). Nothing was changed."),
])
def test_a_refused_license_says_why_in_the_admins_language(db_path, tmp_path, monkeypatch, locale, data,
                                                          reason):
    """The real licensing (the demo board's): hwlicense's refusal, by its code, in the box's
    language; English keeps hwlicense's own words."""
    activation = Activation(load_profile("demo", tmp_path),
                            trusted_keys=[Ed25519PrivateKey.generate().public_key()])
    app = make_app(config.load(None, {}), activation)
    auth.set_admin_password(ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    speak(monkeypatch, locale)
    r = admin.post("/admin/license", {}, files={"license": ("license.txt", data)}, check=303)
    flashes = re.findall(r'class="flash flash-error"[^>]*>([^<]*)<', admin.get(r.location, check=200).text)
    assert any(html.unescape(f).startswith(reason) for f in flashes), flashes
