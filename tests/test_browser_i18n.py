"""The UI in the user's language in a real browser (the box, chromium and helpers of
test_browser_web): a user switches to Chinese on their account page, then to Spanish,
recharges an amount typed with a decimal comma, and reads the Call Log's times the
Spanish way (issue #14 item 4)."""

from __future__ import annotations

import datetime as dt
import re

from billing_addon import accounts, calls, localefmt, money, rates, settings, store

from .test_browser_web import box, browser, flash_text, go, signed_in, table_rows  # noqa: F401


def choose_language(page, locale):
    go(page, "/account/password")
    page.select_option("#locale", locale)
    page.click("#save-language")
    page.wait_for_url("**/account/password")


def test_a_user_works_in_chinese_then_in_spanish(browser, box):  # noqa: F811
    page = signed_in(browser, box)  # billing activated
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("5"), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.10", "unit": "60", "all_extensions": True}))
    started = store.now_utc() - 3600
    assert calls.authorize("1001", "912345678", at=started, uniqueid="i18n-1").result == calls.ALLOWED
    calls.settle("i18n-1", 75, "ANSWER", at=started + 75)

    assert page.get_attribute("html", "lang") == "en"
    choose_language(page, "zh_CN")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert flash_text(page) == "语言已保存。"
    assert page.inner_text("#sign-out") == "退出登录"
    assert page.inner_text("h1") == "我的账户"
    assert page.inner_text("#change-password") == "修改密码"
    go(page, "/extensions")  # another page: still Chinese
    assert page.inner_text("#sign-out") == "退出登录"

    choose_language(page, "es")
    assert flash_text(page) == "Su idioma se ha guardado."
    assert page.input_value("#locale") == "es"
    before = accounts.get_extension("1001").balance
    go(page, "/extensions/recharge?n=1001")
    page.fill("#amount", "12,50")
    page.click("#do-recharge")
    page.wait_for_selector("#recharge-confirm")
    page.click("#confirm-recharge")
    page.wait_for_url("**/extensions")
    assert accounts.get_extension("1001").balance - before == money.parse_amount("12.50")

    go(page, "/calls")
    time_cell = table_rows(page, "#call-table")[0][0]
    expected = localefmt.datetime(dt.datetime.fromtimestamp(started, dt.timezone.utc),
                                  settings.zone(), "es")
    assert time_cell == expected
    assert re.fullmatch(r"\d{1,2} [a-z]{3,4} \d{4}, \d{1,2}:\d\d:\d\d", time_cell)
