"""kill -9 at random points while money moves: nothing acknowledged is lost, nothing
is charged twice, and the ledger still explains every balance."""

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from billing_addon import accounts, store
from billing_addon.store import Call, Ledger

from .helpers import make_extension, make_rate, store_intact, wait_until

ROOT = Path(__file__).resolve().parents[1]


def first_lines(child, count, timeout=60.0):
    """The child's first ``count`` acknowledgements: it got to work.  A child that has
    not printed them within ``timeout`` s is killed (its output ends) and the test fails."""
    watchdog = threading.Timer(timeout, child.kill)
    watchdog.start()
    try:
        lines = [child.stdout.readline() for _ in range(count)]
    finally:
        watchdog.cancel()
    assert all(lines), f"the worker did not get to work within {timeout:g} s: {lines}"
    return lines


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
        acknowledged += first_lines(child, 4)
        time.sleep(rnd.random() * 0.7)
        child.kill()  # SIGKILL
        out, _ = child.communicate(timeout=30)
        acknowledged += out.split("\n")
        start += 100000
    acknowledged = [line.strip() for line in acknowledged if line.strip()]
    assert len(acknowledged) > 20, "the worker did not get to work"
    store.init_db(path)
    try:
        assert store_intact()
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


def test_sigkill_during_cdr_imports(tmp_path):
    """The CDR importer settles a batch of calls in one transaction: killed anywhere
    and run again over the same file, in the end every call is charged exactly once."""
    from zoneinfo import ZoneInfo

    from tests.pbx_support import cdr_rows

    path, master = tmp_path / "crash.db", tmp_path / "Master.csv"
    store.init_db(path)
    make_extension("1001", balance="100000")
    make_rate("9", "0", rate="0.01", unit="1")
    store.close_db()
    zone = ZoneInfo("UTC")
    rnd = random.Random(11)
    seconds = [rnd.randint(0, 300) for _ in range(15000)]
    with open(master, "w", encoding="utf-8") as fh:
        for i, answered in enumerate(seconds):
            fh.write(cdr_rows(f"1795441378.{i}", "1001", "91234567", 1795441378 + i, answered,
                              zone, seq=3 * i, disposition="ANSWERED" if answered else "NO ANSWER"))
    worker = [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(path), "0", str(master)]
    partly = []  # calls recorded after each kill
    for _round in range(5):
        child = subprocess.Popen(worker, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            _wait_for_progress(child, path, partly[-1] if partly else 0)
            time.sleep(rnd.random() * 0.6)
        finally:
            child.kill()  # SIGKILL
            child.communicate(timeout=30)
        partly.append(_count_calls(path))
    assert any(0 < n < len(seconds) for n in partly), partly  # killed inside an import
    finished = subprocess.run(worker, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.stdout.strip() == "imported", finished.stderr[-2000:]
    store.init_db(path)
    try:
        assert store_intact()
        assert accounts.verify() == []
        assert Call.select().count() == len(seconds)
        costs = [c.cost for c in Call.select().order_by(Call.started_utc)]
        assert costs == [s * 100 for s in seconds]  # 0.01 a second, in 1/10000 units
        assert Ledger.select().where(Ledger.kind == "call").count() == sum(1 for s in seconds if s)
        balance = store.sql_one("SELECT balance FROM extension WHERE number = '1001'")[0]
        assert balance == 100000 * 10000 - sum(costs)
    finally:
        store.close_db()


def test_sigkill_mid_batch_of_a_cdr_import(tmp_path):
    """The import settles cdr.BATCH calls a transaction: a kill at any point leaves
    whole batches (never part of one), each consistent with the ledger, and the import
    run again resumes: every call charged exactly once, none lost."""
    from zoneinfo import ZoneInfo

    from billing_addon.pbx import cdr
    from tests.pbx_support import cdr_rows

    path, master = tmp_path / "crash.db", tmp_path / "Master.csv"
    store.init_db(path)
    make_extension("1001", balance="100000")
    make_rate("9", "0", rate="0.01", unit="1")
    store.close_db()
    rnd = random.Random(17)
    seconds = [rnd.randint(0, 300) for _ in range(12 * cdr.BATCH + 345)]
    with open(master, "w", encoding="utf-8") as fh:
        for i, answered in enumerate(seconds):
            fh.write(cdr_rows(f"1795441378.{i}", "1001", "91234567", 1795441378 + i, answered,
                              ZoneInfo("UTC"), seq=3 * i,
                              disposition="ANSWERED" if answered else "NO ANSWER"))
    worker = [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(path), "0", str(master)]
    partly = []
    for _round in range(4):
        child = subprocess.Popen(worker, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            _wait_for_progress(child, path, partly[-1] if partly else 0)
            time.sleep(rnd.random() * 0.3)
        finally:
            child.kill()  # SIGKILL
            child.communicate(timeout=30)
        partly.append(_count_calls(path))
        assert partly[-1] % cdr.BATCH == 0 or partly[-1] == len(seconds), partly
        store.init_db(path)
        try:
            assert accounts.verify() == []
            assert Ledger.select().where(Ledger.kind == "call").count() == \
                Call.select().where(Call.cost > 0).count()
        finally:
            store.close_db()
    assert any(0 < n < len(seconds) for n in partly), partly  # killed inside an import
    finished = subprocess.run(worker, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.stdout.strip() == "imported", finished.stderr[-2000:]
    store.init_db(path)
    try:
        assert accounts.verify() == []
        assert [c.cost for c in Call.select().order_by(Call.started_utc)] == [s * 100 for s in seconds]
        assert Ledger.select().where(Ledger.kind == "call").count() == sum(1 for s in seconds if s)
    finally:
        store.close_db()


def _wait_for_progress(child, path, done: int) -> None:
    """Until the importer recorded more calls than ``done``, or finished."""
    wait_until(lambda: child.poll() is not None or _count_calls(path) > done, 60,
               "the importer to get to work")


def _count_calls(path) -> int:
    import sqlite3

    from tests import pg_store

    if pg_store.active():  # the worker's store is the database that stands for ``path``
        import psycopg2

        conn = psycopg2.connect(pg_store.database_for(path))
    else:
        conn = sqlite3.connect(str(path))
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT COUNT(*) FROM call")
        return cursor.fetchone()[0]
    finally:
        conn.close()


def _deck(rows: int, rate: str) -> str:
    lines = ["prefix,length,rate,unit,extensions"]
    lines += [f"8{i:06d},0,{rate},60,*" for i in range(rows)]
    return "\n".join(lines + [f"9,0,{rate},1,1001"]) + "\n"


def test_sigkill_during_a_staged_rate_import(tmp_path):
    """A rate import killed while staging leaves the old rates in force, untouched; the
    next import finishes and removes what the killed one left behind."""
    from billing_addon import rates

    path, deck = tmp_path / "crash.db", tmp_path / "deck.csv"
    store.init_db(path)
    make_extension("1001")
    rates.import_csv(_deck(300, "0.01"))
    old = [(r.prefix, r.rate) for r in rates.load_all()]
    store.close_db()
    deck.write_text(_deck(20_000, "0.05"), encoding="utf-8")
    worker = [sys.executable, str(ROOT / "tests" / "crash_worker.py"), str(path), "0", "rates",
              str(deck)]
    rnd = random.Random(13)
    for _round in range(3):
        child = subprocess.Popen(worker, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            # killed right after a random chunk of the 81: in the middle of the import
            first_lines(child, rnd.randint(3, 50))
        finally:
            child.kill()  # SIGKILL
            out, _ = child.communicate(timeout=30)
        assert "imported" not in out, "the import finished before the kill: a smaller chunk?"
        store.init_db(path)
        try:
            assert store_intact()
            assert [(r.prefix, r.rate) for r in rates.load_all()] == old
            assert rates.index().match("1001", "9123", 0).rate == 100
            assert store.Rate.select().count() > len(old)  # staged rows, out of force
        finally:
            store.close_db()
    finished = subprocess.run(worker, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert finished.stdout.strip().endswith("imported"), finished.stderr[-2000:]
    store.init_db(path)
    try:
        assert len(rates.load_all()) == 20_001
        assert store.Rate.select().count() == 20_001  # the old deck and every leftover gone
        assert rates.index().match("1001", "9123", 0).rate == 500
    finally:
        store.close_db()
