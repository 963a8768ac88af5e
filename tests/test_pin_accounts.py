"""PIN accounts (issue #15 item 1): the PIN's keyed hash and key file, the account's
refusals, the authorize flow of a phone with account billing (account needed, wrong
PIN, the third try, the throttle), and the money rules with an account as the payer."""

import hashlib
import itertools
import os
import random
import re
import stat
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import accounts, calls, pin_accounts, pins, settings, store
from billing_addon.pbx import handlers
from billing_addon.store import Call, Extension, Ledger

from .helpers import amount, cli_runner, make_extension, make_rate

T0 = 1_714_564_800  # 2024-05-01 12:00 UTC


def ext(number):
    return Extension.get(Extension.number == number)


@pytest.fixture
def box(db_path):
    """Phone 101 (account billing, no money of its own), account 5001 with PIN 482913
    and 10 on it, a rate of 0.01 a second for numbers starting with 9."""
    make_rate("9", rate="0.01", unit="1")
    make_extension("101")
    accounts.edit(["101"], account_billing=True)
    pin_accounts.create("5001", "482913", name="Ann")
    accounts.recharge(["5001"], amount("10"), "test")
    return db_path


def snapshot():
    return [(e.number, e.kind, e.pin_hash, e.balance, e.account_billing, e.pin_failures,
             e.pin_blocked_until_utc) for e in Extension.select().order_by(Extension.id)]


# --- the PIN's hash and key -------------------------------------------------------------

@pytest.mark.sqlite_only("the PIN key file beside the SQLite file (on PostgreSQL the key is in the database)")
def test_the_pin_is_stored_as_a_keyed_hash_with_a_private_key_beside_the_database(box):
    key_file = pins.key_path(str(box))
    assert key_file.exists() and key_file.parent == box.parent
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(key_file.read_bytes()) == pins.KEY_BYTES
    stored = ext("5001").pin_hash
    assert stored == pins.pin_hash("482913")  # deterministic: the unique index can hold
    # without the key the database gives nothing: not the PIN, nor its plain hash
    assert "482913" not in box.read_bytes().decode("latin-1")
    assert stored != hashlib.sha256(b"482913").hexdigest()
    assert pins.account_with_pin("5001", "482913") == ext("5001").id
    assert pins.account_with_pin("5001", "482914") is None
    assert pins.account_with_pin("101", "482913") is None  # a phone is no account


def test_another_box_has_another_key(box, tmp_path):
    here = pins.pin_hash("482913")
    store.init_db(tmp_path / "other" / "billing.db")
    assert pins.pin_hash("482913") != here


@pytest.mark.sqlite_only("the PIN key file beside the SQLite file (on PostgreSQL the key is in the database)")
def test_a_damaged_key_file_is_refused_not_replaced(tmp_path):
    path = tmp_path / "billing.db"
    pins.key_path(str(path)).write_bytes(b"short")
    store.init_db(path)
    try:
        with pytest.raises(pins.PinError, match="damaged"):
            pins.pin_hash("1234")
        assert pins.key_path(str(path)).read_bytes() == b"short"
    finally:
        store.close_db()


# --- refusals: each changes nothing ------------------------------------------------------

@pytest.mark.parametrize("number, pin, message", [
    ("5002", "482913", "another account's"),   # duplicate PIN: unique per box
    ("5002", "48291a", "digits 0-9 only"),     # non-digit PIN
    ("5002", "４８２９１３", "digits 0-9 only"),  # fullwidth digits are not 0-9
    ("5002", "12345", "has 6 digits"),         # too short
    ("5002", "1234567", "has 6 digits"),       # too long
    ("5002", "", "has 6 digits"),              # none
    ("101", "111111", "extension's number"),    # the number is a phone's
    ("5001", "111111", "exists already"),      # the number is an account's
    ("50a1", "111111", "digits 0-9"),          # typed by DTMF: digits only
])
def test_bad_account_input_is_refused_and_changes_nothing(box, number, pin, message):
    before = snapshot()
    with pytest.raises(accounts.AccountError, match=message):
        pin_accounts.create(number, pin)
    assert snapshot() == before


