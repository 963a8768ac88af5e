"""Stays and statements (issue #14.1): check-in, check-out with a payment, the statement
and the ledger, the refusals; a real SQLite file each test."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import accounts, calls, reports, settings, statements, stays, store
from billing_addon.store import Ledger, money_txn

from .helpers import amount, cli_runner, make_extension, make_rate

T0 = 1_780_000_000
CONTRACT_KEYS = {"number", "issued_utc", "zone", "zone_label", "currency", "hotel", "extension",
                 "guest", "period", "opening_balance", "closing_balance", "calls", "entries",
                 "totals", "in_progress"}


def _call(number, uid, at, seconds):
    assert calls.authorize(number, "912345678", at=at, uniqueid=uid).result == calls.ALLOWED
    calls.settle(uid, seconds, "ANSWER", at=at + seconds)


def test_a_stay_from_check_in_to_check_out(db_path):
    make_extension("101", name="Room 101")
    make_rate("9", rate="0.60", unit="60")
    settings.put("hotel_name", "Hotel Test")
    settings.put("hotel_address", "1 Beach Road\nSeaside")
    stays.check_in("101", "Ann Smith", deposit=amount("2"), credit=amount("20"), operator="desk",
                   at=T0)
    ext = accounts.get_extension("101")
    assert (ext.name, ext.status, ext.billing_enabled, ext.credit) == ("Ann Smith", "unlocked",
                                                                       True, amount("20"))
    _call("101", "c1", T0 + 100, 300)   # 3.00
    _call("101", "c2", T0 + 1000, 60)   # 0.60
    assert stays.owed("101") == amount("1.60")
    snap = stays.check_out("101", payment=amount("1.60"), operator="desk", at=T0 + 5000)
    assert CONTRACT_KEYS <= set(snap)
    assert snap["number"] == "S-000001"
    assert snap["hotel"] == {"name": "Hotel Test", "address": "1 Beach Road\nSeaside"}
    assert snap["guest"] == "Ann Smith" and snap["extension"]["number"] == "101"
    assert [c["cost"] for c in snap["calls"]] == [amount("3"), amount("0.60")]
    assert [e["kind"] for e in snap["entries"]] == ["recharge", "payment"]
    assert snap["totals"] == {"calls": 2, "call_cost": amount("3.60"), "recharges": amount("2"),
                              "adjustments": 0, "payments": amount("1.60")}
    assert (snap["opening_balance"], snap["closing_balance"]) == (0, 0)
    ext = accounts.get_extension("101")
    assert (ext.status, ext.name, ext.balance) == ("locked", "Room 101", 0)
    # a payment is not a recharge: Total Recharges and the Recharge History have the deposit only
    assert ext.total_recharges == amount("2")
    assert [r.kind for r in reports.iter_recharges()] == ["recharge"]
    assert accounts.verify() == []
    # kept as issued: the rates changing, later calls, do not change it
    make_rate("9", rate="9.00", unit="1")
    assert statements.load("S-000001") == snap
    with pytest.raises(Exception, match="kept as issued"):
        store.db.execute_sql("UPDATE statement SET snapshot = '{}'")
    with pytest.raises(Exception, match="kept as issued"):
        store.db.execute_sql("DELETE FROM statement")


def test_check_out_waits_for_calls_in_progress(db_path):
    make_extension("101", balance="10")
    make_rate("9")
    stays.check_in("101", "Bob", at=T0)
    assert calls.authorize("101", "912345678", at=T0 + 10, uniqueid="open").result == calls.ALLOWED
    before = store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0]
    with pytest.raises(stays.StayError, match="1 call\\(s\\) in progress"):
        stays.check_out("101", at=T0 + 20)
    assert store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0] == before
    assert stays.open_stay(accounts.get_extension("101")) is not None
    calls.settle("open", 120, "ANSWER", at=T0 + 130)
    snap = stays.check_out("101", at=T0 + 200)
    assert [c["answered_s"] for c in snap["calls"]] == [120] and snap["in_progress"] == 0


def _released_call(number, uid, at):
    """A call of ``number`` whose reservation was released before any settle came (the
    box rebooted during it): its cost is not known until a late settle (the CDR)."""
    from billing_addon import boottime

    auth = calls.authorize(number, "912345678", at=at, uniqueid=uid,
                           running=boottime.Running("boot-1", 100.0))
    assert auth.result == calls.ALLOWED, auth
    assert calls.release_stale(at, boottime.Running("boot-2", 1.0)) == 1


def test_check_out_waits_for_a_released_call_no_settle_charged_yet(db_path):
    """A call released before it was settled may still be charged later (by the CDR):
    check-out waits for it, since that charge would otherwise fall in the next stay,
    and goes on once it is charged, with it on the statement."""
    make_extension("101", balance="10")
    make_rate("9", rate="0.60", unit="60")
    stays.check_in("101", "Ann", at=T0)
    _released_call("101", "lost", T0 + 100)
    entries = Ledger.select().count()
    with pytest.raises(stays.StayError, match="1 call\\(s\\) of this stay with no known cost"):
        stays.check_out("101", payment=0, at=T0 + 5000)
    assert Ledger.select().count() == entries
    assert store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0] == 0
    assert stays.open_stay(accounts.get_extension("101")) is not None
    calls.settle("lost", 600, "ANSWER", at=T0 + 5100)  # the CDR follower brings it
    snap = stays.check_out("101", at=T0 + 5200)
    assert [(c["cost"], c["status"]) for c in snap["calls"]] == [(amount("6"), "charged")]
    assert accounts.verify() == []


def test_a_released_call_closed_at_check_out_never_falls_on_the_next_guest(db_path):
    """The desk closes the stay's released calls as not charged: the statement lists
    them at 0, and a settle coming later charges nobody, the next guest least of all."""
    make_extension("101", balance="10")
    make_rate("9", rate="0.60", unit="60")
    stays.check_in("101", "Ann", at=T0)
    _released_call("101", "lost", T0 + 100)
    snap = stays.check_out("101", at=T0 + 5000, close_unknown=True)
    assert [(c["cost"], c["status"]) for c in snap["calls"]] == [(0, "expired")]
    row = store.db.execute_sql("SELECT settled_utc, cost, reason FROM call WHERE uniqueid = "
                               "'lost'").fetchone()
    assert row == (T0 + 5000, 0, calls.CLOSED_AT_CHECK_OUT)
    stays.check_in("101", "Bob", deposit=amount("10"), at=T0 + 6000)
    balance = accounts.get_extension("101").balance
    late = calls.settle("lost", 600, "ANSWER", at=T0 + 7000)
    assert (late.outcome, late.cost) == ("duplicate", 0)
    assert accounts.get_extension("101").balance == balance
    snap = stays.check_out("101", at=T0 + 9000)
    assert snap["calls"] == [] and snap["totals"]["call_cost"] == 0
    assert accounts.verify() == []


def test_the_web_check_out_closes_only_the_calls_the_desk_was_shown(db_path):
    """The review shows how many calls will be closed; one released after it (before the
    desk confirms) makes the confirm refused, and nothing is closed unseen."""
    make_extension("101", balance="10")
    make_rate("9", rate="0.60", unit="60")
    stays.check_in("101", "Ann", at=T0)
    _released_call("101", "first", T0 + 100)
    client = _desk_client()
    review = client.post("/stays/check-out", {"n": "101", "payment": "", "close_unknown": "1"},
                         check=200)
    assert 'id="confirm-closed">1<' in review.text and 'name="unknown_seen" value="1"' in review.text
    _released_call("101", "second", T0 + 200)  # released meanwhile
    r = client.post("/stays/check-out", {"n": "101", "payment": "", "close_unknown": "1",
                                         "unknown_seen": "1", "step": "confirm"}, check=400)
    assert "review it again" in r.text
    assert store.db.execute_sql("SELECT COUNT(*) FROM call WHERE reason = ?",
                                (calls.CLOSED_AT_CHECK_OUT,)).fetchone()[0] == 0
    assert stays.open_stay(accounts.get_extension("101")) is not None


def test_the_api_check_out_closes_the_released_calls_when_told_to(db_path):
    from billing_addon import api_tokens

    from .api_support import ApiClient
    from .webclient import activated_app

    app = activated_app(admin_password="admin-secret-1")
    make_extension("101", balance="10")
    make_rate("9", rate="0.60", unit="60")
    now = store.now_utc()
    stays.check_in("101", "Ann", at=now - 3600)
    _released_call("101", "lost", now - 3000)
    api = ApiClient(app, api_tokens.create("pms", "billing")[1])
    r = api.post("/api/v1/extensions/101/check-out", {})
    assert r.status == 400 and "close them as not charged" in r.text, r.text
    r = api.post("/api/v1/extensions/101/check-out", {"close_unknown": "yes"})
    assert r.status == 400 and "true or false" in r.text
    r = api.post("/api/v1/extensions/101/check-out", {"close_unknown": True})
    assert r.status == 201, (r.status, r.text)
    assert calls.settle("lost", 600, "ANSWER").outcome == "duplicate"


def test_a_call_whose_charge_waits_in_the_boxs_queue_is_never_closed(db_path):
    """Its settlement is known and waits in this box's queue for the central store:
    check-out waits for its delivery, whatever the desk ticks."""
    from billing_addon import settle_queue

    make_extension("101", balance="10")
    make_rate("9", rate="0.60", unit="60")
    stays.check_in("101", "Ann", at=T0)
    _released_call("101", "queued", T0 + 100)
    queue = settle_queue.open_queue(settle_queue.path_for(db_path))
    try:
        queue.put(calls.SettleRequest("queued", 600, "ANSWER"), T0 + 700)
        for close in (False, True):
            with pytest.raises(stays.StayError, match="waits in this box's queue"):
                stays.check_out("101", at=T0 + 5000, close_unknown=close)
    finally:
        settle_queue.close_queue()
    assert store.db.execute_sql("SELECT settled_utc FROM call WHERE uniqueid = 'queued'"
                                ).fetchone() == (None,)


def test_a_released_call_of_an_earlier_stay_does_not_hold_this_one(db_path):
    """Only the stay's own calls count (those started since its check-in)."""
    make_extension("101", balance="10")
    make_rate("9")
    _released_call("101", "before", T0 - 500)
    stays.check_in("101", "Cy", at=T0)
    assert stays.check_out("101", at=T0 + 10)["number"] == "S-000001"


