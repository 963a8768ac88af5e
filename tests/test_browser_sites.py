"""Sites in a real browser (headless chromium): the box of site 'alpha' on a store that
also holds site 'beta'; the Call Log's Site filter chosen in its select narrows the list
and the download links; an account made "All sites" in its form is group-wide."""

from __future__ import annotations

import threading
import time

import pytest
from billing_addon.web import auth
from billing_addon.web.app import make_app
from waitress import create_server

from billing_addon import calls, config, pin_accounts, sites, store
from tests import test_browser_web as web

from .helpers import make_extension, make_rate
from .test_sites import at_site
from .web_fakes import FakeActivation

browser = web.browser
T0 = 1_714_564_800


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    root = tmp_path_factory.mktemp("sites-box")
    store.init_db(root / "billing.db")
    activation = FakeActivation()
    activation.activate()
    app = make_app(config.load(None, {"store": {"site": "alpha"}}), activation)
    make_rate("9", rate="0.01", unit="1")
    for site, number in (("alpha", "1001"), ("beta", "2001")):
        with at_site(site):
            make_extension(number, balance="10")
            calls.authorize(number, "912345", T0, f"{number}-1")
            calls.settle(f"{number}-1", 42)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.effective_port}"}
    server.close()
    store.close_db()
    sites.set_current("")


@pytest.fixture(autouse=True)
def box_of_alpha():
    sites.set_current("alpha")  # the server's box (tests start as a box on its own)


def _signed_in(browser, box):
    user, password = auth.create_billing_user("sites-pw-1")
    page = web.new_page(browser, box)
    web.sign_in(page, user.username, password)
    page.wait_for_url("**/extensions")
    return page


def test_the_call_logs_site_filter_in_the_browser(browser, box):
    page = _signed_in(browser, box)
    try:
        web.go(page, "/calls")
        assert sorted(r[1] for r in web.table_rows(page, "#call-table")) == ["1001", "2001"]
        page.select_option("#filter-site", "beta")
        page.click("#range-search button[type=submit]")
        page.wait_for_url("**/calls?*site=beta*")
        assert [r[1] for r in web.table_rows(page, "#call-table")] == ["2001"]
        assert "site=beta" in page.get_attribute("#download-csv", "href")
        assert page.input_value("#filter-site") == "beta"
    finally:
        page.context.close()


def test_an_account_of_all_sites_from_its_form(browser, box):
    time.sleep(2.1)  # the sign-in answer is cached for 2 s
    page = _signed_in(browser, box)
    try:
        web.go(page, "/accounts/new")
        page.fill("#number", "5001")
        page.fill("#pin", "482913")
        page.select_option("#sites", "all")
        page.click("#save-account")
        page.wait_for_url("**/accounts")
        assert pin_accounts.get_account("5001").site == ""
        web.go(page, "/accounts/new")
        page.fill("#number", "2001")  # beta's extension: not free at every site
        page.fill("#pin", "482914")
        page.select_option("#sites", "all")
        page.click("#save-account")
        assert "extension at site beta" in page.inner_text("#err-form")
    finally:
        page.context.close()
