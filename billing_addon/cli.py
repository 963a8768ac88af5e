"""``billing-addon``: the box-side command line.

Exit codes: 0 done, 1 refused (bad input or a check found problems; the message says
why), 2 usage error (argparse).  Licensing commands document their own codes in
docs/licensing.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
from pathlib import Path
from typing import List, Optional, Union

import peewee as pw

from . import __version__, accounts, calls, config, money, rates, rating, settings, sites, store
from .digits import whole_number
from .errors import Refusal

EXIT_OK, EXIT_REFUSED = 0, 1


def database_path(cfg: Optional[config.Config], profile=None) -> Path:
    """The configured database file, else billing.db in the data area of ``profile``
    (default: the configured board)."""
    if cfg is not None and cfg.get("box", "database"):
        return Path(cfg.get("box", "database"))
    if profile is None:
        from hwlicense.board import load_profile

        assert cfg is not None, "a board profile or a configuration"
        profile = load_profile(cfg.get("box", "board"), cfg.get("box", "board_root") or None)
    return Path(profile.area("data")) / "billing.db"


def open_store(args) -> config.Config:
    cfg = config.load(args.config)
    store.init_db(store.url_of(cfg), durability=cfg.get("box", "durability"),
                  box_files=database_path(cfg))
    sites.set_current(cfg.get("store", "site"))
    return cfg


def _amount(text: str, **kw) -> int:
    """An amount typed on the command line, with the configured currency's decimal mark
    (the store must be open)."""
    return money.parse_amount(text, currency=settings.get("currency"), **kw)


def _seconds(text: str) -> int:
    """argparse type: whole seconds, 0 or more, ASCII digits only."""
    if not whole_number(text.strip()):
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number of seconds "
                                         "(digits 0-9, 0 or more)")
    return int(text)


def _print_table(rows: List[list], header: List[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def cmd_init(args) -> int:
    cfg = open_store(args)
    where = store.where(cfg)
    print(f"database ready: {where} (schema version {store.schema_version()})")
    zone = settings.adopt_system_zone()
    if zone:
        print(f"time zone: {zone} (the system's; change it under Settings)")
    return EXIT_OK


def cmd_demo(args) -> int:
    from . import demo

    open_store(args)
    if args.if_empty and store.Extension.select().exists():
        return EXIT_OK
    demo.load_demo_data()
    print("demo data loaded")
    return EXIT_OK


def cmd_ext_list(args) -> int:
    open_store(args)
    cur = settings.get("currency")
    query = (store.Extension.select().where(pw.SQL(sites.number_scope()))  # this site's
             .order_by(store.Extension.number))
    if args.search:
        query = query.where(store.Extension.number.contains(args.search))
    rows = [[e.number, e.name, "yes" if e.billing_enabled else "no", e.payment_type, e.status,
             money.format_amount(e.credit, cur), money.format_amount(e.balance, cur),
             money.format_amount(e.total_recharges, cur)] for e in query]
    _print_table(rows, ["number", "name", "billing", "payment", "status", "credit", "balance",
                        "recharges"])
    return EXIT_OK


def cmd_ext_show(args) -> int:
    open_store(args)
    e = accounts.get_extension(args.number)
    cur = settings.get("currency")
    for label, value in (("number", e.number), ("name", e.name),
                         ("billing enabled", "yes" if e.billing_enabled else "no"),
                         ("payment type", e.payment_type), ("status", e.status),
                         ("credit", money.format_amount(e.credit, cur)),
                         ("balance", money.format_amount(e.balance, cur)),
                         ("reserved", money.format_amount(e.reserved, cur)),
                         ("total recharges", money.format_amount(e.total_recharges, cur))):
        print(f"{label:16} {value}")
    return EXIT_OK


def cmd_ext_add(args) -> int:
    open_store(args)
    ext = accounts.ensure_extension(args.number, args.name or "")
    print(f"extension {ext.number} ready")
    return EXIT_OK


def _on_off(value: Optional[str]) -> Optional[bool]:
    return None if value is None else value == "on"


def _threshold(value: Optional[str]) -> Union[int, str, None]:
    """--low-threshold: an amount, or 'default' (the Settings default again)."""
    if value is None:
        return None
    if value.strip() == accounts.USE_DEFAULT:
        return accounts.USE_DEFAULT
    return _amount(value)


def cmd_ext_edit(args) -> int:
    open_store(args)
    count = accounts.edit(
        args.numbers, billing_enabled=_on_off(args.billing),
        credit=_amount(args.credit) if args.credit is not None else None,
        status=args.status, payment_type=args.payment_type, name=args.name,
        low_threshold=_threshold(args.low_threshold))
    print(f"{count} extension(s) updated")
    return EXIT_OK


def cmd_recharge(args) -> int:
    open_store(args)
    amount = _amount(args.amount, allow_zero=False)
    cur = settings.get("currency")
    for r in accounts.recharge(args.numbers, amount, args.operator):
        print(f"{r.number}: {money.format_amount(r.pre_balance, cur)} + "
              f"{money.format_amount(r.amount, cur)} = {money.format_amount(r.post_balance, cur)}")
    return EXIT_OK


def cmd_adjust(args) -> int:
    open_store(args)
    entry = accounts.adjust(args.number, _amount(args.amount, allow_negative=True),
                            args.reason, args.operator)
    print(f"{args.number}: balance {money.format_amount(entry.balance_after, settings.get('currency'))}")
    return EXIT_OK


def cmd_rates_list(args) -> int:
    open_store(args)
    cur = settings.get("currency")
    never = rates.never_apply()
    rows = [[r.id, "on" if r.active else "off", r.prefix, r.length or "any",
             money.format_amount(r.initial_cost, cur), r.initial_time,
             money.format_amount(r.rate, cur), r.unit,
             f"{rates.format_time_of_day(r.start)}-{rates.format_time_of_day(r.end)}",
             "*" if r.all_extensions else " ".join(sorted(r.extensions)), r.remarks,
             f"never applies (rate {never[r.id]})" if r.id in never else ""]
            for r in rates.load_all()]
    _print_table(rows, ["id", "active", "prefix", "length", "initial", "init s", "rate", "unit",
                        "time", "extensions", "remarks", "note"])
    return EXIT_OK


def cmd_rates_add(args) -> int:
    open_store(args)
    form = {k: v for k, v in vars(args).items()
            if k in rates.CSV_COLUMNS and v is not None}
    form["active"] = not args.inactive
    values = rates.validate(form, currency=settings.get("currency"))
    rate = rates.add(values)
    print(f"rate {rate.id} added")
    for warning in rates.save_warnings(rate.id, values):
        print(f"warning: rate {rate.id}: {warning}", file=sys.stderr)
    return EXIT_OK


def cmd_rates_import(args) -> int:
    open_store(args)
    text = rates.decode_deck(Path(args.file).read_bytes())
    shown = [0]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // total
        if percent >= shown[0] + 10 or done == total:  # a line every 10 %
            shown[0] = percent
            print(f"staged {done}/{total} rows ({percent} %)", file=sys.stderr, flush=True)

    count = rates.import_csv(text, replace=args.replace, progress=progress)
    print(f"{count} rate(s) imported")
    for warning in rates.import_warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def cmd_rates_export(args) -> int:
    open_store(args)
    if args.output in (None, "-"):
        rates.export_csv(sys.stdout)  # type: ignore[arg-type]
    else:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = rates.export_csv(out)  # type: ignore[arg-type]
        print(f"{count} rate(s) written to {args.output}")
    return EXIT_OK


def parse_when(text: Optional[str]) -> int:
    """'YYYY-MM-DD HH:MM' in the box's zone (or now) as a UTC epoch."""
    if not text:
        return store.now_utc()
    try:
        local = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise calls.CallError(f"time {text[:30]!r}: use YYYY-MM-DD HH:MM") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=settings.zone())
    return int(local.timestamp())


