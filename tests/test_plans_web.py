"""The Calling Plans pages (in-process WSGI): add, edit, delete, assign in bulk, this
month's use per pool, the plan field of the extension edit page, the Call Log's free
time in the page and its exports, and bad input refused with nothing changed."""

from __future__ import annotations

import csv
import io

import pytest

from billing_addon import calls, plans, rates, settings, store
from billing_addon.store import Department, Extension
from tests.helpers import amount, make_rate
from tests.test_low_balance_web import billing  # noqa: F401
from tests.test_web_app import _flash

T0 = 1795441378  # 2026-11-23 13:42:58 UTC


def plan_form(name, **minutes):
    return {"name": name, **{f"min_{t}": m for t, m in minutes.items()}}


def test_add_edit_and_delete_a_plan(billing):  # noqa: F811
    r = billing.post("/plans/add", plan_form("Staff", local="100", mobile="30"), check=303)
    plan = plans.all_plans()[0]
    assert r.header("Location").endswith(f"/plans/{plan.id}")
    assert plan.free_s == {"local": 6000, "mobile": 1800}
    page = billing.get("/plans").text
    assert "Staff" in page and "100 min" in page and "30 min" in page
    billing.post(f"/plans/{plan.id}", plan_form("Staff 2", local="5"), check=303)
    assert plans.get(plan.id) == plans.Plan(plan.id, "Staff 2", {"local": 300})
    r = billing.post(f"/plans/{plan.id}/delete", {}, check=303)
    assert plans.all_plans() == []
    assert "Plan Staff 2 deleted." in _flash(billing.get("/plans").text)


@pytest.mark.parametrize("form, message", [
    (plan_form("Bad", local="-1"), "Local: free minutes must be a whole number from 0 to 1000000"),
    (plan_form("Bad", mobile="lots"), "Mobile: free minutes must be a whole number from 0 to 1000000"),
    (plan_form("basic", local="1"), "there is already a plan named &#039;basic&#039;"),
    (plan_form("", local="1"), "a plan needs a name"),
])
def test_bad_plan_input_is_refused_and_changes_nothing(billing, form, message):  # noqa: F811
    plans.create("Basic", {"local": 60})
    r = billing.post("/plans/add", form, check=400)
    assert message in r.text
    assert [(p.name, p.free_s) for p in plans.all_plans()] == [("Basic", {"local": 60})]


def test_a_plan_in_use_is_not_deleted(billing):  # noqa: F811
    plan_id = plans.create("Basic", {"local": 60})
    plans.assign(plan_id, ["1001"])
    billing.post(f"/plans/{plan_id}/delete", {}, check=303)
    assert "plan Basic is assigned to 1 extension(s) or department(s)" in " ".join(
        _flash(billing.get(f"/plans/{plan_id}").text))
    assert plans.get(plan_id) is not None


def test_assign_in_bulk_to_extensions_and_departments(billing):  # noqa: F811
    plan_id = plans.create("Basic", {"local": 60})
    dep = Department.create(name="Sales", created_utc=T0, updated_utc=T0)
    page = billing.get("/plans/assign").text
    assert f'data-department="{dep.id}"' in page and 'data-number="1012"' in page
    billing.post("/plans/assign", {"plan": str(plan_id), "n": ["1001", "1002"], "d": [str(dep.id)]},
                 check=303)
    assert [plans.plan_of_extension(Extension.get(Extension.number == n).id)
            for n in ("1001", "1002", "1003")] == [plan_id, plan_id, None]
    assert plans.departments() == [(dep.id, "Sales", plan_id)]
    billing.post("/plans/assign", {"plan": "none", "n": ["1002"]}, check=303)
    assert plans.plan_of_extension(Extension.get(Extension.number == "1002").id) is None
    # bad input: an unknown plan, an unknown extension, nothing selected; nothing changes
    assert "choose a plan, or none" in billing.post(
        "/plans/assign", {"plan": "999", "n": ["1003"]}, check=400).text
    assert "unknown extension &#039;4444&#039;" in billing.post(
        "/plans/assign", {"plan": str(plan_id), "n": ["1003", "4444"]}, check=400).text
    assert "select at least one" in billing.post("/plans/assign", {"plan": "none"}, check=400).text
    assert plans.plan_of_extension(Extension.get(Extension.number == "1003").id) is None
    assert plans.plan_of_extension(Extension.get(Extension.number == "1001").id) == plan_id


