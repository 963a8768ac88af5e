"""The JSON API (web/api, docs/api.md) on a real SQLite file: tokens, roles, the bad
input of issue #16 (each changes nothing), exactly-once recharges with an
Idempotency-Key, money as strings, times with the box's offset, throttling, and paging
by cursor.  Every answer is checked against the OpenAPI document (tests/api_support)."""

from __future__ import annotations

import json

import pytest
from billing_addon.web import auth
from billing_addon.web.api import core as api_core
from billing_addon.web.app import make_app
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing_addon import (
    accounts,
    api_tokens,
    calls,
    config,
    departments,
    idempotency,
    money,
    pin_accounts,
    reports,
    settings,
    store,
)
from tests.api_support import ApiClient, error_code
from tests.helpers import dump_database, four_rooms_in_two_departments
from tests.web_fakes import FakeActivation
from tests.webclient import Client, activated_app

ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC


def _app(overrides=None):
    return activated_app(overrides, ADMIN_PW)


@pytest.fixture
def box(db_path):
    """Extensions 1001-1004 with 10.00 each (1001, 1002 in Sales; 1003 in Ops), a rate,
    a call each, PIN account 8001; a token of each role (the manager's for Sales)."""
    app = _app()
    sales, ops = four_rooms_in_two_departments(T0)
    pin_accounts.create("8001", "480159", name="Guest account")
    tokens = {role: api_tokens.create(f"{role} app", role, [sales] if role == "manager" else [])[1]
              for role in api_tokens.ROLES}
    for secret in tokens.values():  # the first use writes last_used: before the no-change dumps
        ApiClient(app, secret).get("/api/v1/extensions/1001")
    return app, tokens, db_path


def _balance(number: str) -> int:
    return accounts.get_extension(number).balance


# --- tokens ----------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_hash_and_revoking_refuses_it_at_once(box):
    app, tokens, _path = box
    token, secret = api_tokens.create("kiosk", "billing")
    stored = store.sql_one("SELECT secret_sha256 FROM api_token WHERE id = ?", (token.id,))[0]
    everything = repr(store.sql("SELECT * FROM api_token").fetchall())
    assert secret not in everything and stored == api_tokens.digest(secret)
    api = ApiClient(app, secret)
    assert api.json("GET", "/api/v1/extensions/1001")["number"] == "1001"
    api_tokens.revoke(token.id)
    refused = api.get("/api/v1/extensions/1001", check_status=401)
    assert error_code(refused) == "unauthorized"


@pytest.mark.parametrize("name, role, depts, why", [
    ("", "billing", [], "name"),  # a token needs a name
    ("x", "admin", [], "role"),  # not a role of the billing area
    ("x", "manager", [], "department"),  # a manager's token without departments
    ("x", "billing", ["1"], "department"),  # departments only for a manager
    ("x", "manager", ["999"], "department"),  # an unknown department
])
def test_bad_token_input_is_refused_and_makes_nothing(db_path, name, role, depts, why):
    departments.create("Sales")
    with pytest.raises(Exception) as refused:
        api_tokens.create(name, role, depts)
    assert why in str(refused.value)
    assert api_tokens.listed() == []


# --- bad input: each refused with a stable code and changes nothing ---------------------

BIG = b"{" + b" " * (10 * 1024 * 1024) + b"}"


