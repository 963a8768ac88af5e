"""billing-license: the sales team's tool (keygen, issue, inspect, verify).

Runs on the sales PC, never on the box.  Exit codes are in SalesExit and
docs/licensing.md.
"""

from __future__ import annotations

import argparse
import enum
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hwlicense import keys
from hwlicense.billing_ac import BillingAC, read_billing_ac, unseal_values
from hwlicense.board import BoardProfile, ProfileError, load_profile
from hwlicense.identity import Policy
from hwlicense.license import issue_license, read_license
from hwlicense.policy import PolicyError, check_request, check_values
from hwlicense.product import PRODUCT
from hwlicense.results import Code, FormatError
from hwlicense.textformat import AC_KIND, KIND_NAMES, LICENSE_KIND, MAX_SIZE, size_refusal
from hwlicense.timefmt import utcnow
from hwlicense.verify import Expected, verify_license


class SalesExit(enum.IntEnum):
    """Exit codes of billing-license."""

    OK = 0
    ERROR = 1  # unexpected internal error
    USAGE = 2  # bad command line
    BAD_INPUT = 3  # billing.ac or license file unreadable, damaged or of the wrong kind
    INVALID = 4  # verify: the license does not verify for that billing.ac
    KEY = 5  # key problem: wrong passphrase, not an Ed25519 key, no public key given
    IO = 6  # cannot read or write a file (or it exists and --force was not given)
    POLICY = 7  # issue: the billing.ac asks for what the licensing policy does not allow


class Failure(Exception):
    def __init__(self, code: SalesExit, message: str):
        super().__init__(message)
        self.code = code


