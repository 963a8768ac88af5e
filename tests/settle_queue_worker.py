"""Child process for the queue's crash test: ``python -m tests.settle_queue_worker DB QUEUE
SEED`` delivers the queue file to the store like the daemon's thread, printing
"charged UID" once the store committed a settlement (and, now and then, pausing there,
before the queue's delete: the window a crash must survive), and "done" at the end."""

import random
import sys
import time

from billing_addon import calls, settle_queue, store

database, queue_file, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
store.init_db(database)
queue = settle_queue.SettleQueue(queue_file)


def settle(uniqueid, *args, **kw):
    result = calls.settle(uniqueid, *args, **kw)
    print(f"charged {uniqueid}", flush=True)
    if rnd.random() < 0.3:
        time.sleep(0.01)  # committed in the store, still in the queue
    return result


settle_queue.deliver(queue, settle)
print("done", flush=True)
