"""Input at the edges of what the store and the calendar can hold, on the pages and in the
JSON API: an id or a cursor past SQLite's largest integer, a time in year 1 or 9999.
Each is answered as any unknown id or bad value is (404, or a 400 with its message),
never a 500, and changes nothing."""

from __future__ import annotations

import pytest
from billing_addon.web import auth

from billing_addon import api_tokens, settings
from tests.helpers import dump_database, make_extension, make_rate
from tests.webclient import Client, activated_app

HUGE = "99999999999999999999"  # past 2**63 - 1


@pytest.fixture
def desk(db_path):
    app = activated_app(admin_password="admin-secret-1")
    make_extension("1001", balance="5")
    make_rate("9", rate="0.10", unit="60")
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


def _api(client, path):
    token = api_tokens.create("desk", "billing")[1]
    return client.request("GET", path, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("method, path", [
    ("GET", f"/plans/{HUGE}"), ("POST", f"/plans/{HUGE}/delete"),
    ("GET", f"/rates/rerate/{HUGE}"), ("POST", f"/rates/rerate/{HUGE}/apply"),
    ("POST", f"/api-tokens/{HUGE}/revoke"),
])
def test_an_id_past_the_largest_integer_is_no_such_row(desk, db_path, method, path):
    before = dump_database(db_path)
    r = desk.get(path) if method == "GET" else desk.post(path, {})
    assert r.status in (303, 404), (r.status, r.errors[-300:])
    assert dump_database(db_path) == before


@pytest.mark.parametrize("path", ["/plans/assign", "/extensions/edit"])
def test_a_plan_choice_past_the_largest_integer_is_refused(desk, db_path, path):
    before = dump_database(db_path)
    form = {"plan": HUGE, "n": "1001"} if path == "/extensions/edit" else {"plan": HUGE}
    r = desk.post(path, form)
    assert r.status in (303, 400), (r.status, r.errors[-300:])
    assert dump_database(db_path) == before


@pytest.mark.parametrize("path", [f"/api/v1/rates?cursor={HUGE[:19]}",
                                  f"/api/v1/calls?cursor={HUGE}.1",
                                  f"/api/v1/recharges?cursor=1.{HUGE}"])
def test_an_api_cursor_past_the_largest_integer_is_a_400(desk, path):
    r = _api(desk, path)
    assert r.status == 400 and '"invalid"' in r.text and "cursor" in r.text, (r.status, r.text)


@pytest.mark.parametrize("at", ["0001-01-01T00:00+01:00", "9999-12-31T23:59-12:00"])
def test_the_rate_tester_refuses_a_time_at_the_calendars_edge(desk, at):
    settings.put("timezone", "Europe/Berlin")
    quoted = at.replace("+", "%2B")
    r = desk.get(f"/rates/test?extension=1001&dialed=912345&duration=60&at={quoted}")
    assert r.status == 400 and "use a date and time like" in r.text, (r.status, r.errors[-300:])
    r = _api(desk, f"/api/v1/rates/test?extension=1001&dialed=912345&at={quoted}")
    assert r.status == 400 and "at: a time like" in r.text, (r.status, r.text)
    assert desk.get("/rates/test?extension=1001&dialed=912345&duration=60"
                    "&at=2024-05-31T14:30").status == 200


def test_the_rate_upload_reads_a_mac_csv_and_refuses_what_csv_cannot_read(desk):
    """Excel for Mac's "CSV (Macintosh)" ends lines with a bare CR: imported; a cell
    longer than the csv module reads is a 400 with its line, never a 500."""
    r = desk.post("/rates/import", files={"file": ("mac.csv", b"prefix,rate,unit,extensions\r"
                                                               b"9,0.01,1,*\r8,0.02,1,*\r")},
                  check=None)
    assert r.status == 303, (r.status, r.errors[-300:])
    huge = b"prefix,rate,unit,remarks\n9,0.01,1,\"" + b"x" * 140_000 + b"\"\n"
    r = desk.post("/rates/import", files={"file": ("huge.csv", huge)}, check=None)
    assert r.status == 400 and "not a CSV file the import can read" in r.text, r.status