def test_a_payment_larger_than_owed_changes_nothing(db_path):
    make_extension("101", credit="10")
    make_rate("9", rate="1", unit="60")
    stays.check_in("101", "Cy", at=T0)
    _call("101", "c1", T0 + 10, 120)  # owes 2.00
    entries = Ledger.select().count()
    with pytest.raises(stays.StayError, match="more than extension 101 owes"):
        stays.check_out("101", payment=amount("2.01"), at=T0 + 500)
    assert Ledger.select().count() == entries
    assert stays.open_stay(accounts.get_extension("101")) is not None
    accounts.ensure_extension("102")
    with pytest.raises(stays.StayError, match="102 is not checked in"):
        stays.check_out("102")


def test_refusals(db_path):
    make_extension("101")
    with pytest.raises(stays.StayError, match="guest's name"):
        stays.check_in("101", "  ")
    stays.check_in("101", "Dee", at=T0)
    with pytest.raises(stays.StayError, match="already checked in"):
        stays.check_in("101", "Eve")
    ext = accounts.get_extension("101")
    with pytest.raises(statements.StatementError, match="period is empty"):
        statements.issue(ext, T0 + 10, T0 + 10)
    with pytest.raises(statements.StatementError, match="no calls and no balance changes"):
        statements.issue_period("101", T0 - 1000, T0 - 10)
    assert store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0] == 0


