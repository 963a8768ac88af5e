"""Call types in a real browser (headless chromium, the box of tests/test_browser_web.py):
a rate given a type on its form, international barred on an extension's edit page, and
the Call Log showing the type (and the barred call) and filtering by it."""

from __future__ import annotations

import time

from billing_addon.web import auth

from billing_addon import accounts, calls, store
from tests import test_browser_web as web
from tests.helpers import amount

box = web.box  # the same module-scoped box and browser
browser = web.browser


def test_rate_type_barring_and_the_call_log(browser, box):
    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    time.sleep(2.1)  # the sign-in answer is cached for 2 s
    rooms = ["5001", "5002"]
    for n in rooms:
        accounts.ensure_extension(n, f"Suite {n}", source="pbx")
    accounts.edit(rooms, billing_enabled=True)
    accounts.recharge(rooms, amount("5"), "t")
    user_row, password = auth.create_billing_user("call-types-pw-1")
    page = web.new_page(browser, box)
    try:
        web.sign_in(page, user_row.username, password)
        page.wait_for_url("**/extensions")
        # a rate for 0055... of type International
        web.go(page, "/rates/add")
        page.fill("#remarks", "Brazil")
        page.fill("#prefix", "0055")
        page.fill("#rate", "0.01")
        page.fill("#unit", "1")
        page.select_option("#call_type", "international")
        page.click("#save-rate")
        page.wait_for_url("**/rates")
        row = page.locator("#rate-table tbody tr", has_text="Brazil")
        assert row.locator("td.call-type").inner_text() == "International"
        # international barred on 5001's edit page
        web.go(page, "/extensions/edit?n=5001")
        page.check("#barred-international")
        assert page.locator("#barred-free").count() == 0  # emergency calls: never offered
        page.click("#save-ext")
        page.wait_for_url("**/extensions")
        web.go(page, "/extensions/edit?n=5001")
        assert page.is_checked("#barred-international") and not page.is_checked("#barred-mobile")
        # 5001's call is denied, 5002's goes through and is charged
        at = store.now_utc()
        assert calls.authorize("5001", "00551199999", at, "ct-1").reason == "barred"
        assert calls.authorize("5002", "00551188888", at, "ct-2").result == calls.ALLOWED
        assert calls.settle("ct-2", 20, "ANSWER").cost == amount("0.20")
        web.go(page, "/calls")
        page.select_option("#type", "international")
        page.click("#range-search button[type=submit]")
        page.wait_for_url("**/calls?**type=international**")
        rows = {r[1]: r for r in web.table_rows(page, "#call-table")}
        assert set(rows) == {"5001", "5002"}, rows
        assert all("International" in " ".join(r) for r in rows.values())
        assert "barred" in " ".join(rows["5001"]) and "charged" in " ".join(rows["5002"])
        web.shot(page, box, "call-log-call-types")
    finally:
        page.context.close()
