"""PIN accounts (issue #15 item 1): what authorizing an account's call (account number
and PIN given, the round trip after the digits) costs beside an extension's own call,
with 10,000 accounts on the box.

Authorize (then release, so every call sees the same balance) on a SQLite file:
an extension without account billing (today's call: the raw limit) and a phone with
account billing naming a random account and its PIN; rounds interleaved.  Median and
p99 per authorize; the target: an account call within 2 ms of an extension call.  The
first answer of an account call (``account-needed``, before the digits) is timed too."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from billing_addon import accounts, calls, money, pins, rates, store

from .results_file import figure, record, sized

T0 = 1795441378
ACCOUNTS = sized(10_000, 200)


def _summary(times: list) -> dict:
    ordered = sorted(times)
    return {"median_us": round(statistics.median(ordered) * 1e6, 1),
            "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1)}


def _make_accounts(count: int) -> dict:
    """``count`` accounts with 10 each, written in one transaction (the bench's setup,
    not the path measured): number -> PIN."""
    rnd = random.Random(15)
    pins_of = {}
    used = set()
    with store.money_txn():
        for n in range(count):
            number = str(500_000 + n)
            pin = f"{rnd.randrange(10**6):06d}"
            while pin in used:
                pin = f"{rnd.randrange(10**6):06d}"
            used.add(pin)
            pins_of[number] = pin
            store.sql("INSERT INTO extension (number, name, kind, billing_enabled, pin_hash, "
                      "created_utc, updated_utc) VALUES (?, '', 'account', 1, ?, ?, ?)",
                      (number, pins.pin_hash(pin), T0, T0))
            ext_id = store.sql_one("SELECT last_insert_rowid()")[0]
            accounts.append_entry(ext_id, "recharge", money.parse_amount("10"), at=T0)
    return pins_of


def _times(n: int, prefix: str, caller: str, pins_of: dict, rnd: random.Random,
           with_account: bool) -> list:
    numbers = list(pins_of)
    out = []
    for i in range(n):
        account = rnd.choice(numbers) if with_account else None
        pin = pins_of[account] if account else ""
        began = time.perf_counter()
        auth = calls.authorize(caller, "912345678", T0, f"{prefix}{i}", account=account, pin=pin)
        out.append(time.perf_counter() - began)
        assert auth.result == calls.ALLOWED, auth
        calls.release(auth.uniqueid)
    return out


def bench(n: int = sized(2000, 100)) -> dict:
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(Path(folder) / "billing.db")
        try:
            pins_of = _make_accounts(ACCOUNTS)
            for number in ("1001", "1002"):
                accounts.ensure_extension(number)
            accounts.edit(["1001", "1002"], billing_enabled=True)
            accounts.recharge(["1001"], money.parse_amount("10"), "bench")
            accounts.edit(["1002"], account_billing=True)
            rates.add(rates.validate({"prefix": "9", "length": "0", "rate": "0.05",
                                      "unit": "60", "all_extensions": True}))
            _times(sized(200, 10), "warm-e", "1001", pins_of, rnd, False)
            _times(sized(200, 10), "warm-a", "1002", pins_of, rnd, True)
            own, account, first = [], [], []
            for round_ in range(10):  # interleaved: the growing call table hits both alike
                own += _times(n // 10, f"e{round_}-", "1001", pins_of, rnd, False)
                account += _times(n // 10, f"a{round_}-", "1002", pins_of, rnd, True)
                for i in range(n // 10):
                    began = time.perf_counter()
                    calls.authorize("1002", "912345678", T0, f"f{round_}-{i}")
                    first.append(time.perf_counter() - began)
        finally:
            store.close_db()
    raw, pin, needed = _summary(own), _summary(account), _summary(first)
    added_ms = round((pin["median_us"] - raw["median_us"]) / 1000, 3)
    added_p99_ms = round((pin["p99_us"] - raw["p99_us"]) / 1000, 3)
    return {"accounts": ACCOUNTS, "calls": n, "extension_call": raw,
            "account_call": {name: figure(pin[name], "us", raw_limit=raw[name]) for name in pin},
            "account_needed_answer": needed,
            "added_median_ms": figure(added_ms, "ms", target=2.0),
            "added_p99_ms": figure(added_p99_ms, "ms", target=2.0)}


def main() -> None:
    record("pin_accounts", bench())


if __name__ == "__main__":
    main()
