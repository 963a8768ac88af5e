"""PIN accounts on the command line: ``billing-addon account add|list|set-pin|delete|ask-pin``.

The PIN is never an argument (it would show in the process list and the shell's
history): it is read from the terminal, or one line of standard input."""

from __future__ import annotations

import getpass
import sys

from . import accounts, money, pin_accounts, reports, settings


def _open(args) -> None:
    from .cli import open_store

    open_store(args)


def _read_pin(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def cmd_add(args) -> int:
    _open(args)
    credit = money.parse_amount(args.credit, currency=settings.get("currency")) if args.credit else 0
    pin = _read_pin("PIN: ")
    pin_accounts.create(args.number, pin, name=args.name, credit=credit,
                        payment_type="postpaid" if args.postpaid else "prepaid",
                        all_sites=args.all_sites)
    print(f"account {args.number} created")
    return 0


def cmd_set_pin(args) -> int:
    _open(args)
    pin_accounts.set_pin(args.number, _read_pin("new PIN: "))
    print(f"account {args.number}: PIN changed")
    return 0


def cmd_list(args) -> int:
    _open(args)
    currency = settings.get("currency")
    page = 1
    while True:
        found = reports.extensions_page(number=args.search, page=page, kind="account")
        for a in found.rows:
            print(f"{a.number:<12} {a.name:<30} {a.payment_type:<9} {a.status:<9} "
                  f"{money.format_amount(a.balance, currency):>14}")
        if not found.has_next:
            return 0
        page += 1


def cmd_delete(args) -> int:
    _open(args)
    pin_accounts.delete(args.number)
    print(f"account {args.number} deleted")
    return 0


def cmd_ask_pin(args) -> int:
    _open(args)
    count = accounts.edit(args.extensions, account_billing=not args.off)
    print(f"{count} extension(s): account billing {'off' if args.off else 'on'}")
    return 0


def add_commands(sub) -> None:
    acc = sub.add_parser("account", help="PIN accounts (calling-card billing)").add_subparsers(
        dest="account_command", metavar="ACTION")
    acc.required = True
    p = acc.add_parser("add", help="a new account; its PIN is read from the terminal or stdin")
    p.add_argument("number")
    p.add_argument("--name", default="")
    p.add_argument("--postpaid", action="store_true")
    p.add_argument("--credit")
    p.add_argument("--all-sites", action="store_true",
                   help="usable at every site of a shared store (docs/scale.md); else this site's")
    p.set_defaults(func=cmd_add)
    p = acc.add_parser("set-pin", help="give an account a new PIN (terminal or stdin)")
    p.add_argument("number")
    p.set_defaults(func=cmd_set_pin)
    p = acc.add_parser("list", help="accounts and their balances")
    p.add_argument("--search", default="", help="part of a number or name")
    p.set_defaults(func=cmd_list)
    p = acc.add_parser("delete", help="delete an account without calls or recharges")
    p.add_argument("number")
    p.set_defaults(func=cmd_delete)
    p = acc.add_parser("ask-pin", help="extensions whose calls ask for an account and PIN")
    p.add_argument("extensions", nargs="+")
    p.add_argument("--off", action="store_true", help="switch account billing off again")
    p.set_defaults(func=cmd_ask_pin)