def test_check_out_state_follows_the_setting(db_path):
    make_extension("101")
    settings.put("checkout_status", "unlocked")
    stays.check_in("101", "Flo", at=T0)
    stays.check_out("101", at=T0 + 10)
    assert accounts.get_extension("101").status == "unlocked"


def test_cli_check_in_out_and_statements(tmp_path, capsys):
    ini = tmp_path / "box.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n")

    run = cli_runner(ini, capsys)

    assert run("init")[0] == 0
    assert run("ext", "add", "201")[0] == 0
    assert run("stay", "check-in", "201", "--guest", "Gus", "--deposit", "5")[0] == 0
    code, out = run("stay", "list", "--open")
    assert code == 0 and "Gus" in out
    code, out = run("stay", "check-out", "201", "--payment", "1")
    assert code == 1 and "more than extension 201 owes" in out
    code, out = run("stay", "check-out", "201")
    assert code == 0 and "Statement S-000001" in out and "Closing balance $5.00" in out
    code, out = run("statement", "show", "S-000001")
    assert code == 0 and "Recharges $5.00" in out
    code, out = run("statement", "list")
    assert "S-000001" in out and "extension 201" in out
    code, out = run("statement", "show", "S-000009")
    assert code == 1 and "no statement" in out
    # a released call not settled yet: check-out waits, or closes it as not charged
    assert run("stay", "check-in", "201", "--guest", "Hal")[0] == 0
    assert run("rates", "add", "--prefix", "9", "--rate", "0.10", "--unit", "60",
               "--extensions", "*")[0] == 0
    store.init_db(tmp_path / "b.db")
    _released_call("201", "gone", store.now_utc() + 5)
    store.close_db()
    code, out = run("stay", "check-out", "201")
    assert code == 1 and "no known cost yet" in out
    code, out = run("stay", "check-out", "201", "--close-unknown")
    assert code == 0 and "Statement S-000002" in out


