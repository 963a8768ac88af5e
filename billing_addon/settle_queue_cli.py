"""``billing-addon settle-queue [--retry N]``: the settlements waiting on this box for the
central store, and those set aside (refused), with why (docs/scale-failures.md)."""

from __future__ import annotations

import datetime as dt

from . import config, settle_queue
from .errors import Refusal


def _utc(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def cmd_settle_queue(args) -> int:
    from .cli import database_path

    path = settle_queue.path_for(database_path(config.load(args.config)))
    if not path.is_file():
        print(f"0 settlement(s) waiting for the central store (no queue file {path})")
        if args.retry is not None:
            raise Refusal(f"no set-aside settlement #{args.retry}")
        return 0
    queue = settle_queue.SettleQueue(path)
    try:
        if args.retry is not None:
            if not queue.retry(args.retry):
                raise Refusal(f"no set-aside settlement #{args.retry} (see billing-addon settle-queue)")
            print(f"settlement #{args.retry} put back in line: the daemon delivers it")
        oldest = queue.oldest(1)
        since = f" (the oldest queued for the call that ended {_utc(oldest[0].at)})" if oldest else ""
        print(f"{queue.count()} settlement(s) waiting for the central store{since}")
        for aside in queue.set_aside_list():
            print(f"set aside #{aside.seq} call {aside.uniqueid} ended {_utc(aside.at)}: "
                  f"{aside.reason}")
    finally:
        queue.close()
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("settle-queue", help="settlements waiting for the central store, and "
                       "those it refused")
    p.add_argument("--retry", type=int, metavar="N", help="put set-aside settlement N back in line")
    p.set_defaults(func=cmd_settle_queue)
