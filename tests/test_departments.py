"""Departments (billing_addon/departments.py, web/departments.py): create, rename, delete
(refused with members), assign in bulk and one at a time, bad input that changes nothing,
and the department filter of every list, statistic and export (reports.py)."""

from __future__ import annotations

import csv
import io
import itertools
import re

import pytest
from billing_addon.web import auth
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing_addon import accounts, calls, departments, money, reports, store
from billing_addon.cells import from_spreadsheet
from tests.helpers import dump_database, make_rate
from tests.webclient import Client, activated_app

ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC




def _extensions(*numbers):
    for number in numbers:
        accounts.ensure_extension(number, f"Room {number}")
        accounts.edit([number], billing_enabled=True)
        accounts.recharge([number], money.parse_amount("10"), "test")


# --- the core ------------------------------------------------------------------------


def test_create_rename_list_delete(db_path):
    sales = departments.create("  Sales ")
    ops = departments.create("Operations")
    _extensions("1001", "1002", "1003")
    assert departments.assign(["1001", "1002"], sales) == 2
    rows = {r.name: r for r in departments.list_all()}
    assert rows["Sales"].members == 2 and rows["Sales"].balance == money.parse_amount("20")
    assert rows["Operations"].members == 0 and rows["Operations"].balance == 0
    departments.rename(sales, "Front Desk")
    departments.rename(sales, "front desk")  # its own name in another case is fine
    assert [r.name for r in departments.list_all()] == ["front desk", "Operations"]
    departments.delete(ops)
    assert [r.name for r in departments.list_all()] == ["front desk"]


@pytest.mark.parametrize("name, message", [
    ("", "needs a name"),  # empty
    ("   ", "needs a name"),  # only spaces
    ("x" * 61, "at most 60 characters"),  # too long
    ("Sales\nTeam", "control characters"),  # a new line
    ("SALES", "already exists"),  # another case of an existing name
    ("sales", "already exists"),
])
def test_bad_names_are_refused_and_change_nothing(db_path, name, message):
    departments.create("Sales")
    before = dump_database(db_path)
    with pytest.raises(departments.DepartmentError, match=message):
        departments.create(name)
    other = departments.create("Other")
    before = dump_database(db_path)
    with pytest.raises(departments.DepartmentError, match=message):
        departments.rename(other, name)
    assert dump_database(db_path) == before


def test_a_department_with_members_is_not_deleted_and_the_message_says_how_many(db_path):
    sales = departments.create("Sales")
    _extensions("1001", "1002", "1003")
    departments.assign(["1001", "1002", "1003"], sales)
    before = dump_database(db_path)
    with pytest.raises(departments.DepartmentError, match="still has 3 members"):
        departments.delete(sales)
    assert dump_database(db_path) == before
    assert departments.empty(sales) == 3
    departments.delete(sales)
    assert departments.choices() == []
    assert accounts.get_extension("1001").department_id is None


def test_assigning_unknown_numbers_changes_nothing_and_names_them(db_path):
    sales = departments.create("Sales")
    _extensions("1001")
    before = dump_database(db_path)
    with pytest.raises(departments.DepartmentError, match=r"2 unknown extensions or accounts: 4711, 4712"):
        departments.assign(["1001", "4711", "4712"], sales)
    with pytest.raises(departments.DepartmentError, match="no such department"):
        departments.assign(["1001"], 999)
    with pytest.raises(departments.DepartmentError, match="select at least one"):
        departments.assign([" ", ""], sales)
    assert dump_database(db_path) == before


def test_an_extension_is_in_one_department_at_most(db_path):
    a, b = departments.create("A"), departments.create("B")
    _extensions("1001")
    departments.assign(["1001"], a)
    departments.assign(["1001"], b)  # moves it
    assert {r.name: r.members for r in departments.list_all()} == {"A": 0, "B": 1}
    departments.assign(["1001"], None)
    assert accounts.get_extension("1001").department_id is None


def test_accounts_are_members_like_extensions(db_path):
    """An account (an extension row of kind 'account') is put in a department by its
    number and counted with its balance."""
    dept = departments.create("Dormitory")
    _extensions("1001", "8001")
    store.sql("UPDATE extension SET kind = 'account' WHERE number = '8001'")
    departments.assign(["8001", "1001"], dept)
    assert [(m[0], m[2]) for m in departments.members(dept)] == [("1001", "extension"), ("8001", "account")]
    assert departments.get(dept).balance == money.parse_amount("20")
    assert departments.outside(["8001", "1001", "1002"], [dept]) == ["1002"]


def _calls(number, dialed_costs, start=T0):
    for i, seconds in enumerate(dialed_costs):
        calls.settle(f"{number}-{i}-{start}", seconds, "ANSWER", number=number, dialed="912345678",
                     started=start + i * 60, source="cdr")


