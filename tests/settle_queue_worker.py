"""Child process for the queue's crash test: ``python -m tests.settle_queue_worker DB QUEUE
PAUSE`` delivers the queue file to the store like the daemon's thread, printing "charged
UID" once the store committed a settlement and "done" at the end.  With PAUSE > 0, after
that many settlements it prints "paused" and waits there, committed in the store and still
in the queue: the window a crash must survive, where the test kills it."""

import sys
import time

from billing_addon import calls, settle_queue, store

database, queue_file, pause = sys.argv[1], sys.argv[2], int(sys.argv[3])
store.init_db(database)
queue = settle_queue.SettleQueue(queue_file)
charged = 0


def settle(uniqueid, *args, **kw):
    global charged
    result = calls.settle(uniqueid, *args, **kw)
    charged += 1
    print(f"charged {uniqueid}", flush=True)
    if charged == pause:
        print("paused", flush=True)
        time.sleep(60)
    return result


settle_queue.deliver(queue, settle)
print("done", flush=True)