_op = st.one_of(
    st.tuples(st.just("recharge"), st.integers(1, 50_000)),
    st.tuples(st.just("adjust"), st.integers(-30_000, 30_000).filter(bool)),
    st.tuples(st.just("start"), st.integers(0, 0)),
    st.tuples(st.just("end"), st.integers(0, 900)),
    st.tuples(st.just("check-in"), st.integers(0, 0)),
)


@given(st.lists(_op, min_size=1, max_size=30), st.integers(0, 1_000_000))
@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_statement_equals_the_ledger_of_its_period(ops, pay_seed):
    """Random stays: recharges, adjustments and calls that overlap (started before
    others end, some across the check-in), check-in anywhere, check-out after all ended."""
    with tempfile.TemporaryDirectory() as tmp:
        store.init_db(Path(tmp) / "b.db")
        try:
            make_extension("101", balance="3", credit="5")
            make_rate("9", rate="0.07", unit="6")
            # after the opening recharge (now): every entry is in time order
            t, open_calls, n, checked_in = store.now_utc() + 100, [], 0, False
            for kind, value in ops:
                t += 7
                if kind == "recharge":
                    with money_txn():
                        accounts.append_entry(accounts.get_extension("101").id, "recharge",
                                              value, at=t)
                elif kind == "adjust":
                    with money_txn():
                        accounts.append_entry(accounts.get_extension("101").id, "adjustment",
                                              value, reason="fix", at=t)
                elif kind == "start":
                    n += 1
                    calls.authorize("101", "912345", at=t, uniqueid=f"u{n}")
                    open_calls.append(f"u{n}")
                elif kind == "end" and open_calls:
                    calls.settle(open_calls.pop(0), value, "ANSWER" if value else "NOANSWER", at=t)
                elif kind == "check-in" and not checked_in:
                    stays.check_in("101", "Guest", at=t)
                    checked_in = True
            if not checked_in:
                stays.check_in("101", "Guest", at=t)
            if statements.in_progress(accounts.get_extension("101").id):
                with pytest.raises(stays.StayError):
                    stays.check_out("101", at=t + 1)
            for uid in open_calls:
                t += 3
                calls.settle(uid, 30, "ANSWER", at=t)
            owed = stays.owed("101")
            payment = pay_seed % (owed + 1)
            stay = stays.open_stay(accounts.get_extension("101"))
            snap = stays.check_out("101", payment=payment, at=t + 5)
            lo, hi = snap["period"]["from_utc"], snap["period"]["to_utc"]
            assert lo == stay.checkin_utc
            ledger = list(Ledger.select().order_by(Ledger.id))
            before = sum(e.amount for e in ledger if e.created_utc < lo)
            within = [e for e in ledger if lo <= e.created_utc < hi]
            assert snap["opening_balance"] == before
            assert snap["closing_balance"] == before + sum(e.amount for e in within)
            assert snap["closing_balance"] == accounts.get_extension("101").balance
            tot = snap["totals"]
            assert tot["call_cost"] == -sum(e.amount for e in within if e.kind == "call")
            for kind, key in (("recharge", "recharges"), ("adjustment", "adjustments"),
                              ("payment", "payments")):
                assert tot[key] == sum(e.amount for e in within if e.kind == kind)
            assert snap["closing_balance"] == (snap["opening_balance"] + tot["recharges"]
                                               + tot["adjustments"] + tot["payments"]
                                               - tot["call_cost"])
            assert tot["payments"] == payment
            assert json.loads(json.dumps(snap)) == statements.load(snap["number"])
            assert accounts.verify() == []
        finally:
            store.close_db()