def _read(path: str, limit: int = MAX_SIZE) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise Failure(SalesExit.IO, f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_document(path: str, kind: str) -> bytes:
    """A billing.ac or license file; a too large one is refused with its real size."""
    data = _read(path)
    if len(data) > MAX_SIZE:
        size = os.stat(path).st_size
        raise Failure(SalesExit.BAD_INPUT, f"{path}: {size_refusal(size, KIND_NAMES[kind])} "
                      f"[{Code.TOO_LARGE.value}]")
    return data


def _write_new(path: str, data: bytes, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` from the start (no window with wider rights)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise Failure(SalesExit.IO, f"{path} exists; use --force to overwrite") from None
    except OSError as exc:
        raise Failure(SalesExit.IO, f"cannot write {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)
        fh.write(data)


def _passphrase(args: argparse.Namespace, confirm: bool) -> bytes | None:
    if getattr(args, "passphrase_file", None):
        text = _read(args.passphrase_file, 4096).decode("utf-8").rstrip("\r\n")
        if not text:
            raise Failure(SalesExit.KEY, "the passphrase file is empty")
        return text.encode("utf-8")
    if getattr(args, "ask_passphrase", False):
        first = getpass.getpass("Passphrase: ")
        if confirm and getpass.getpass("Again: ") != first:
            raise Failure(SalesExit.KEY, "the passphrases differ")
        return first.encode("utf-8") or None
    return None


def _load_ac(path: str) -> BillingAC:
    try:
        return read_billing_ac(_read_document(path, AC_KIND))
    except FormatError as exc:
        raise Failure(SalesExit.BAD_INPUT, f"{path}: {exc.reason} [{exc.code.value}]") from exc


def _profile(ac: BillingAC, args: argparse.Namespace) -> BoardProfile:
    """The profile of the billing.ac's board, read as data (--profiles, else the add-on's)."""
    try:
        return load_profile(ac.board, profiles=getattr(args, "profiles", None))
    except ProfileError as exc:
        raise Failure(SalesExit.POLICY, f"{args.ac}: board {ac.board!r}: {exc}") from exc


def _load_key(args: argparse.Namespace):
    key_data = _read(args.key)
    passphrase = _passphrase(args, confirm=False)
    if passphrase is None and b"ENCRYPTED" in key_data:
        if not sys.stdin.isatty():
            raise Failure(SalesExit.KEY, f"{args.key} is encrypted: give --passphrase-file "
                          "or --ask-passphrase")
        passphrase = getpass.getpass(f"Passphrase for {args.key}: ").encode("utf-8")
    try:
        return keys.load_private(key_data, passphrase)
    except keys.KeyProblem as exc:
        raise Failure(SalesExit.KEY, f"{args.key}: {exc}") from exc


def _unseal(args: argparse.Namespace, ac: BillingAC, key) -> dict[str, str]:
    try:
        return unseal_values(ac, key)
    except FormatError as exc:
        code = SalesExit.KEY if exc.code is Code.UNKNOWN_KEY else SalesExit.BAD_INPUT
        raise Failure(code, f"{args.ac}: {exc.reason} [{exc.code.value}]") from exc


def cmd_keygen(args: argparse.Namespace) -> int:
    for path in (args.key, args.pub):
        if os.path.exists(path) and not args.force:
            raise Failure(SalesExit.IO, f"{path} exists; use --force to overwrite")
    key = keys.generate()
    passphrase = _passphrase(args, confirm=True)
    _write_new(args.key, keys.private_pem(key, passphrase), 0o600, args.force)
    _write_new(args.pub, keys.public_pem(key.public_key()), 0o644, args.force)
    print(f"key id {keys.key_id(key.public_key())}")
    print(f"private key: {args.key} (mode 0600{', encrypted' if passphrase else ''}) - keep secret")
    print(f"public key:  {args.pub} (install on devices as trusted_keys/*.pub)")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    ac = _load_ac(args.ac)
    if ac.product != PRODUCT:
        raise Failure(SalesExit.BAD_INPUT, f"{args.ac} is for product {ac.product!r}; "
                      f"this tool issues {PRODUCT!r} licenses")
    profile = _profile(ac, args)
    try:
        warnings = check_request(ac, profile, test_device=args.test_device)
        key = _load_key(args)
        values = _unseal(args, ac, key)
        check_values(profile, values)
    except PolicyError as exc:
        raise Failure(SalesExit.POLICY, f"{args.ac}: refused: {exc}") from exc
    for warning in warnings:
        print(f"billing-license: warning: {warning}", file=sys.stderr)
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    try:
        data = issue_license(ac, key, issued=utcnow(), license_id=args.license_id,
                             features=features, values=values)
    except ValueError as exc:
        raise Failure(SalesExit.USAGE, str(exc)) from exc
    _write_new(args.output, data, 0o644, args.force)
    lic = read_license(data).license
    print(f"issued license {lic.license_id} for {ac.model} fingerprint {lic.fingerprint} "
          f"-> {args.output}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    data = _read_document(args.file, LICENSE_KIND)
    if data.startswith(AC_KIND.encode()):
        ac = _load_ac(args.file)
        if ac.version == 1:
            fmt = ("format 1, the old format: guessable hashes, no sealed values; "
                   "billing-license issue refuses it")
            identity = (f"fingerprint: {ac.fingerprint}\ncomponents: "
                        f"{', '.join(ac.names)} (match {ac.match})")
        else:
            fmt = f"format {ac.version}"
            sealed = ", ".join(sorted(ac.sealed)) or "none (the box trusts no vendor key)"
            identity = (f"components: {', '.join(ac.names)} (match {ac.match}; values "
                        f"sealed)\nsealed to key ids: {sealed}")
        print(f"billing.ac (checksum OK; {fmt})\nproduct: {ac.product}\nmodel: {ac.model}\n"
              f"board: {ac.board}\naddon-version: {ac.addon_version}\n"
              f"created: {ac.created:%Y-%m-%d %H:%M:%S} UTC\n{identity}")
        return 0
    try:
        signed = read_license(data)
    except FormatError as exc:
        kind = "license" if data.startswith(LICENSE_KIND.encode()) else "file"
        raise Failure(SalesExit.BAD_INPUT, f"{args.file}: not a readable {kind}: {exc.reason} "
                      f"[{exc.code.value}]") from exc
    lic = signed.license
    fmt = f"format {lic.version}" + (", the old format" if lic.version == 1 else "")
    print(f"license (signature not checked; use verify; {fmt})\nlicense-id: {lic.license_id}\n"
          f"product: {lic.product}\nmodel: {lic.model}\nboard: {lic.board}\n"
          f"issued: {lic.issued:%Y-%m-%d %H:%M:%S} UTC\nexpires: never\n"
          f"features: {', '.join(lic.features)}\nfingerprint: {lic.fingerprint}\n"
          f"components: {', '.join(sorted(lic.components))} (match {lic.match})\n"
          f"key-id: {lic.key_id}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    ac = _load_ac(args.ac)
    trusted = keys.load_trusted([Path(p) for p in args.pub or ()])
    if not trusted:
        raise Failure(SalesExit.KEY, "no public key: give --pub FILE or set "
                      f"{keys.TRUSTED_KEYS_ENV}")
    try:
        policy = Policy.of(load_profile(ac.board, profiles=args.profiles))
    except ProfileError:
        policy = None  # a board this tool does not know: no policy to apply
    if ac.version == 1:
        expected = Expected(ac.product, ac.model, legacy=ac.legacy, policy=policy)
        checked = "its identity"
    elif args.key:
        expected = Expected(ac.product, ac.model, values=_unseal(args, ac, _load_key(args)),
                            policy=policy)
        checked = "its identity"
    else:
        expected = Expected(ac.product, ac.model, policy=policy, ac_nonce=ac.nonce)
        checked = "its nonce (give --key to check the identity values too)"
    result = verify_license(_read_document(args.license, LICENSE_KIND), trusted, expected)
    if not result.ok:
        print(f"INVALID [{result.code.value}]: {result.reason}", file=sys.stderr)
        return int(SalesExit.INVALID)
    print(f"VALID: {result.reason.replace('this device', 'the device of ' + args.ac)} "
          f"(checked against {checked})")
    return 0


def _passphrase_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE")
    group.add_argument("--ask-passphrase", action="store_true", help="prompt for a passphrase")


def _profiles_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", metavar="DIR", default=None,
                        help="folder of board profiles (default: the add-on's board/profiles)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing-license", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="create a vendor key pair")
    p.add_argument("--key", default="vendor.key", help="private key file (mode 0600)")
    p.add_argument("--pub", default="vendor.pub", help="public key file")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    _passphrase_options(p)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("issue", help="turn a billing.ac into a license file")
    p.add_argument("ac", metavar="BILLING_AC")
    p.add_argument("--key", required=True, help="vendor private key")
    p.add_argument("-o", "--output", required=True, metavar="LICENSE", help="license file")
    p.add_argument("--features", default="billing", help="comma separated (default: billing)")
    p.add_argument("--license-id", default=None, help="default: BL-YYYYMMDD-random")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.add_argument("--test-device", action="store_true",
                   help="allow a developer test device (model DEMO)")
    _profiles_option(p)
    _passphrase_options(p)
    p.set_defaults(func=cmd_issue)

    p = sub.add_parser("inspect", help="show a billing.ac or license file")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("verify", help="check a license against the billing.ac it was made from")
    p.add_argument("license", metavar="LICENSE")
    p.add_argument("--ac", required=True, metavar="BILLING_AC")
    p.add_argument("--pub", action="append", metavar="FILE",
                   help=f"vendor public key (repeatable; also ${keys.TRUSTED_KEYS_ENV})")
    p.add_argument("--key", default=None,
                   help="vendor private key: also check the sealed identity values")
    _profiles_option(p)
    _passphrase_options(p)
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point; returns (and exits with) the exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
    except Failure as exc:
        print(f"billing-license: error: {exc}", file=sys.stderr)
        code = int(exc.code)
    except Exception as exc:  # noqa: BLE001 - a message and a code, not a traceback
        print(f"billing-license: internal error: {exc!r}", file=sys.stderr)
        code = int(SalesExit.ERROR)
    return code


if __name__ == "__main__":
    sys.exit(main())
