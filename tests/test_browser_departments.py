"""Departments and the auditor in a real browser (headless chromium, the box of
tests/test_browser_web.py): a department is created, two extensions are put in it with
Bulk Edit, the Call Log and Statistics are filtered by it; an auditor signs in, sees the
pages without their action buttons, and a POST of theirs is refused."""

from __future__ import annotations

import time

from billing_addon.web import auth

from billing_addon import accounts, calls, departments, store
from tests import test_browser_web as web
from tests.helpers import amount, make_rate

box = web.box  # the same module-scoped box and browser
browser = web.browser

ROOMS = ["5001", "5002", "5003"]


def _active(box):
    activation = box["activation"]
    if activation.status().state != "active":
        activation.activate()
        time.sleep(2.1)  # the sign-in answer is cached for 2 s


def _user(browser, box, role, password):
    user_row, password = auth.create_billing_user(password, role=role)
    page = web.new_page(browser, box)
    web.sign_in(page, user_row.username, password)
    page.wait_for_url("**/extensions")
    return page


def test_create_a_department_assign_in_bulk_and_filter_by_it(browser, box):
    _active(box)
    make_rate("7", rate="0.01", unit="1")
    now = store.now_utc()
    for i, n in enumerate(ROOMS):
        accounts.ensure_extension(n, f"Office {n}", source="pbx")
        accounts.edit([n], billing_enabled=True)
        accounts.recharge([n], amount("50"), "t")
        calls.settle(f"dept-{n}", 60 * (i + 1), "ANSWER", number=n, dialed="712345",
                     started=now - 3600 + i, source="cdr")
    page = _user(browser, box, auth.BILLING, "dept-pw-1")
    try:
        web.go(page, "/departments")
        page.fill("#dept-name", "Front Office")
        page.click("#dept-create")
        page.wait_for_selector("#dept-table")
        assert "Department Front Office created." in web.flash_text(page)
        dept = [d for d, name in departments.choices() if name == "Front Office"][0]
        # two extensions ticked on the Extensions page, put in it with Bulk Edit
        web.go(page, "/extensions?number=500")
        page.check('input[name=n][value="5001"]')
        page.check('input[name=n][value="5002"]')
        page.click("#bulk-edit")
        page.wait_for_url("**/extensions/bulk-edit?**")
        page.check("#set_department")
        page.select_option("#department", label="Front Office")
        page.click("#save-bulk")
        page.wait_for_url("**/extensions")
        assert [m[0] for m in departments.members(dept)] == ["5001", "5002"]
        web.go(page, "/departments")
        row = web.table_rows(page, "#dept-table")[0]
        assert row[0] == "Front Office" and row[1] == "2", row
        # the Call Log filtered by it
        web.go(page, "/calls")
        page.select_option("#filter-dept", label="Front Office")
        page.click("#range-search button[type=submit]")
        page.wait_for_url(f"**/calls?**dept={dept}**")
        text = page.inner_text("main")
        assert "Office 5001" in text and "Office 5002" in text and "Office 5003" not in text
        # Statistics filtered by it, and the table of departments
        web.go(page, "/statistics")
        page.select_option("#filter-dept", label="Front Office")
        page.click("#stats-form button[type=submit]")
        page.wait_for_url(f"**/statistics?**dept={dept}**")
        assert page.inner_text("#total-calls") == "2"
        lines = web.table_rows(page, "#dept-totals")
        assert lines[0][0] == "Front Office" and lines[0][1] == "2", lines
        assert lines[0][3] == "0:03:00", lines  # 60 s + 120 s
        web.shot(page, box, "statistics-by-department")
    finally:
        page.context.close()


def test_an_auditor_sees_the_pages_without_action_buttons_and_a_post_is_refused(browser, box):
    _active(box)
    if not departments.choices():
        departments.create("Audit Check")
    page = _user(browser, box, auth.AUDITOR, "audit-pw-1")
    try:
        assert page.locator("#ext-table").is_visible()
        assert page.locator("#recharge-selected").count() == 0
        assert page.locator("#bulk-edit").count() == 0
        assert page.locator("#ext-table a.button", has_text="Edit").count() == 0
        web.go(page, "/departments")
        assert page.locator("#dept-table").is_visible() and page.locator("#dept-add").count() == 0
        web.go(page, "/rates")
        assert not page.locator("#add-rate").is_visible() and not page.locator("#import-rates").is_visible()
        assert page.locator("#export-rates").is_visible()  # exports stay
        web.go(page, "/settings")
        assert page.locator("form[method=post]").count() >= 1
        assert not page.locator("#save-settings").is_visible()
        assert page.locator("form[method=post] input:not([type=hidden])").first.is_disabled()
        web.go(page, "/calls")
        assert page.locator("#download-csv").is_visible()
        # a POST made by hand (with the page's own security token) is refused, nothing changes
        token = page.locator("input[name=csrf]").first.get_attribute("value")
        count = len(departments.choices())
        answer = page.context.request.post(page.base + "/departments/add",
                                           form={"csrf": token, "name": "By the auditor"})
        assert answer.status == 403
        assert "read-only (auditor)" in answer.text()
        assert len(departments.choices()) == count
        web.shot(page, box, "auditor-call-log")
    finally:
        page.context.close()
