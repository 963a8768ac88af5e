"""Child process for the re-rating crash test: applies a saved run in transactions of a
few calls, printing each one committed, until it is done or killed."""

import sys

from billing_addon import rerate, store

path, run_id = sys.argv[1], int(sys.argv[2])
store.init_db(path)
print("applying", flush=True)
rerate.apply(run_id, "crash", batch=7, progress=lambda done: print(f"done {done}", flush=True))
print("applied", flush=True)
