"""The two messages app.js shows on the pages of part B (the Rate page's "select at least
one row" and the license upload's "file too large") come from the page, in the user's
language: in a real browser (chromium), against the box of test_browser_web."""

from __future__ import annotations

import pytest
from billing_addon.web.core import WebCore

from billing_addon import rates
from tests.test_browser_i18n_pages_a import layout_problems
from tests.test_browser_web import ADMIN_PW, box, browser, go, sign_in, signed_in  # noqa: F401


def test_the_scripts_messages_are_in_the_users_language(browser, box, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setattr(WebCore, "request_locale", lambda self: "es")
    rates.add(rates.validate({"prefix": "7", "rate": "0.05", "unit": "60", "all_extensions": "1"}))
    page = signed_in(browser, box, password="i18n-b-pw-1")
    said = []
    page.on("dialog", lambda dialog: said.append(dialog.message))
    go(page, "/rates")
    page.click("#delete-rates")
    page.wait_for_timeout(300)
    assert "Seleccione primero al menos una fila." in said

    admin = browser.new_context().new_page()
    admin.base = box["url"]
    sign_in(admin, "admin", ADMIN_PW)
    admin.wait_for_url("**/admin/**")
    go(admin, "/admin/settings")
    big = tmp_path / "big.lic"
    big.write_bytes(b"x" * (2049 * 1024))
    admin.set_input_files("#license", str(big))
    assert admin.eval_on_selector("#license", "e => e.validationMessage") == \
        "El archivo es demasiado grande (límite 2048 KB)."


@pytest.mark.parametrize("locale, label", [("es", "Unidad de facturación"), ("zh_CN", "计费单位"),
                                           ("en", "Billing Unit")])
def test_the_rate_list_on_a_phone_stacks_its_rows(browser, box, monkeypatch, locale, label):  # noqa: F811
    """At 390 px the Rate table (eleven columns, long Spanish headers) did not fit and the
    page scrolled sideways: its rows stack, one labelled line a cell, like the other lists."""
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)
    rates.add(rates.validate({"prefix": "8", "rate": "0.05", "unit": "60", "all_extensions": "1",
                              "remarks": "Larga distancia internacional"}))
    phone = signed_in(browser, box, width=390, height=844, password=f"i18n-b-{locale}-1")
    go(phone, "/rates")
    cell = "#rate-table tbody tr:first-child td:nth-child(9)"
    assert phone.get_attribute(cell, "data-label") == label
    assert layout_problems(phone) == []
    phone.context.close()
