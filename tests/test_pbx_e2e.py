"""End to end on loopback: 200 calls from 20 extensions at once through the FastAGI
server (a fake Asterisk speaking the recorded protocol), random durations, a fifth of
the hangup settles missed, then the CDR of all calls replayed twice.  Every call must
be charged exactly once, the ledger must match the balances, and no extension may
spend beyond balance + credit."""

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from billing_addon import accounts, money, rates, rating, settings, store
from billing_addon.pbx import cdr
from billing_addon.pbx.handlers import make_handlers, run_together
from billing_addon.pbx.server import AgiServer
from billing_addon.store import Call, Extension, Ledger
from tests.pbx_support import cdr_rows, make_env, replay

EXTENSIONS = [str(n) for n in range(2001, 2021)]
CALLS = 200


def setup_accounts(rnd):
    settings.put("timezone", "Asia/Shanghai")
    settings.put("warn_seconds", "10")
    settings.put("max_call_seconds", "120")
    for number in EXTENSIONS:
        accounts.ensure_extension(number, f"Room {number}", source="pbx")
    billed = EXTENSIONS[:-1]  # the last one is not billed at all
    accounts.edit(billed, billing_enabled=True)
    for number in billed:
        accounts.edit([number], credit=rnd.choice([0, money.parse_amount("0.50")]))
        amount = rnd.choice(["0.20", "1", "3", "10", "10"])
        accounts.recharge([number], money.parse_amount(amount), "test")
    accounts.edit([EXTENSIONS[0]], status="locked")
    rates.add(rates.validate({"prefix": "9", "initial_cost": "0.05", "initial_time": "30",
                              "rate": "0.02", "unit": "6", "all_extensions": True}))


def place_call(address, i):
    """One call as Asterisk would run it: authorize, maybe Dial, settle (or not)."""
    rnd = random.Random(i)
    ext = EXTENSIONS[i % len(EXTENSIONS)]
    dialed = "9" + "".join(rnd.choice("0123456789") for _ in range(8))
    uniqueid = f"{1795441000 + i}.{i}"
    env = make_env("authorize", uniqueid, [ext, dialed], callerid=ext, extension=dialed)
    auth = replay(address, env)
    result = auth.variables.get("BILLING_RESULT")
    answered = 0
    if result == "ALLOWED":
        limit_s = int(auth.variables["BILLING_LIMIT_MS"]) // 1000
        # busy/no answer, a short call, one cut at the limit (+1 s of Asterisk rounding)
        answered = rnd.choice([0, rnd.randint(1, limit_s), limit_s, limit_s + 1])
    elif result == "UNBILLED":
        answered = rnd.randint(0, 300)
    dialed_out = result in ("ALLOWED", "UNBILLED")
    if dialed_out and i % 5:  # every fifth hangup handler is lost
        time.sleep(rnd.random() * 0.01)
        status = "ANSWER" if answered else rnd.choice(["BUSY", "NOANSWER"])
        settle_env = make_env("settle", uniqueid,
                              [str(answered), status, uniqueid, str(answered) if answered else ""],
                              callerid=ext)
        replay(address, settle_env)
    return dict(i=i, ext=ext, dialed=dialed, uniqueid=uniqueid, result=result,
                reason=auth.variables.get("BILLING_REASON", ""), answered=answered,
                dialed_out=dialed_out)


@pytest.fixture
def server(db_path):
    srv = AgiServer(make_handlers(lambda: "active"), "127.0.0.1", 0, idle_timeout=20,
                    session_timeout=60, inline_when=store.writes_quick,
                    loop_setup=store.never_wait_here, run_together=run_together()).start()
    yield srv
    srv.stop(wait=20)


def test_two_hundred_concurrent_calls_then_cdr_replay_twice(server, tmp_path):
    rnd = random.Random(2026)
    setup_accounts(rnd)
    start = {n: Extension.get(Extension.number == n).balance for n in EXTENSIONS}
    with ThreadPoolExecutor(max_workers=40) as pool:
        placed = list(pool.map(lambda i: place_call(server.address, i), range(CALLS)))
    assert all(p["result"] in ("ALLOWED", "DENIED", "UNBILLED") for p in placed)
    assert {p["reason"] for p in placed if p["result"] == "DENIED"} <= {"locked", "no-funds"}
    assert any(p["result"] == "DENIED" and p["reason"] == "no-funds" for p in placed)

    zone = settings.zone()
    lines = "".join(
        cdr_rows(p["uniqueid"], p["ext"], p["dialed"], int(p["uniqueid"].split(".")[0]),
                 p["answered"], zone, seq=3 * p["i"],
                 disposition="ANSWERED" if p["answered"] else "NO ANSWER")
        for p in sorted(placed, key=lambda p: -p["i"]) if p["dialed_out"])
    master = tmp_path / "Master.csv"
    master.write_text(lines, encoding="utf-8")
    first = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
    second = cdr.import_file(str(master), settler=cdr.Settler(mark=None))
    assert first.errors == 0 and second.errors == 0 and second.charged == 0

    rate = rates.index().match("2002", "912345678", settings.local(1795441000))
    costs = {n: 0 for n in EXTENSIONS}
    for p in placed:
        call = Call.get_or_none(Call.uniqueid == p["uniqueid"])
        entries = list(Ledger.select().where(Ledger.call == call)) if call else []
        if p["result"] == "ALLOWED":
            expected = rating.cost(rate, p["answered"])
            assert call.status == "charged" and call.answered_s == p["answered"], p
            assert call.cost == expected
            assert [-e.amount for e in entries] == ([expected] if expected else []), p
            costs[p["ext"]] += expected
        else:
            assert entries == [], p
    for number in EXTENSIONS:
        ext = Extension.get(Extension.number == number)
        assert ext.reserved == 0
        assert ext.balance == start[number] - costs[number]
        assert ext.balance >= -ext.credit, number
    assert accounts.verify() == []
    assert Call.select().where(Call.status == "in-progress").count() == 0