@pytest.mark.sqlite_only("SQLite's migration of an older file")
def test_0004_keeps_the_ledger_of_an_older_file(tmp_path):
    """A file at version 3 with ledger rows: 0004 rebuilds the ledger with the same rows
    and ids, and the new kind 'payment' is accepted (before it, the CHECK refuses it)."""
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, _name, script in store.available_migrations():
        if version <= 3:
            conn.executescript(script)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (3)")
    conn.execute("INSERT INTO extension (id, number, balance, total_recharges, created_utc, "
                 "updated_utc) VALUES (1, '101', 70, 100, 0, 0)")
    conn.execute("INSERT INTO ledger (id, extension_id, kind, amount, balance_after, created_utc) "
                 "VALUES (5, 1, 'recharge', 100, 100, 1), (9, 1, 'adjustment', -30, 70, 2)")
    conn.commit()
    try:
        conn.execute("INSERT INTO ledger (extension_id, kind, amount, balance_after, created_utc)"
                     " VALUES (1, 'payment', 1, 71, 3)")
        raise AssertionError("version 3 has no 'payment' kind")
    except sqlite3.IntegrityError:
        pass
    conn.close()
    store.init_db(path)
    try:
        assert store.schema_version() >= 4
        rows = store.db.execute_sql("SELECT id, kind, amount FROM ledger ORDER BY id").fetchall()
        assert rows == [(5, "recharge", 100), (9, "adjustment", -30)]
        with money_txn():
            accounts.append_entry(1, "payment", 30, at=10)
        assert accounts.verify() == []
        assert accounts.get_extension("101").total_recharges == 100
    finally:
        store.close_db()


