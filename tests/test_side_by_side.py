"""On PostgreSQL the call path's transactions run side by side (store.py, pgstore.py;
docs/store.md "Writers side by side"): two daemons and their threads on one account
never spend past balance + credit, a recharge during calls is never lost, every other
writer still runs alone, and a deadlock between two of them is run again, never
answered.  (Plan pools under concurrent calls: test_plans, on PostgreSQL in
``make test-postgres``.)"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from billing_addon import accounts, calls, settings, store
from billing_addon.store import Extension, Ledger
from tests import side_by_side_worker
from tests.helpers import amount, make_extension, make_rate
from tests.test_store_postgres import pg_url, server  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
T0 = 1795441378


def _tight_account():
    """Extension 2001 with money for a few calls only, each reserving its full minute."""
    make_extension("2001", balance="3", credit="1")
    make_rate("9", rate="0.01", unit="1")
    settings.put("max_call_seconds", "60")  # a call reserves 0.61


def _never_past_credit():
    ext = Extension.get(Extension.number == "2001")
    assert ext.reserved == 0 and ext.balance >= -ext.credit, (ext.balance, ext.reserved)
    assert accounts.verify() == []
    return ext


def test_two_daemons_on_one_account_never_overspend(pg_url):  # noqa: F811
    _tight_account()
    store.close_db()
    workers = [subprocess.Popen([sys.executable, "-m", "tests.side_by_side_worker", pg_url,
                                 f"d{n}"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
               for n in range(2)]
    counts = [json.loads(w.communicate(timeout=180)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    store.init_db(pg_url)
    ext = _never_past_credit()
    allowed = sum(c["allowed"] for c in counts)
    assert allowed + sum(c["denied"] for c in counts) == 2 * side_by_side_worker.THREADS * 40
    assert 0 < allowed < 20  # the money ran out: 4 of credit and balance, 0.60 a call
    charged = -sum(e.amount for e in Ledger.select().where(Ledger.kind == "call"))
    assert charged > amount("3") and ext.balance == amount("3") - charged  # into the credit


def test_a_recharge_during_calls_is_never_lost(pg_url):  # noqa: F811
    make_extension("2001", balance="1000")
    make_rate("9", rate="0.01", unit="1")
    stop = threading.Event()
    costs, errors = [], []

    def caller(t):
        i = 0
        try:
            while not stop.is_set():
                uid = f"t{t}-{i}"
                auth = calls.authorize("2001", "912345", T0 + i, uid)
                costs.append(calls.settle(uid, i % 7, "ANSWER", T0 + i + 60).cost)
                assert auth.result == calls.ALLOWED
                i += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        accounts.recharge(["2001"], amount("5"), "desk")
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not errors and len(costs) > 20
    ext = Extension.get(Extension.number == "2001")
    assert ext.balance == amount("1000") + 20 * amount("5") - sum(costs) and ext.reserved == 0
    assert accounts.verify() == []


def test_another_writer_waits_for_the_call_path_and_runs_alone(pg_url):  # noqa: F811
    make_extension("2001", balance="10")
    inside, done = threading.Event(), []

    def call_path():
        with store.money_txn(shared=True):
            store.sql("SELECT balance FROM extension WHERE number = '2001'" + store.for_update())
            inside.set()
            time.sleep(0.5)
        done.append(("call path", time.monotonic()))

    thread = threading.Thread(target=call_path)
    thread.start()
    assert inside.wait(10)
    accounts.recharge(["2001"], amount("1"), "desk")  # waits for the write lock alone
    done.append(("recharge", time.monotonic()))
    thread.join(10)
    assert [name for name, _ in sorted(done, key=lambda d: d[1])] == ["call path", "recharge"]
    assert Extension.get(Extension.number == "2001").balance == amount("11")


def test_a_deadlock_between_two_is_run_again_not_answered(pg_url):  # noqa: F811
    make_extension("2001", balance="10")
    make_extension("2002", balance="10")
    ids = [Extension.get(Extension.number == n).id for n in ("2001", "2002")]
    both_locked_one = threading.Barrier(2, timeout=10)
    runs, errors = [], []

    @store.retry_conflicts
    def move(first, second):
        """Locks in the order given: two of them in opposite orders deadlock once."""
        runs.append(first)
        with store.money_txn(shared=True):
            lock = "SELECT id FROM extension WHERE id = ?" + store.for_update()
            store.sql(lock, (first,))
            if len(runs) <= 2:
                both_locked_one.wait()
            store.sql(lock, (second,))
            store.sql("UPDATE extension SET reserved = reserved + 1 WHERE id = ?", (second,))

    def run(order):
        try:
            move(*order)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(order,)) for order in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(runs) == 3  # the one PostgreSQL aborted ran once more
    assert [r for (r,) in store.sql("SELECT reserved FROM extension WHERE id IN (?, ?)",
                                    tuple(ids))] == [1, 1]
