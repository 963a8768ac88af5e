"""The billing users' roles (web/roles.py, web/auth.py, the Billing Manager): the auditor
sees every billing page and export and changes nothing; a department manager uses only
the routes of the allow-list, and only for the extensions and accounts of their
departments.  The walks go over ``route_table()``, so a route added later is covered."""

from __future__ import annotations

import csv
import io
import re

import pytest
from billing_addon.web import auth, roles
from billing_addon.web.app import route_table

from billing_addon import accounts, departments, money, settings, store
from billing_addon.cells import from_spreadsheet
from billing_addon.store import BillingUser
from tests.helpers import dump_database, four_rooms_in_two_departments
from tests.webclient import Client, activated_app

ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC

# what a route's URL arguments are filled with: an existing rate, department, ...
_ARGS = [(re.compile(r"<[a-z_]+:int>"), "1"), (re.compile(r"<kind:re:xlsx\|csv>"), "csv"),
         (re.compile(r"<[a-z_]+:re:\[0-9a-f\]\{16\}>"), "0" * 16), (re.compile(r"<[a-z_]+:path>"), "app.css"),
         (re.compile(r"<[a-z_]+:re:S-\\d\+>"), "S-1")]

# a form that, were it accepted, would change something on most routes
FORM = {"n": ["1001", "1002"], "amount": "5", "step": "confirm", "name": "Changed", "numbers": "1003",
        "set_status": "1", "status": "locked", "credit": "3", "billing_enabled": "1",
        "prefix": "8", "length": "0", "rate": "0.5", "unit": "60", "id": "1", "active": "0",
        "reason": "audit", "currency": "EUR", "remove_all": "1", "password": "new-password-1",
        "current": "billing-pass-1", "new": "new-password-9", "confirm": "new-password-9",
        "locale": "es", "all_extensions": "1"}


def _url(rule: str) -> str:
    for pattern, value in _ARGS:
        rule = pattern.sub(value, rule)
    assert "<" not in rule, f"a route argument the test does not know how to fill: {rule}"
    return rule


def _methods(methods):
    return [methods] if isinstance(methods, str) else list(methods)


def billing_routes(method: str):
    """(rule, url) of every route of the billing area with ``method``."""
    return [(path, _url(path)) for path, methods, role, _handler in route_table()
            if role == auth.BILLING and method in _methods(methods)]




