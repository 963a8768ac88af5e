"""Sites in the web UI (issue #16 item 3): the Site filter of the reports and their
downloads (shown only when the store has more than one site), the Extensions list
acting only on this box's site, and the account and rate forms' "all sites / this site".
The web app is the box of site 'alpha'; 'beta' is another box on the same store (its
extensions have other numbers: this SQLite file keeps UNIQUE(number))."""

import csv
import io

import pytest
from billing_addon.web import auth

from billing_addon import accounts, calls, pin_accounts, pins, rates, sites
from billing_addon.cells import from_spreadsheet
from billing_addon.store import Extension, Rate
from tests.webclient import Client, activated_app

from .helpers import amount, dump_database, make_extension, make_rate
from .test_sites import at_site

T0 = 1_714_564_800
ADMIN_PW = "admin-secret-1"


def _app(site):
    app = activated_app({"store": {"site": site}}, ADMIN_PW)
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


@pytest.fixture
def alpha(db_path):
    make_rate("9", rate="0.01", unit="1")
    client = _app("alpha")
    yield client
    sites.set_current("")


def _calls(site, number, seconds):
    with at_site(site):
        make_extension(number, balance="10")
        for i, s in enumerate(seconds):
            calls.authorize(number, "912345", T0 + i, f"{number}-{i}")
            calls.settle(f"{number}-{i}", s)


def _csv(response):
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


def test_the_site_filter_is_shown_only_when_the_store_has_two_sites(alpha):
    _calls("alpha", "1001", (10,))
    for path in ("/calls", "/recharges", "/statistics", "/extensions"):
        assert 'id="filter-site"' not in alpha.get(path, check=200).text
    assert _csv(alpha.get("/calls/export.csv", check=200))[0][-1] == "Free (s)"
    _calls("beta", "2001", (20,))
    for path in ("/calls", "/recharges", "/statistics", "/extensions"):
        assert 'id="filter-site"' in alpha.get(path, check=200).text, path


def test_reports_and_downloads_filter_by_site(alpha):
    _calls("alpha", "1001", (10, 20))
    _calls("beta", "2001", (30,))
    page = alpha.get("/calls?site=beta", check=200).text
    assert "2001" in page and "1001" not in page.split('id="call-table"')[1]
    rows = _csv(alpha.get("/calls/export.csv?site=beta", check=200))
    assert rows[0][-1] == "Site"
    assert [(from_spreadsheet(r[1]), r[-1]) for r in rows[1:]] == [("2001", "beta")]
    assert len(_csv(alpha.get("/calls/export.csv", check=200))) == 1 + 3
    rows = _csv(alpha.get("/recharges/export.csv?site=alpha", check=200))
    assert rows[0][-1] == "Site"
    assert [(from_spreadsheet(r[1]), r[-1]) for r in rows[1:]] == [("1001", "alpha")]
    stats = _csv(alpha.get("/statistics/export.csv?site=beta&from=2024-05-01&to=2024-05-01",
                           check=200))
    assert [r[2:] for r in stats[1:]] == [["1", "1", "30", "0.30"]]
    assert "/calls?from=2024-05-01&amp;to=2024-05-01&amp;q=&amp;site=beta" in alpha.get(
        "/statistics?site=beta&from=2024-05-01&to=2024-05-01", check=200).text
    # the search keeps the filter in its downloads
    assert "export.csv?" in page and "site=beta" in page.split('id="download-csv"')[0].split(
        'href="')[-1]


@pytest.mark.parametrize("path", ["/calls?site=x%20y", "/recharges?site=%27", "/statistics?site=x%20y",
                                  "/extensions?site=x%20y"])
def test_a_malformed_site_filter_is_a_one_line_error(alpha, path):
    _calls("beta", "2001", (30,))
    page = alpha.get(path)
    assert page.status == 400 and "unknown site" in page.text


def test_a_malformed_site_filter_refuses_a_download(alpha):
    page = alpha.get("/calls/export.csv?site=x%20y")
    assert page.status == 400 and "unknown site" in page.text


def test_the_extensions_list_acts_only_on_this_sites_extensions(alpha):
    _calls("alpha", "1001", ())
    _calls("beta", "2001", ())
    own = alpha.get("/extensions", check=200).text
    assert 'value="1001"' in own and "2001" not in own
    other = alpha.get("/extensions?site=beta", check=200).text
    assert 'data-number="2001"' in other
    assert 'name="n" value="2001"' not in other and "/extensions/edit?n=2001" not in other
    # another site's number is not this box's to recharge
    refused = alpha.get("/extensions/recharge?n=2001")
    assert (refused.status, refused.location) == (303, "/extensions")
    assert "Select at least one extension" in alpha.get("/extensions", check=200).text


