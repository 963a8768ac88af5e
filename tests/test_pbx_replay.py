"""Replay every recorded FastAGI session against the server, byte for byte.

The fake Asterisk sends the exact environment bytes of each recording and answers the
server's commands with the replies recorded for them.  The database is set up so the
billing core gives the answer the recording server was scripted to give, so the
server's commands must equal the recorded ones; then the recorded settle session runs
and the charge is checked.
"""

import threading

import pytest

from billing_addon import accounts, calls, money, rates, settings, store
from billing_addon.pbx.handlers import make_handlers, run_together
from billing_addon.pbx.server import AgiServer
from billing_addon.store import Call, Extension, Ledger
from tests.pbx_support import env_bytes, replay, sidecar

CENT_PER_S = money.parse_amount("0.01")  # the rate of every test call: 0.01 per second


@pytest.fixture(params=["inline", "workers"])
def server(db_path, request):
    """Authorizations on the loop (as the daemon runs them) or all in worker threads."""
    inline = store.writes_quick if request.param == "inline" else None
    srv = AgiServer(make_handlers(lambda: "active"), "127.0.0.1", 0, idle_timeout=5,
                    session_timeout=20, drain_timeout=2, inline_when=inline,
                    loop_setup=store.never_wait_here if inline else None,
                    run_together=run_together()).start()
    yield srv
    assert srv.stop(wait=10)


def setup_billing(balance_s: int, *, enabled=True, warn_s=0, max_call_s=60):
    """Extension 1001 with money for ``balance_s`` seconds at the test rate."""
    settings.put("timezone", "Asia/Shanghai")
    settings.put("warn_seconds", str(warn_s))
    settings.put("max_call_seconds", str(max_call_s))
    accounts.ensure_extension("1001", "Ext 1001", source="pbx")
    accounts.edit(["1001"], billing_enabled=enabled)
    if balance_s:
        accounts.recharge(["1001"], balance_s * CENT_PER_S, operator="test")
    for prefix in "1267":
        rates.add(rates.validate({"prefix": prefix, "rate": "0.01", "unit": "1",
                                  "all_extensions": True}))


def recorded_commands(name):
    """The commands the recording server sent, with BILLING_RESULT moved last: ours
    sends it last so that a session cut short never leaves ALLOWED without its limit."""
    sent = [a["cmd"] for a in sidecar(name)["server_actions"] if "cmd" in a]
    return ([c for c in sent if "BILLING_RESULT" not in c]
            + [c for c in sent if "BILLING_RESULT" in c])


# scenario, money for N seconds, warn setting, billing on, expected commands (None: as
# recorded), expected answered seconds charged (None: not charged)
CASES = [
    ("a-limit-cut", 6, 0, True, None, 5),            # 6 s affordable -> limit 5000
    ("b-ends-before-limit", 1000, 0, True, None, 20),  # capped at max_call_seconds 60
    ("c-busy", 1000, 0, True, None, 0),               # busy: charged nothing
    ("d-no-answer", 1000, 0, True, None, 0),
    ("e-denied", 0, 0, True, None, None),              # no money: DENIED no-funds
    ("g-invalid-command", 4, 0, True,                 # our server sends no invalid commands
     ["SET VARIABLE BILLING_LIMIT_MS 3000", "SET VARIABLE BILLING_RESULT ALLOWED"], 3),
    ("i-reply-formats", 4, 0, True,
     ["SET VARIABLE BILLING_LIMIT_MS 3000", "SET VARIABLE BILLING_RESULT ALLOWED"], 3),
    ("k-limit-with-warning", 7, 3, True, None, 6),     # warn = min(3 s, limit / 2)
    ("l-no-limit", 0, 0, False,                        # billing off: UNBILLED, no L()
     ["SET VARIABLE BILLING_RESULT UNBILLED"], None),
    ("n-cdr18-answered", 6, 0, True, None, 5),
]


@pytest.mark.parametrize("scenario, money_s, warn_s, enabled, expected, charged_s", CASES,
                         ids=[c[0] for c in CASES])