def test_reports_filter_by_department(db_path):
    make_rate("9", rate="0.01", unit="1")
    sales, ops = departments.create("Sales"), departments.create("Ops")
    _extensions("1001", "1002", "1003")
    departments.assign(["1001"], sales)
    departments.assign(["1002"], ops)
    _calls("1001", [10, 20])
    _calls("1002", [30])
    _calls("1003", [40])
    numbers = [r.number for r in reports.extensions_page(departments=[sales]).rows]
    assert numbers == ["1001"]
    assert [r.number for r in reports.extensions_page(departments=[]).rows] == []
    assert {c.number for c in reports.calls_page(departments=[sales]).rows} == {"1001"}
    assert {c.number for c in reports.iter_calls(departments=[sales, ops])} == {"1001", "1002"}
    assert {r.number for r in reports.recharges_page(departments=[ops]).rows} == {"1002"}
    assert {r.number for r in reports.iter_recharges(departments=[ops])} == {"1002"}
    _rows, total = reports.statistics("year", departments=[sales])
    assert (total.calls, total.answered_s, total.cost) == (2, 30, money.parse_amount("0.30"))
    by_dept = {d.name: (d.calls, d.answered_s, d.cost) for d in reports.department_totals()}
    cents = money.parse_amount("0.01")
    assert by_dept == {"Sales": (2, 30, 30 * cents), "Ops": (1, 30, 30 * cents), "": (1, 40, 40 * cents)}
    only = reports.department_totals(departments=[ops])
    assert [(d.name, d.calls) for d in only] == [("Ops", 1)]


_EXAMPLE = itertools.count(1)


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(placement=st.lists(st.sampled_from([None, 0, 1, 2]), min_size=5, max_size=5),
       seconds=st.lists(st.integers(min_value=1, max_value=900), min_size=5, max_size=5))
def test_department_totals_add_up_to_the_statistics_total(db_path, placement, seconds):
    """Whatever the membership, the per-department lines (with "no department") add up
    to the page's total, and each equals the statistics filtered by that department."""
    store.sql("UPDATE extension SET department_id = NULL")
    store.sql("DELETE FROM department")
    if not store.Rate.select().exists():
        make_rate("9", rate="0.07", unit="6")
    example = next(_EXAMPLE)
    numbers = [f"{example}{i:02d}" for i in range(5)]
    for number in numbers:
        accounts.ensure_extension(number)
        accounts.edit([number], billing_enabled=True, credit=money.parse_amount("1000"))
    ids = [departments.create(name) for name in ("A", "B", "C")]
    for i, (number, where, s) in enumerate(zip(numbers, placement, seconds)):
        if where is not None:
            departments.assign([number], ids[where])
        _calls(number, [s], start=T0 + example * 3600 + i * 60)
    lines = reports.department_totals()
    _rows, total = reports.statistics("year")
    assert sum(d.cost for d in lines) == total.cost
    assert sum(d.calls for d in lines) == total.calls
    assert sum(d.answered_s for d in lines) == total.answered_s
    for line in lines:
        if line.department_id is not None:
            _rows, own = reports.statistics("year", departments=[line.department_id])
            assert (own.calls, own.answered_s, own.cost) == (line.calls, line.answered_s, line.cost)


# --- the web pages -------------------------------------------------------------------


@pytest.fixture
def app(db_path):
    return activated_app(admin_password=ADMIN_PW)


@pytest.fixture
def billing(app):
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


def _errors(text):
    return re.findall(r'class="(?:field-error|flash flash-error)"[^>]*>([^<]*)<', text)


def test_the_departments_page_creates_renames_and_refuses_bad_input(billing, db_path):
    billing.post("/departments/add", {"name": "Sales"}, check=303)
    page = billing.get("/departments", check=200).text
    assert "Sales" in page and 'id="dept-table"' in page
    before = dump_database(db_path)
    for name, message in (("sales", "already exists"), ("", "needs a name"), ("y" * 61, "at most 60")):
        r = billing.post("/departments/add", {"name": name}, check=400)
        assert any(message in e for e in _errors(r.text)), r.text
    assert dump_database(db_path) == before
    dept = departments.choices()[0][0]
    billing.post(f"/departments/{dept}/rename", {"name": "Sales East"}, check=303)
    assert departments.get(dept).name == "Sales East"
    billing.get("/departments/999", check=404)


def test_delete_from_the_page_with_members_says_how_many_and_keeps_it(billing, db_path):
    dept = departments.create("Sales")
    _extensions("1001", "1002")
    r = billing.post(f"/departments/{dept}/members", {"numbers": "1001, 1002"}, check=303)
    page = billing.get(r.location).text
    assert "2 extensions or accounts added to Sales" in page
    before = dump_database(db_path)
    r = billing.post(f"/departments/{dept}/delete", check=303)
    page = billing.get(r.location).text
    assert "still has 2 members" in page
    assert dump_database(db_path) == before
    billing.post(f"/departments/{dept}/members", {"remove": "1", "remove_all": "1"}, check=303)
    billing.post(f"/departments/{dept}/delete", check=303)
    assert departments.choices() == []