@pytest.mark.parametrize("role, method, path, body, raw, headers, status, code", [
    # no token, a wrong one
    (None, "GET", "/api/v1/extensions", None, None, {}, 401, "unauthorized"),
    ("wrong", "POST", "/api/v1/extensions/1001/recharge", {"amount": "5"}, None, {}, 401, "unauthorized"),
    # an auditor's POST, a manager outside its departments or off its allow-list
    ("auditor", "POST", "/api/v1/extensions/1001/recharge", {"amount": "5"}, None, {}, 403, "read-only"),
    ("manager", "POST", "/api/v1/extensions/1003/recharge", {"amount": "5"}, None, {}, 403,
     "outside-departments"),
    ("manager", "POST", "/api/v1/rates", {"prefix": "8", "rate": "0.1"}, None, {}, 403,
     "not-for-managers"),
    # malformed JSON, a float amount, an integer amount, an unknown field, a 10 MB body
    ("billing", "POST", "/api/v1/extensions/1001/recharge", None, b'{"amount": "5"', {}, 400,
     "malformed-json"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", None, b'{"amount": 5.5}', {}, 400,
     "money-not-a-string"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", {"amount": 5}, None, {}, 400,
     "money-not-a-string"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", {"amount": "5", "bonus": "1"}, None, {},
     400, "unknown-field"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", None, BIG, {}, 413, "body-too-large"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", None, b'{"amount": "5", "amount": "6"}',
     {}, 400, "duplicate-field"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", {"amount": "0.00001"}, None, {}, 400,
     "invalid-amount"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", {"amount": "-5"}, None, {}, 400,
     "invalid-amount"),
    ("billing", "PATCH", "/api/v1/extensions/1001", {"credit": 3}, None, {}, 400, "money-not-a-string"),
    ("billing", "POST", "/api/v1/extensions/1001/adjust", {"amount": "-1"}, None, {}, 400, "invalid"),
    ("billing", "POST", "/api/v1/extensions/9999/recharge", {"amount": "5"}, None, {}, 404, "not-found"),
    ("billing", "POST", "/api/v1/extensions/1001/recharge", None, b"amount=5",
     {"Content-Type": "application/x-www-form-urlencoded"}, 415, "not-json"),
])
def test_bad_input_is_refused_and_changes_nothing(box, role, method, path, body, raw, headers,
                                                  status, code):
    app, tokens, db_file = box
    secret = {None: None, "wrong": api_tokens.PREFIX + "x" * 43}.get(role, tokens.get(role))
    before = dump_database(db_file)
    content_type = headers.pop("Content-Type", "application/json")
    response = ApiClient(app, secret).call(method, path, body, raw=raw, content_type=content_type,
                                           headers=headers)
    assert response.status == status, response.text[:500]
    assert error_code(response) == code
    message = json.loads(response.body)["error"]["message"]
    assert message and "\n" not in message
    if code == "unknown-field":
        assert "bonus" in message  # the field is named
    assert dump_database(db_file) == before


def test_a_browser_session_cannot_call_the_api(box):
    app, _tokens, _path = box
    auth.create_billing_user("billing-pass-1")
    browser = Client(app)
    user = auth.list_users()[0]
    browser.login(user.username, "billing-pass-1")
    assert browser.get("/extensions").status == 200  # signed in
    response = browser.get("/api/v1/extensions")
    assert response.status == 401 and error_code(response) == "unauthorized"
    assert browser.request("POST", "/api/v1/extensions/1001/recharge", b'{"amount": "5"}',
                           "application/json").status == 401
    assert _balance("1001") == money.parse_amount("9.90")  # 10.00 less its call


# --- money, exactly once -----------------------------------------------------------------


def test_recharge_answers_money_as_strings_and_moves_it(box):
    app, tokens, _path = box
    settings.put("currency", "CNY")
    done = ApiClient(app, tokens["billing"]).json(
        "POST", "/api/v1/extensions/1001/recharge", {"amount": "12.50"}, status=201)
    assert done["amount"] == {"amount": "12.50", "currency": "CNY"}
    assert done["balance_before"]["amount"] == "9.90" and done["balance_after"]["amount"] == "22.40"
    assert _balance("1001") == money.parse_amount("22.40")
    entry = store.Ledger.get(store.Ledger.id == done["ledger_id"])
    assert entry.operator == "api:billing app" and entry.kind == "recharge"
    assert not accounts.verify()


def test_the_same_idempotency_key_gives_the_first_answer_and_recharges_once(box):
    app, tokens, db_file = box
    api = ApiClient(app, tokens["billing"])
    key = {"Idempotency-Key": "order-4711"}
    first = api.call("POST", "/api/v1/extensions/1002/recharge", {"amount": "5"}, headers=key)
    assert first.status == 201 and first.header("Idempotent-Replayed") == "false"
    before = dump_database(db_file)
    again = api.call("POST", "/api/v1/extensions/1002/recharge", {"amount": "5"}, headers=key)
    assert again.status == 201 and again.body == first.body
    assert again.header("Idempotent-Replayed") == "true"
    assert dump_database(db_file) == before
    other = api.call("POST", "/api/v1/extensions/1002/recharge", {"amount": "6"}, headers=key)
    assert other.status == 409 and error_code(other) == "idempotency-key-reused"
    assert dump_database(db_file) == before
    assert _balance("1002") == money.parse_amount("14.90")
    # another token's key of the same name is another key
    ApiClient(app, api_tokens.create("second", "billing")[1]).call(
        "POST", "/api/v1/extensions/1002/recharge", {"amount": "5"}, headers=key, check_status=201)
    assert _balance("1002") == money.parse_amount("19.90")


