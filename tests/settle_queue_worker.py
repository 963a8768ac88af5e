"""Child process for the queue's crash test: ``python -m tests.settle_queue_worker DB QUEUE
PAUSE`` delivers the queue file to the store like the daemon's thread, printing "charged
UID" for each settlement the store committed and "done" at the end.  With PAUSE > 0, at
the PAUSE-th batch it prints "paused" and waits between the store's commit and the
queue's delete: the window a crash must survive, where the test kills it."""

import sys
import time

from billing_addon import settle_queue, store

database, queue_file, pause = sys.argv[1], sys.argv[2], int(sys.argv[3])
store.init_db(database)
queue = settle_queue.SettleQueue(queue_file)
batches = 0
forget = queue.done


def done(entries):
    global batches
    batches += 1
    for entry in entries:
        print(f"charged {entry.request.uniqueid}", flush=True)
    if batches == pause:
        print("paused", flush=True)
        time.sleep(60)
    forget(entries)


queue.done = done  # type: ignore[method-assign]
settle_queue.deliver(queue)
print("done", flush=True)
