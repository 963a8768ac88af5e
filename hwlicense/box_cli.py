"""Box-side commands: activate, deactivate, status, billing-ac, license upload, reset.

``add_commands(subparsers, addon_version=..., context=...)`` plugs them into the
``billing-addon`` CLI, which passes its version (written into billing.ac) and a
``context(args) -> BoxContext``: the board and root of its config file and the billing
history hook (hwlicense imports nothing of the add-on, so its caller says).  Each command
sets ``func`` and returns an exit code from ExitCode (docs/licensing.md).  Run
stand-alone with ``python -m hwlicense.box_cli COMMAND ...`` (billing.ac then says
addon-version unknown, and no billing history is asked).
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hwlicense.activation import (
    CLOCK_NOT_SET,
    DEACTIVATED,
    EXPIRED,
    UNKNOWN_VERSION,
    Activation,
    Status,
)
from hwlicense.board import BoardProfile, ProfileError, load_profile
from hwlicense.identity import IdentityError
from hwlicense.reset import apply_reset
from hwlicense.results import Code
from hwlicense.storage import atomic_write, read_bytes
from hwlicense.textformat import KIND_NAMES, LICENSE_KIND, MAX_SIZE, size_refusal
from hwlicense.trial import TRIAL_DAYS

BOARD_ENV = "BILLING_BOARD"
DEFAULT_BOARD = "demo"


class ExitCode(enum.IntEnum):
    """Exit codes a script can rely on."""

    OK = 0
    ERROR = 1  # unexpected internal error
    USAGE = 2  # bad command line (argparse)
    EXPIRED = 3  # billing activated, trial over, no valid license
    DEACTIVATED = 4  # status: billing is switched off
    LICENSE_REFUSED = 5  # license upload: the file was refused, nothing changed
    NO_IDENTITY = 6  # no identity source of the board could be read
    BOARD = 7  # unknown or malformed board profile
    IO = 8  # cannot read the input file or write the output / storage area
    CLOCK = 9  # activate: the system clock is not set, no trial started
    TRIAL_USED = 10  # activate: no trial record, but billing was used here: no trial started


@dataclass(frozen=True)
class BoxContext:
    """What the calling program knows and hwlicense does not: the board and root its
    configuration names (a ``--board`` / ``--board-root`` on the command line wins), and
    ``earliest_use(profile)``: when billing was first used on that board (None: never)."""

    board: str | None = None
    board_root: str | None = None
    earliest_use: Callable[[BoardProfile], datetime | None] | None = None


Context = Callable[[argparse.Namespace], BoxContext]
Handler = Callable[[argparse.Namespace], int]


def _fail(code: ExitCode, what: str, reason: str) -> int:
    print(f"error: {what}: {reason}", file=sys.stderr)
    return int(code)


def _guarded(body: Callable[[argparse.Namespace, Activation], int], addon_version: str,
             context: Context | None) -> Handler:
    """Load the board (command line, else the caller's context, else $BILLING_BOARD or
    demo), run the command on its Activation, map known failures to exit codes."""

    def handler(args: argparse.Namespace) -> int:
        ctx = context(args) if context is not None else BoxContext()
        name = args.board or ctx.board or os.environ.get(BOARD_ENV) or DEFAULT_BOARD
        try:
            profile = load_profile(name, args.board_root or ctx.board_root)
        except ProfileError as exc:
            return _fail(ExitCode.BOARD, "board", str(exc))
        history = ctx.earliest_use
        try:
            return body(args, Activation(
                profile, addon_version=addon_version,
                earliest_use=(lambda: history(profile)) if history is not None else None))
        except IdentityError as exc:
            return _fail(ExitCode.NO_IDENTITY, "no-identity", str(exc))
        except ProfileError as exc:
            return _fail(ExitCode.BOARD, "board", str(exc))
        except OSError as exc:
            return _fail(ExitCode.IO, "io", str(exc))

    return handler


def _when(moment: datetime | None, never: str = "-") -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else never


def _status_text(status: Status) -> str:
    expiration = "Never Expires" if status.licensed else _when(status.expiration)
    lines = [
        f"Billing:                  {status.state}",
        f"Activated:                {'Yes' if status.activated else 'No'}",
        f"Time of first activation: {_when(status.first_activation)}",
        f"Time of expiration:       {expiration}",
        f"License Uploaded:         {'Yes' if status.licensed else 'No'}",
        f"Days left:                {'-' if status.days_left is None else status.days_left}",
    ]
    if status.license_problem:
        lines.append(f"License problem:          {status.license_problem}")
    if status.trial_problem:
        lines.append(f"Trial problem:            {status.trial_problem}")
    if status.clock_warning:
        lines.append(f"Clock warning:            {status.clock_warning}")
    return "\n".join(lines)


def _status_json(status: Status) -> str:
    data = {k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in status.__dict__.items()}
    return json.dumps(data, sort_keys=True)


def _state_code(status: Status) -> int:
    return int({EXPIRED: ExitCode.EXPIRED, DEACTIVATED: ExitCode.DEACTIVATED}.get(
        status.state, ExitCode.OK))


def _show(args: argparse.Namespace, status: Status) -> None:
    print(_status_json(status) if getattr(args, "json", False) else _status_text(status))


def cmd_activate(args: argparse.Namespace, act: Activation) -> int:
    status = act.activate()
    _show(args, status)
    if not status.activated and status.trial_problem == CLOCK_NOT_SET:
        return _fail(ExitCode.CLOCK, "clock", CLOCK_NOT_SET)
    if not status.activated and status.trial_problem:
        return _fail(ExitCode.TRIAL_USED, "trial-used", f"{status.trial_problem}; no trial "
                     "started: upload a license (billing-addon license upload FILE)")
    if status.state == EXPIRED:
        why = status.trial_problem or f"the {TRIAL_DAYS}-day trial is over"
        print(f"error: expired: {why}; upload a license "
              "(billing-addon license upload FILE)", file=sys.stderr)
    return int(ExitCode.EXPIRED) if status.state == EXPIRED else 0


def cmd_deactivate(args: argparse.Namespace, act: Activation) -> int:
    _show(args, act.deactivate())
    return 0


def cmd_status(args: argparse.Namespace, act: Activation) -> int:
    status = act.status()
    _show(args, status)
    return _state_code(status)


def cmd_billing_ac(args: argparse.Namespace, act: Activation) -> int:
    data = act.billing_ac()
    if args.output == "-":
        sys.stdout.write(data.decode("ascii"))
    else:
        atomic_write(Path(args.output), data)
        print(f"wrote {args.output}: send it to your distributor or sales team")
    return 0


def cmd_license_upload(args: argparse.Namespace, act: Activation) -> int:
    try:
        if args.file == "-":
            data: bytes | None = sys.stdin.buffer.read(MAX_SIZE + 1)
        else:
            data = read_bytes(Path(args.file), MAX_SIZE)
    except OSError as exc:
        return _fail(ExitCode.IO, "io", f"cannot read {args.file}: {exc}")
    if data is None:
        return _fail(ExitCode.IO, "io", f"no such file: {args.file}")
    if len(data) > MAX_SIZE:  # only MAX_SIZE + 1 bytes were read: say the real size
        size = _input_size(args.file, len(data))
        return _fail(ExitCode.LICENSE_REFUSED, Code.TOO_LARGE.value,
                     f"license refused: {size_refusal(size, KIND_NAMES[LICENSE_KIND])}")
    result = act.upload_license(data)
    if not result.ok:
        code = ExitCode.IO if result.code is Code.STORAGE else ExitCode.LICENSE_REFUSED
        return _fail(code, result.code.value, result.reason)
    print(f"OK: {result.reason}; Time of expiration: Never Expires")
    return 0


def _input_size(name: str, already: int) -> int:
    """The size of the upload's input: the file's, or all of stdin (read and counted)."""
    if name != "-":
        return os.stat(name).st_size
    return already + sum(len(chunk) for chunk in iter(lambda: sys.stdin.buffer.read(1 << 20), b""))


def cmd_reset(args: argparse.Namespace, act: Activation) -> int:
    wiped = apply_reset(act.profile, args.kind)
    print(f"{args.kind} reset on board {act.profile.name}: wiped "
          f"{', '.join(wiped) if wiped else 'nothing'}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", default=None,
                        help=f"board profile (default: the config's [box] board, else "
                             f"${BOARD_ENV}, else {DEFAULT_BOARD})")
    parser.add_argument("--board-root", default=None, metavar="DIR",
                        help="read every path of the board profile under DIR (default: the "
                             "config's [box] board_root)")


def add_commands(subparsers, *, addon_version: str = UNKNOWN_VERSION,
                 context: Context | None = None) -> None:
    """Add the box-side licensing commands to an argparse subparsers object;
    ``addon_version`` is the add-on's version, written into billing.ac; ``context(args)``
    gives the caller's configured board, root and billing history hook (BoxContext)."""
    p = subparsers.add_parser("activate", help="turn billing on (first time: 30-day trial)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_guarded(cmd_activate, addon_version, context))
    _common(p)

    p = subparsers.add_parser("deactivate", help="turn billing off")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_guarded(cmd_deactivate, addon_version, context))
    _common(p)

    p = subparsers.add_parser("status", help="activation, trial and license status")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_guarded(cmd_status, addon_version, context))
    _common(p)

    p = subparsers.add_parser("billing-ac", help="write this device's billing.ac")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file, - = stdout")
    p.set_defaults(func=_guarded(cmd_billing_ac, addon_version, context))
    _common(p)

    lic = subparsers.add_parser("license", help="license file commands")
    lic_sub = lic.add_subparsers(dest="license_command", metavar="upload")
    lic_sub.required = True
    p = lic_sub.add_parser("upload", help="verify a license file and store it")
    p.add_argument("file", metavar="FILE", help="license file, - = stdin")
    p.set_defaults(func=_guarded(cmd_license_upload, addon_version, context))
    _common(p)

    p = subparsers.add_parser("reset", help="wipe the areas a reset wipes on this board")
    p.add_argument("kind", choices=("upgrade", "factory", "hard"))
    p.set_defaults(func=_guarded(cmd_reset, addon_version, context))
    _common(p)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point until billing-addon wires add_commands."""
    parser = argparse.ArgumentParser(prog="billing-addon", description=__doc__.splitlines()[0])
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:  # noqa: BLE001 - last resort: a message and a code, no trace
        print(f"error: internal: {exc!r}", file=sys.stderr)
        return int(ExitCode.ERROR)


if __name__ == "__main__":
    sys.exit(main())
