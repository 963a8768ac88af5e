"""kill -9 of the server while a program recharges through the API with
Idempotency-Keys: the program retries every payment whose answer it did not get, with
the same key, once the box is back.  Every payment is then recharged exactly once (the
kept answer commits with the recharge), and ``verify`` holds."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from billing_addon import accounts, api_tokens, money, store

ROOT = Path(__file__).resolve().parents[1]
PAYMENTS = 300
EXTENSIONS = [str(n) for n in range(2001, 2011)]


def _start(db: Path) -> tuple:
    proc = subprocess.Popen([sys.executable, "-m", "tests.api_kill_worker", str(db)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def _pay(port: int, secret: str, i: int) -> bool:
    """One payment (True: its answer arrived, the box has it)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", f"/api/v1/extensions/{EXTENSIONS[i % 10]}/recharge",
                     json.dumps({"amount": "0.50"}),
                     {"Authorization": f"Bearer {secret}", "Content-Type": "application/json",
                      "Idempotency-Key": f"pay-{i}"})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        assert answer.status == 201, answer.status
        return True
    except (OSError, http.client.HTTPException):
        return False


def test_kill_9_mid_payments_then_retries_recharge_each_payment_once(tmp_path):
    db = tmp_path / "billing.db"
    store.init_db(db)
    for number in EXTENSIONS:
        accounts.ensure_extension(number)
    _token, secret = api_tokens.create("kiosk", "billing")
    store.close_db()
    proc, port = _start(db)
    answered: set = set()
    lock = threading.Lock()

    def payer(start: int) -> None:
        for i in range(start, PAYMENTS, 4):
            if _pay(port, secret, i):
                with lock:
                    answered.add(i)

    threads = [threading.Thread(target=payer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(answered) < PAYMENTS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-run: requests in flight lose their answers
    proc.wait(30)
    for t in threads:
        t.join(60)
    assert PAYMENTS // 3 <= len(answered) < PAYMENTS  # the kill cut the run
    proc, port = _start(db)
    try:
        for i in range(PAYMENTS):  # the program retries every payment it is not sure of
            if i not in answered:
                assert _pay(port, secret, i)
        for i in sorted(answered)[:20]:  # and a retry of a sure one changes nothing
            assert _pay(port, secret, i)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    store.init_db(db)
    try:
        kept = store.sql_one("SELECT count(*) FROM api_idempotency")[0]
        recharges = store.sql_one("SELECT count(*), sum(amount) FROM ledger WHERE kind = 'recharge'")
        assert kept == PAYMENTS
        assert recharges == (PAYMENTS, PAYMENTS * money.parse_amount("0.50"))
        assert accounts.verify() == []
    finally:
        store.close_db()
