"""kill -9 at random points while money moves: nothing acknowledged is lost, nothing
is charged twice, and the ledger still explains every balance."""

import random
import subprocess
import sys
import time
from pathlib import Path

from billing_addon import accounts, store
from billing_addon.store import Call, Ledger

from .helpers import make_extension, make_rate

ROOT = Path(__file__).resolve().parents[1]


def test_sigkill_during_recharges_and_settlements(tmp_path):
    path = tmp_path / "crash.db"
    store.init_db(path)
    make_extension("1001", balance="100000")
    make_extension("1002")
    make_rate("9", "0", rate="0.01", unit="1")
    store.close_db()
    rnd = random.Random(7)
    acknowledged = []
    start = 0
    for _round in range(6):
        child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(path),
                                  str(start)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        time.sleep(0.3 + rnd.random() * 0.7)
        child.kill()  # SIGKILL
        out, _ = child.communicate(timeout=30)
        acknowledged += out.split("\n")
        start += 100000
    acknowledged = [line for line in acknowledged if line]
    assert len(acknowledged) > 20, "the worker did not get to work"
    store.init_db(path)
    try:
        assert store.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert accounts.verify() == []
        settled = {c.uniqueid for c in Call.select().where(Call.settled_utc.is_null(False))}
        recharges = Ledger.select().where(Ledger.kind == "recharge").count()
        for line in acknowledged:
            kind, what = line.split()
            if kind == "settled":
                assert what in settled
        # each acknowledged recharge round wrote two entries (1001 and 1002), plus the setup's one
        assert recharges >= 2 * sum(1 for a in acknowledged if a.startswith("recharged")) + 1
        charges = Ledger.select().where(Ledger.kind == "call").count()
        assert charges == Call.select().where(Call.cost > 0).count()
    finally:
        store.close_db()
