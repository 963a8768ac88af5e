"""Low balance in the web UI: the count and filter on Extensions, the threshold on Edit,
the mail settings (password never shown back, bad input refused), the test e-mail
through a real SMTP server on loopback, and the failures shown in Settings."""

from __future__ import annotations

import pytest
from billing_addon.web import auth
from billing_addon.web.app import make_app

from billing_addon import accounts, config, lowbalance, settings
from billing_addon.store import Extension, MailOutbox
from tests.helpers import amount
from tests.test_low_balance import Inbox, free_port
from tests.test_web_app import ADMIN_PW, _flash
from tests.web_fakes import FakeActivation
from tests.webclient import Client

T0 = 1795441378


@pytest.fixture
def billing(db_path):
    """A signed-in billing user (as tests/test_web_app.py makes one), rooms 1001-1012."""
    app = make_app(config.load(None, {}), FakeActivation())
    auth.set_admin_password(ADMIN_PW)
    for n in range(1001, 1013):
        accounts.ensure_extension(str(n), f"Room {n - 1000}")
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


@pytest.fixture
def low_rooms(billing):
    accounts.edit(["1001", "1002", "1003"], billing_enabled=True)
    accounts.recharge(["1001"], amount("50"), "t")
    accounts.recharge(["1002"], amount("2"), "t")
    accounts.recharge(["1003"], amount("9"), "t")
    settings.put("low_balance_threshold", "5")
    return billing


def test_extensions_page_counts_and_filters_the_low_ones(low_rooms):
    text = low_rooms.get("/extensions").text
    # 1002 ($2) only: 1003 ($9) is above, 1004-1012 are not billed
    assert 'id="low-count"' in text and "1 extension(s) below" in text
    filtered = low_rooms.get("/extensions?low=1").text
    assert 'value="1002"' in filtered
    assert 'value="1001"' not in filtered and 'value="1003"' not in filtered
    settings.put("low_balance_threshold", "")
    assert 'id="low-count"' not in low_rooms.get("/extensions").text
    assert 'value="1002"' not in low_rooms.get("/extensions?low=1").text


def test_own_threshold_on_edit_and_bad_input(low_rooms):
    r = low_rooms.post("/extensions/edit", {"n": "1003", "name": "Room 3", "credit": "0",
                                             "status": "unlocked", "payment_type": "prepaid",
                                             "billing_enabled": "1", "low_threshold": "10"},
                       check=303)
    assert Extension.get(Extension.number == "1003").low_balance_threshold == amount("10")
    assert 'value="1003"' in low_rooms.get("/extensions?low=1").text
    r = low_rooms.post("/extensions/edit", {"n": "1003", "name": "Room 3", "credit": "0",
                                             "status": "unlocked", "payment_type": "prepaid",
                                             "low_threshold": "ten"}, check=400)
    assert 'id="err-low_threshold"' in r.text or "low_threshold" in r.text
    assert Extension.get(Extension.number == "1003").low_balance_threshold == amount("10")
    low_rooms.post("/extensions/edit", {"n": "1003", "name": "Room 3", "credit": "0",
                                         "status": "unlocked", "payment_type": "prepaid",
                                         "billing_enabled": "1", "low_threshold": ""}, check=303)
    assert Extension.get(Extension.number == "1003").low_balance_threshold is None


def test_bulk_edit_sets_or_clears_the_threshold_of_the_selected_rooms(low_rooms):
    form = {"n": ["1001", "1003"], "set_low_threshold": "1", "low_threshold": "60"}
    low_rooms.post("/extensions/bulk-edit", form, check=303)
    thresholds = {e.number: e.low_balance_threshold for e in Extension.select()}
    assert thresholds["1001"] == thresholds["1003"] == amount("60")
    assert thresholds["1002"] is None  # not selected
    assert 'value="1001"' in low_rooms.get("/extensions?low=1").text  # $50 is below $60 now
    # not ticked: the thresholds stay, whatever the field says
    low_rooms.post("/extensions/bulk-edit", {"n": ["1001"], "set_status": "1", "status": "unlocked",
                                             "low_threshold": "1"}, check=303)
    assert Extension.get(Extension.number == "1001").low_balance_threshold == amount("60")
    r = low_rooms.post("/extensions/bulk-edit", {"n": ["1001", "1003"], "set_low_threshold": "1",
                                                 "low_threshold": "sixty"}, check=400)
    assert 'id="err-low_threshold"' in r.text
    assert Extension.get(Extension.number == "1003").low_balance_threshold == amount("60")
    # ticked and empty: back to the default of Settings
    low_rooms.post("/extensions/bulk-edit", {"n": ["1001", "1003"], "set_low_threshold": "1",
                                             "low_threshold": ""}, check=303)
    assert Extension.get(Extension.number == "1001").low_balance_threshold is None
    assert Extension.get(Extension.number == "1003").low_balance_threshold is None