def test_check_out_among_concurrent_calls_and_recharges(db_path):
    """Threads recharge and make calls while another tries to check out again and again:
    check-out happens at a moment no call is in progress, and its statement has every
    call charged, equal to the ledger (calls after it are refused: the room is locked)."""
    import threading

    make_extension("101", balance="100")
    make_rate("9", rate="0.10", unit="1")
    stays.check_in("101", "Hal")
    stop = threading.Event()
    result: dict = {}

    def caller(k):
        for i in range(15):
            uid = f"t{k}-{i}"
            if calls.authorize("101", "912345", uniqueid=uid).result == calls.ALLOWED:
                calls.settle(uid, i, "ANSWER")

    def recharger():
        while not stop.is_set():
            accounts.recharge(["101"], amount("0.05"), "t")

    def desk():
        for _ in range(2000):
            try:
                result["snap"] = stays.check_out("101")
                return
            except stays.StayError as exc:
                assert "in progress" in str(exc)

    workers = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    others = [threading.Thread(target=recharger), threading.Thread(target=desk)]
    for w in workers + others:
        w.start()
    for w in workers:
        w.join(60)
    stop.set()
    for w in others:
        w.join(60)
    if "snap" not in result:  # the calls kept the line busy: check out now they ended
        result["snap"] = stays.check_out("101")
    snap = result["snap"]
    lo, hi = snap["period"]["from_utc"], snap["period"]["to_utc"]
    ledger = list(Ledger.select().where(Ledger.id <= snap["last_ledger_id"]))
    within = [e for e in ledger if lo <= e.created_utc < hi]
    assert snap["closing_balance"] == sum(e.amount for e in ledger if e.created_utc < hi)
    assert snap["opening_balance"] == sum(e.amount for e in ledger if e.created_utc < lo)
    assert snap["totals"]["call_cost"] == -sum(e.amount for e in within if e.kind == "call")
    later = Ledger.select().where(Ledger.id > snap["last_ledger_id"])
    assert not [e for e in later if e.kind == "call"]  # no call charged after: none missed
    assert snap["in_progress"] == 0
    assert accounts.verify() == []


def _desk_client():
    from billing_addon.web import auth

    from .webclient import Client, activated_app

    app = activated_app(admin_password="admin-secret-1")
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    return client


@pytest.mark.parametrize("zone, start, end", [("Europe/Berlin", "0001-01-01T00:00", "2030-01-01T00:00"),
                                              ("America/New_York", "2024-01-01T00:00", "9999-12-31T23:59")])
def test_a_statement_period_past_the_calendars_edge_is_refused(db_path, zone, start, end):
    """A period starting in year 1 or ending in 9999 (which no zone can show) is refused
    with a message, and nothing is stored: statements are never deleted, so one such
    would have broken the Stays page for good."""
    make_extension("101", balance="5")
    settings.put("timezone", zone)
    client = _desk_client()
    r = client.post("/statements/issue", {"n": "101", "from": start, "to": end}, check=303)
    assert r.location == "/stays"
    assert "between the years 1970 and 2100" in client.get("/stays", check=200).text
    assert store.db.execute_sql("SELECT COUNT(*) FROM statement").fetchone()[0] == 0
    with pytest.raises(statements.StatementError, match="between the years 1970 and 2100"):
        statements.issue_period("101", -62135596800, T0)


def test_a_stay_checked_in_while_the_clock_read_1970_still_checks_out(db_path):
    """A box without a clock battery reads 1970 until NTP sets it: a stay checked in
    then is checked out (its period comes from stored times, not typed ones), on the
    page too."""
    make_extension("101", balance="5")
    make_extension("102", balance="5")
    stays.check_in("101", "Ann", at=3600)
    assert stays.check_out("101", at=T0)["number"] == "S-000001"
    stays.check_in("102", "Bob", at=3600)
    client = _desk_client()
    r = client.post("/stays/check-out", {"n": "102", "payment": "", "step": "confirm"})
    assert (r.status, r.location) == (303, "/statements/S-000002"), r.status


def test_a_statement_stored_with_such_a_period_still_shows(db_path):
    """One stored before the check (by an older version) shows on every page and in the
    API, its times at the calendar's edge, instead of a 500."""
    from billing_addon import api_tokens

    make_extension("101", balance="5")
    settings.put("timezone", "Europe/Berlin")
    # 0001-01-01 00:00 in Berlin: an hour before the first second a datetime can hold
    number = statements.issue(accounts.get_extension("101"), -62135596800 - 3600, T0)["number"]
    client = _desk_client()
    assert number in client.get("/stays", check=200).text
    client.get(f"/statements/{number}", check=200)
    assert client.get(f"/statements/{number}.pdf", check=200).body[:4] == b"%PDF"
    token = api_tokens.create("desk", "billing")[1]
    r = client.request("GET", "/api/v1/statements", headers={"Authorization": f"Bearer {token}"},
                       check=200)
    assert number in r.text