@pytest.mark.parametrize("pin, message", [
    ("111111", None),                 # a new PIN
    ("482913", None),                 # its own: nothing to do
    ("654321", "another account's"),  # another account's PIN
    ("12 456", "digits 0-9 only"),
    ("1234", "has 6 digits"),
])
def test_set_pin(box, pin, message):
    pin_accounts.create("5002", "654321")
    before = snapshot()
    if message:
        with pytest.raises(accounts.AccountError, match=message):
            pin_accounts.set_pin("5001", pin)
        assert snapshot() == before
    else:
        pin_accounts.set_pin("5001", pin)
        assert pins.account_with_pin("5001", pin) == ext("5001").id
    if pin == "111111":
        assert pins.account_with_pin("5001", "482913") is None  # the old PIN stops working


def test_pin_length_is_a_setting_of_4_to_12_digits(box):
    for bad in ("3", "13", "six", ""):
        with pytest.raises(settings.SettingError):
            settings.put("pin_length", bad)
    assert pins.pin_length() == 6
    settings.put("pin_length", "4")
    pin_accounts.create("5002", "1234")
    with pytest.raises(accounts.AccountError, match="has 4 digits"):
        pin_accounts.create("5003", "123456")


def test_delete_only_without_history(box):
    pin_accounts.create("5002", "111111")
    pin_accounts.delete("5002")
    assert Extension.get_or_none(Extension.number == "5002") is None
    with pytest.raises(accounts.AccountError, match="cannot be deleted"):
        pin_accounts.delete("5001")  # it was recharged
    with pytest.raises(accounts.AccountError, match="unknown account"):
        pin_accounts.delete("101")  # a phone is not deleted here
    assert ext("5001") and ext("101")


# --- the authorize flow ------------------------------------------------------------------

def test_a_phone_with_account_billing_first_needs_an_account(box):
    auth = calls.authorize("101", "912345", T0, "u1")
    assert (auth.result, auth.reason, auth.pin_digits) == (calls.DENIED, calls.ACCOUNT_NEEDED, 6)
    assert Call.select().count() == 0 and ext("5001").reserved == 0  # nothing written
    assert handlers.one_answer(auth) == "DENIED,account-needed,,,,6"


def test_the_right_pin_makes_the_account_the_payer_charged_exactly_once(box):
    auth = calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    assert auth.result == calls.ALLOWED and auth.reserved > 0
    assert ext("5001").reserved == auth.reserved and ext("101").reserved == 0
    call = Call.get(Call.uniqueid == "u1")
    assert call.extension.number == "5001" and call.phone_id == ext("101").id
    # a replayed authorize of the same call gives the same answer
    again = calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    assert (again.result, again.limit_ms) == (auth.result, auth.limit_ms)
    first = calls.settle("u1", 30)
    second = calls.settle("u1", 30)  # hangup handler and CDR
    assert (first.outcome, first.cost, second.outcome) == ("charged", amount("0.30"), "duplicate")
    assert [(e.extension.number, e.amount) for e in Ledger.select().where(Ledger.kind == "call")] \
        == [("5001", -amount("0.30"))]
    assert ext("5001").balance == amount("9.70") and ext("5001").reserved == 0
    assert ext("101").balance == 0
    assert not accounts.verify()


def test_wrong_pins_may_be_retried_and_the_third_rejects_the_call(box):
    answers = [calls.authorize("101", "912345", T0, "u1", account="5001", pin="000000",
                               attempt=n).reason for n in (1, 2, 3)]
    assert answers == [calls.BAD_PIN, calls.BAD_PIN, calls.PIN_FAILED]
    assert Call.select().count() == 0 and ext("5001").balance == amount("10")
    # three failures throttle the phone: even the right PIN is refused for a while
    auth = calls.authorize("101", "912345", T0 + 60, "u2")
    assert auth.reason == calls.PIN_THROTTLED and auth.pin_digits is None
    auth = calls.authorize("101", "912345", T0 + 60, "u2", account="5001", pin="482913")
    assert auth.reason == calls.PIN_THROTTLED and Call.select().count() == 0
    later = T0 + pins.BLOCK_S + 1
    assert calls.authorize("101", "912345", later, "u3", account="5001",
                           pin="482913").result == calls.ALLOWED