@pytest.fixture
def box(db_path):
    """A box with extensions 1001-1004 (1001, 1002 in Sales; 1003 in Ops), a rate, calls."""
    app = activated_app(admin_password=ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    sales, ops = four_rooms_in_two_departments(T0)
    return app, admin, sales, ops


def _signed_in(app, role: str, managed=()):
    user, password = auth.create_billing_user(f"{role}-pass-1", role=role)
    departments.set_managed(user.id, managed)
    client = Client(app)
    client.login(user.username, password)
    client.username = user.username
    return client


# --- the auditor ---------------------------------------------------------------------


def test_an_auditor_sees_every_billing_page_and_export(box):
    app = box[0]
    auditor = _signed_in(app, auth.AUDITOR)
    gets = billing_routes("GET")
    assert len(gets) > 20
    for rule, url in gets:
        r = auditor.get(url)
        assert r.status not in (401, 403, 500), (rule, r.status, r.text[:300])
        assert r.status != 303 or "/login" not in r.location, rule


def test_every_billing_post_is_refused_to_an_auditor_and_changes_nothing(box, db_path):
    app = box[0]
    auditor = _signed_in(app, auth.AUDITOR)
    posts = billing_routes("POST")
    assert len(posts) > 15
    for rule, url in posts:
        before = dump_database(db_path)
        r = auditor.post(url, FORM)
        assert r.status == 403, (rule, r.status)
        assert "read-only (auditor)" in r.text, rule
        assert dump_database(db_path) == before, rule
    # the same forms do change things for a billing user: the walk tests something
    billing = _signed_in(app, auth.BILLING)
    before = dump_database(db_path)
    billing.post("/extensions/recharge", FORM, check=303)
    assert dump_database(db_path) != before


def test_an_auditors_pages_have_no_action_buttons(box):
    auditor = _signed_in(box[0], auth.AUDITOR)
    page = auditor.get("/extensions", check=200).text
    assert 'class="area-billing read-only"' in page
    for button in ('id="recharge-selected"', 'id="bulk-edit"', 'href="/extensions/edit?',
                   'href="/extensions/adjust?'):
        assert button not in page
    assert 'id="dept-add"' not in auditor.get("/departments", check=200).text
    plans_page = auditor.get("/plans", check=200).text
    assert 'id="add-plan"' not in plans_page and 'id="assign-plans"' not in plans_page
    dept = auditor.get(f"/departments/{box[2]}", check=200).text
    assert 'id="dept-rename"' not in dept and 'id="dept-delete"' not in dept
    assert 'href="/departments"' in page  # every billing page is in the auditor's menu


# --- the department manager ------------------------------------------------------------


def test_the_manager_allow_list_names_real_routes():
    table = {(path, method) for path, methods, role, _h in route_table() if role == auth.BILLING
             for method in _methods(methods)}
    assert roles.MANAGER_ROUTES <= table


def test_every_billing_route_outside_the_allow_list_is_refused_to_a_manager(box, db_path):
    app, _admin, sales, _ops = box
    manager = _signed_in(app, auth.MANAGER, [sales])
    closed = 0
    walk = [(method, rule, url) for method in ("GET", "POST") for rule, url in billing_routes(method)]
    # the allowed ones last: a manager's allowed POST (their own language) must not change
    # the language the refusals of the others are checked in
    walk.sort(key=lambda m_r_u: (m_r_u[1], m_r_u[0]) in roles.MANAGER_ROUTES)
    for method, rule, url in walk:
        before = dump_database(db_path)
        r = manager.get(url) if method == "GET" else manager.post(url, FORM)
        if (rule, method) in roles.MANAGER_ROUTES:
            assert r.status not in (401, 403, 500), (method, rule, r.status)
            continue
        closed += 1
        assert r.status == 403, (method, rule, r.status)
        assert "not open to department managers" in r.text
        assert dump_database(db_path) == before, (method, rule)
    assert closed > 20


def test_a_manager_sees_only_their_departments(box):
    app, _admin, sales, ops = box
    manager = _signed_in(app, auth.MANAGER, [sales])
    menu = re.findall(r'<nav class="menu".*?</nav>', manager.get("/extensions").text, re.S)[0]
    assert re.findall(r'href="([^"]+)"', menu) == ["/extensions", "/accounts", "/recharges", "/calls",
                                                     "/statistics"]
    page = manager.get("/extensions", check=200).text
    assert re.findall(r'data-number="(\d+)"', page) == ["1001", "1002"]
    assert 'id="recharge-selected"' in page and 'id="bulk-edit"' not in page
    assert f'<option value="{ops}"' not in page  # only their departments in the filter
    settings.put("low_balance_threshold", "100")  # every extension is low: theirs are 2
    assert "2 extension(s) below" in manager.get("/extensions").text
    calls_page = manager.get("/calls", check=200).text
    assert "Room 1001" in calls_page and "Room 1003" not in calls_page and "Room 1004" not in calls_page
    for export in ("/calls/export.csv", "/recharges/export.csv"):
        rows = list(csv.reader(io.StringIO(manager.get(export, check=200).body.decode("utf-8-sig"))))
        assert sorted({from_spreadsheet(r[1]) for r in rows[1:]}) == ["1001", "1002"], export
    assert "Room 1003" not in manager.get("/recharges", check=200).text
    stats = manager.get("/statistics?by=year", check=200).text
    assert 'id="total-calls">2<' in stats
    assert re.findall(r'<tr data-department="(\d*)"', stats) == [str(sales)]
    # another department, or another department's extension, is not theirs
    manager.get(f"/calls?dept={ops}", check=400)
    manager.get(f"/calls/export.csv?dept={ops}", check=400)
    manager.get("/statistics?extension=1003", check=400)
    assert re.findall(r'data-number="(\d+)"', manager.get(f"/extensions?dept={ops}", check=400).text) == []


def test_a_manager_recharges_their_extensions_and_only_theirs(box, db_path):
    app, _admin, sales, _ops = box
    manager = _signed_in(app, auth.MANAGER, [sales])
    start = {n: accounts.get_extension(n).balance for n in ("1001", "1002", "1003", "1004")}
    manager.post("/extensions/recharge", {"n": "1001", "amount": "5", "step": "confirm"}, check=303)
    assert accounts.get_extension("1001").balance == start["1001"] + money.parse_amount("5")
    before = dump_database(db_path)
    for forged in ({"n": "1003"}, {"n": ["1001", "1004"]}, {"n": "9999"}):
        r = manager.post("/extensions/recharge", dict(forged, amount="5", step="confirm"), check=403)
        assert "not in your departments" in r.text
        assert dump_database(db_path) == before, forged
    manager.get("/extensions/recharge?n=1003", check=403)
    # "all that match the search" is all of theirs, never more
    manager.post("/extensions/recharge", {"all": "1", "amount": "1", "step": "confirm"}, check=303)
    added = {n: accounts.get_extension(n).balance - start[n] for n in start}
    assert added == {"1001": money.parse_amount("6"), "1002": money.parse_amount("1"), "1003": 0, "1004": 0}


def test_a_manager_without_departments_sees_nothing(box):
    manager = _signed_in(box[0], auth.MANAGER, [])
    assert re.findall(r'data-number="(\d+)"', manager.get("/extensions").text) == []
    assert 'id="total-calls">0<' in manager.get("/statistics?by=year").text


# --- the Billing Manager (administrator) ---------------------------------------------------


def test_the_admin_creates_users_of_each_role_and_sets_managers_departments(box, db_path):
    app, admin, sales, ops = box
    page = admin.get("/admin/users", check=200).text
    assert 'id="create-role"' in page
    admin.post("/admin/users/add", {"role": "auditor"}, check=303)
    user = auth.list_users()[-1]
    assert user.role == auth.AUDITOR
    admin.post("/admin/users/role", {"username": user.username, "role": "manager",
                                     "department": [str(sales), str(ops)]}, check=303)
    assert auth.get_user(user.username).role == auth.MANAGER
    assert departments.managed(user.id) == sorted([sales, ops])
    # a refused change must not touch the row at all (not even its time, to the second)
    BillingUser.update(updated_utc=0).where(BillingUser.id == user.id).execute()
    before = dump_database(db_path)
    for form in ({"username": user.username, "role": "root"},  # no such role
                 {"username": user.username, "role": "manager", "department": "999"},  # no such department
                 {"username": "bill-nobody", "role": "auditor"}):  # no such user
        admin.post("/admin/users/role", form, check=400)
    admin.post("/admin/users/add", {"role": "superuser"}, check=303)
    assert dump_database(db_path) == before
    # back to billing: full access, no departments kept
    admin.post("/admin/users/role", {"username": user.username, "role": "billing",
                                     "department": str(sales)}, check=303)
    assert departments.managed(user.id) == []


def test_a_role_change_ends_the_users_sessions(box):
    app, admin, sales, _ops = box
    auditor = _signed_in(app, auth.AUDITOR)
    auditor.get("/extensions", check=200)
    admin.post("/admin/users/role", {"username": auditor.username, "role": "manager",
                                     "department": str(sales)}, check=303)
    r = auditor.get("/extensions")
    assert r.status == 303 and r.location.startswith("/login")


def test_deleting_a_department_drops_its_managers_links(box):
    app, _admin, sales, ops = box
    user, _pw = auth.create_billing_user("manager-pass-1", role=auth.MANAGER)
    departments.set_managed(user.id, [sales, ops])
    departments.empty(ops)
    departments.delete(ops)
    assert departments.managed(user.id) == [sales]


def test_the_command_line_creates_an_auditor(db_path, tmp_path, capsys):
    from billing_addon import cli

    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {db_path}\n")
    assert cli.main(["--config", str(ini), "user", "add", "--role", "auditor"]) == 0
    out = capsys.readouterr().out
    name = re.search(r"billing user (bill-\w+) created", out).group(1)
    assert "role: auditor" in out
    store.init_db(db_path)
    assert auth.get_user(name).role == auth.AUDITOR
    with pytest.raises(SystemExit):  # not a role: a usage error, nothing made
        cli.main(["--config", str(ini), "user", "add", "--role", "root"])
    store.init_db(db_path)
    assert [u.username for u in auth.list_users()] == [name]


def test_accounts_a_manager_sees_are_their_departments_and_an_auditor_has_no_actions(box):
    """PIN accounts meet the roles: the Accounts page lists a manager's departments'
    accounts only; an auditor sees them all without New, Edit, Recharge or Adjust."""
    from billing_addon import pin_accounts
    app, _admin, sales, ops = box
    for number, dept in (("5001", sales), ("5002", ops), ("5003", None)):
        pin_accounts.create(number, f"48291{number[-1]}", name=f"Card {number}")
        departments.assign([number], dept)
    manager = _signed_in(app, auth.MANAGER, [sales])
    page = manager.get("/accounts", check=200).text
    assert re.findall(r'<tr data-number="(\d+)"', page) == ["5001"]
    assert 'id="new-account"' not in page and "/accounts/edit?n=" not in page
    assert "/extensions/recharge?n=5001" in page  # a manager recharges theirs
    auditor = _signed_in(app, auth.AUDITOR, [])
    page = auditor.get("/accounts", check=200).text
    assert re.findall(r'<tr data-number="(\d+)"', page) == ["5001", "5002", "5003"]
    for action in ('id="new-account"', "/accounts/edit?n=", "/extensions/recharge?n=",
                   "/extensions/adjust?n="):
        assert action not in page