FORM = {"currency": "USD", "timezone": "UTC", "unrated_policy": "allow",
        "low_balance_threshold": "5", "alert_emails": "ops@example.org",
        "smtp_host": "127.0.0.1", "smtp_port": "587", "smtp_security": "starttls",
        "smtp_user": "billing", "smtp_from": ""}


def test_mail_settings_keep_the_password_hidden(billing):
    billing.post("/settings", dict(FORM, smtp_password="pw-Zq81x"), check=303)
    assert settings.get("smtp_password") == "pw-Zq81x"
    page = billing.get("/settings").text
    assert "pw-Zq81x" not in page and "(set; leave empty to keep it)" in page
    billing.post("/settings", dict(FORM, alert_emails="desk@example.org"), check=303)
    assert settings.get("smtp_password") == "pw-Zq81x"  # empty: kept
    billing.post("/settings", dict(FORM, smtp_port="2525", smtp_password="pw-Zq81x"), check=303)
    assert settings.get("smtp_password") == "pw-Zq81x" and settings.get("smtp_port") == "2525"
    billing.post("/settings", dict(FORM, clear_password="1"), check=303)
    assert settings.get("smtp_password") == ""


@pytest.mark.parametrize("key, value", [("smtp_host", "mail.elsewhere.example"),
                                        ("smtp_port", "2525"), ("smtp_security", "none"),
                                        ("smtp_user", "someone-else")])
def test_the_stored_password_never_goes_to_a_server_it_was_not_typed_for(billing, key, value):
    """Changing where the mail goes (or as whom) asks for the password again: else a
    user who does not know it could send it to a server of their own, in clear text."""
    billing.post("/settings", dict(FORM, smtp_password="pw-Zq81x"), check=303)
    before = settings.get_all()
    r = billing.post("/settings", dict(FORM, **{key: value}), check=400)
    assert "type its password again" in r.text
    assert settings.get_all() == before and settings.get("smtp_password") == "pw-Zq81x"
    # cleared instead: saved, without the password
    billing.post("/settings", dict(FORM, clear_password="1", **{key: value}), check=303)
    assert settings.get(key) == value and settings.get("smtp_password") == ""


@pytest.mark.parametrize("key, value", [
    ("smtp_port", "99999"), ("smtp_port", "abc"), ("alert_emails", "nobody"),
    ("smtp_security", "ssl3"), ("smtp_host", "two words"), ("low_balance_threshold", "-"),
])
def test_bad_mail_settings_change_nothing(billing, key, value):
    before = settings.get_all()
    r = billing.post("/settings", dict(FORM, **{key: value}), check=400)
    assert key in r.text
    assert settings.get_all() == before


def test_test_mail_button_sends_through_a_real_server(billing):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        billing.post("/settings", dict(FORM, smtp_port=str(port), smtp_security="none",
                                       smtp_user=""), check=303)
        r = billing.post("/settings/test-mail", {}, check=303)
        assert inbox.messages and inbox.messages[0].rcpt_tos == ["ops@example.org"]
        assert any("Test e-mail sent" in m for m in _flash(billing.get("/settings").text))
    finally:
        controller.stop()
    billing.post("/settings/test-mail", {}, check=303)  # nobody listens now
    assert any("not sent" in m for m in _flash(billing.get("/settings").text))
    assert r is not None


def test_failed_alerts_show_in_settings(billing):
    billing.post("/settings", dict(FORM, smtp_port=str(free_port()), smtp_security="none",
                                   smtp_user=""), check=303)
    accounts.edit(["1004"], billing_enabled=True)
    lowbalance.queue_alerts(T0)
    lowbalance.send_due(T0, timeout=2)
    page = billing.get("/settings").text
    assert 'id="mail-failures"' in page and "Low balance: extension 1004" in page
    assert MailOutbox.get().attempts == 1