def test_the_kept_answer_commits_with_the_recharge_or_neither_does(box):
    """A failure writing the kept answer (as a kill between the two would be, were they
    two transactions) leaves no recharge: both are one transaction."""
    app, tokens, db_file = box
    if getattr(store, "postgres", lambda: False)():  # the same refusal in PostgreSQL's words
        store.db.execute_sql("CREATE FUNCTION no_keep() RETURNS trigger LANGUAGE plpgsql AS "
                             "$$ BEGIN RAISE EXCEPTION 'disk gone'; END $$")
        store.db.execute_sql("CREATE TRIGGER no_keep BEFORE INSERT ON api_idempotency "
                             "FOR EACH ROW EXECUTE FUNCTION no_keep()")
    else:
        store.db.execute_sql("CREATE TRIGGER no_keep BEFORE INSERT ON api_idempotency "
                             "BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
    before = dump_database(db_file)
    response = ApiClient(app, tokens["billing"]).call(
        "POST", "/api/v1/extensions/1001/recharge", {"amount": "5"},
        headers={"Idempotency-Key": "k1"})
    assert response.status == 500
    assert dump_database(db_file) == before


def test_adjust_takes_a_signed_amount_and_a_reason(box):
    app, tokens, _path = box
    done = ApiClient(app, tokens["billing"]).json(
        "POST", "/api/v1/extensions/1001/adjust", {"amount": "-2.5", "reason": "refund"},
        status=201, headers={"Idempotency-Key": "adj-1"})
    assert done["balance_after"]["amount"] == "7.40" and done["reason"] == "refund"


# --- the role rules are the web UI's ----------------------------------------------------


def test_a_manager_token_sees_and_recharges_only_its_departments(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["manager"])
    listed = api.json("GET", "/api/v1/extensions")
    assert [e["number"] for e in listed["extensions"]] == ["1001", "1002"]
    assert api.get("/api/v1/extensions/1003").status == 403
    api.post("/api/v1/extensions/1002/recharge", {"amount": "1"}, check_status=201)
    calls_seen = api.json("GET", "/api/v1/calls")["calls"]
    assert sorted(c["extension"] for c in calls_seen) == ["1001", "1002"]
    assert api.get("/api/v1/rates").status == 403  # not on the managers' allow-list


def test_an_auditor_token_reads_everything_and_changes_nothing(box):
    app, tokens, db_file = box
    api = ApiClient(app, tokens["auditor"])
    assert len(api.json("GET", "/api/v1/extensions")["extensions"]) == 4
    assert api.get("/api/v1/rates").status == 200
    before = dump_database(db_file)
    for method, path, body in (("PATCH", "/api/v1/extensions/1001", {"name": "x"}),
                               ("POST", "/api/v1/rates", {"prefix": "8", "rate": "1"}),
                               ("DELETE", "/api/v1/rates/1", None)):
        assert api.call(method, path, body).status == 403
    assert dump_database(db_file) == before


def test_no_api_while_billing_is_not_active(db_path):
    app = make_app(config.load(None, {}), FakeActivation())  # never activated
    secret = api_tokens.create("kiosk", "billing")[1]
    response = ApiClient(app, secret).get("/api/v1/extensions")
    assert response.status == 403 and error_code(response) == "billing-inactive"


# --- throttling -----------------------------------------------------------------------------


def test_a_token_past_its_burst_gets_429_with_retry_after(db_path):
    app = _app({"api": {"rate_per_second": "1", "burst": "3"}})
    api = ApiClient(app, api_tokens.create("busy", "billing")[1])
    statuses = [api.get("/api/v1/extensions").status for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    refused = api.get("/api/v1/extensions")
    assert int(refused.header("Retry-After")) >= 1 and error_code(refused) == "throttled"
    other = ApiClient(app, api_tokens.create("calm", "billing")[1])
    assert other.get("/api/v1/extensions").status == 200  # per token


# --- lists ----------------------------------------------------------------------------------


def test_calls_page_by_cursor_through_every_call_once_in_the_call_logs_order(box):
    app, tokens, _path = box
    for i in range(23):
        calls.settle(f"p-{i}", 5, "ANSWER", number="1004", dialed="912345678",
                     started=T0 + 60 * (i % 5), source="cdr")  # ties on time: the id decides
    api = ApiClient(app, tokens["billing"])
    seen, cursor = [], None
    for _ in range(20):
        page = api.json("GET", "/api/v1/calls?limit=4" + (f"&cursor={cursor}" if cursor else ""))
        seen += [c["id"] for c in page["calls"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [c.id for c in reports.calls_page(per_page=1000).rows]
    assert seen == expected and len(seen) == 27


def test_call_times_carry_the_box_offset_and_filters_apply(box):
    app, tokens, _path = box
    settings.put("timezone", "Asia/Shanghai")
    api = ApiClient(app, tokens["billing"])
    page = api.json("GET", "/api/v1/calls?q=1003&from=2024-05-01&to=2024-05-01")
    assert [c["extension"] for c in page["calls"]] == ["1003"]
    assert page["calls"][0]["start"] == "2024-05-01T18:00:00+08:00"
    assert page["calls"][0]["cost"]["amount"] == "0.10"
    assert api.json("GET", "/api/v1/calls?from=2024-05-02")["calls"] == []
    bad = api.get("/api/v1/calls?from=yesterday")
    assert bad.status == 400 and error_code(bad) == "invalid"


def test_recharges_and_statistics_and_exports(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    entries = api.json("GET", "/api/v1/recharges?q=1002")["recharges"]
    assert [(e["extension"], e["amount"]["amount"], e["kind"]) for e in entries] == [
        ("1002", "10.00", "recharge")]
    stats = api.json("GET", "/api/v1/statistics?by=month&from=2024-05-01&to=2024-05-31")
    assert stats["total"]["calls"] == 4 and stats["total"]["cost"]["amount"] == "0.40"
    exported = api.get("/api/v1/calls/export.csv?q=1001")
    assert exported.status == 200 and "912345678" in exported.text
    assert "1001" in api.get("/api/v1/recharges/export.csv").text


def test_extension_list_get_and_edit(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    found = api.json("GET", "/api/v1/extensions?q=100&per_page=2&page=2")
    assert [e["number"] for e in found["extensions"]] == ["1003", "1004"] and found["total"] == 4
    edited = api.json("PATCH", "/api/v1/extensions/1004",
                      {"name": "Suite", "credit": "5", "status": "locked", "department_id": None})
    assert edited["name"] == "Suite" and edited["credit"]["amount"] == "5.00"
    assert edited["status"] == "locked" and edited["available"]["amount"] == "14.90"


def test_rates_create_edit_test_delete_export_import(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    made = api.json("POST", "/api/v1/rates", {"prefix": "00", "rate": "0.5", "unit": 60,
                                              "remarks": "intl", "call_type": "international"},
                    status=201)
    assert made["rate"] == {"amount": "0.50", "currency": settings.get("currency")}
    changed = api.json("PUT", f"/api/v1/rates/{made['id']}", {"prefix": "00", "rate": "0.25", "unit": 60})
    assert changed["rate"]["amount"] == "0.25"
    tested = api.json("GET", "/api/v1/rates/test?extension=1001&dialed=0049301234&duration=61")
    assert tested["rate_id"] == made["id"] and tested["cost"]["amount"] == "0.50"
    bad = api.post("/api/v1/rates", {"prefix": "x1", "rate": "1"})
    assert bad.status == 400 and "prefix" in json.loads(bad.body)["error"]["message"]
    exported = api.get("/api/v1/rates/export.csv").text
    assert ",0.25,60," in exported  # as replaced (PUT replaces every field)
    assert api.json("DELETE", f"/api/v1/rates/{made['id']}") == {"deleted": made["id"]}
    assert api.get(f"/api/v1/rates/{made['id']}").status == 404
    imported = api.json("POST", "/api/v1/rates/import", raw=exported.encode("utf-8"),
                        content_type="text/csv", status=201)
    assert imported["imported"] == 2
    ids, cursor = [], ""
    for _ in range(5):  # one rate a page, by id: the first, then the import's two
        page = api.json("GET", "/api/v1/rates?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        ids += [r["id"] for r in page["rates"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == 3 and ids == sorted(ids)
    assert [r["prefix"] for r in api.json("GET", "/api/v1/rates?type=other")["rates"]] == [
        "9", "9", "00"]
    assert api.get("/api/v1/rates?type=cheap").status == 400


# --- stays and statements -----------------------------------------------------------------


def test_check_in_and_out_with_the_statement_and_its_file(box):
    app, tokens, db_file = box
    api = ApiClient(app, tokens["billing"])
    key = {"Idempotency-Key": "arrival-1"}
    stay = api.json("POST", "/api/v1/extensions/1004/check-in",
                    {"guest": "Ann Lee", "deposit": "20", "credit": "5"}, status=201, headers=key)
    assert stay["guest"] == "Ann Lee" and stay["checked_out"] is None
    before = dump_database(db_file)
    again = api.call("POST", "/api/v1/extensions/1004/check-in",
                     {"guest": "Ann Lee", "deposit": "20", "credit": "5"}, headers=key)
    assert again.status == 201 and json.loads(again.body) == stay  # no second stay or deposit
    assert dump_database(db_file) == before
    assert [s["guest"] for s in api.json("GET", "/api/v1/stays?open=1")["stays"]] == ["Ann Lee"]
    too_much = api.post("/api/v1/extensions/1004/check-out", {"payment": "1"})  # nothing owed
    assert too_much.status == 400 and dump_database(db_file) == before
    statement = api.json("POST", "/api/v1/extensions/1004/check-out", {}, status=201)
    assert statement["guest"] == "Ann Lee"

    def units(key):
        return money.parse_amount(statement[key]["amount"], allow_negative=True)

    assert units("recharges") >= money.parse_amount("20")  # the deposit
    assert units("closing_balance") == (units("opening_balance") + units("recharges")
                                        + units("adjustments") + units("payments")
                                        - units("call_cost"))
    assert api.json("GET", f"/api/v1/statements/{statement['number']}") == statement
    assert [s["number"] for s in api.json("GET", "/api/v1/statements")["statements"]] == [
        statement["number"]]
    pdf = api.get(f"/api/v1/statements/{statement['number']}.pdf")
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF")
    assert api.get("/api/v1/statements/S-999999").status == 404


def test_a_manager_token_cannot_check_in(box):
    app, tokens, db_file = box
    before = dump_database(db_file)
    refused = ApiClient(app, tokens["manager"]).post("/api/v1/extensions/1001/check-in",
                                                    {"guest": "Bob"})
    assert refused.status == 403 and error_code(refused) == "not-for-managers"
    assert dump_database(db_file) == before


def test_pin_accounts_are_listed_and_recharged_by_their_own_paths(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    assert [a["number"] for a in api.json("GET", "/api/v1/accounts")["accounts"]] == ["8001"]
    assert api.json("POST", "/api/v1/accounts/8001/recharge", {"amount": "3"},
                    status=201)["balance_after"]["amount"] == "3.00"
    assert api.json("GET", "/api/v1/accounts/8001")["name"] == "Guest account"
    assert api.get("/api/v1/extensions/8001").status == 404  # an account is not an extension
    assert api.post("/api/v1/accounts/1001/recharge", {"amount": "3"}).status == 404


# --- money through the API: properties ----------------------------------------------------

AMOUNTS = st.integers(min_value=-money.MAX_AMOUNT, max_value=money.MAX_AMOUNT)


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(units=AMOUNTS)
def test_money_sent_reads_back_to_the_same_units(db_path, units):
    """What the API answers is what it reads, exactly, in either form, for every amount."""
    sent = api_core.money_out(units)
    assert isinstance(sent["amount"], str)
    for given_form in (sent["amount"], sent):
        assert api_core.money_in({"amount": given_form}, "amount", allow_negative=True,
                                 allow_zero=True) == units


@hsettings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.one_of(st.integers(min_value=-10**12, max_value=10**12),
                        st.floats(allow_nan=False, allow_infinity=False)))
def test_a_json_number_is_never_money(db_path, number):
    body = json.loads(json.dumps({"amount": number}), parse_float=api_core.JsonFloat)
    with pytest.raises(api_core.ApiError) as refused:
        api_core.money_in(body, "amount", allow_negative=True, allow_zero=True)
    assert refused.value.code == "money-not-a-string"


def test_kept_answers_are_forgotten_after_30_days(box, monkeypatch):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    key = {"Idempotency-Key": "old-order"}
    api.call("POST", "/api/v1/extensions/1001/recharge", {"amount": "1"}, headers=key, check_status=201)
    later = store.now_utc() + idempotency.KEEP_S + 10
    monkeypatch.setattr(idempotency, "now_utc", lambda: later)
    monkeypatch.setitem(idempotency._pruned, "at", 0)
    again = api.call("POST", "/api/v1/extensions/1001/recharge", {"amount": "1"}, headers=key)
    assert again.header("Idempotent-Replayed") == "false"  # a new request by then
    assert _balance("1001") == money.parse_amount("11.90")


def test_check_out_needs_no_body(box):
    app, tokens, _path = box
    api = ApiClient(app, tokens["billing"])
    api.post("/api/v1/extensions/1003/check-in", {"guest": "Carl"}, check_status=201)
    done = api.call("POST", "/api/v1/extensions/1003/check-out", content_type="")
    assert done.status == 201 and json.loads(done.body)["guest"] == "Carl"
