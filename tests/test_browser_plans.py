"""Calling plans in a real browser (the box, chromium and helpers of test_browser_web):
create a plan, assign it from the bulk page and the extension edit page, a call's free
part in the Call Log, this month's use on the plan's page, and a refused bad input."""

from __future__ import annotations

from billing_addon import accounts, calls, money, plans, rates, store

from .test_browser_web import box, browser, flash_text, go, new_page, signed_in, table_rows  # noqa: F401


def test_create_assign_and_see_the_free_part_of_a_call(browser, box):  # noqa: F811
    accounts.edit(["1005", "1006"], billing_enabled=True)
    accounts.recharge(["1005", "1006"], money.parse_amount("5"), "test")
    rate = rates.add(rates.validate({"prefix": "7", "rate": "0.60", "unit": "60",
                                     "all_extensions": True}))
    with store.money_txn():
        store.Rate.update(call_type="mobile").where(store.Rate.id == rate.id).execute()
        rates._bump_version()
    page = signed_in(browser, box, password="plans-pw-1")

    # -- create a plan; a negative number of minutes is refused first ------------------
    page.click('nav.menu a[href="/plans"]')
    page.wait_for_url("**/plans")
    page.click("#add-plan")
    page.fill("#name", "Mobile 3")
    page.fill("#min_mobile", "-3")
    page.click("#save-plan")
    assert "Mobile: free minutes must be a whole number" in page.inner_text("#err-form")
    assert plans.all_plans() == []
    page.fill("#min_mobile", "3")
    page.click("#save-plan")
    page.wait_for_url("**/plans/*")
    assert "Plan Mobile 3 added." in flash_text(page)
    plan_id = plans.all_plans()[0].id

    # -- assign it to 1005 on the bulk page, to 1006 on its edit page ------------------
    go(page, "/plans/assign")
    page.select_option("#plan", str(plan_id))
    page.check('#assign-payers tr[data-number="1005"] input[name="n"]')
    page.click("#assign-plan")
    page.wait_for_url("**/plans/assign")
    assert "assigned to 1 extension(s)" in flash_text(page)
    assert table_rows(page, "#assign-payers")[4][3] == "Mobile 3"  # 1005's row
    go(page, "/extensions/edit?n=1006")
    page.select_option("#plan", str(plan_id))
    page.click("#save-ext")
    page.wait_for_url("**/extensions")
    assert plans.plan_of_extension(accounts.get_extension("1006").id) == plan_id

    # -- a call of 4 minutes: 3 free, 1 charged; the Call Log shows the free part -------
    assert calls.authorize("1005", "7123456", uniqueid="pl-1").result == calls.ALLOWED
    assert calls.settle("pl-1", 240, "ANSWER").cost == money.parse_amount("0.60")
    go(page, "/calls")
    row = page.locator('#call-table tr:has-text("7123456")')
    assert row.locator("td.free").inner_text() == "0:03:00"
    assert row.locator("td.cost").inner_text() == "$0.60"

    # -- the plan's page: this month's use of each pool --------------------------------
    go(page, f"/plans/{plan_id}")
    used = page.locator(f'#usage-table tr[data-pool="extension-{accounts.get_extension("1005").id}-mobile"]')
    assert used.locator("td.used").inner_text() == "0:03:00"
    # in use: not deleted
    page.click("#delete-plan")
    page.wait_for_url(f"**/plans/{plan_id}")
    assert "is assigned to 2 extension(s) or department(s)" in flash_text(page)
    assert plans.get(plan_id) is not None
    assert accounts.verify() == []
