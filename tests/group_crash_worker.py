"""Child process for the group-commit crash test: many threads authorize and settle
calls at once (their settlements commit in groups) and print each settlement after
``calls.settle`` returned it, until the process is killed.  ``grouped N`` lines tell
the largest group committed so far.  With ``taken`` as third argument, one thread
authorizes 32 calls at a time and settles them as a FastAGI worker settles those it
found queued together (``handlers._settle_many_now``: one transaction for them all)."""

import sys
import threading

from billing_addon import calls, store

EXTENSIONS = ["1001", "1002", "1003", "1004"]
THREADS = 16


def answered_of(index: int) -> int:
    return 1 + index % 37


def taken_together(start: int) -> None:
    from billing_addon.pbx import handlers

    def state() -> str:
        return "active"

    largest = 1
    for first in range(start, start + 10_000_000, 32):
        batch = []
        for index in range(first, first + 32):
            uid = f"g-{index}"
            if calls.authorize(EXTENSIONS[index % 4], "912345", 1795441378, uid).result \
                    == calls.ALLOWED:
                batch.append((uid, answered_of(index), "ANSWER", None, None, state))
        for result, error in handlers._settle_many_now(batch):
            assert error is None and result.outcome == "charged", (result, error)
            print(f"settled {result.uniqueid}", flush=True)
        if store.money_group.largest > largest:
            largest = store.money_group.largest
            print(f"grouped {largest}", flush=True)


def main() -> None:
    path, start = sys.argv[1], int(sys.argv[2])
    store.init_db(path)
    if sys.argv[3:] == ["taken"]:
        taken_together(start)
        return
    out = threading.Lock()
    largest = [1]

    def caller(t: int) -> None:
        for n in range(100000):
            index = start + t * 100000 + n
            uid = f"g-{index}"
            auth = calls.authorize(EXTENSIONS[index % 4], "912345", 1795441378 + n, uid)
            if auth.result != calls.ALLOWED:
                continue
            result = calls.settle(uid, answered_of(index), "ANSWER")
            with out:
                print(f"settled {result.uniqueid}", flush=True)
                if store.money_group.largest > largest[0]:
                    largest[0] = store.money_group.largest
                    print(f"grouped {largest[0]}", flush=True)

    threads = [threading.Thread(target=caller, args=(t,), daemon=True) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
