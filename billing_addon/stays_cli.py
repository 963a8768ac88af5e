"""Stays and statements on the command line: ``billing-addon stay check-in|check-out|list``
and ``billing-addon statement show|list|issue``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict, List
from zoneinfo import ZoneInfo

from . import money, settings, statements, stays


def _open(args) -> None:
    from .cli import open_store

    open_store(args)


def _amount(text, **kw) -> int:
    return money.parse_amount(text, currency=settings.get("currency"), **kw)


def statement_lines(snap: Dict[str, Any]) -> List[str]:
    """The statement as plain text, times in the zone it was issued in."""
    zone = ZoneInfo(snap["zone"])
    cur = snap["currency"]

    def when(ts: int) -> str:
        return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")

    def fmt(units: int) -> str:
        return money.format_amount(units, cur)

    period = snap["period"]
    lines = [f"Statement {snap['number']}  issued {when(snap['issued_utc'])} ({snap['zone_label']})"]
    lines += [x for x in (snap["hotel"]["name"], snap["hotel"]["address"]) if x]
    lines += [f"Extension {snap['extension']['number']}  guest {snap['guest'] or '-'}",
              f"Period {when(period['from_utc'])} to {when(period['to_utc'])}",
              f"Opening balance {fmt(snap['opening_balance'])}"]
    if snap["in_progress"]:
        lines.append(f"NOTE: {snap['in_progress']} call(s) were in progress and are not on it")
    for c in snap["calls"]:
        lines.append(f"  call {when(c['started_utc'])}  {c['dialed']:<20} {c['answered_s']:>6}s "
                     f"{fmt(c['cost']):>12}  {c['status']}")
    for e in snap["entries"]:
        lines.append(f"  {e['kind']:<10} {when(e['at_utc'])}  {fmt(e['amount']):>12}  {e['note']}")
    t = snap["totals"]
    lines += [f"Calls {t['calls']}  cost {fmt(t['call_cost'])}",
              f"Recharges {fmt(t['recharges'])}  adjustments {fmt(t['adjustments'])}  "
              f"payments {fmt(t['payments'])}",
              f"Closing balance {fmt(snap['closing_balance'])}"]
    return lines


def cmd_check_in(args) -> int:
    _open(args)
    stay = stays.check_in(args.number, args.guest,
                          deposit=_amount(args.deposit) if args.deposit else 0,
                          credit=_amount(args.credit) if args.credit is not None else None,
                          operator=args.operator)
    print(f"extension {stay.number} checked in for {stay.guest}")
    return 0


def cmd_check_out(args) -> int:
    _open(args)
    payment = _amount(args.payment) if args.payment else 0
    snap = stays.check_out(args.number, payment=payment, operator=args.operator,
                           close_unknown=args.close_unknown)
    print("\n".join(statement_lines(snap)))
    return 0


def cmd_stay_list(args) -> int:
    _open(args)
    for s in stays.listing(open_only=args.open):
        state = "open" if s.checkout_utc is None else f"closed {s.statement}"
        print(f"{s.number:<8} {s.guest:<30} {settings.local(s.checkin_utc):%Y-%m-%d %H:%M}  {state}")
    return 0


def cmd_statement_show(args) -> int:
    _open(args)
    print("\n".join(statement_lines(statements.load(args.number))))
    return 0


def cmd_statement_list(args) -> int:
    _open(args)
    for number, issued, ext, from_utc, to_utc in statements.listing(limit=args.limit):
        print(f"{number}  {settings.local(issued):%Y-%m-%d %H:%M}  extension {ext}  "
              f"{settings.local(from_utc):%Y-%m-%d %H:%M} - {settings.local(to_utc):%Y-%m-%d %H:%M}")
    return 0


def cmd_statement_issue(args) -> int:
    from .cli import parse_when

    _open(args)
    snap = statements.issue_period(args.number, parse_when(args.from_), parse_when(args.to))
    print("\n".join(statement_lines(snap)))
    return 0


def add_commands(sub) -> None:
    stay = sub.add_parser("stay", help="check guests in and out").add_subparsers(
        dest="stay_command", metavar="ACTION")
    stay.required = True
    p = stay.add_parser("check-in", help="name the extension after the guest and unlock it")
    p.add_argument("number")
    p.add_argument("--guest", required=True)
    p.add_argument("--deposit", help="recharged at check-in")
    p.add_argument("--credit")
    p.add_argument("--operator", default="cli")
    p.set_defaults(func=cmd_check_in)
    p = stay.add_parser("check-out", help="issue the stay's statement and lock the extension")
    p.add_argument("number")
    p.add_argument("--payment", help="taken at the desk, at most what is owed")
    p.add_argument("--close-unknown", action="store_true",
                   help="close the stay's released calls that have no known cost yet as not "
                        "charged (else check-out waits for them)")
    p.add_argument("--operator", default="cli")
    p.set_defaults(func=cmd_check_out)
    p = stay.add_parser("list", help="stays, open ones first")
    p.add_argument("--open", action="store_true", help="only the guests checked in")
    p.set_defaults(func=cmd_stay_list)

    st = sub.add_parser("statement", help="issued statements").add_subparsers(
        dest="statement_command", metavar="ACTION")
    st.required = True
    p = st.add_parser("show", help="a statement as it was issued")
    p.add_argument("number", help="S-000123")
    p.set_defaults(func=cmd_statement_show)
    p = st.add_parser("list", help="statements, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_statement_list)
    p = st.add_parser("issue", help="a statement of any period (YYYY-MM-DD HH:MM, box's zone)")
    p.add_argument("number")
    p.add_argument("--from", dest="from_", required=True)
    p.add_argument("--to", required=True)
    p.set_defaults(func=cmd_statement_issue)
