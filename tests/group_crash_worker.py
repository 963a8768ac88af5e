"""Child process for the group-commit crash test: many threads authorize and settle
calls at once (their settlements commit in groups) and print each settlement after
``calls.settle`` returned it, until the process is killed.  ``grouped N`` lines tell
the largest group committed so far."""

import sys
import threading

from billing_addon import calls, store

EXTENSIONS = ["1001", "1002", "1003", "1004"]
THREADS = 16


def answered_of(index: int) -> int:
    return 1 + index % 37


def main() -> None:
    path, start = sys.argv[1], int(sys.argv[2])
    store.init_db(path)
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
