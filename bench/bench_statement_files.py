"""Statement files benchmark: a statement of 10,000 calls as PDF and as .xlsx.

Each format runs in a fresh process: the snapshot is built first, then the file is made
three times (median and slowest time), and the peak RSS growth over those runs is
measured (ru_maxrss after minus before), and, in a fourth run, the peak of Python
allocations (tracemalloc).  Targets: under 1 s and under 30 MB each.

``python -m bench.run_all bench_statement_files``; figures go to bench/results.json
under "statement_files"."""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc

from .memory import RssPeak
from .results_file import figure, record, sized

CALLS = sized(10_000, 200)
START = 1704067200  # 2024-01-01 00:00 UTC
TARGET_S = 1.0
TARGET_MB = 30.0
RUNS = sized(3, 1)


def snapshot(calls: int = CALLS) -> dict:
    """A consistent statement of ``calls`` calls over about a month."""
    rnd = random.Random(7)
    rows = [{"started_utc": START + i * 250, "dialed": f"0049{rnd.randint(10**9, 10**10 - 1)}",
             "answered_s": rnd.randint(0, 1800), "cost": rnd.randint(0, 200_000),
             "status": "charged"} for i in range(calls)]
    entries = [{"at_utc": START + i * 86400, "kind": "recharge", "amount": 50_000_000,
                "note": f"cash, receipt {i}"} for i in range(40)]
    call_cost = sum(r["cost"] for r in rows)
    recharges = sum(e["amount"] for e in entries)
    return {"number": "S-000123", "issued_utc": START + calls * 250, "zone": "Europe/Berlin",
            "zone_label": "Berlin", "currency": "EUR",
            "hotel": {"name": "Hotel Bench", "address": "Street 1\n10115 Berlin"},
            "extension": {"number": "101", "name": "Room 101"}, "guest": "Bench Guest",
            "period": {"from_utc": START, "to_utc": START + calls * 250},
            "opening_balance": 0, "closing_balance": recharges - call_cost,
            "calls": rows, "entries": entries,
            "totals": {"calls": calls, "call_cost": call_cost, "recharges": recharges,
                       "adjustments": 0, "payments": 0},
            "in_progress": 0}


def child(kind: str) -> None:
    from billing_addon import statement_files

    make = statement_files.to_pdf if kind == "pdf" else statement_files.to_xlsx
    snap = snapshot()
    times = []
    size = 0
    # the resident size sampled while the files are made (the process's lifetime
    # maximum would hide it behind the snapshot's own build)
    with RssPeak() as memory:
        for _ in range(RUNS):
            t0 = time.perf_counter()
            size = len(make(snap))
            times.append(time.perf_counter() - t0)
    rss_growth = memory.growth_mb
    tracemalloc.start()
    make(snap)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(json.dumps({"calls": CALLS, "bytes": size,
                      "median_s": round(statistics.median(times), 3),
                      "slowest_s": round(max(times), 3),
                      "raw_csv_s": round(statistics.median(_csv_times(snap)), 4),
                      "peak_rss_growth_mb": round(rss_growth, 1),
                      "tracemalloc_peak_mb": round(peak, 1)}))


def _csv_times(snap: dict) -> list:
    """The raw limit of a statement file: the same call rows written as CSV text."""
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        out = io.StringIO()
        writer = csv.writer(out)
        for row in snap["calls"]:
            writer.writerow((row["started_utc"], row["dialed"], row["answered_s"], row["cost"]))
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    figures = {}
    for kind in ("pdf", "xlsx"):
        out = subprocess.run([sys.executable, "-m", "bench.bench_statement_files", kind],
                             check=True, capture_output=True, text=True, timeout=600)
        f = json.loads(out.stdout.strip().splitlines()[-1])
        f["median_s"] = figure(f["median_s"], "s", raw_limit=f.pop("raw_csv_s"), target=TARGET_S)
        f["peak_mb"] = figure(max(f["peak_rss_growth_mb"], f["tracemalloc_peak_mb"]), "MB",
                              target=TARGET_MB)
        figures[kind] = f
    record("statement_files", figures)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        main()
