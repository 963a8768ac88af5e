"""Low balance (issue #14): what the threshold check adds to an authorize.

Authorize (then release, so every call sees the same balance) on a SQLite file with the
low-balance threshold off, and on with the caller below it (BILLING_LOW=1 in the
answer): median and p99 per authorize, and the difference of the medians.  Mail is
never on this path (the daemon's mail thread sends it), so nothing of it is measured."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from billing_addon import accounts, calls, money, rates, settings, store

from .results_file import figure, record, sized

T0 = 1795441378


def _times(n: int, prefix: str) -> list:
    out = []
    for i in range(n):
        began = time.perf_counter()
        auth = calls.authorize("1001", "912345678", T0, f"{prefix}{i}")
        out.append(time.perf_counter() - began)
        calls.release(auth.uniqueid)
    return out


def _summary(times: list) -> dict:
    ordered = sorted(times)
    return {"median_us": round(statistics.median(ordered) * 1e6, 1),
            "p99_us": round(ordered[int(len(ordered) * 0.99)] * 1e6, 1)}


def bench(n: int = sized(2000, 100)) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        store.init_db(Path(folder) / "billing.db")
        try:
            accounts.ensure_extension("1001")
            accounts.edit(["1001"], billing_enabled=True)
            accounts.recharge(["1001"], money.parse_amount("3"), "bench")
            rates.add(rates.validate({"prefix": "9", "length": "0", "rate": "0.05",
                                      "unit": "60", "all_extensions": True}))
            _times(sized(200, 10), "warm")
            off, on = [], []
            for round_ in range(10):  # interleaved: the growing call table hits both alike
                settings.put("low_balance_threshold", "")
                off += _times(n // 10, f"off{round_}-")
                settings.put("low_balance_threshold", "5")
                on += _times(n // 10, f"on{round_}-")
            assert calls.authorize("1001", "912345678", T0, "check").low
        finally:
            store.close_db()
    # the raw limit of each figure: the same authorizes with the threshold off
    raw, low = _summary(off), _summary(on)
    return {"threshold_off": raw, "calls": n,
            "threshold_on_low": {name: figure(low[name], "us", raw_limit=raw[name]) for name in low},
            "added_median_us": round(low["median_us"] - raw["median_us"], 1)}


def main() -> None:
    record("low_balance", bench())


if __name__ == "__main__":
    main()
