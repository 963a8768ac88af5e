"""API tokens on the command line: ``billing-addon api-token create|list|revoke``
(docs/api.md).  ``create`` prints the secret once, on its own line, for a script to
read; the box keeps only its hash."""

from __future__ import annotations

import datetime as dt
from typing import Optional

from . import api_tokens


def _open(args) -> None:
    from .cli import open_store

    open_store(args)


def _when(ts: Optional[int]) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def cmd_create(args) -> int:
    _open(args)
    token, secret = api_tokens.create(args.name, args.role, args.department or [],
                                      created_by=args.operator)
    print(f"token {token.id} ({token.name}, {token.role}) created; its secret, shown only now:")
    print(secret)
    return 0


def cmd_list(args) -> int:
    _open(args)
    for t in api_tokens.listed():
        state = f"revoked {_when(t.revoked_utc)}" if t.revoked_utc else "active"
        depts = ",".join(str(d) for d in t.departments) or "-"
        print(f"{t.id:>4}  {t.name:<30} {t.role:<8} departments {depts:<10} created "
              f"{_when(t.created_utc)}  last used {_when(t.last_used_utc)}  {state}")
    return 0


def cmd_revoke(args) -> int:
    _open(args)
    token = api_tokens.revoke(args.id)
    print(f"token {token.id} ({token.name}) revoked")
    return 0


def add_commands(sub) -> None:
    tokens = sub.add_parser("api-token", help="tokens of the JSON API (docs/api.md)")
    actions = tokens.add_subparsers(dest="token_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("create", help="make a token and print its secret once")
    p.add_argument("name", help="what uses it (a PMS, a kiosk)")
    p.add_argument("--role", choices=api_tokens.ROLES, default=api_tokens.BILLING)
    p.add_argument("--department", action="append", metavar="ID",
                   help="a manager's department id (repeat for several)")
    p.add_argument("--operator", default="cli")
    p.set_defaults(func=cmd_create)
    actions.add_parser("list", help="every token, revoked ones too").set_defaults(func=cmd_list)
    p = actions.add_parser("revoke", help="refuse a token from now on")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_revoke)