def test_adding_unknown_numbers_on_the_page_changes_nothing(billing, db_path):
    dept = departments.create("Sales")
    _extensions("1001")
    before = dump_database(db_path)
    r = billing.post(f"/departments/{dept}/members", {"numbers": "1001 9999"}, check=400)
    assert any("1 unknown extension or account: 9999" in e for e in _errors(r.text)), r.text
    assert dump_database(db_path) == before


def test_bulk_edit_and_edit_assign_a_department(billing):
    dept = departments.create("Sales")
    _extensions("1001", "1002", "1003")
    form = billing.get("/extensions/bulk-edit?n=1001&n=1002", check=200).text
    assert 'id="set_department"' in form
    billing.post("/extensions/bulk-edit", {"n": ["1001", "1002"], "set_department": "1",
                                           "department": str(dept)}, check=303)
    assert [m[0] for m in departments.members(dept)] == ["1001", "1002"]
    # a department with another property in one bulk edit
    billing.post("/extensions/bulk-edit", {"n": ["1003"], "set_department": "1", "department": str(dept),
                                           "set_status": "1", "status": "locked"}, check=303)
    assert accounts.get_extension("1003").status == "locked"
    assert accounts.get_extension("1003").department_id == dept
    edit = billing.get("/extensions/edit?n=1001", check=200).text
    assert f'<option value="{dept}" selected' in edit
    billing.post("/extensions/edit", {"n": "1001", "name": "Room 1001", "credit": "0", "status": "unlocked",
                                      "payment_type": "prepaid", "department": ""}, check=303)
    assert accounts.get_extension("1001").department_id is None
    r = billing.post("/extensions/bulk-edit", {"n": ["1001"], "set_department": "1", "department": "77"},
                     check=400)
    assert any("no such department" in e for e in _errors(r.text))


def test_lists_and_exports_filter_by_department(billing):
    make_rate("9", rate="0.01", unit="1")
    sales = departments.create("Sales")
    _extensions("1001", "1002")
    departments.assign(["1001"], sales)
    _calls("1001", [10])
    _calls("1002", [20])
    ext_page = billing.get(f"/extensions?dept={sales}", check=200).text
    assert 'data-number="1001"' in ext_page and 'data-number="1002"' not in ext_page
    calls_page = billing.get(f"/calls?dept={sales}&from=2024-05-01&to=2024-05-01", check=200).text
    assert "Room 1001" in calls_page and "Room 1002" not in calls_page
    rows = list(csv.reader(io.StringIO(billing.get(f"/calls/export.csv?dept={sales}", check=200)
                                       .body.decode("utf-8-sig"))))
    assert [from_spreadsheet(r[1]) for r in rows[1:]] == ["1001"]
    rows = list(csv.reader(io.StringIO(billing.get(f"/recharges/export.csv?dept={sales}", check=200)
                                       .body.decode("utf-8-sig"))))
    assert [from_spreadsheet(r[1]) for r in rows[1:]] == ["1001"]
    xlsx = billing.download_xlsx(f"/calls/export.xlsx?dept={sales}")
    assert xlsx.body[:2] == b"PK"
    stats = billing.get(f"/statistics?by=year&dept={sales}", check=200).text
    assert 'id="total-calls">1<' in stats
    assert 'id="dept-totals"' in stats
    stats = billing.get("/statistics?by=year", check=200).text
    assert re.search(r'data-department="">\s*<td[^>]*>\(no department\)</td>\s*<td[^>]*>1</td>', stats)
    # an unknown department is a clear error, never "everything"
    r = billing.get("/extensions?dept=999", check=400)
    assert any("no such department" in e for e in _errors(r.text))
    r = billing.get("/calls?dept=999", check=400)
    assert any("no such department" in e for e in _errors(r.text))
    billing.get("/calls/export.csv?dept=abc", check=400)


def test_the_accounts_page_filters_by_department(billing):
    """Departments meet PIN accounts: the Accounts list has the department filter."""
    from billing_addon import pin_accounts
    sales = departments.create("Sales")
    for number, pin in (("5001", "111111"), ("5002", "222222")):
        pin_accounts.create(number, pin)
    departments.assign(["5001"], sales)
    page = billing.get(f"/accounts?dept={sales}", check=200).text
    assert re.findall(r'<tr data-number="(\d+)"', page) == ["5001"]
    assert f'<option value="{sales}" selected>' in page
    assert re.findall(r'<tr data-number="(\d+)"', billing.get("/accounts", check=200).text) \
        == ["5001", "5002"]
    billing.get("/accounts?dept=999", check=400)
