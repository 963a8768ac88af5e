"""Stays in a real browser (issue #14.1; the box, chromium and helpers of
test_browser_web): check-in from the Extensions page, check-out with a payment, the
refusals, and the statement printed on A4 and on an 80 mm receipt printer."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl

from billing_addon import accounts, calls, money, rates, settings, store

from .test_browser_web import box, browser, flash_text, go, new_page, sign_in, signed_in, table_rows  # noqa: F401
from .test_statement_files import pdf_text


def row_action(page, number, label):
    page.locator(f'#ext-table tr[data-number="{number}"] a:has-text("{label}")').click()


def test_check_in_check_out_with_payment_and_the_printed_statement(browser, box, tmp_path):  # noqa: F811
    settings.put("hotel_name", "Hotel Browser")
    settings.put("hotel_address", "2 Harbour Street")
    rates.add(rates.validate({"prefix": "8", "rate": "1.00", "unit": "60", "all_extensions": True}))
    page = signed_in(browser, box)

    # -- check-in from the row action: form, review, confirm ----------------------------
    row_action(page, "1007", "Check in")
    page.wait_for_url("**/stays/check-in?n=1007")
    page.fill("#guest", "Grace Hopper")
    page.fill("#deposit", "1.50")
    page.fill("#credit", "10")
    page.click("#do-checkin")
    assert page.inner_text("#confirm-deposit") == "$1.50"
    assert accounts.get_extension("1007").name == "Room 07"  # nothing done before Confirm
    page.click("#confirm-checkin")
    page.wait_for_url("**/stays")
    assert "checked in for Grace Hopper" in flash_text(page)
    assert table_rows(page, "#stay-table")[0][:2] == ["1007", "Grace Hopper"]
    ext = accounts.get_extension("1007")
    assert (ext.status, ext.balance, ext.credit) == ("unlocked", money.parse_amount("1.50"),
                                                     money.parse_amount("10"))
    go(page, "/extensions")
    assert page.locator('#ext-table tr[data-number="1007"] a.check-out').count() == 1

    # -- a call in progress: check-out says so and waits --------------------------------
    assert calls.authorize("1007", "8123", uniqueid="st-1").result == calls.ALLOWED
    calls.settle("st-1", 240, "ANSWER")  # 4.00
    assert calls.authorize("1007", "8456", uniqueid="st-2").result == calls.ALLOWED
    row_action(page, "1007", "Check out")
    page.wait_for_url("**/stays/check-out?n=1007")
    assert "in progress" in page.inner_text("#in-progress")
    page.click("#do-checkout")
    assert "in progress" in page.inner_text("#err-form")
    assert stays_open() == 1
    calls.settle("st-2", 60, "ANSWER")  # 1.00: owes 5.00 - 1.50 = 3.50
    # -- a payment larger than owed is refused, nothing changes -------------------------
    go(page, "/stays/check-out?n=1007")
    assert page.inner_text("#stay-owed") == "$3.50"
    page.fill("#payment", "3.51")
    page.click("#do-checkout")
    assert "more than is owed ($3.50)" in page.inner_text(".field-error, .error-message")
    assert accounts.get_extension("1007").balance == -money.parse_amount("3.50")
    # -- the payment of what is owed, reviewed, then the statement ----------------------
    page.fill("#payment", "3.50")
    page.click("#do-checkout")
    assert page.inner_text("#balance-after") == "$0.00"
    page.click("#confirm-checkout")
    page.wait_for_url("**/statements/S-*")
    number = page.inner_text("#statement-number")
    assert f"statement {number}" in flash_text(page)
    assert page.inner_text("#hotel-name") == "Hotel Browser"
    assert page.inner_text("#st-guest") == "Grace Hopper"
    assert page.inner_text("#st-total-calls") == "2"
    assert page.inner_text("#st-call-cost") == "$5.00"
    assert page.inner_text("#st-payments") == "$3.50"
    assert page.inner_text("#st-closing") == "$0.00"
    assert [r[1] for r in table_rows(page, "#st-calls")] == ["8123", "8456"]
    ext = accounts.get_extension("1007")
    assert (ext.status, ext.name, ext.balance) == ("locked", "Room 07", 0)
    assert accounts.verify() == []
    shown = page.inner_text("#statement")

    # -- printed: A4 and 80 mm, the page chrome hidden, nothing wider than the paper -----
    page.emulate_media(media="print")
    for width_px in (794, 302):  # 210 mm and 80 mm at 96 px an inch
        page.set_viewport_size({"width": width_px, "height": 1000})
        assert not page.locator("header.top").is_visible()
        assert not page.locator("#print-statement").is_visible()
        assert page.locator("#st-closing").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px wider than the paper at {width_px}px"
    assert not page.locator("#st-calls .st-status").first.is_visible()  # 80 mm: fewer columns
    assert page.pdf(format="A4")[:4] == b"%PDF"
    assert page.pdf(width="80mm", height="200mm")[:4] == b"%PDF"
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 860})

    # -- re-opened after the rates changed: what was printed -----------------------------
    rates.add(rates.validate({"prefix": "8", "rate": "9.00", "unit": "1", "all_extensions": True}))
    settings.put("hotel_name", "Renamed Hotel")
    go(page, "/stays")
    page.click(f"#statement-table a:has-text('{number}')")
    page.wait_for_url(f"**/statements/{number}")
    assert page.inner_text("#statement") == shown
    # the downloads: the PDF read back by pdftotext, the xlsx by openpyxl
    closing = page.inner_text("#st-closing")
    response = page.request.get(f"{page.base}/statements/{number}.pdf")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.body(), tmp_path)
    assert number in text and closing in text and "Renamed Hotel" not in text
    response = page.request.get(f"{page.base}/statements/{number}.xlsx")
    assert response.status == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.body()))
    cells = [str(c.value) for row in workbook["Summary"].iter_rows() for c in row]
    assert any(number in c for c in cells)


def test_check_out_with_a_released_call_waits_or_closes_it_as_not_charged(browser, box):  # noqa: F811
    """A call whose reservation was released before any settle (the box restarted during
    it) has no known cost: the page says so, check-out waits unless the desk ticks
    "close them as not charged", and a settle coming afterwards charges nobody."""
    from billing_addon import boottime, stays

    rates.add(rates.validate({"prefix": "8", "rate": "1.00", "unit": "60", "all_extensions": True}))
    stays.check_in("1008", "Ada Lovelace", deposit=money.parse_amount("5"))
    assert calls.authorize("1008", "8123", uniqueid="rel-1", running=boottime.Running(
        "boot-old", 50.0)).result == calls.ALLOWED
    assert calls.release_stale(running=boottime.Running("boot-new", 1.0)) == 1
    page = signed_in(browser, box)
    go(page, "/stays/check-out?n=1008")
    assert "no known cost yet" in page.inner_text("#unknown-cost")
    page.click("#do-checkout")
    assert "Close them as not charged" in page.inner_text("#err-close_unknown")
    assert stays_open() == 1
    page.check("#close-unknown")
    page.click("#do-checkout")
    assert page.inner_text("#confirm-closed") == "1"
    assert stays_open() == 1  # nothing done before Confirm
    page.click("#confirm-checkout")
    page.wait_for_url("**/statements/S-*")
    assert page.inner_text("#st-total-calls") == "1" and page.inner_text("#st-call-cost") == "$0.00"
    assert stays_open() == 0
    before = accounts.get_extension("1008").balance
    assert calls.settle("rel-1", 600, "ANSWER").outcome == "duplicate"
    assert accounts.get_extension("1008").balance == before == money.parse_amount("5")
    assert accounts.verify() == []


def test_statement_settings_on_the_settings_page(browser, box):  # noqa: F811
    page = signed_in(browser, box)
    go(page, "/settings")
    page.fill("#hotel_name", "Seaside Inn")
    page.fill("#hotel_address", "3 Quay\nPort Town")
    page.check("#checkout-unlocked")
    page.click("#save-settings")
    page.wait_for_selector(".flash-ok")
    assert (settings.get("hotel_name"), settings.get("hotel_address"),
            settings.get("checkout_status")) == ("Seaside Inn", "3 Quay\nPort Town", "unlocked")
    settings.put("checkout_status", "locked")


def test_statement_of_a_period_and_an_empty_one(browser, box):  # noqa: F811
    page = signed_in(browser, box)
    accounts.recharge(["1004"], money.parse_amount("3"), "desk")
    today = settings.local(store.now_utc()).date()
    before = store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0]

    def ask(number, start, end):
        go(page, "/stays")
        page.fill("#period-ext", number)
        page.fill("#period-from", start)
        page.fill("#period-to", end)
        page.click("#issue-statement")

    ask("1004", f"{today}T10:00", f"{today}T10:00")
    page.wait_for_selector(".flash-error")
    assert "the period is empty" in flash_text(page)
    ask("1002", f"{today}T00:00", f"{today}T23:59")
    page.wait_for_selector(".flash-error")
    assert "no calls and no balance changes" in flash_text(page)
    assert store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0] == before
    ask("1004", f"{today}T00:00", f"{today + dt.timedelta(days=1)}T00:00")
    page.wait_for_url("**/statements/S-*")
    assert page.inner_text("#st-closing") == "$3.00"
    assert page.inner_text("#st-no-calls") == "No calls."


def stays_open():
    return store.db.execute_sql("SELECT COUNT(*) FROM stay WHERE checkout_utc IS NULL").fetchone()[0]
