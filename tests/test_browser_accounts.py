"""The Accounts page in a real browser (headless chromium, the box of
tests/test_browser_web.py): a new account with a PIN, recharged through the Recharge
form, in the list with its balance; a bad PIN is refused with its message; the
Extensions page lists phones only."""

from __future__ import annotations

import time

from billing_addon import pin_accounts, pins
from billing_addon.store import Extension
from tests import test_browser_web as web

box = web.box  # the same module-scoped box and browser
browser = web.browser


def account_form(page, number, pin, name="Dorm 3"):
    web.go(page, "/accounts/new")
    page.fill("#number", number)
    page.fill("#pin", pin)
    page.fill("#name", name)
    page.click("#save-account")


def test_create_recharge_and_list_an_account(browser, box):
    time.sleep(2.1)  # the sign-in answer is cached for 2 s
    page = web.signed_in(browser, box, password="accounts-pw-1")
    try:
        page.click("nav.menu a[href='/accounts']")
        page.wait_for_url("**/accounts")
        # a bad PIN: its message, nothing created
        account_form(page, "770001", "12a456")
        assert "digits 0-9 only" in page.inner_text("#account-form")
        account_form(page, "770001", "1234")
        assert "has 6 digits" in page.inner_text("#account-form")
        assert Extension.get_or_none(Extension.number == "770001") is None
        # a good one
        account_form(page, "770001", "905172")
        page.wait_for_url("**/accounts")
        assert "Account 770001 created." in web.flash_text(page)
        assert pins.account_with_pin("770001", "905172") is not None
        assert "905172" not in page.content()
        # the same PIN for another account is refused
        account_form(page, "770002", "905172")
        assert "another account's" in page.inner_text("#err-form")
        # recharge from the list, through the Extensions page's two-step form
        web.go(page, "/accounts")
        page.click("tr[data-number='770001'] a[href^='/extensions/recharge']")
        page.fill("#amount", "12.50")
        page.click("#do-recharge")
        page.click("#confirm-recharge")
        page.wait_for_url("**/accounts")
        rows = web.table_rows(page, "#account-table")
        row = next(r for r in rows if r[0] == "770001")
        assert row[1] == "Dorm 3" and row[5] == "$12.50", row
        # search finds it by name; the Extensions page lists phones only
        page.fill("#account-search input[name=q]", "dorm")
        page.click("#account-search button[type=submit]")
        page.wait_for_url("**/accounts?q=dorm**")
        assert [r[0] for r in web.table_rows(page, "#account-table")] == ["770001"]
        web.go(page, "/extensions?number=770001")
        assert not page.locator("#ext-table").count()
        # edit: a bad new PIN changes nothing; an empty one keeps the PIN
        web.go(page, "/accounts/edit?n=770001")
        page.fill("#pin", "９０５１７２")
        page.fill("#name", "Dorm 4")
        page.click("#save-account")
        assert "digits 0-9 only" in page.inner_text("#account-form")
        assert pin_accounts.get_account("770001").name == "Dorm 3"
        page.fill("#pin", "")
        page.select_option("#status", "locked")
        page.click("#save-account")
        page.wait_for_url("**/accounts")
        account = pin_accounts.get_account("770001")
        assert account.status == "locked" and account.name == "Dorm 4"
        assert pins.account_with_pin("770001", "905172") == account.id
        web.shot(page, box, "accounts")
    finally:
        page.context.close()