EDIT = {"n": "1003", "name": "Room 3", "credit": "0", "status": "unlocked",
        "payment_type": "prepaid", "billing_enabled": "1", "low_threshold": ""}


def test_the_extension_edit_page_shows_and_sets_its_plan(billing):  # noqa: F811
    plan_id = plans.create("Basic", {"local": 60})
    page = billing.get("/extensions/edit?n=1003").text
    assert 'id="ext-plan"' in page and f'<option value="{plan_id}" >Basic' in page
    billing.post("/extensions/edit", {**EDIT, "plan": str(plan_id)}, check=303)
    ext_id = Extension.get(Extension.number == "1003").id
    assert plans.plan_of_extension(ext_id) == plan_id
    assert f'<option value="{plan_id}" selected>Basic' in billing.get("/extensions/edit?n=1003").text
    # a bad plan choice saves nothing of the form
    r = billing.post("/extensions/edit", {**EDIT, "name": "Renamed", "plan": "77"}, check=400)
    assert 'id="err-plan"' in r.text
    assert Extension.get(Extension.number == "1003").name == "Room 3"
    # a form without the field (an older page) leaves the plan as it is
    billing.post("/extensions/edit", EDIT, check=303)
    assert plans.plan_of_extension(ext_id) == plan_id
    billing.post("/extensions/edit", {**EDIT, "plan": "none"}, check=303)
    assert plans.plan_of_extension(ext_id) is None


def test_call_log_and_exports_show_the_free_time_and_the_plan_page_its_use(billing):  # noqa: F811
    from billing_addon import accounts

    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], amount("5"), "t")
    make_rate("9", "0", rate="0.10", unit="60")
    with store.money_txn():
        store.Rate.update(call_type="national").execute()
        rates._bump_version()
    plan_id = plans.create("Basic", plans.parse_allowance({"national": "2"}))
    plans.assign(plan_id, ["1001"])
    now = store.now_utc()
    calls.authorize("1001", "912345", now, "free-1")
    calls.settle("free-1", 150)  # 120 s free, 30 s charged
    text = billing.get("/calls").text
    assert '<td class="num free" data-label="Free">0:02:00</td>' in text
    rows = list(csv.reader(io.StringIO(billing.get("/calls/export.csv", check=200).text.lstrip("\ufeff"))))
    assert rows[0][-1] == "Free (s)" and rows[1][-1] == "120" and rows[1][6] == "0.10"
    calls.authorize("1001", "912345", now, "held")  # nothing free left: no seconds held
    usage = billing.get(f"/plans/{plan_id}").text
    assert 'data-pool="extension-1-national"' in usage
    assert '<td class="num used" data-label="Used">0:02:00</td>' in usage
    assert f"Use in {plans.current_month()}" in usage
    settings.put("timezone", "UTC")


@pytest.mark.parametrize("locale", ["zh_CN", "es"])
def test_the_plan_pages_speak_the_users_language(billing, monkeypatch, locale):  # noqa: F811
    """Every text of plans.po that differs from English is shown translated, none in
    English, on the plan pages and the extension edit page's field."""
    import html

    from babel.messages.pofile import read_po
    from billing_addon.web.core import WebCore

    plan_id = plans.create("Basic", {"local": 60})
    plans.assign(plan_id, ["1001"])
    Department.create(name="Sales", created_utc=T0, updated_utc=T0)
    monkeypatch.setattr(WebCore, "request_locale", lambda self: locale)
    pages = " ".join(html.unescape(billing.get(path).text) for path in (
        "/plans", "/plans/add", f"/plans/{plan_id}", "/plans/assign", "/extensions/edit?n=1001"))
    with open(f"billing_addon/locale/{locale}/plans.po", "rb") as po:
        catalog = [m for m in read_po(po, locale=locale) if m.id and isinstance(m.id, str)]
    shown = ["Calling Plans", "Add", "Assign", "Assigned to", "Departments", "Own plan",
             "No plan of its own", "Calling plan", "Left", "In calls now"]
    for message in catalog:
        if message.id in shown:
            assert message.string in pages, message.id
            assert f">{message.id}<" not in pages, message.id
