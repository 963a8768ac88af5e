"""The manual's flows in a real browser (Debian's chromium, driven by Playwright) against
the web UI served by waitress on 127.0.0.1, with the real licensing (hwlicense, demo
board under a temporary root, a vendor key made in the test).

Screenshots for docs/user-guide.md are written to docs/img/ when BILLING_SCREENSHOTS=1
(``BILLING_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_browser_web.py``), else
into the test's temporary folder.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from billing_addon import accounts, calls, config, money, rates, settings, store

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not shutil.which(CHROMIUM):
    if os.environ.get("CI"):  # `make setup` installs it: missing in CI is a failure, not a skip
        raise RuntimeError(f"no chromium at {CHROMIUM}: run `make setup`")
    pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)
import playwright.sync_api as playwright_api  # noqa: E402
from billing_addon.web import auth  # noqa: E402
from billing_addon.web.app import make_app  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from waitress import create_server  # noqa: E402

from hwlicense.activation import Activation  # noqa: E402
from hwlicense.billing_ac import read_billing_ac  # noqa: E402
from hwlicense.board import load_profile  # noqa: E402
from hwlicense.license import issue_license  # noqa: E402
from hwlicense.timefmt import utcnow  # noqa: E402

ADMIN_PW = "installer-pw-1"
DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """A box: database, real activation on the demo board, the web UI on waitress."""
    root = tmp_path_factory.mktemp("box")
    store.init_db(root / "data" / "billing.db")
    vendor = Ed25519PrivateKey.generate()
    activation = Activation(load_profile("demo", root), trusted_keys=[vendor.public_key()])
    cfg = config.load(None, {"web": {"max_upload_kb": "2048"}})
    app = make_app(cfg, activation)
    auth.set_admin_password(ADMIN_PW)  # what `billing-addon admin set-password` does
    for n in range(1001, 1013):
        accounts.ensure_extension(str(n), f"Room {n - 1000:02d}", source="pbx")
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    shots = DOCS_IMG if os.environ.get("BILLING_SCREENSHOTS") == "1" else root / "shots"
    shots.mkdir(parents=True, exist_ok=True)
    yield {"url": f"http://127.0.0.1:{server.effective_port}", "vendor": vendor,
           "activation": activation, "shots": shots, "root": root}
    server.close()
    store.close_db()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def new_page(browser, box, width=1280, height=860):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.on("dialog", lambda dialog: dialog.accept())  # confirmations of bulk actions
    page.base = box["url"]
    return page


def go(page, path):
    page.goto(page.base + path)


def shot(page, box, name, full=True):
    page.screenshot(path=str(box["shots"] / f"{name}.png"), full_page=full)


def sign_in(page, username, password):
    go(page, "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def signed_in(browser, box, width=1280, height=860, password="desk-pw-1"):
    """A page signed in as a new billing user (billing activated first), at /extensions."""
    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    user_row, password = auth.create_billing_user(password)
    page = new_page(browser, box, width, height)
    sign_in(page, user_row.username, password)
    page.wait_for_url("**/extensions")
    return page


def flash_text(page):
    return " ".join(page.locator(".flash").all_inner_texts())


def table_rows(page, selector):
    rows = []
    for tr in page.locator(f"{selector} tbody tr").all():
        rows.append([c.strip() for c in tr.locator("td").all_inner_texts()])
    return rows


def test_the_manuals_walk(browser, box):
    admin = new_page(browser, box)
    # -- Free Trial: the admin activates billing and makes the billing user -------------
    go(admin, "/login")
    shot(admin, box, "01-sign-in", full=False)
    sign_in(admin, "admin", ADMIN_PW)
    admin.wait_for_url("**/admin/settings")
    assert "never been activated" in admin.inner_text("#billing-state")
    admin.click("#activate-switch")
    admin.wait_for_selector(".flash-ok")
    assert "Trial: 30 day(s) left" in flash_text(admin)
    assert admin.inner_text("#license-uploaded") == "No"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", admin.inner_text("#first-activation"))
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", admin.inner_text("#expiration"))
    shot(admin, box, "02-admin-settings-trial")
    admin.click("text=Billing Manager")
    admin.click("#create-user")
    username = admin.inner_text("#new-username")
    password = admin.inner_text("#new-password")
    assert re.fullmatch(r"bill-[a-z0-9]{3,}", username) and len(password) == 12
    shot(admin, box, "03-billing-manager", full=False)

    # -- the billing user signs in and lands on Extensions --------------------------------
    user = new_page(browser, box)
    sign_in(user, username, password)
    user.wait_for_url("**/extensions")
    assert len(table_rows(user, "#ext-table")) == 12
    assert all(row[3] == "Off" for row in table_rows(user, "#ext-table"))
    shot(user, box, "04-extensions")

    # Bulk Edit: enable billing (and a credit) for every extension on the page
    user.check("[data-select-all=n]")
    user.click("#bulk-edit")
    user.wait_for_url("**/extensions/bulk-edit?**")
    user.check("#set_billing")
    user.check("#billing_enabled")
    user.check("#set_credit")
    user.fill("#credit", "5")
    shot(user, box, "05-bulk-edit", full=False)
    user.click("#save-bulk")
    user.wait_for_url("**/extensions")
    assert "Bulk Edit saved for 12 extension(s)" in flash_text(user)
    rows = table_rows(user, "#ext-table")
    assert all(row[3] == "Enabled" and row[6] == "$5.00" for row in rows)

    # -- Rate: two rates with prefix 9, lengths 9 and 12 ----------------------------------
    go(user, "/rates")
    assert "No rates yet" in user.inner_text("main")
    for remarks, length, rate in (("City landline", "9", "0.05"), ("Mobile", "12", "0.15")):
        user.click("#add-rate")
        user.fill("#remarks", remarks)
        user.fill("#prefix", "9")
        user.fill("#length", length)
        user.fill("#rate", rate)
        user.fill("#unit", "60")
        if length == "12":
            shot(user, box, "06-rate-form")
        user.click("#save-rate")
        user.wait_for_url("**/rates")
        assert "added" in flash_text(user)
    rows = table_rows(user, "#rate-table")
    assert [(r[2], r[3], r[4], r[7]) for r in rows] == [("City landline", "9", "9", "$0.05"),
                                                        ("Mobile", "9", "12", "$0.15")]
    shot(user, box, "07-rates")
    # the rate tester
    user.click("#rate-tester")
    user.fill("#extension", "1001")
    user.fill("#dialed", "913912345678")
    user.fill("#duration", "125")
    user.click("#run-test")
    assert user.inner_text("#test-cost") == "$0.45"  # 3 started minutes of the mobile rate
    shot(user, box, "08-rate-tester", full=False)

    # -- Recharge: two selected at once, and one by its own button -----------------------
    go(user, "/extensions")
    user.check("input[name=n][value='1001']")
    user.check("input[name=n][value='1002']")
    user.click("#recharge-selected")
    user.wait_for_url("**/extensions/recharge?**")
    user.fill("#amount", "20")
    shot(user, box, "09-recharge", full=False)
    user.click("#do-recharge")
    user.click("#confirm-recharge")  # the review of the amount and the balances
    user.wait_for_url("**/extensions**")
    assert "Recharged 2 extension(s) with $20.00" in flash_text(user)
    user.click("tr[data-number='1003'] >> text=Recharge")
    user.fill("#amount", "7.5")
    user.click("#do-recharge")
    user.click("#confirm-recharge")
    user.wait_for_url("**/extensions**")
    balances = {r[1]: r[7] for r in table_rows(user, "#ext-table")}
    assert (balances["1001"], balances["1002"], balances["1003"]) == ("$20.00", "$20.00", "$7.50")
    go(user, "/recharges")
    history = table_rows(user, "#recharge-table")
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in history] == [
        ("1003", "$0.00", "$7.50", "$7.50", username), ("1002", "$0.00", "$20.00", "$20.00", username),
        ("1001", "$0.00", "$20.00", "$20.00", username)]
    shot(user, box, "10-recharge-history")

    # -- calls through the core, then the Call Log and Statistics -------------------------
    go(user, "/statistics")
    assert user.inner_text("#total-cost") == "$0.00"
    plan = [("1001", "912345678", 61, 1000), ("1001", "912345678901", 150, 4500),
            ("1002", "912345678", 30, 500), ("1003", "900000000000", 0, 0)]
    now = store.now_utc()
    for i, (number, dialed, seconds, _) in enumerate(plan):
        uid = f"walk-{i}"
        assert calls.authorize(number, dialed, at=now - 600 + i, uniqueid=uid).result == calls.ALLOWED
        calls.settle(uid, seconds, "ANSWER" if seconds else "NOANSWER", at=now - 300 + i)
    go(user, "/calls")
    logged = table_rows(user, "#call-table")
    assert [(r[1], r[3], r[6]) for r in logged] == [
        ("1003", "900000000000", "$0.00"), ("1002", "912345678", "$0.05"),
        ("1001", "912345678901", "$0.45"), ("1001", "912345678", "$0.10")]
    assert logged[2][5] == "Mobile" and logged[2][4] == "0:02:30"
    shot(user, box, "11-call-log")
    # the .xlsx is streamed as the answer: the download starts at once
    with user.expect_download() as info:
        user.click("#download-xlsx")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = box["root"] / "calls.xlsx"
    download.save_as(str(path))
    import openpyxl

    sheet = openpyxl.load_workbook(path, read_only=True).active
    xrows = list(sheet.iter_rows(values_only=True))
    zone = settings.get("timezone")
    assert xrows[0][:7] == (f"Start Time ({zone})", "Extension", "User Name", "Dialed Number", "Duration (s)",
                            "Rate", "Cost (USD)")
    assert len(xrows) == 1 + len(logged)
    for page_row, x in zip(logged, xrows[1:]):
        assert isinstance(x[0], dt.datetime)  # a date the spreadsheet can sort and filter
        assert (x[0].strftime("%Y-%m-%d %H:%M:%S"), x[1], x[2], x[3], x[5]) == (
            page_row[0], page_row[1], page_row[2], page_row[3], page_row[5])
        assert "$" + f"{Decimal(str(x[6])):.2f}" == page_row[6]
    go(user, "/statistics")
    assert user.inner_text("#total-cost") == "$0.60"
    assert user.inner_text("#total-calls") == "4"
    assert user.inner_text("#total-time") == "0:04:01"
    assert user.locator("#chart-cost rect").count() >= 1
    shot(user, box, "12-statistics")
    user.fill("#stat-ext", "1001")
    user.select_option("#stat-by", "year")
    user.click("#stats-form button[type=submit]")
    user.wait_for_url("**/statistics?**")
    assert user.inner_text("#total-cost") == "$0.55"

    # -- Settings: the currency shows on every page --------------------------------------
    go(user, "/settings")
    user.check("#currency-EUR")
    user.click("#save-settings")
    user.wait_for_selector(".flash-ok")
    assert "EUR (€)" in user.inner_text("header")
    shot(user, box, "13-settings", full=False)
    go(user, "/calls")
    assert [r[6] for r in table_rows(user, "#call-table")][:3] == ["€0,00", "€0,05", "€0,45"]
    go(user, "/extensions")
    assert "€20,00" in user.inner_text("#ext-table")

    # a tablet-width view of the same list
    tablet = new_page(browser, box, width=768, height=1024)
    tablet.context.add_cookies(user.context.cookies())
    go(tablet, "/extensions")
    assert tablet.locator("#ext-table").is_visible()
    shot(tablet, box, "14-extensions-tablet", full=False)

    # -- License Policies: billing.ac out, license in, "Never Expires" --------------------
    go(admin, "/admin/settings")
    with admin.expect_download() as info:
        admin.click("#download-ac")
    ac_path = box["root"] / "billing.ac"
    info.value.save_as(str(ac_path))
    assert info.value.suggested_filename == "billing.ac"
    lic = issue_license(read_billing_ac(ac_path.read_bytes()), box["vendor"], issued=utcnow())
    admin.set_input_files("#license", files=[{"name": "billing.lic", "mimeType": "text/plain",
                                              "buffer": lic}])
    admin.click("#upload-license")
    admin.wait_for_selector(".flash")
    assert "License uploaded and verified" in flash_text(admin)
    assert admin.inner_text("#expiration") == "Never Expires"
    assert admin.inner_text("#license-uploaded") == "Yes"
    shot(admin, box, "15-admin-settings-licensed")
    # a tampered license is refused with a reason and changes nothing
    admin.set_input_files("#license", files=[{"name": "bad.lic", "mimeType": "text/plain",
                                              "buffer": lic.replace(b"billing", b"billinG", 1)}])
    admin.click("#upload-license")
    admin.wait_for_selector(".flash-error")
    assert "License refused" in flash_text(admin)
    assert admin.inner_text("#expiration") == "Never Expires"


def test_bad_input_through_the_ui(browser, box):
    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    user_row, password = auth.create_billing_user("bad-input-pw-1")
    page = new_page(browser, box)
    sign_in(page, user_row.username, password)
    page.wait_for_url("**/extensions")
    rates_before = store.Rate.select().count()

    # each invalid rate field shows its message next to it, and nothing is saved
    go(page, "/rates/add")
    page.fill("#prefix", "9a")
    page.fill("#length", "x")
    page.fill("#rate", "-1")
    page.fill("#unit", "0")
    page.fill("#start", "08:00")
    page.fill("#end", "08:00")
    page.click("#save-rate")
    page.wait_for_selector("#err-prefix")
    for field, text in (("prefix", "digits only"), ("length", "whole number"),
                        ("rate", "negative"), ("unit", "from 1 to"), ("end", "differ")):
        assert text in page.inner_text(f"#err-{field}")
        # the message sits in the same field block as its input
        assert page.locator(f".field:has(#{field}) #err-{field}").count() == 1
    assert page.input_value("#prefix") == "9a"  # the user's input is kept for correction
    shot(page, box, "16-rate-validation")
    assert store.Rate.select().count() == rates_before

    # XSS in remarks and names is shown as text, never run
    xss = '<img src=x onerror="window.__xss=1">'
    go(page, "/rates/add")
    page.fill("#remarks", xss)
    page.fill("#prefix", "8")
    page.fill("#rate", "0.01")
    page.click("#save-rate")
    page.wait_for_url("**/rates")
    assert xss in page.inner_text("#rate-table")
    go(page, "/extensions/edit?n=1004")
    page.fill("#name", xss + "<script>window.__xss=2</script>")
    page.click("#save-ext")
    page.wait_for_url("**/extensions")
    assert xss in page.inner_text("#ext-table")
    go(page, "/calls")
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src=x]").count() == 0

    # a bad recharge amount: message next to the field, balance unchanged
    balance = accounts.get_extension("1005").balance
    go(page, "/extensions/recharge?n=1005")
    page.fill("#amount", "-5")
    page.click("#do-recharge")
    page.wait_for_selector("#err-amount")
    assert "must not be negative" in page.inner_text("#err-amount")
    assert accounts.get_extension("1005").balance == balance

    # a forged POST without the CSRF token is refused
    status = page.evaluate("""async () => {
        const r = await fetch('/extensions/recharge', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'n=1005&amount=50'});
        return r.status; }""")
    assert status == 403
    assert accounts.get_extension("1005").balance == balance

    # the billing user's session cannot open the admin pages
    for path in ("/admin/settings", "/admin/users", "/admin/billing.ac"):
        response = page.goto(page.base + path)
        assert response.status == 403
        assert "for the PBX administrator only" in page.inner_text("#error-message")

    # a 20 MB upload is refused with a clear message
    go(page, "/rates/import")
    huge = b"prefix,rate,unit\n" + b"9,0.1,60\n" * (20 * 1024 * 1024 // 9)
    page.set_input_files("#file", files=[{"name": "huge.csv", "mimeType": "text/csv", "buffer": huge}])
    page.click("#do-import")
    page.wait_for_selector("#error-message")
    assert "The upload is too large (20.0 MB)" in page.inner_text("#error-message")
    assert "2048 KB" in page.inner_text("#error-message")
    shot(page, box, "17-upload-too-large", full=False)
    assert store.Rate.select().count() == rates_before + 1

    # billing deactivated by the admin: the open session ends with the reason
    activation.deactivate()
    page.context.browser  # noqa: B018 - keep the same session
    import time

    time.sleep(2.1)  # the sign-in answer is cached for 2 s
    go(page, "/extensions")
    page.wait_for_url("**/login")
    assert "Billing is deactivated" in flash_text(page)
    activation.activate()
    rates.index()


def test_bulk_edit_of_every_page_of_a_search(browser, box):
    """A wing of 60 rooms spans two pages: ticking "all that match, on every page"
    (no row ticked) is enough for the page's own check, and Bulk Edit takes all 60."""
    import time

    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    time.sleep(2.1)  # the sign-in answer is cached for 2 s (the test before deactivated)
    wing = [str(n) for n in range(3000, 3060)]
    for n in wing:
        accounts.ensure_extension(n, f"Tower {n}", source="pbx")
    user_row, password = auth.create_billing_user("every-page-pw-1")
    page = new_page(browser, box)
    sign_in(page, user_row.username, password)
    page.wait_for_url("**/extensions")
    go(page, "/extensions?number=Tower")
    assert len(table_rows(page, "#ext-table")) == 50  # the first page
    page.check("#select-every-page")
    page.click("#bulk-edit")
    page.wait_for_url("**/extensions/bulk-edit?**")
    assert "all 60 selected" in page.inner_text("#bulk-form")
    page.check("#set_billing")
    page.check("#billing_enabled")
    page.click("#save-bulk")
    page.wait_for_url("**/extensions**")
    assert "Bulk Edit saved for 60" in flash_text(page)
    assert all(accounts.get_extension(n).billing_enabled for n in wing)


