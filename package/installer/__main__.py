"""Command line: ``python3 -m installer install|uninstall|verify [options]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import DAMAGED, ERROR, OK, InstallError, manifest
from .layout import Layout
from .remove import uninstall
from .steps import GENERATED, install, read_state


def _layout_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", help="install under this folder, like DESTDIR (tests); "
                   "env BILLING_INSTALL_ROOT; default /. Services are only touched with /")
    p.add_argument("--prefix", help="code folder (env BILLING_PREFIX; default /opt/billing-addon)")
    p.add_argument("--addon-dir", help="the PBX's Addons menu folder "
                   "(env PBX_ADDON_DIR; default /etc/pbx/addons)")
    p.add_argument("--bin-dir", help="links to the commands (default /usr/local/bin)")
    p.add_argument("--asterisk-dir", help="Asterisk's config folder (default /etc/asterisk)")
    p.add_argument("--asterisk", help="the asterisk binary (default: asterisk on PATH)")


def _layout(args: argparse.Namespace) -> Layout:
    given = dict(root=args.root, prefix=args.prefix, addon_dir=args.addon_dir,
                 bin_dir=args.bin_dir, asterisk_dir=args.asterisk_dir)
    layout = Layout.from_env(**given)
    if args.command != "install":  # the paths the install recorded, unless given again
        state = read_state(layout) or {}
        merged = {k: v for k, v in state.get("layout", {}).items()
                  if k in Layout.__dataclass_fields__}
        merged.update({k: v for k, v in given.items() if v})
        layout = Layout.from_env(**merged)
    return layout


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="installer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="install, repair or upgrade (idempotent)")
    p.add_argument("--package", type=Path, default=Path(__file__).resolve().parents[1],
                   help="the unpacked package (default: the folder holding this installer)")
    p.add_argument("--board", help="board profile (default: as installed, else detected)")
    p.add_argument("--upgrade", action="store_true", help="refuse when nothing is installed")
    p.add_argument("--force", action="store_true", help="allow a downgrade")
    p.add_argument("--no-start", action="store_true", help="do not start the service")
    _layout_options(p)
    p = sub.add_parser("uninstall", help="remove the add-on; data stays unless --purge")
    p.add_argument("--purge", action="store_true", help="also delete the billing data "
                   "(database, config); license and trial records stay")
    _layout_options(p)
    p = sub.add_parser("verify", help="check the installed code against its MANIFEST")
    _layout_options(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    layout = _layout(args)
    try:
        if args.command == "install":
            changes = install(args.package.resolve(), layout, board=args.board,
                              upgrade=args.upgrade, force=args.force, start=not args.no_start,
                              asterisk=args.asterisk)
            print("\n".join(f"  {c}" for c in changes) if changes else "  nothing to change")
            print(f"billing-addon {manifest.read(args.package).version} installed")
        elif args.command == "uninstall":
            removed = uninstall(layout, purge=args.purge, asterisk=args.asterisk)
            print("\n".join(f"  removed {r}" for r in removed))
        else:
            prefix = layout.at(layout.prefix)
            found = manifest.problems(prefix, manifest.read(prefix), GENERATED)
            print("\n".join(found) if found else f"{prefix}: every file matches its MANIFEST")
            return DAMAGED if found else OK
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ERROR
    return OK


if __name__ == "__main__":
    sys.exit(main())