def test_the_api_does_not_find_another_sites_extension(alpha, db_path):
    """The JSON API of this box (site alpha) answers 404 for a number only another site
    has, as the pages do, and changes nothing there."""
    from billing_addon import api_tokens

    _calls("alpha", "1001", ())
    _calls("beta", "2001", ())
    headers = {"Authorization": "Bearer " + api_tokens.create("desk", "billing")[1]}
    def money_and_extensions():
        return [t for t in dump_database(db_path) if t[0] in ("extension", "ledger")]

    before = money_and_extensions()
    for method, body in (("GET", None), ("PATCH", b'{"name": "x"}')):
        r = alpha.request(method, "/api/v1/extensions/2001", body or b"",
                          "application/json" if body else "", headers=headers)
        assert r.status == 404 and "there is no extension" in r.text, (method, r.status, r.text)
    r = alpha.request("POST", "/api/v1/extensions/2001/recharge", b'{"amount": "5"}',
                      "application/json", headers=headers)
    assert r.status == 404, r.text
    assert alpha.request("GET", "/api/v1/extensions/1001", headers=headers).status == 200
    assert money_and_extensions() == before


def test_the_account_form_makes_a_group_wide_account(alpha):
    form = alpha.get("/accounts/new", check=200).text
    assert 'name="sites"' in form and "This site (alpha)" in form
    alpha.post("/accounts/new", {"number": "5001", "pin": "482913", "payment_type": "prepaid",
                                 "status": "unlocked", "credit": "", "sites": "all"}, check=303)
    alpha.post("/accounts/new", {"number": "5002", "pin": "482914", "payment_type": "prepaid",
                                 "status": "unlocked", "credit": ""}, check=303)
    assert {e.number: e.site for e in Extension.select()} == {"5001": "", "5002": "alpha"}
    alpha.post("/accounts/edit", {"n": "5002", "payment_type": "prepaid", "status": "unlocked",
                                  "credit": "", "sites": "all"}, check=303)
    assert pin_accounts.get_account("5002").site == ""
    assert alpha.get("/accounts", check=200).text.count('<span class="badge site">All sites') == 2


def test_the_account_form_refuses_a_number_another_site_uses(alpha, db_path):
    _calls("beta", "2001", ())
    pins.pin_hash("000000")  # the PIN key exists (PostgreSQL keeps it in the database)
    before = dump_database(db_path)
    page = alpha.post("/accounts/new", {"number": "2001", "pin": "482913", "payment_type": "prepaid",
                                        "status": "unlocked", "credit": "", "sites": "all"})
    assert page.status == 400 and "extension at site beta" in page.text
    assert dump_database(db_path) == before


def test_the_rate_form_makes_a_rate_of_this_site_or_of_all(alpha):
    form = alpha.get("/rates/add", check=200).text
    assert 'id="site"' in form and "This site (alpha)" in form
    fields = {"prefix": "8", "length": "0", "initial_cost": "0", "initial_time": "0",
              "rate": "0.02", "unit": "60", "start": "00:00", "end": "24:00", "call_type": "other",
              "active": "1", "all_extensions": "1"}
    alpha.post("/rates/add", {**fields, "site": "alpha"}, check=303)
    alpha.post("/rates/add", {**fields, "prefix": "7", "site": ""}, check=303)
    assert {r.prefix: r.site for r in Rate.select()} == {"9": "", "8": "alpha", "7": ""}
    page = alpha.post("/rates/add", {**fields, "prefix": "6", "site": "beta"})
    assert page.status == 400 and "a rate is this site&#039;s" in page.text
    with at_site("beta"):
        assert [r.prefix for r in rates.load_all()] == ["9", "7"]
    listing = alpha.get("/rates", check=200).text
    assert listing.count('class="badge site"') == 1  # alpha's own rate, marked


def test_a_box_on_its_own_shows_no_site_choice(db_path):
    client = _app("")
    assert 'name="sites"' not in client.get("/accounts/new", check=200).text
    assert 'id="site"' not in client.get("/rates/add", check=200).text
    make_extension("1001", balance="1")
    accounts.recharge(["1001"], amount("1"), "test")
    assert _csv(client.get("/recharges/export.csv", check=200))[0][-1] == "Note"
