"""Low balance (issue #14 items 2-3): the threshold check in authorize, BILLING_LOW in
the answer, the balance announcement script, the alert once per crossing and the outbox
sent through a real SMTP server on loopback (aiosmtpd), also one that refuses or hangs."""

import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from billing_addon import accounts, calls, lowbalance, settings
from billing_addon.pbx import agi, handlers
from billing_addon.store import Extension, MailOutbox

from .helpers import amount, make_extension, make_rate, wait_for

T0 = 1795441378


@pytest.fixture
def priced(db_path):
    make_extension("1001", balance="10")
    make_extension("1002", balance="2")
    make_rate("9", "0", rate="0.10", unit="60")
    return db_path


def commands(script):
    """Drive a FastAGI script like run_inline, recording the commands it sent."""
    sent = []
    try:
        step = next(script)
        while True:
            if isinstance(step, agi.Work):
                outcome = step.function(*step.args)
            else:
                sent.append(step.text)
                outcome = agi.parse_reply(["200 result=1"])
            step = script.send(outcome)
    except StopIteration:
        return sent


# --- the threshold on the call path ---------------------------------------------------

def low(number, uniqueid):
    auth = calls.authorize(number, "912345", T0, uniqueid)
    assert auth.result == calls.ALLOWED
    calls.release(uniqueid)  # its reservation does not hold up the next one
    return auth.low


def test_low_flag_follows_the_default_and_the_extensions_own_threshold(priced):
    assert not low("1002", "a0")  # off by default
    settings.put("low_balance_threshold", "5")
    assert low("1002", "a1")  # 2 < 5
    assert not low("1001", "a2")  # 10 >= 5
    accounts.edit(["1001"], low_threshold=amount("20"))
    assert low("1001", "a3")  # its own: 10 < 20
    accounts.edit(["1002"], low_threshold=0)
    assert not low("1002", "a4")  # 0: never low
    accounts.edit(["1002"], low_threshold=accounts.USE_DEFAULT)
    assert Extension.get(Extension.number == "1002").low_balance_threshold is None


def test_authorize_answer_carries_billing_low_only_when_low(priced):
    settings.put("low_balance_threshold", "5")
    low = commands(handlers.authorize({"agi_arg_1": "1002", "agi_arg_2": "912345",
                                       "agi_uniqueid": "1795441378.1"}, lambda: "active"))
    high = commands(handlers.authorize({"agi_arg_1": "1001", "agi_arg_2": "912345",
                                        "agi_uniqueid": "1795441378.2"}, lambda: "active"))
    assert "SET VARIABLE BILLING_LOW 1" in low
    assert low[-1] == "SET VARIABLE BILLING_RESULT ALLOWED"  # still last
    assert not any("BILLING_LOW" in c for c in high)


def test_threshold_check_adds_under_a_millisecond(priced):
    """Speed: authorize with the threshold on vs off (also bench/bench_low_balance.py)."""
    def run(prefix):
        began = time.perf_counter()
        for i in range(200):
            calls.authorize("1001", "912345", T0, f"{prefix}{i}")
        return (time.perf_counter() - began) / 200

    off = run("off")
    settings.put("low_balance_threshold", "50")
    on = run("on")
    assert on - off < 0.001, (on, off)


def test_bad_threshold_input_changes_nothing(priced):
    with pytest.raises(accounts.AccountError):
        accounts.edit(["1001"], low_threshold=-1)
    with pytest.raises(accounts.AccountError):
        accounts.edit(["1001"], low_threshold="lots")
    with pytest.raises(settings.SettingError, match="low_balance_threshold"):
        settings.put("low_balance_threshold", "1,2.3")
    assert Extension.get(Extension.number == "1001").low_balance_threshold is None
    assert settings.get("low_balance_threshold") == ""


# --- the balance announcement ---------------------------------------------------------

@pytest.mark.parametrize("balance, figures", [
    ("12.3456", ("0", "12", "34")),
    ("-0.5", ("1", "0", "50")),
    ("0", ("0", "0", "0")),
    ("1000", ("0", "1000", "0")),
])
def test_balance_script_sets_the_figures(db_path, balance, figures):
    make_extension("1001", credit="5")
    if amount(balance):
        accounts.adjust("1001", amount(balance), "test", "t")
    sent = commands(handlers.balance({"agi_arg_1": "1001"}))
    negative, units, cents = figures
    assert sent == [f"SET VARIABLE BILLING_BALANCE_NEGATIVE {negative}",
                    f"SET VARIABLE BILLING_BALANCE_UNITS {units}",
                    f"SET VARIABLE BILLING_BALANCE_CENTS {cents}",
                    "SET VARIABLE BILLING_CURRENCY USD",
                    "SET VARIABLE BILLING_BALANCE_RESULT OK"]


