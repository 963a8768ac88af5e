"""The low-balance filter of the Extensions page in a real browser (headless chromium,
the box of tests/test_browser_web.py): the count links to the filter, the tick box
filters, an extension's own threshold counts over the default."""

from __future__ import annotations

import time

from billing_addon.web import auth

from billing_addon import accounts, settings
from tests import test_browser_web as web
from tests.helpers import amount

box = web.box  # the same module-scoped box and browser
browser = web.browser


def test_low_balance_count_and_filter(browser, box):
    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    time.sleep(2.1)  # the sign-in answer is cached for 2 s
    rooms = ["4001", "4002", "4003"]
    for n in rooms:
        accounts.ensure_extension(n, f"Annex {n}", source="pbx")
    accounts.edit(rooms, billing_enabled=True)
    accounts.recharge(["4001"], amount("1"), "t")
    accounts.recharge(["4002"], amount("80"), "t")
    accounts.recharge(["4003"], amount("3"), "t")
    accounts.edit(["4003"], low_threshold=amount("2"))  # its own threshold: not low
    settings.put("low_balance_threshold", "5")
    user_row, password = auth.create_billing_user("low-filter-pw-1")
    page = web.new_page(browser, box)
    try:
        web.sign_in(page, user_row.username, password)
        page.wait_for_url("**/extensions")
        count = page.inner_text("#low-count")
        assert count.startswith("1 extension(s) below"), count  # 4001 only
        page.click("#low-count a")
        page.wait_for_url("**/extensions?low=1")
        assert page.is_checked("#filter-low")
        numbers = [row[1] for row in web.table_rows(page, "#ext-table")]
        assert any("4001" in n for n in numbers) and not any("4002" in n or "4003" in n
                                                            for n in numbers), numbers
        # unticking the box shows everyone again
        page.uncheck("#filter-low")
        page.click("#ext-search button[type=submit]")
        page.wait_for_url("**/extensions?**")
        assert len(web.table_rows(page, "#ext-table")) > len(numbers)
        web.shot(page, box, "extensions-low-balance")
    finally:
        settings.put("low_balance_threshold", "")
        page.context.close()
