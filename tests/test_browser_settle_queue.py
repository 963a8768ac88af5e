"""The admin's Billing Settings page in a real browser (chromium) while settlements wait
for the central store: the panel, in the admin's language, without breaking the layout of
a phone's screen; against the box of test_browser_web, its queue open as the daemon's."""

from __future__ import annotations

import pytest
from billing_addon.web.core import WebCore

from billing_addon import calls, settle_queue
from tests.test_browser_i18n_pages_a import layout_problems
from tests.test_browser_web import ADMIN_PW, box, browser, go, new_page, sign_in  # noqa: F401

T0 = 1795441378


@pytest.mark.parametrize("locale, waiting, refused", [
    ("en", "3 settlements waiting for the central store.",
     "1 settlement was refused by the central store and set aside"),
    ("zh_CN", "3 笔结算正在等待中央数据库。", "1 笔结算被中央数据库拒绝"),
    ("es", "3 liquidaciones en espera de la base de datos central.",
     "1 liquidación fue rechazada por la base de datos central"),
])
def test_the_settings_page_says_what_waits(browser, box, monkeypatch, tmp_path,  # noqa: F811
                                           locale, waiting, refused):
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)
    queue = settle_queue.open_queue(tmp_path / settle_queue.FILE_NAME)
    try:
        for i in range(4):
            queue.put(calls.SettleRequest(f"{T0}.{i}", 5, "ANSWER"), T0)
        queue.set_aside(queue.oldest()[0], "refused", T0)
        page = new_page(browser, box, width=390, height=844)
        sign_in(page, "admin", ADMIN_PW)
        page.wait_for_url("**/admin/**")
        go(page, "/admin/settings")
        assert page.inner_text("#settle-queue-waiting").startswith(waiting)
        assert page.inner_text("#settle-queue-set-aside").startswith(refused)
        assert layout_problems(page) == []
        for entry in queue.oldest():
            queue.done([entry])
        go(page, "/admin/settings")
        assert page.inner_text("#settle-queue-waiting").startswith(waiting.replace("3", "0", 1))
        assert page.locator("#settle-queue-set-aside").count() == 1  # the refused one stays
        page.screenshot(path=str(tmp_path / f"settings-{locale}.png"), full_page=False)
        page.context.close()
    finally:
        settle_queue.close_queue()