def test_balance_of_an_unknown_or_bad_extension_is_unknown(db_path):
    assert commands(handlers.balance({"agi_arg_1": "4444"})) == [
        "SET VARIABLE BILLING_BALANCE_RESULT UNKNOWN"]
    assert commands(handlers.balance({"agi_arg_1": "x;DROP"})) == [
        "SET VARIABLE BILLING_BALANCE_RESULT UNKNOWN"]


# --- settings -------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("alert_emails", "ops@example.org, not-an-address"),
    ("smtp_port", "0"), ("smtp_port", "70000"), ("smtp_port", "25x"),
    ("smtp_security", "ssl"), ("smtp_host", "bad host"), ("smtp_user", "a\r\nb"),
])
def test_bad_mail_settings_are_refused(db_path, key, value):
    before = settings.get(key)
    with pytest.raises(settings.SettingError, match=key):
        settings.put(key, value)
    assert settings.get(key) == before


def test_the_smtp_password_is_never_shown_back(db_path):
    settings.put("smtp_password", "s3cret-pw")
    assert settings.get_all()["smtp_password"] == ""
    assert lowbalance.smtp_settings()["smtp_password"] == "s3cret-pw"


# --- alerts once per crossing ---------------------------------------------------------

def test_one_alert_per_crossing(priced):
    settings.put("alert_emails", "ops@example.org")
    settings.put("low_balance_threshold", "5")
    assert lowbalance.queue_alerts(T0) == 1  # 1002 crossed
    assert lowbalance.queue_alerts(T0 + 5) == 0  # still low: no second mail
    assert MailOutbox.select().count() == 1
    assert "1002" in MailOutbox.get().subject
    accounts.recharge(["1002"], amount("10"), "t")
    assert lowbalance.queue_alerts(T0 + 10) == 0  # back above: re-armed
    accounts.adjust("1002", -amount("9"), "test", "t")
    assert lowbalance.queue_alerts(T0 + 15) == 1  # crossed again
    assert MailOutbox.select().count() == 2
    assert lowbalance.low_count() == 1
    assert not accounts.verify()


# --- sending ----------------------------------------------------------------------------

