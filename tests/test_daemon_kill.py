"""kill -9 of the daemon during a load run: after a restart no settled call is lost and
none is charged twice; the CDR follower settles the calls whose hangup AGI died."""

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from billing_addon import accounts, money, rates, settings, store
from billing_addon.store import Call, Ledger
from tests.helpers import wait_for, wait_until
from tests.pbx_support import cdr_rows, logged_port, make_env, replay, write_config

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = [str(n) for n in range(3001, 3011)]
RATE = money.parse_amount("0.01")  # per second


def start_daemon(ini, pid_file):
    return subprocess.Popen([sys.executable, "-m", "tests.daemon_worker", ini, pid_file], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Load:
    """Worker threads playing Asterisk: authorize, (maybe) settle, append the CDR."""

    def __init__(self, master: Path, port: int):
        self.master = master
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.calls = []  # (uniqueid, allowed, answered, placed_at)
        self.no_hangup = set()  # allowed calls whose hangup AGI did not reach a daemon
        self.daemon_down = 0  # authorizations that found no daemon listening
        self.zone = settings.zone()

    def allowed_since(self, since: float) -> int:
        with self.lock:
            return sum(1 for _, ok, _, at in self.calls if ok and at > since)

    def worker(self, w: int) -> None:
        rnd = random.Random(w)
        n = 0
        while not self.stop.is_set() and n < 2000:
            i = w * 10000 + n
            n += 1
            ext = EXTENSIONS[w % len(EXTENSIONS)]
            uniqueid = f"{1795441000 + i}.{i}"
            env = make_env("authorize", uniqueid, [ext, "1234567"], callerid=ext)
            try:
                auth = replay(("127.0.0.1", self.port), env, timeout=10)
            except OSError:  # daemon down: Asterisk fails closed, nothing is dialed
                with self.lock:
                    self.daemon_down += 1
                time.sleep(0.05)
                continue
            if auth.variables.get("BILLING_RESULT") != "ALLOWED":
                with self.lock:
                    self.calls.append((uniqueid, False, 0, time.monotonic()))
                continue
            limit_s = int(auth.variables.get("BILLING_LIMIT_MS", "20000")) // 1000
            answered = rnd.randint(0, min(limit_s, 20))
            settle = make_env("settle", uniqueid, [str(answered), "ANSWER", uniqueid, str(answered)],
                              callerid=ext)
            lost = n % 7 == 0  # every seventh hangup handler is lost anyway
            try:
                if not lost:
                    replay(("127.0.0.1", self.port), settle, timeout=10)
            except OSError:
                lost = True  # the hangup AGI failed: only the CDR will tell
            rows = cdr_rows(uniqueid, ext, "1234567", 1795441000 + i, answered, self.zone,
                            disposition="ANSWERED" if answered else "NO ANSWER")
            with self.lock:
                with open(self.master, "a", encoding="utf-8") as fh:
                    fh.write(rows)
                self.calls.append((uniqueid, True, answered, time.monotonic()))
                if lost:
                    self.no_hangup.add(uniqueid)


def test_kill_9_during_load(tmp_path):
    ini = write_config(tmp_path)
    store.init_db(tmp_path / "data" / "billing.db")
    try:
        settings.put("timezone", "Asia/Shanghai")
        settings.put("warn_seconds", "0")
        settings.put("max_call_seconds", "60")
        for number in EXTENSIONS:
            accounts.ensure_extension(number, f"Ext {number}")
        accounts.edit(EXTENSIONS, billing_enabled=True)
        accounts.recharge(EXTENSIONS, money.parse_amount("1000"), "test")
        rates.add(rates.validate({"prefix": "1", "rate": "0.01", "unit": "1", "all_extensions": True}))
        run_and_check(tmp_path, ini)
    finally:
        store.close_db()


def run_and_check(tmp_path, ini):
    log = tmp_path / "log" / "daemon.log"
    pid_file = str(tmp_path / "run" / "daemon.pid")
    proc = start_daemon(ini, pid_file)
    second = load = None
    try:
        load = Load(tmp_path / "cdr" / "Master.csv", logged_port(log, "agi"))
        threads = [threading.Thread(target=load.worker, args=(w,)) for w in range(10)]
        for t in threads:
            t.start()
        wait_until(lambda: load.allowed_since(0) >= 20 and len(load.no_hangup) >= 3, 60,
                   "calls through the first daemon")
        down_before = load.daemon_down
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        killed_at = time.monotonic()
        wait_until(lambda: load.daemon_down > down_before, 60, "a call to find the daemon gone")
        size = log.stat().st_size
        second = start_daemon(ini, pid_file)  # the stale pid file does not stop it
        load.port = logged_port(log, "agi", after=size)
        restarted_at, lost_before = time.monotonic(), len(load.no_hangup)
        wait_until(lambda: load.allowed_since(restarted_at) >= 20
                   and len(load.no_hangup) >= max(10, lost_before + 3), 60,
                   "calls through the restarted daemon")
        load.stop.set()
        for t in threads:
            t.join(60)
        allowed = {uid: answered for uid, ok, answered, _ in load.calls if ok}
        # calls cut by the kill before BILLING_RESULT arrived were never dialed
        refused = [uid for uid, ok, _, _ in load.calls if not ok]
        assert len(allowed) > 30
        assert any(at > killed_at for _, ok, _, at in load.calls if ok)  # load went on after
        assert len(load.no_hangup) >= 10 and load.no_hangup <= allowed.keys()

        def settled():
            return Call.select().where(Call.uniqueid.in_(list(allowed))
                                       & (Call.status == "charged")).count() == len(allowed)

        wait_for(settled, timeout=60)  # the checks below tell which call is wrong
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        if load is not None:
            load.stop.set()
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    for uid, answered in allowed.items():
        call = Call.get(Call.uniqueid == uid)
        assert (call.status, call.answered_s, call.cost) == ("charged", answered, answered * RATE), uid
        entries = Ledger.select().where(Ledger.call == call).count()
        assert entries == (1 if answered else 0), uid
    for uid in refused:
        call = Call.get_or_none(Call.uniqueid == uid)
        assert call is None or Ledger.select().where(Ledger.call == call).count() == 0
    # the calls whose hangup AGI never came (before and after the kill) are among those
    # checked above: the CDR settled them
    charged = Ledger.select().where(Ledger.kind == "call").count()
    assert charged == sum(1 for a in allowed.values() if a)
    assert accounts.verify() == []
