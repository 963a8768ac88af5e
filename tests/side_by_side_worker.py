"""A daemon's call path for tests/test_side_by_side.py: ``THREADS`` threads authorize
and settle calls of one extension on the store ``argv[1]`` as fast as they can, each
call talking up to its limit; prints the calls allowed and denied as JSON."""

import json
import sys
import threading

from billing_addon import calls, store

THREADS = 4
CALLS = 40  # a thread


def main(target: str, tag: str) -> None:
    store.init_db(target, upgrade=False)
    counts = {"allowed": 0, "denied": 0}
    lock = threading.Lock()

    def caller(t: int) -> None:
        for i in range(CALLS):
            uid = f"{tag}-{t}-{i}"
            auth = calls.authorize("2001", "912345", 1795441378 + i, uid)
            with lock:
                counts["allowed" if auth.result == calls.ALLOWED else "denied"] += 1
            if auth.result == calls.ALLOWED:
                calls.settle(uid, auth.limit_ms // 1000, "ANSWER", 1795441378 + i + 60)

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    store.close_db()
    print(json.dumps(counts))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
