"""Child process for the crash tests: moves money in a loop and prints each
acknowledged operation after its commit, until it is killed.  With a third argument,
imports that CDR file instead and prints "imported" at the end; with "rates" and a CSV
file, imports that rate deck (replacing the table), printing each staged chunk."""

import sys

from billing_addon import accounts, calls, rates, store
from billing_addon.pbx import cdr

path, start = sys.argv[1], int(sys.argv[2])
store.init_db(path)
if len(sys.argv) > 4 and sys.argv[3] == "rates":
    with open(sys.argv[4], encoding="utf-8") as deck:
        text = deck.read()
    rates.import_csv(text, replace=True, progress=lambda done, total: print(f"staged {done}", flush=True))
    print("imported", flush=True)
    sys.exit(0)
if len(sys.argv) > 3:
    cdr.import_file(sys.argv[3], settler=cdr.Settler(mark=None))
    print("imported", flush=True)
    sys.exit(0)
i = start
while True:
    uid = f"call-{i}"
    auth = calls.authorize("1001", "912345", 1795441378 + i, uid)
    if auth.result == calls.ALLOWED:
        calls.settle(uid, 1 + i % 200)
        print(f"settled {uid}", flush=True)
    accounts.recharge(["1001", "1002"], 10000 + i, "crash")
    print(f"recharged {i}", flush=True)
    i += 1
