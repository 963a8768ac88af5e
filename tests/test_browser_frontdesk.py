"""Front-desk trip-ups of issue #13 in a real browser (the box, chromium and helpers of
test_browser_web): Statistics totals after switching By (13.1), the Recharge and Adjust
confirmations (13.7), the main pages on a phone (13.18)."""

from __future__ import annotations

import re
from decimal import Decimal

from billing_addon import accounts, calls, money, rates, store

from .test_browser_web import box, browser, flash_text, go, new_page, sign_in, signed_in, table_rows  # noqa: F401

DAY = 86400


def money_text(text):
    return Decimal(re.sub(r"[^\d.\-]", "", text))




def make_calls():
    """Calls of 1001-1003 today, 10 days and 40 days ago (outside the Day view's 31)."""
    if store.Call.select().count():
        return
    accounts.edit(["1001", "1002", "1003"], billing_enabled=True)
    accounts.recharge(["1001", "1002", "1003"], money.parse_amount("50"), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.10", "unit": "60", "all_extensions": True}))
    now = store.now_utc()
    plan = [("1001", 40 * DAY, 61), ("1002", 40 * DAY, 120), ("1001", 10 * DAY, 30),
            ("1003", 3600, 300), ("1002", 1800, 0)]
    for i, (number, ago, seconds) in enumerate(plan):
        uid = f"fd-{i}"
        assert calls.authorize(number, "912345678", at=now - ago, uniqueid=uid).result == calls.ALLOWED
        calls.settle(uid, seconds, "ANSWER" if seconds else "NOANSWER", at=now - ago + seconds)


def totals(page):
    return page.inner_text("#total-calls"), page.inner_text("#total-cost")


def test_statistics_totals_follow_the_by_choice(browser, box):  # noqa: F811
    make_calls()
    page = signed_in(browser, box)
    go(page, "/statistics")
    day_view = totals(page)
    go(page, "/statistics?by=year")
    year = totals(page)
    assert year == ("5", "$1.00") and day_view == ("3", "$0.60")
    # the issue: from the Day view, switching By to Year kept the last 31 days
    go(page, "/statistics")
    page.select_option("#stat-by", "year")
    page.click("#stats-form button[type=submit]")
    page.wait_for_url("**/statistics?**")
    assert totals(page) == year
    assert "every day on record" in page.inner_text("#stat-range")
    # Month: the range is shown, and the Call Log for it has the same totals
    page.select_option("#stat-by", "month")
    page.click("#stats-form button[type=submit]")
    page.wait_for_url("**by=month**")
    month = totals(page)
    shown = page.locator("#stat-range")
    assert shown.get_attribute("data-from") and shown.get_attribute("data-to")
    page.click("#stat-call-log")
    page.wait_for_url("**/calls?**")
    logged = [r for r in table_rows(page, "#call-table") if r[7] in ("charged", "unrated")]
    assert (str(len(logged)), "$" + f"{sum(money_text(r[6]) for r in logged):.2f}") == month
    assert "Start times in UTC (UTC+00:00)" in page.inner_text("#times-zone")


def test_recharge_and_adjust_confirmations_show_the_money(browser, box):  # noqa: F811
    make_calls()
    page = signed_in(browser, box)
    before = {n: accounts.get_extension(n).balance for n in ("1001", "1004")}
    go(page, "/extensions/recharge?n=1001&n=1004")  # 1004: billing off
    page.fill("#amount", "12.5")
    page.click("#do-recharge")
    page.wait_for_selector("#recharge-confirm")
    assert page.inner_text("#confirm-amount") == "$12.50"
    assert "2 extension(s)" in page.inner_text("#confirm-summary")
    rows = {r[0]: r for r in table_rows(page, "#confirm-table")}
    fmt = lambda units: money.format_amount(units, "USD")  # noqa: E731
    assert rows["1001"][3:] == [fmt(before["1001"]), "+$12.50", fmt(before["1001"] + 125000)]
    assert rows["1004"][3:] == ["$0.00", "+$12.50", "$12.50"]
    assert "Billing is off for 1004" in page.inner_text("#billing-off-warning")
    assert accounts.get_extension("1001").balance == before["1001"]  # nothing moved yet
    page.click("#confirm-recharge")
    page.wait_for_url("**/extensions")
    assert "Recharged 2 extension(s) with $12.50" in flash_text(page)
    assert accounts.get_extension("1004").balance == 125000

    balance = accounts.get_extension("1001").balance
    go(page, "/extensions/adjust?n=1001")
    page.fill("#amount", "-2.5")
    page.fill("#reason", "refund of a wrong call")
    page.click("#do-adjust")
    page.wait_for_selector("#adjust-confirm")
    assert page.inner_text("#confirm-amount") == "$2.50"
    assert page.inner_text("#balance-before") == fmt(balance)
    assert page.inner_text("#balance-after") == fmt(balance - 25000)
    assert accounts.get_extension("1001").balance == balance
    page.click("#confirm-adjust")
    page.wait_for_url("**/extensions")
    assert accounts.get_extension("1001").balance == balance - 25000


def test_front_desk_pages_on_a_phone(browser, box):  # noqa: F811
    """At 390 px the Extensions list keeps Credit, Balance and Recharge on screen (stacked
    rows, no sideways scrolling), and so do the Call Log and Recharge History."""
    make_calls()
    phone = signed_in(browser, box, width=390, height=844)

    def on_screen(locator):
        """Visible within the phone's width as the page opens: no sideways scrolling of
        the page or of the table (a vertical scroll does not change x)."""
        box_ = locator.bounding_box()
        return locator.is_visible() and box_ is not None and box_["x"] >= 0 \
            and box_["x"] + box_["width"] <= 390

    def no_sideways_scroll():
        return phone.evaluate("document.documentElement.scrollWidth") <= 390

    go(phone, "/extensions")
    row = phone.locator("#ext-table tr[data-number='1001']")
    for label, column in (("Credit", 7), ("Balance", 8)):
        cell = row.locator(f"td:nth-child({column})")
        assert on_screen(cell), label
        assert cell.inner_text().strip().endswith(fmt_balance(label))
    assert on_screen(row.locator("text=Recharge"))
    assert no_sideways_scroll()
    row.locator("text=Recharge").click()
    phone.wait_for_url("**/extensions/recharge?**")
    assert on_screen(phone.locator("#do-recharge"))
    for path, table, column in (("/calls", "#call-table", 7), ("/recharges", "#recharge-table", 6)):
        go(phone, path)  # Cost, Post-balance
        assert on_screen(phone.locator(f"{table} tbody tr").first.locator(f"td:nth-child({column})")), path
        assert no_sideways_scroll(), path


def fmt_balance(label):
    ext = accounts.get_extension("1001")
    return money.format_amount(ext.credit if label == "Credit" else ext.balance, "USD")