class Inbox:
    def __init__(self, refuse=False):
        self.messages = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 5.7.1 refused by policy"
        self.messages.append(envelope)
        return "250 OK"


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def smtp_server():
    started = []

    def start(refuse=False):
        inbox = Inbox(refuse)
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        settings.put("smtp_host", "127.0.0.1")
        settings.put("smtp_port", str(port))
        settings.put("smtp_security", "none")
        return inbox

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def hanging_server(db_path):
    """Accepts connections and never says a word (no SMTP greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    settings.put("smtp_host", "127.0.0.1")
    settings.put("smtp_port", str(listener.getsockname()[1]))
    settings.put("smtp_security", "none")
    yield listener
    listener.close()


def test_alert_is_delivered_through_a_real_smtp_server(priced, smtp_server):
    inbox = smtp_server()
    settings.put("alert_emails", "ops@example.org; desk@example.org")
    settings.put("low_balance_threshold", "5")
    lowbalance.queue_alerts(T0)
    assert lowbalance.send_due(T0) == (1, 0)
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["ops@example.org", "desk@example.org"]
    assert b"1002" in envelope.content and b"$2.00" in envelope.content
    assert MailOutbox.get().sent_utc == T0
    assert lowbalance.send_due(T0 + 60) == (0, 0)  # sent once


def test_a_refusing_server_is_retried_with_backoff(priced, smtp_server):
    smtp_server(refuse=True)
    settings.put("alert_emails", "ops@example.org")
    settings.put("low_balance_threshold", "5")
    lowbalance.queue_alerts(T0)
    assert lowbalance.send_due(T0) == (0, 1)
    mail = MailOutbox.get()
    assert mail.attempts == 1 and "554" in mail.last_error
    assert mail.next_try_utc == T0 + lowbalance.BACKOFF[0]
    assert lowbalance.send_due(T0 + 1) == (0, 0)  # not due yet
    assert lowbalance.send_due(T0 + 60) == (0, 1)
    assert MailOutbox.get().next_try_utc == T0 + 60 + lowbalance.BACKOFF[1]
    assert [m.id for m in lowbalance.failures()] == [mail.id]


def test_a_hanging_server_times_out_and_calls_go_on(priced, hanging_server):
    settings.put("alert_emails", "ops@example.org")
    settings.put("low_balance_threshold", "5")
    lowbalance.queue_alerts(T0)
    outcome = []
    sender = threading.Thread(target=lambda: outcome.append(lowbalance.send_due(T0, timeout=1.5)))
    began = time.monotonic()
    sender.start()
    # calls are authorized while the sender waits on the silent server
    for i in range(5):
        t = time.monotonic()
        assert calls.authorize("1001", "912345", T0, f"h{i}").result == calls.ALLOWED
        assert time.monotonic() - t < 0.5
        calls.release(f"h{i}")
    sender.join(10)
    assert not sender.is_alive() and time.monotonic() - began < 5
    assert outcome == [(0, 1)]
    mail = MailOutbox.get()
    assert mail.attempts == 1 and "in time" in mail.last_error
    assert mail.next_try_utc == T0 + lowbalance.BACKOFF[0]


def test_no_smtp_server_set_is_a_clear_failure(priced):
    settings.put("alert_emails", "ops@example.org")
    settings.put("low_balance_threshold", "5")
    lowbalance.queue_alerts(T0)
    assert lowbalance.send_due(T0) == (0, 1)
    assert MailOutbox.get().last_error == "no SMTP server is set in Settings"


def test_nothing_listening_is_a_failure_not_a_crash(priced):
    settings.put("smtp_host", "127.0.0.1")
    settings.put("smtp_port", str(free_port()))  # nothing listens there
    settings.put("smtp_security", "none")
    with pytest.raises(lowbalance.MailError, match="Refused|refused"):
        lowbalance.send("ops@example.org", "test", "body", timeout=2)


def test_tls_mail_works_in_the_daemon_that_keeps_ssl_out():
    """``billing-addon serve`` blocks the ssl module (pbx/cli.py); plain SMTP keeps it
    out, STARTTLS/TLS mail lets it in and gets an smtplib that can use it."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['ssl'] = None\n"
        "from billing_addon import lowbalance\n"
        "plain = lowbalance._smtplib(tls=False)\n"
        "assert sys.modules['ssl'] is None and not hasattr(plain, 'SMTP_SSL')\n"
        "tls = lowbalance._smtplib(tls=True)\n"
        "assert tls._have_ssl and hasattr(tls, 'SMTP_SSL') and sys.modules['ssl'] is not None\n"
        "lowbalance._tls_context()\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_the_daemon_mails_a_crossing_by_itself(tmp_path, smtp_server):
    """``billing-addon serve``'s mail thread: a recharge then calls below the threshold
    bring one e-mail, within a few seconds, through the real SMTP server."""
    from billing_addon import config, daemon, store
    from tests.helpers import logger_restored
    from tests.pbx_support import write_config

    with logger_restored():
        d = daemon.Daemon(config.load(write_config(tmp_path)), billing_state=lambda: "active",
                          web_app=daemon.placeholder_app).start()
        try:
            inbox = smtp_server()
            settings.put("alert_emails", "ops@example.org")
            settings.put("low_balance_threshold", "5")
            make_extension("1001", balance="4")
            assert wait_for(lambda: inbox.messages, 20)
            assert b"1001" in inbox.messages[0].content
            time.sleep(daemon.MAIL_SECONDS + 1)
            assert len(inbox.messages) == 1  # once per crossing
        finally:
            d.stop()
            store.close_db()


def test_cli_sets_and_clears_the_threshold(tmp_path, capsys):
    from billing_addon import cli

    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n")
    assert cli.main(["--config", str(ini), "init"]) == 0
    assert cli.main(["--config", str(ini), "ext", "add", "1001"]) == 0
    assert cli.main(["--config", str(ini), "ext", "edit", "1001", "--low-threshold", "7.5"]) == 0
    assert Extension.get(Extension.number == "1001").low_balance_threshold == amount("7.5")
    assert cli.main(["--config", str(ini), "ext", "edit", "1001", "--low-threshold", "x"]) != 0
    assert Extension.get(Extension.number == "1001").low_balance_threshold == amount("7.5")
    assert cli.main(["--config", str(ini), "ext", "edit", "1001",
                     "--low-threshold", "default"]) == 0
    assert Extension.get(Extension.number == "1001").low_balance_threshold is None
    capsys.readouterr()


def test_cli_settings_never_print_the_password(tmp_path, capsys):
    from billing_addon import cli

    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n")
    assert cli.main(["--config", str(ini), "settings", "smtp_password", "pw-4471q"]) == 0
    out = capsys.readouterr().out
    assert "pw-4471q" not in out and "smtp_password = (set, not shown)" in out
