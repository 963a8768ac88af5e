"""The Re-rating pages through the WSGI app (tests/test_web_app's box): access and CSRF,
bad input on the form, a preview of many calls a page at a time, apply (in a thread, with
its progress) and apply again."""

import html
import threading

import pytest
from billing_addon.web import rerate as web_rerate
from billing_addon.web.core import WebCore

from billing_addon import accounts, calls, i18n, money, rates, rerate, store
from billing_addon.store import Ledger
from tests.helpers import wait_until
from tests.test_i18n_pages_a import visible_text
from tests.test_web_app import admin, billing, env  # noqa: F401
from tests.webclient import Client

T0 = 1714564800  # 2024-05-01 12:00 UTC


def runs():
    return store.sql_one("SELECT count(*) FROM rerate_run")[0]


def month_of_calls(count):
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("500"), "test")
    rate = rates.add(rates.validate({"prefix": "9", "rate": "0.10", "unit": "60",
                                     "all_extensions": True, "remarks": "far"}))
    for i in range(count):
        assert calls.authorize("1001", "912345", T0 + i * 600, f"w{i}").result == calls.ALLOWED
        calls.settle(f"w{i}", 61)
    rates.update(rate.id, rates.validate({"prefix": "9", "rate": "0.12", "unit": "60",
                                          "all_extensions": True, "remarks": "far"}))


def test_signed_out_and_forged_requests_change_nothing(env, billing):  # noqa: F811
    month_of_calls(1)
    anonymous = Client(env[0])
    assert anonymous.get("/rates/rerate", check=303).location.startswith("/login?next=")
    anonymous.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-01"}, check=401)
    billing.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-01"}, csrf=None, check=403)
    assert runs() == 0
    billing.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-01"}, check=303)
    billing.post("/rates/rerate/1/apply", {}, csrf=None, check=403)
    anonymous.post("/rates/rerate/1/apply", {}, check=401)
    assert Ledger.select().where(Ledger.kind == "adjustment").count() == 0
    assert not web_rerate.applying(1) and rerate.get_run(1).state == "preview"
    billing.get("/rates/rerate/99", check=404)


def test_bad_input_on_the_form_is_shown_and_saves_nothing(billing):  # noqa: F811
    month_of_calls(1)
    for form, message in (
            ({"from": "2024-05-02", "to": "2024-05-01"}, "the period starts (2024-05-02) after it ends"),
            ({"from": "2024-05-01", "to": "2099-01-01"}, "the period ends in the future"),
            ({"from": "May", "to": "2024-05-01"}, "use a date like 2024-05-31"),
            ({"from": "2024-05-01", "to": "2024-05-01", "extensions": "1001 4711"},
             "unknown extension or account: 4711"),
            ({"from": "2024-05-01", "to": "2024-05-01", "department": "Nobody"},
             "unknown department")):
        page = html.unescape(billing.post("/rates/rerate", form, check=400).text)
        assert message in page, (form, page[-2000:])
    assert runs() == 0


def test_a_preview_of_many_calls_is_paged_and_applied_once(billing):  # noqa: F811
    month_of_calls(120)  # 120 calls, each 0.20 -> 0.24
    before = accounts.get_extension("1001").balance
    response = billing.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-31",
                                              "extensions": "1001"}, check=303)
    assert response.location == "/rates/rerate/1"
    page = billing.get("/rates/rerate/1", check=200).text
    assert 'id="total-count">120<' in page and 'id="total-difference">$4.80<' in page
    assert page.count('data-call="') == 50 and "Page 1 of 3" in page
    last = billing.get("/rates/rerate/1?page=3", check=200).text
    assert last.count('data-call="') == 20 and 'data-call="w119"' in last
    assert accounts.get_extension("1001").balance == before
    billing.post("/rates/rerate/1/apply", {}, check=303)  # applied in a thread of its own
    wait_until(lambda: rerate.get_run(1).state == "applied", 60, "the apply")
    wait_until(lambda: not web_rerate.applying(1), 10, "the apply's thread to end")
    applied = billing.get("/rates/rerate/1", check=200).text
    assert 'id="total-applied">120<' in applied and 'id="total-skipped">0<' in applied
    assert 'id="apply-run"' not in applied and "http-equiv" not in applied
    assert accounts.get_extension("1001").balance == before - money.parse_amount("4.80")
    entries = Ledger.select().count()
    billing.post("/rates/rerate/1/apply", {}, check=303)
    assert "was applied already" in billing.get("/rates/rerate", check=200).text
    assert Ledger.select().count() == entries
    assert accounts.get_extension("1001").balance == before - money.parse_amount("4.80")
    assert accounts.verify() == []


def test_the_run_page_follows_an_apply_in_progress(billing):  # noqa: F811
    month_of_calls(3)
    billing.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-31"}, check=303)
    with store._writer.held():  # the apply's thread waits for its first transaction
        billing.post("/rates/rerate/1/apply", {}, check=303)
        page = billing.get("/rates/rerate/1", check=200).text
        assert 'id="apply-progress"' in page and "0 of 3 calls done" in page
        assert 'http-equiv="refresh"' in page and 'id="apply-run"' not in page
        billing.post("/rates/rerate/1/apply", {}, check=303)  # a second click starts nothing
        assert [t.name for t in threading.enumerate()].count("rerate-1") == 1
    wait_until(lambda: not web_rerate.applying(1), 30, "the apply")
    page = billing.get("/rates/rerate/1", check=200).text
    assert 'id="total-applied">3<' in page and 'id="apply-progress"' not in page
    assert Ledger.select().where(Ledger.kind == "adjustment").count() == 3


def rerate_catalog(locale):
    from babel.messages.pofile import read_po

    with open(i18n.LOCALE_DIR / locale / "rerate.po", "rb") as po:
        return {m.id: m.string for m in read_po(po, locale=locale) if m.id}


@pytest.mark.parametrize("locale", ["zh_CN", "es"])
def test_the_pages_in_chinese_and_spanish(billing, monkeypatch, locale):  # noqa: F811
    month_of_calls(2)
    billing.post("/rates/rerate", {"from": "2024-05-01", "to": "2024-05-31"}, check=303)
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)
    try:
        catalog = rerate_catalog(locale)
        for path in ("/rates/rerate", "/rates/rerate/1"):
            text = visible_text(billing.get(path, check=200).text)
            # the English of each text (up to its first placeholder) is not on the page
            english = [msgid.split("{")[0].strip(" .,:;()?#") for msgid in catalog]
            left = [part for part in english if len(part) > 8 and part in text]
            assert not left, (path, left)
            assert catalog["Calls whose cost changes"] in text or path == "/rates/rerate"
    finally:
        i18n.set_current(i18n.DEFAULT_LOCALE)