def cmd_rate_test(args) -> int:
    open_store(args)
    at = parse_when(args.at)
    local = settings.local(at)
    dialed = calls.clean_dialed(args.dialed)
    rate = rates.index().match(args.extension, dialed, local)
    cur = settings.get("currency")
    if rate is None:
        print(f"no rate matches {args.extension} -> {dialed} at {local:%Y-%m-%d %H:%M} "
              f"(policy: {settings.get('unrated_policy')})")
        return EXIT_REFUSED
    print(f"rate {rate.id} ({rate.remarks or rate.prefix}) matches; "
          f"{args.duration} s cost {money.format_amount(rating.cost(rate, args.duration), cur)}")
    return EXIT_OK


def cmd_authorize(args) -> int:
    open_store(args)
    auth = calls.authorize(args.extension, args.dialed, parse_when(args.at), args.uniqueid)
    print(f"{auth.result} {auth.reason or '-'} limit_ms={auth.limit_ms} uniqueid={auth.uniqueid}")
    return EXIT_OK if auth.result != calls.DENIED else EXIT_REFUSED


def cmd_settle(args) -> int:
    open_store(args)
    result = calls.settle(args.uniqueid, args.seconds)
    if result.status == "unrated":  # no rate matched: nothing was charged, not "$0.00"
        print(f"{result.outcome} unrated: no rate matched, nothing charged "
              f"(policy: {settings.get('unrated_policy')})")
    else:
        print(f"{result.outcome} cost={money.format_amount(result.cost, settings.get('currency'))}")
    return EXIT_OK if result.outcome != "unknown" else EXIT_REFUSED


