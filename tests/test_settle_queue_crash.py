"""kill -9 of a process delivering the settlement queue, at random points (often between
the store's commit and the queue's delete), then a restart: every queued settlement is
charged exactly once and the ledger still explains every balance."""

import random
import subprocess
import sys
import time
from pathlib import Path

from billing_addon import accounts, calls, settings, settle_queue, store
from billing_addon.store import Call, Ledger

from . import pg_store
from .helpers import make_extension, make_rate
from .test_crash import first_lines

ROOT = Path(__file__).resolve().parents[1]
T0 = 1795441378
CALLS = 1000


def worker(path, queue_file, pause):
    return subprocess.Popen([sys.executable, "-m", "tests.settle_queue_worker", str(path),
                             str(queue_file), str(pause)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)


def test_sigkill_while_delivering_then_restart(tmp_path):
    path, queue_file = tmp_path / "billing.db", tmp_path / settle_queue.FILE_NAME
    store.init_db(path)
    make_extension("1001", balance="100000")
    make_rate("9", rate="0.01", unit="1")
    settings.put("max_call_seconds", "60")
    queue = settle_queue.SettleQueue(queue_file)
    answered = {}
    for i in range(CALLS):
        uid = f"{T0 + i}.{i}"
        answered[uid] = i % 50
        if i % 10 == 9:  # the fail mode let it through: authorize never saw it
            request = calls.SettleRequest(uid, i % 50, "ANSWER", "1001", "912345", T0 + i, "agi")
        else:
            assert calls.authorize("1001", "912345", T0 + i, uid).result == calls.ALLOWED
            request = calls.SettleRequest(uid, i % 50, "ANSWER")
        queue.put(request, T0 + i + 60)
        if i % 7 == 0:  # a second hangup AGI of the same call, queued behind it
            queue.put(request._replace(answered_s=999), T0 + i + 61)
    queued = queue.count()
    queue.close()
    store.close_db()

    rnd = random.Random(11)
    charged_lines = []
    for kill_round in range(6):
        pause = rnd.randint(1, 5) if kill_round % 2 == 0 else 0
        child = worker(path, queue_file, pause)
        if pause:  # killed between the store's commit and the queue's delete
            lines = []
            while not lines or lines[-1] != "paused":
                lines.append(child.stdout.readline().strip())
                assert lines[-1], "the worker ended before its pause"
        else:  # killed anywhere
            lines = [line.strip() for line in first_lines(child, 3)]
            time.sleep(rnd.random() * 0.1)
        child.kill()  # SIGKILL
        out = child.stdout.read()  # the rest, with what readline() buffered already
        child.wait(30)
        assert "done" not in out, "the queue emptied before the kill: make it longer"
        charged_lines += lines + out.split("\n")
    child = worker(path, queue_file, 0)  # the restart that finishes the work
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0 and out.rstrip().endswith("done")
    deliveries = sum(1 for line in charged_lines + out.split("\n") if line.startswith("charged"))
    assert deliveries >= queued + 3 * settle_queue.BATCH  # three batches twice: committed, killed

    queue = settle_queue.SettleQueue(queue_file)
    try:
        assert queue.count() == 0 and queue.set_aside_list() == []
    finally:
        queue.close()
    store.init_db(path)
    try:
        if not pg_store.active():
            assert store.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        for uid, seconds in answered.items():
            call = Call.get(Call.uniqueid == uid)
            assert (call.status, call.answered_s, call.cost) == ("charged", seconds, seconds * 100), uid
            assert Ledger.select().where(Ledger.call == call).count() == (1 if seconds else 0), uid
        assert accounts.verify() == []
    finally:
        store.close_db()
