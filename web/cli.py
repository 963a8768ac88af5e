"""Web UI accounts on the command line (``billing-addon admin ...``, ``billing-addon user ...``).

``admin set-password`` is how the installer sets the administrator's password: read from
standard input when it is not a terminal (``echo "$PW" | billing-addon admin
set-password``), else asked twice at a prompt.  There is never a default password.
A refused operation raises auth.AuthError, a billing_addon Refusal: billing-addon prints
its reason and exits with 1, as for every command.
"""

from __future__ import annotations

import getpass
import sys

from . import auth


def _read_password(args) -> str:
    if getattr(args, "stdin", False) or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = getpass.getpass("New password: ")
    second = getpass.getpass("Repeat it: ")
    if first != second:
        raise auth.AuthError("the two passwords differ")
    return first


def _open(args) -> None:
    from billing_addon.cli import open_store

    open_store(args)


def cmd_admin_set_password(args) -> int:
    password = _read_password(args)
    _open(args)
    user = auth.set_admin_password(password, args.username)
    print(f"password of administrator {user.username} set")
    return 0


def cmd_user_add(args) -> int:
    _open(args)
    password = _read_password(args) if args.password_stdin else None
    user, password = auth.create_billing_user(password, role=args.role)
    print(f"billing user {user.username} created")
    if user.role != auth.BILLING:
        print(f"role: {user.role}")
    if not args.password_stdin:
        print(f"password: {password}   (shown once)")
    return 0


def cmd_user_passwd(args) -> int:
    _open(args)
    password = _read_password(args) if args.password_stdin else None
    password = auth.set_password(args.username, password)
    print(f"password of {args.username} changed")
    if not args.password_stdin:
        print(f"password: {password}   (shown once)")
    return 0


def cmd_user_enable(args, enabled: bool) -> int:
    _open(args)
    auth.set_enabled(args.username, enabled)
    print(f"{args.username} {'enabled' if enabled else 'disabled'}")
    return 0


def cmd_user_list(args) -> int:
    _open(args)
    for user in auth.list_users():
        print(f"{user.username}  {'enabled' if user.enabled else 'disabled'}  {user.role}")
    return 0


def add_commands(sub) -> None:
    """Add ``admin`` and ``user`` to billing-addon's sub-commands."""
    admin = sub.add_parser("admin", help="the web UI's administrator account")
    actions = admin.add_subparsers(dest="admin_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("set-password", help="set the administrator password (stdin or prompt)")
    p.add_argument("--username", default="admin", help="administrator user name (default admin)")
    p.add_argument("--stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_admin_set_password)

    user = sub.add_parser("user", help="billing users (bill-xxx) of the web UI")
    actions = user.add_subparsers(dest="user_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("add", help="create a bill-xxx user with a random password")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--role", choices=auth.BILLING_ROLES, default=auth.BILLING,
                   help="billing (full, the default), auditor (read-only) or manager (set the "
                        "departments in the Billing Manager)")
    p.set_defaults(func=cmd_user_add)
    p = actions.add_parser("passwd", help="change a billing user's password")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_user_passwd)
    p = actions.add_parser("disable", help="disable a billing user")
    p.add_argument("username")
    p.set_defaults(func=lambda args: cmd_user_enable(args, False))
    p = actions.add_parser("enable", help="enable a billing user again")
    p.add_argument("username")
    p.set_defaults(func=lambda args: cmd_user_enable(args, True))
    actions.add_parser("list", help="list billing users").set_defaults(func=cmd_user_list)