def _print_damage(path: Path, damage: List[str]) -> int:
    from .backup import RECOVERY_HINT

    for line in damage:
        print(f"damaged: {line}")
    print(f"database DAMAGED ({path}): {RECOVERY_HINT}")
    return EXIT_REFUSED


def cmd_verify(args) -> int:
    """SQLite's quick check of the file first, then the ledger against the balances."""
    from .backup import check_database

    cfg = config.load(args.config)
    path = database_path(cfg)
    damage = check_database(path) if not cfg.get("store", "url") and path.is_file() else []
    if damage:
        return _print_damage(path, damage)
    open_store(args)
    try:
        problems = accounts.verify()
    except (sqlite3.DatabaseError, pw.DatabaseError) as exc:  # damaged after the check
        return _print_damage(path, [str(exc)])
    for p in problems:
        print(p)
    print("ledger OK" if not problems else f"{len(problems)} mismatch(es)")
    return EXIT_OK if not problems else EXIT_REFUSED


def cmd_release_stale(args) -> int:
    open_store(args)
    print(f"{calls.release_stale()} stale reservation(s) released")
    return EXIT_OK


def cmd_site_claim(args) -> int:
    """This box takes its site over on a shared store (it replaces the box that had it)."""
    from . import site_claim

    cfg = open_store(args)
    if not store.postgres():
        print("a SQLite store belongs to this box alone: nothing to claim")
        return EXIT_OK
    site_claim.claim(database_path(cfg).parent, store.now_utc(), take_over=True)
    print(f"site {sites.current()!r} is this box's now; stop the box it replaces for good")
    return EXIT_OK


def cmd_settings(args) -> int:
    open_store(args)
    if args.key and args.value is not None:
        settings.put(args.key, args.value)
    for key, value in settings.get_all().items():
        if key in settings.SECRETS and settings.get(key):
            value = "(set, not shown)"
        if not args.key or key == args.key:
            print(f"{key} = {value}")
    return EXIT_OK