def test_failures_over_several_calls_throttle_and_a_right_pin_starts_the_count_over(box):
    def wrong(at, uid):
        return calls.authorize("101", "912345", at, uid, account="5001", pin="999999").reason

    assert wrong(T0, "a") == calls.BAD_PIN
    assert wrong(T0 + 10, "b") == calls.BAD_PIN
    calls.authorize("101", "912345", T0 + 20, "c", account="5001", pin="482913")
    calls.settle("c", 0)
    assert ext("101").pin_failures == 0
    assert wrong(T0 + 30, "d") == calls.BAD_PIN
    assert wrong(T0 + 40, "e") == calls.BAD_PIN
    # a third in the window, in another call's first try: throttled
    assert wrong(T0 + 50, "f") == calls.PIN_THROTTLED
    # failures further apart than the window do not add up
    far = T0 + 10_000
    for n in range(4):
        assert wrong(far + n * (pins.FAILURE_WINDOW_S + 1), f"g{n}") == calls.BAD_PIN


def test_an_unknown_account_counts_as_a_wrong_pin(box):
    auth = calls.authorize("101", "912345", T0, "u1", account="7777", pin="482913")
    assert auth.reason == calls.BAD_PIN and ext("101").pin_failures == 1


def test_a_locked_account_is_denied_and_a_postpaid_one_calls_on_credit(box):
    accounts.edit(["5001"], status="locked")
    auth = calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    assert (auth.result, auth.reason) == (calls.DENIED, calls.LOCKED)
    pin_accounts.create("5002", "111111", payment_type="postpaid", credit=amount("1"))
    auth = calls.authorize("101", "912345", T0, "u2", account="5002", pin="111111")
    assert auth.result == calls.ALLOWED and auth.limit_ms == 99_000  # 1.00 at 0.01/s, less 1 s
    calls.settle("u2", 100)
    assert ext("5002").balance == -amount("1")
    assert not accounts.verify()


def test_billing_deactivated_asks_for_no_pin(box):
    auth = calls.authorize("101", "912345", T0, "u1", billing_state="deactivated")
    assert auth.result == calls.UNBILLED


def test_a_caller_with_an_accounts_number_never_charges_it(box, caplog):
    auth = calls.authorize("5001", "912345", T0, "u1")
    assert (auth.result, auth.reason) == (calls.DENIED, calls.ACCOUNT_CALLER)
    assert "account" in caplog.text
    # nor does the hangup handler or the CDR for a call authorize never saw
    done = calls.settle("u1", 60, "ANSWER", number="5001", dialed="912345", started=T0)
    assert done.outcome == "unknown"
    assert ext("5001").balance == amount("10") and Call.select().count() == 0
    # billing deactivated blocks no call, this one neither (nobody is charged)
    assert calls.authorize("5001", "912345", T0, "u2",
                           billing_state="deactivated").result == calls.UNBILLED


def test_a_phone_without_account_billing_is_unchanged(box):
    make_extension("102", balance="1")
    auth = calls.authorize("102", "912345", T0, "u1")
    assert auth.result == calls.ALLOWED and auth.pin_digits is None
    assert Call.get(Call.uniqueid == "u1").phone_id is None


# --- money: concurrent calls of one account -----------------------------------------------