def test_recorded_session(server, scenario, money_s, warn_s, enabled, expected, charged_s):
    setup_billing(money_s, enabled=enabled, warn_s=warn_s)
    auth_name, settle_name = f"{scenario}-authorize", f"{scenario}-settle"
    got = replay(server.address, env_bytes(auth_name))
    assert got.error is None and got.server_closed
    assert got.commands == (expected or recorded_commands(auth_name))
    uniqueid = sidecar(auth_name)["env"]["agi_uniqueid"]
    settled = replay(server.address, env_bytes(settle_name))
    assert settled.commands == [] and settled.server_closed  # settle only half-closes
    ext = Extension.get(Extension.number == "1001")
    assert ext.reserved == 0
    assert accounts.verify() == []
    call = Call.get_or_none(Call.uniqueid == uniqueid)
    if charged_s is None:
        assert Ledger.select().where(Ledger.kind == "call").count() == 0
        if got.variables["BILLING_RESULT"] == calls.DENIED:
            assert call.status == "denied" and call.reason == got.variables["BILLING_REASON"]
        return
    assert call.status == "charged"
    assert call.answered_s == charged_s
    assert call.cost == charged_s * CENT_PER_S
    assert ext.balance == (money_s - charged_s) * CENT_PER_S


def test_caller_hangs_up_during_authorize(server, db_path):
    """h: the HANGUP line arrives before the server's first command; the server goes
    on, and the settle (args 0, empty DIALSTATUS) releases the reservation."""
    setup_billing(6)
    got = replay(server.address, env_bytes("h-caller-hangup-during-authorize-authorize"),
                 hangup_after_env=True)
    assert got.commands == ["SET VARIABLE BILLING_LIMIT_MS 5000",
                            "SET VARIABLE BILLING_RESULT ALLOWED"]
    assert Extension.get(Extension.number == "1001").reserved == 6 * CENT_PER_S
    replay(server.address, env_bytes("h-caller-hangup-during-authorize-settle"))
    call = Call.get(Call.uniqueid == "1795441460.53")
    assert (call.status, call.answered_s, call.cost) == ("charged", 0, 0)
    assert Extension.get(Extension.number == "1001").reserved == 0
    assert accounts.verify() == []


@pytest.mark.parametrize("scenario", ["f-server-closes-immediately", "f2-server-closes-after-env"])
def test_settle_of_a_call_never_authorized(server, scenario):
    """f, f2: authorize got no answer (fail-closed, no Dial); the settle that still runs
    knows no such call and charges nothing."""
    setup_billing(100)
    got = replay(server.address, env_bytes(f"{scenario}-settle"))
    assert got.server_closed and got.commands == []
    assert Call.select().count() == 0 and accounts.verify() == []


def test_two_calls_at_once(server):
    """j: two overlapping authorize sessions of one extension; both allowed within the
    money, each settled once."""
    setup_billing(1000)
    results = {}

    def run(n):
        results[n] = replay(server.address, env_bytes(f"j-two-calls-at-once-authorize-{n}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for n in (1, 2):
        assert results[n].variables == {"BILLING_RESULT": "ALLOWED", "BILLING_LIMIT_MS": "60000"}
    ext = Extension.get(Extension.number == "1001")
    assert ext.reserved == 2 * 61 * CENT_PER_S <= ext.balance + ext.credit
    for n in (1, 2):
        replay(server.address, env_bytes(f"j-two-calls-at-once-settle-{n}"))
    ext = Extension.get(Extension.number == "1001")
    assert ext.reserved == 0 and ext.balance == (1000 - 10) * CENT_PER_S
    assert accounts.verify() == []


def test_locked_extension_is_denied(server):
    setup_billing(1000)
    accounts.edit(["1001"], status="locked")
    got = replay(server.address, env_bytes("a-limit-cut-authorize"))
    assert got.commands == ["SET VARIABLE BILLING_REASON locked", "SET VARIABLE BILLING_RESULT DENIED"]
    replay(server.address, env_bytes("a-limit-cut-settle"))
    assert Ledger.select().where(Ledger.kind == "call").count() == 0