def cmd_config_defaults(args) -> int:
    print(config.defaults_text())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing-addon", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("--config", default=None, help="INI configuration file")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=func)
        return p

    command("init", cmd_init, "create or upgrade the database")
    command("demo", cmd_demo, "load demo extensions, rates and money").add_argument(
        "--if-empty", action="store_true", help="only when there are no extensions yet")
    command("config-defaults", cmd_config_defaults, "print the documented default config")

    ext = command("ext", None, "extensions").add_subparsers(dest="ext_command", metavar="ACTION")
    ext.required = True
    p = ext.add_parser("list", help="list extensions")
    p.add_argument("--search", help="part of the number")
    p.set_defaults(func=cmd_ext_list)
    p = ext.add_parser("show", help="one extension")
    p.add_argument("number")
    p.set_defaults(func=cmd_ext_show)
    p = ext.add_parser("add", help="add an extension (billing off)")
    p.add_argument("number")
    p.add_argument("--name")
    p.set_defaults(func=cmd_ext_add)
    p = ext.add_parser("edit", help="edit one or many extensions")
    p.add_argument("numbers", nargs="+")
    p.add_argument("--billing", choices=("on", "off"))
    p.add_argument("--credit")
    p.add_argument("--status", choices=accounts.STATUSES)
    p.add_argument("--payment-type", choices=accounts.PAYMENT_TYPES)
    p.add_argument("--name")
    p.add_argument("--low-threshold", metavar="AMOUNT|default",
                   help="low-balance threshold; 'default': the low_balance_threshold setting")
    p.set_defaults(func=cmd_ext_edit)

    p = command("recharge", cmd_recharge, "recharge one or many extensions")
    p.add_argument("numbers", nargs="+")
    p.add_argument("--amount", required=True)
    p.add_argument("--operator", default="cli")
    p = command("adjust", cmd_adjust, "signed balance correction with a reason")
    p.add_argument("number")
    p.add_argument("amount")
    p.add_argument("--reason", required=True)
    p.add_argument("--operator", default="cli")

    rs = command("rates", None, "the rate table").add_subparsers(dest="rates_command", metavar="ACTION")
    rs.required = True
    rs.add_parser("list", help="list rates").set_defaults(func=cmd_rates_list)
    p = rs.add_parser("add", help="add a rate")
    for name in ("prefix", "length", "initial_cost", "initial_time", "rate", "unit", "start",
                 "end", "remarks", "extensions"):
        p.add_argument("--" + name.replace("_", "-"), dest=name)
    p.add_argument("--inactive", action="store_true")
    p.set_defaults(func=cmd_rates_add)
    p = rs.add_parser("import", help="import a CSV rate deck (all rows or none)")
    p.add_argument("file")
    p.add_argument("--replace", action="store_true", help="replace the whole table")
    p.set_defaults(func=cmd_rates_import)
    p = rs.add_parser("export", help="export the rate table as CSV")
    p.add_argument("-o", "--output")
    p.set_defaults(func=cmd_rates_export)

    rate = command("rate", None, "rate tools").add_subparsers(dest="rate_command", metavar="ACTION")
    rate.required = True
    p = rate.add_parser("test", help="which rate matches a call and what it costs")
    p.add_argument("extension")
    p.add_argument("dialed")
    p.add_argument("--at", help="call start, YYYY-MM-DD HH:MM in the box's zone (default now)")
    p.add_argument("--duration", type=_seconds, default=60, help="answered seconds")
    p.set_defaults(func=cmd_rate_test)

    p = command("authorize", cmd_authorize, "authorize a call by hand (testing)")
    p.add_argument("extension")
    p.add_argument("dialed")
    p.add_argument("--at")
    p.add_argument("--uniqueid")
    p = command("settle", cmd_settle, "settle a call by hand (testing)")
    p.add_argument("uniqueid")
    p.add_argument("seconds", type=_seconds)
    command("verify", cmd_verify, "recompute balances from the ledger")
    command("release-stale", cmd_release_stale, "release reservations of calls that never ended")
    command("site-claim", cmd_site_claim, "take this box's site over on a shared store (a box "
            "replacing another)")
    p = command("settings", cmd_settings, "show or change a billing setting")
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?")
    _add_optional_commands(sub)
    return parser


def box_context(args):
    """The licensing commands' view of the add-on (``hwlicense.box_cli.BoxContext``): the
    board and root of ``--config`` (a --board / --board-root given wins), and the billing
    history of the board's database, which refuses a new trial on a box that has one."""
    from hwlicense.box_cli import BoxContext

    from . import usage

    cfg = config.load(args.config) if args.config else None

    def earliest_use(profile):
        return usage.first_billed(database_path(cfg, profile))

    if cfg is None:
        return BoxContext(earliest_use=earliest_use)
    return BoxContext(board=cfg.get("box", "board"), board_root=cfg.get("box", "board_root") or None,
                      earliest_use=earliest_use)


COMMAND_MODULES = ("hwlicense.box_cli", "billing_addon.pbx.cli", "billing_addon.web.cli",
                   "billing_addon.backup", "billing_addon.stays_cli", "billing_addon.accounts_cli",
                   "billing_addon.rerate_cli", "billing_addon.api_tokens_cli",
                   "billing_addon.settle_queue_cli")
# hwlicense does not import the add-on: what its commands need to know of it is passed in
COMMAND_OPTIONS = {"hwlicense.box_cli": {"addon_version": __version__, "context": box_context}}


def _add_optional_commands(sub) -> None:
    """Commands that live in other packages of the add-on: each module has
    ``add_commands(subparsers, **COMMAND_OPTIONS.get(module name, {}))``."""
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_commands(sub, **COMMAND_OPTIONS.get(name, {}))


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Refusal as exc:  # a refused operation of any command, its own or a module's
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:
        problem = store.disk_problem(exc)  # a full or read-only disk: one line, not a traceback
        if problem is None and isinstance(exc, (sqlite3.DatabaseError, pw.DatabaseError)):
            problem = f"the billing database: {exc} (`billing-addon verify` checks it)"
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        store.close_db()


if __name__ == "__main__":
    sys.exit(main())