def test_a_form_sent_after_signing_out_in_another_tab_comes_back_filled_in(browser, box):
    """A Recharge typed in one tab after signing out in another is not done: sign-in
    brings the user back to the form, filled in, and only pressing Recharge again
    recharges.  A deep link keeps its query through sign-in."""
    import time

    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
    time.sleep(2.1)  # the sign-in answer is cached for 2 s (a test before may deactivate)
    accounts.ensure_extension("4001", "Suite 1", source="pbx")
    user_row, password = auth.create_billing_user("resume-form-pw-1")
    tab = new_page(browser, box)
    sign_in(tab, user_row.username, password)
    tab.wait_for_url("**/extensions")
    go(tab, "/extensions/recharge?n=4001")
    tab.fill("#amount", "12.50")
    other_tab = tab.context.new_page()
    other_tab.set_default_timeout(15000)
    other_tab.goto(box["url"] + "/extensions")
    other_tab.click("#sign-out")
    other_tab.wait_for_url("**/login")
    tab.click("#do-recharge")
    tab.wait_for_url("**/login?next=*")
    assert "nothing was changed" in flash_text(tab)
    assert accounts.get_extension("4001").balance == 0
    tab.fill("#username", user_row.username)
    tab.fill("#password", password)
    tab.click("#login-form button[type=submit]")
    tab.wait_for_url("**/extensions/recharge?n=4001")
    assert tab.input_value("#amount") == "12.50"
    assert "check it and press its button" in tab.inner_text("#saved-form")
    assert accounts.get_extension("4001").balance == 0  # not sent by itself
    tab.click("#do-recharge")
    tab.wait_for_selector("#recharge-confirm")  # the review of the amount
    # signed out again while the review is open: its Confirm brings back the form
    other_tab.goto(box["url"] + "/extensions")  # the same browser: signed in again
    other_tab.click("#sign-out")
    other_tab.wait_for_url("**/login")
    tab.click("#confirm-recharge")
    tab.wait_for_url("**/login?next=*")
    tab.fill("#username", user_row.username)
    tab.fill("#password", password)
    tab.click("#login-form button[type=submit]")
    tab.wait_for_url("**/extensions/recharge?n=4001&back=*")
    # the review's amount, written the currency's way (a test before may have set EUR)
    assert money.parse_amount(tab.input_value("#amount"), currency=settings.get("currency")) \
        == money.parse_amount("12.50")
    assert accounts.get_extension("4001").balance == 0  # the confirmation was not kept
    tab.click("#do-recharge")
    tab.click("#confirm-recharge")
    tab.wait_for_selector(".flash-ok")
    assert accounts.get_extension("4001").balance == money.parse_amount("12.50")

    deep = new_page(browser, box)  # a bookmark, signed out
    go(deep, "/extensions/edit?n=4001")
    deep.wait_for_url("**/login?next=*")
    deep.fill("#username", user_row.username)
    deep.fill("#password", password)
    deep.click("#login-form button[type=submit]")
    deep.wait_for_url("**/extensions/edit?n=4001")


@pytest.mark.parametrize("width", [1280, 390])
def test_settings_fields_in_a_fieldset_stand_under_their_labels(browser, box, width):
    """Each labelled field of Settings, inside a fieldset or not, is under its label and
    starts where the label starts (they once ran on as one line: label, box, label...)."""
    page = signed_in(browser, box, width=width)
    go(page, "/settings")
    for field in ("timezone", "hotel_name", "hotel_address", "low_balance_threshold",
                  "alert_emails", "smtp_host", "smtp_port", "smtp_security", "smtp_user"):
        label = page.locator(f"label[for={field}]").bounding_box()
        box_ = page.locator(f"#{field}").bounding_box()
        assert label["y"] + label["height"] <= box_["y"] + 1, field
        assert abs(label["x"] - box_["x"]) <= 2, field
    page.context.close()