def test_concurrent_calls_from_many_phones_never_overspend_the_account(box):
    settings.put("max_call_seconds", "600")
    phones = [str(200 + n) for n in range(8)]
    for number in phones:
        make_extension(number)
        accounts.edit([number], account_billing=True)
    accounts.edit(["5001"], credit=amount("1"))
    errors = []

    def caller(n):
        rnd = random.Random(n)
        try:
            for i in range(6):
                uid = f"t{n}-{i}"
                auth = calls.authorize(phones[n], "912345", T0, uid, account="5001", pin="482913")
                if auth.result == calls.ALLOWED:
                    calls.settle(uid, rnd.randint(0, auth.limit_ms // 1000))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(len(phones))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    account = ext("5001")
    assert account.balance >= -account.credit and account.reserved == 0
    assert account.balance == amount("10") - sum(c.cost for c in Call.select())
    assert all(ext(p).balance == 0 for p in phones)
    assert not accounts.verify()


_hypothesis_accounts = itertools.count(60_000_000)


@hyp_settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(balance=st.integers(0, 2_000), credit=st.integers(0, 500),
       talk=st.lists(st.integers(0, 400), min_size=1, max_size=6),
       pin_number=st.integers(0, 999_999))
def test_calls_in_progress_at_once_never_spend_more_than_balance_and_credit(
        box, balance, credit, talk, pin_number):
    """Any number of calls of one account authorized together, each then talking any
    time up to its limit (the PBX cuts it there): balance + credit is never overspent."""
    number = str(next(_hypothesis_accounts))
    pin = f"{pin_number:06d}"
    try:
        pin_accounts.create(number, pin, credit=credit * 100)
    except accounts.AccountError:  # that random PIN was taken: another draw
        return
    if balance:
        accounts.recharge([number], balance * 100, "test")
    allowed = []
    for n, seconds in enumerate(talk):
        uid = f"{number}-{n}"
        auth = calls.authorize("101", "912345", T0, uid, account=number, pin=pin)
        if auth.result == calls.ALLOWED:
            allowed.append((uid, min(seconds, auth.limit_ms // 1000)))
    for uid, seconds in allowed:
        calls.settle(uid, seconds)
    account = ext(number)
    assert account.balance >= -account.credit and account.reserved == 0
    assert not accounts.verify()


# --- the PBX sync, the CLI, the web pages -------------------------------------------------

def test_sync_never_adds_renames_or_marks_an_account_missing(box, tmp_path, caplog):
    from billing_addon.pbx import sync

    conf = tmp_path / "pjsip.conf"
    conf.write_text("[101]\ntype=endpoint\ncallerid=\"Lobby\" <101>\n"
                    "[5001]\ntype=endpoint\ncallerid=\"Intruder\" <5001>\n", encoding="utf-8")
    result = sync.sync([str(conf)])
    assert "5001" not in result.added + result.renamed
    assert ext("5001").name == "Ann" and ext("5001").source == "manual"
    assert "number of an account" in caplog.text
    conf.write_text("[101]\ntype=endpoint\n", encoding="utf-8")
    pin_accounts.create("5002", "222222")
    Extension.update(source="pbx").where(Extension.number == "5002").execute()
    assert "5002" not in sync.sync([str(conf)]).missing and not ext("5002").missing


def test_a_guest_never_checks_in_on_an_account(box):
    from billing_addon import stays

    with pytest.raises(stays.StayError, match="is an account"):
        stays.check_in("5001", "Guest")


def test_cli_add_set_pin_list_and_ask_pin(tmp_path, capsys, monkeypatch):
    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n")

    run = cli_runner(ini, capsys, monkeypatch)

    assert run("init")[0] == 0
    assert run("account", "add", "5001", "--name", "Ann", stdin="482913\n") == (
        0, "account 5001 created\n")
    code, out = run("account", "add", "5002", stdin="482913\n")
    assert code != 0 and "another account's" in out
    code, out = run("account", "add", "5003", stdin="12ab56\n")
    assert code != 0 and "digits 0-9 only" in out
    assert run("account", "set-pin", "5001", stdin="111222\n")[0] == 0
    assert run("ext", "add", "101")[0] == 0
    code, out = run("ext", "add", "5001")  # one number space
    assert code != 0 and "is an account's number" in out
    assert run("account", "ask-pin", "101")[1] == "1 extension(s): account billing on\n"
    code, out = run("account", "list")
    assert code == 0 and out.startswith("5001") and "Ann" in out and "101" not in out
    store.init_db(tmp_path / "b.db")
    try:
        assert pins.account_with_pin("5001", "111222") == ext("5001").id
        assert ext("101").account_billing
    finally:
        store.close_db()


@pytest.fixture
def web(db_path):
    from billing_addon.web import auth
    from billing_addon.web.app import make_app

    from billing_addon import config
    from tests.web_fakes import FakeActivation
    from tests.webclient import Client

    app = make_app(config.load(None), FakeActivation())
    auth.set_admin_password("admin-pw-1")
    admin = Client(app)
    admin.login("admin", "admin-pw-1")
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    make_rate("9", rate="0.01", unit="1")
    make_extension("101")
    pin_accounts.create("5001", "482913", name="Ann")
    accounts.recharge(["5001"], amount("10"), "test")
    return client


def test_extension_edit_and_bulk_edit_switch_account_billing(web):
    page = web.get("/extensions/edit?n=101")
    assert 'name="account_billing"' in page.text
    web.post("/extensions/edit", {"n": "101", "account_billing": "1", "status": "unlocked",
                                  "payment_type": "prepaid", "credit": "0"}, check=303)
    assert ext("101").account_billing
    web.post("/extensions/bulk-edit", {"n": "101", "set_account_billing": "1"}, check=303)
    assert not ext("101").account_billing
    # the Extensions page lists phones only; the Accounts page accounts only
    assert 'data-number="5001"' not in web.get("/extensions").text
    listing = web.get("/accounts").text
    assert 'data-number="5001"' in listing and 'data-number="101"' not in listing


def test_the_call_log_shows_the_phone_of_an_accounts_call(web):
    accounts.edit(["101"], account_billing=True)
    calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    calls.settle("u1", 30)
    log = web.get("/calls").text
    assert "5001 from 101" in log


def test_an_account_with_history_is_not_deleted_and_a_bad_pin_changes_nothing(web):
    web.post("/accounts/delete", {"n": "5001"}, check=303)
    assert ext("5001")  # it was recharged
    before = snapshot()
    page = web.post("/accounts/edit", {"n": "5001", "pin": "12", "name": "Bob",
                                       "payment_type": "prepaid", "status": "unlocked",
                                       "credit": "0"}, check=400)
    assert "has 6 digits" in page.text and snapshot() == before


def test_the_pin_length_on_the_settings_page_and_adjust_back_to_accounts(web):
    assert 'name="pin_length"' in web.get("/settings").text
    form = {"currency": "USD", "timezone": "UTC", "pin_length": "13"}
    assert "from 4 to 12" in web.post("/settings", form, check=400).text
    assert pins.pin_length() == 6
    web.post("/settings", dict(form, pin_length="8"), check=303)
    assert pins.pin_length() == 8
    done = web.post("/extensions/adjust", {"n": "5001", "amount": "-1", "reason": "refund",
                                           "step": "confirm"}, check=303)
    assert done.location == "/accounts" and ext("5001").balance == amount("9")


def test_the_accounts_list_pages_and_searches(web):
    from billing_addon.store import money_txn

    with money_txn():  # 60 more accounts (one transaction: the test's setup)
        for n in range(60):
            pin_accounts.create(f"7{n:03d}", f"{300000 + n}", name=f"Hall {n}")
    first = web.get("/accounts").text
    assert first.count('data-number="') == 50 and 'rel="next"' in first
    second = web.get("/accounts?page=2").text
    assert second.count('data-number="') == 11 and 'data-number="101"' not in second
    found = web.get("/accounts?q=Hall+5").text
    assert sorted(re.findall(r'data-number="(\d+)"', found)) == ["7005"] + [
        f"70{n}" for n in range(50, 60)]


def test_an_accounts_call_is_barred_when_its_phone_is(box):
    """Call types meet PIN accounts: a room phone barred from international calls cannot
    make one by paying with an account, nor an account barred from them from any phone."""
    from billing_addon import barring
    with store.money_txn():
        store.Rate.update(call_type="international").execute()
        store.sql("INSERT INTO setting (key, value) VALUES ('rates_version', 'barring') "
                  "ON CONFLICT (key) DO UPDATE SET value = setting.value || 'b'")
    barring.bar_extensions(["101"], ["international"])
    auth = calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    assert (auth.result, auth.reason) == (calls.DENIED, barring.BARRED)
    barring.bar_extensions(["101"], [])
    barring.bar_extensions(["5001"], ["international"])
    auth = calls.authorize("101", "912345", T0, "u2", account="5001", pin="482913")
    assert (auth.result, auth.reason) == (calls.DENIED, barring.BARRED)
    assert ext("5001").reserved == 0 and ext("5001").balance == amount("10")
    assert not accounts.verify()


def test_an_account_has_statements_like_an_extension(box):
    """Statements meet PIN accounts: a statement of a period of account 5001 shows the
    recharge and the call made with its PIN from phone 101, and equals its ledger."""
    from billing_addon import statements
    calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
    calls.settle("u1", 30, at=T0 + 40)
    end = max(T0, store.now_utc()) + 3600  # the recharge was made now, the call at T0
    snap = statements.issue_period("5001", 0, end)
    assert [c["dialed"] for c in snap["calls"]] == ["912345"]
    assert snap["closing_balance"] == ext("5001").balance == amount("9.70")
    with pytest.raises(statements.StatementError):  # the phone paid nothing: no statement
        statements.issue_period("101", 0, end)
