"""PBX commands of ``billing-addon``: ``serve``, ``cdr import``, ``sync``.

``billing_addon.cli`` finds this module and calls ``add_commands``.  Exit codes as in
the main CLI: 0 done, 1 refused or problems found (the message says which).
"""

from __future__ import annotations

import datetime as dt
import sys

EXIT_OK, EXIT_REFUSED = 0, 1


def _local_bound(text):
    """'YYYY-MM-DD[ HH:MM[:SS]]' (box-local) in the CDR's own time format."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"error: time {text[:30]!r}: use YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from None
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _without_tls() -> None:
    """The daemon serves plain HTTP, AGI and files on the box and never speaks TLS.
    Keeping the ssl module (which http.client, used by bottle, imports only if it can)
    out of the process saves about 5 MB of memory on a box that has little."""
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]


def cmd_serve(args) -> int:
    _without_tls()
    from .. import config, daemon

    try:
        cfg = config.load(args.config)
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return daemon.serve(cfg, pid_file=args.pid_file)


def cmd_cdr_import(args) -> int:
    from ..cli import open_store
    from . import cdr

    since, until = _local_bound(args.since), _local_bound(args.until)
    cfg = open_store(args)
    settler = cdr.Settler(mark=cfg.get("cdr", "mark") or None)
    try:
        stats = cdr.import_file(args.file, since, until, settler=settler)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(" ".join(f"{k}={v}" for k, v in cdr.summary(stats).items()))
    for problem in stats.problems:
        print(f"unreadable: {problem}", file=sys.stderr)
    return EXIT_OK if not stats.errors else EXIT_REFUSED


def cmd_sync(args) -> int:
    from ..cli import open_store
    from . import sync

    cfg = open_store(args)
    files = args.files or sync.configured_files(cfg)
    result = sync.sync(files, cfg.get("sync", "number_pattern"))
    if not result.files_read:
        print(f"error: none of these files could be read: {' '.join(files)}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"read {', '.join(result.files_read)}: {len(result.added)} added, "
          f"{len(result.renamed)} renamed, {len(result.missing)} missing, "
          f"{len(result.returned)} back")
    return EXIT_OK


def add_commands(sub) -> None:
    p = sub.add_parser("serve", help="run the daemon: FastAGI, CDR follower, web UI")
    p.add_argument("--pid-file", help="write the pid here (overrides [daemon] pid_file)")
    p.set_defaults(func=cmd_serve)

    cdr = sub.add_parser("cdr", help="Asterisk CDR (Master.csv)").add_subparsers(
        dest="cdr_command", metavar="ACTION")
    cdr.required = True
    p = cdr.add_parser("import", help="settle the calls of a CDR file (safe to repeat)")
    p.add_argument("file")
    p.add_argument("--from", dest="since", help="only calls that started at or after this "
                   "local time (YYYY-MM-DD[ HH:MM])")
    p.add_argument("--to", dest="until", help="only calls that started before this local time")
    p.set_defaults(func=cmd_cdr_import)

    p = sub.add_parser("sync", help="sync extensions from the PBX configuration")
    p.add_argument("files", nargs="*", help="configuration files (default: [sync] files)")
    p.set_defaults(func=cmd_sync)
