"""Re-rating on the command line (``billing_addon.rerate``):

    billing-addon rerate --from YYYY-MM-DD --to YYYY-MM-DD [--extension N ...]
                         [--department NAME] [--apply]
    billing-addon rerate apply RUN
    billing-addon rerate list
    billing-addon rerate show RUN [--page N]

A preview saves a run and prints its summary; ``--apply`` applies that run at once,
``rerate apply RUN`` a run saved earlier (again: it changes nothing more)."""

from __future__ import annotations

from . import money, rerate, settings
from .errors import Refusal


def _open(args) -> None:
    from .cli import open_store

    open_store(args)


def _summary(run: rerate.Run) -> None:
    cur = settings.get("currency")

    def fmt(units: int) -> str:
        return money.format_amount(units, cur)

    print(f"re-rating run #{run.id} ({run.state}): {rerate.describe(run)}")
    print(f"calls whose cost changes: {run.changed}  old cost {fmt(run.old_total)}  "
          f"new cost {fmt(run.new_total)}  difference {fmt(run.difference)}")
    if run.uncovered:
        print(f"calls no rate covers now (not changed): {run.uncovered}")
    if run.state == "applied":
        print(f"applied: {run.applied} call(s) adjusted, {run.skipped} skipped "
              "(changed since the preview)")


def _apply(run_id: int, operator: str) -> int:
    done = rerate.apply(run_id, operator)
    _summary(done.run)
    if not done.transactions:
        print("nothing more to apply")
    else:
        refund = money.format_amount(done.amount, settings.get("currency"))
        print(f"this time: {done.applied} adjusted ({refund} "
              f"back to the payers), {done.skipped} skipped, {done.transactions} transaction(s), "
              f"longest {done.longest_txn_s * 1000:.1f} ms")
    return 0


def cmd_rerate(args) -> int:
    if args.action is None and args.run is not None:
        raise Refusal(f"unknown re-rating action {args.run!r}: apply, list or show")
    if args.action in ("apply", "show") and args.run is None:
        raise Refusal(f"rerate {args.action} needs a run number")
    if args.action is None and not (args.from_ and args.to):
        raise Refusal("rerate needs --from and --to (YYYY-MM-DD), or apply/list/show")
    _open(args)
    if args.action == "list":
        for run in rerate.runs(args.limit):
            print(f"#{run.id}  {settings.local(run.created_utc):%Y-%m-%d %H:%M}  {run.state:<8}  "
                  f"{run.changed} call(s)  {rerate.describe(run)}")
        return 0
    if args.action == "show":
        run = rerate.get_run(rerate.parse_run(args.run))
        _summary(run)
        cur = settings.get("currency")
        for item in rerate.items(run.id, page=args.page):
            print(f"  {settings.local(item.started_utc):%Y-%m-%d %H:%M}  {item.number:<8} "
                  f"{item.dialed:<18} {item.answered_s or 0:>6}s  "
                  f"{money.format_amount(item.old_cost, cur):>10} -> "
                  f"{money.format_amount(item.new_cost or 0, cur):>10}  {item.state} {item.note}")
        return 0
    if args.action == "apply":
        return _apply(rerate.parse_run(args.run), args.operator)
    run = rerate.preview(args.from_, args.to, args.extension or (), args.department or "",
                         operator=args.operator)
    _summary(run)
    if args.apply:
        return _apply(run.id, args.operator)
    print(f"nothing charged yet: `billing-addon rerate apply {run.id}` applies it")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("rerate", help="re-rate a period under today's rates (preview, apply)")
    p.add_argument("action", nargs="?", choices=("apply", "list", "show"),
                   help="apply RUN, list the runs, show RUN; none: preview a period")
    p.add_argument("run", nargs="?", help="a run number (apply, show)")
    p.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help="first local day")
    p.add_argument("--to", metavar="YYYY-MM-DD", help="last local day")
    p.add_argument("--extension", action="append", metavar="N",
                   help="only this extension or account (repeat for more)")
    p.add_argument("--department", metavar="NAME", help="only this department's members")
    p.add_argument("--apply", action="store_true", help="apply the preview at once")
    p.add_argument("--operator", default="cli")
    p.add_argument("--page", type=int, default=1, help="show: the page of calls (50 a page)")
    p.add_argument("--limit", type=int, default=50, help="list: how many runs")
    p.set_defaults(func=cmd_rerate)
