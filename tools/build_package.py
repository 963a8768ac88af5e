"""Build the box package: dist/billing-addon-<version>.tar.gz (`make package`).

The box has python3 and Debian's python3-* libraries but no network and no pip, so the
package carries our pure-Python code ready to import (lib/), the installer (installer/,
install.sh, upgrade.sh, uninstall.sh), the init script, a default config and a MANIFEST
with the version, the library ranges and the sha256 of every file.  What goes into lib/
is read from setup.py (packages, package_dir, package_data, install_requires), so the box
gets exactly what ``pip install`` would put in site-packages.  Format: docs/box.md.
"""

from __future__ import annotations

import argparse
import ast
import glob
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMAT = "BILLING-ADDON-PACKAGE 1"
# Distribution name -> (import name, Debian package on the box).
DEBIAN = {
    "bottle": ("bottle", "python3-bottle"),
    "peewee": ("peewee", "python3-peewee"),
    "cryptography": ("cryptography", "python3-cryptography"),
    "pyserial": ("serial", "python3-serial"),
    "waitress": ("waitress", "python3-waitress"),
    "XlsxWriter": ("xlsxwriter", "python3-xlsxwriter"),
    "reportlab": ("reportlab", "python3-reportlab"),
    "Babel": ("babel", "python3-babel"),
}
# Files setup.py installs (pip, a developer's or the sales PC) that the box never gets:
# the demo board's identity is a file anyone can copy, so no box may run it (it stays for
# `make run`, the tests, and the sales tool's --test-device).
NOT_ON_THE_BOX = frozenset({"billing_addon/board/profiles/demo.ini"})
# Fixed metadata for reproducible archives (same sources -> same bytes).
MTIME = 1704067200  # 2024-01-01
# Debian packages the add-on uses when present, not Python libraries (the installer does
# not check them): the CJK font of the Chinese statement PDFs (without it they name
# ReportLab's built-in STSong-Light, which the PDF reader must supply).
RECOMMENDS = ("fonts-wqy-microhei",)


def setup_args(setup_py: Path) -> dict:
    """The literal keyword arguments of the setup() call in setup.py (no code is run)."""
    tree = ast.parse(setup_py.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup":
            found = {}
            for kw in node.keywords:
                try:
                    found[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue  # e.g. version=__version__
            return found
    raise SystemExit(f"{setup_py}: no setup() call")


def source_version(root: Path) -> str:
    text = (root / "billing_addon" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not match:
        raise SystemExit("billing_addon/__init__.py: no __version__")
    return match.group(1)


def package_files(root: Path, args: dict) -> list[tuple[Path, str]]:
    """(source file, path under lib/) for every module and data file setup.py ships,
    but those NOT_ON_THE_BOX."""
    dirs = args.get("package_dir", {})
    data = args.get("package_data", {})
    out = []
    for package in args["packages"]:
        folder = root / dirs.get(package, package.replace(".", "/"))
        dest = package.replace(".", "/")
        for path in sorted(folder.glob("*.py")):
            out.append((path, f"{dest}/{path.name}"))
        for pattern in data.get(package, []):
            for name in sorted(glob.glob(str(folder / pattern))):
                path = Path(name)
                rel = f"{dest}/{path.relative_to(folder).as_posix()}"
                if path.is_file() and rel not in NOT_ON_THE_BOX:
                    out.append((path, rel))
    return out


def requirement_lines(requires: list[str]) -> list[str]:
    """`requires:` manifest lines: spec, import name and Debian package of each library."""
    lines = []
    for spec in requires:
        name = re.match(r"[A-Za-z0-9_.-]+", spec).group(0)  # type: ignore[union-attr]
        module, deb = DEBIAN.get(name, (name.lower(), f"python3-{name.lower()}"))
        lines.append(f"requires: {spec.replace(' ', '')} module={module} deb={deb}")
    return lines


def default_config(root: Path) -> str:
    """The daemon's documented defaults, with the box's choices (board set at install)."""
    sys.path.insert(0, str(root))
    try:
        from billing_addon import config
    finally:
        sys.path.pop(0)
    text = config.defaults_text()
    # @BOARD@ and @ROOT@ are filled in by the launcher that writes the file on the box
    # (ROOT is empty there; a test root in tests).  The web UI listens on every address:
    # the PBX's Addons menu sends the admin's browser to this port.
    box = {
        ("box", "board"): "@BOARD@",
        ("box", "board_root"): "@ROOT@",
        ("web", "host"): "0.0.0.0",
        ("log", "file"): "@ROOT@/var/log/billing-addon/billing-addon.log",
        ("daemon", "pid_file"): "@ROOT@/run/billing-addon.pid",
    }
    out, section = [], ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        key = line.split("=", 1)[0].strip() if "=" in line and not line.startswith("#") else ""
        if (section, key) in box:
            line = f"{key} = {box[(section, key)]}"
        out.append(line)
    header = ("# billing-addon on the box: written by the installer, kept by upgrades.\n"
              "# It lives in the board's data area (a factory reset restores these defaults).\n")
    return header + "\n".join(out) + "\n"


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True).stdout
        return out + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stage(root: Path, staging: Path, version: str, trusted_keys: list[Path]) -> list[str]:
    """Lay the package out under ``staging``; returns the warnings to show."""
    warnings = []
    args = setup_args(root / "setup.py")
    for src, rel in package_files(root, args):
        dest = staging / "lib" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    init = staging / "lib" / "billing_addon" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    init.write_text(re.sub(r'^__version__ = "[^"]+"', f'__version__ = "{version}"', text,
                           flags=re.M), encoding="utf-8")
    keys = staging / "lib" / "hwlicense" / "trusted_keys"
    keys.mkdir(parents=True, exist_ok=True)
    for key in trusted_keys:
        shutil.copyfile(key, keys / (key.stem + ".pub"))
    if not list(keys.glob("*.pub")):
        warnings.append("no trusted vendor key in the package (hwlicense/trusted_keys/*.pub): "
                        "boxes will accept no license unless BILLING_TRUSTED_KEYS_DIR is set")
    if not list((staging / "lib" / "billing_addon").glob("dialplan/*.conf")):
        warnings.append("no dialplan include (billing_addon/dialplan/*.conf) in the package")
    share = staging / "share"
    (share / "init.d").mkdir(parents=True)
    init_script = root / "init.d" / "billing-addon"
    if init_script.is_file():
        shutil.copyfile(init_script, share / "init.d" / "billing-addon")
    else:
        warnings.append("no init script (init.d/billing-addon) in the package")
    (share / "billing.ini").write_text(default_config(root), encoding="utf-8")
    shutil.copytree(root / "package" / "installer", staging / "installer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for script in ("install.sh", "upgrade.sh", "uninstall.sh"):
        shutil.copyfile(root / "package" / script, staging / script)
    requires = requirement_lines(args.get("install_requires", []))
    write_manifest(staging, version, args.get("python_requires", ""), requires,
                   git_commit(root))
    return warnings


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(staging: Path, version: str, python: str, requires: list[str],
                   commit: str) -> None:
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    lines = [FORMAT, "name: billing-addon", f"version: {version}", f"commit: {commit}",
             f"requires-python: {python}", *requires,
             f"recommends: {' '.join(RECOMMENDS)}", f"files: {len(files)}"]
    lines += [f"{sha256(staging / rel)}  {rel}" for rel in files]
    (staging / "MANIFEST").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = MTIME
    executable = info.isdir() or info.name.endswith(".sh") or "/init.d/" in info.name
    info.mode = 0o755 if executable else 0o644
    return info


def archive(staging: Path, output: Path, top: str) -> None:
    """A gzip tarball with sorted entries and fixed owners, modes and times."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(staging, arcname=top, recursive=False, filter=_normalise)
        for path in sorted(staging.rglob("*")):
            tar.add(path, arcname=f"{top}/{path.relative_to(staging).as_posix()}",
                    recursive=False, filter=_normalise)
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=MTIME,
                                               filename="") as gz:
        gz.write(buffer.getvalue())
    os.replace(tmp, output)


def build(root: Path = ROOT, out_dir: Path | None = None, version: str | None = None,
          trusted_keys: tuple[Path, ...] = ()) -> tuple[Path, list[str]]:
    """Build the package; returns (archive path, warnings)."""
    version = version or source_version(root)
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version):
        raise SystemExit(f"invalid version {version!r}")
    top = f"billing-addon-{version}"
    with tempfile.TemporaryDirectory(prefix="billing-package-") as tmp:
        staging = Path(tmp) / top
        staging.mkdir()
        warnings = stage(root, staging, version, list(trusted_keys))
        output = (out_dir or root / "dist") / f"{top}.tar.gz"
        archive(staging, output, top)
    return output, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out-dir", type=Path, default=ROOT / "dist",
                        help="where the archive goes (default: dist/)")
    parser.add_argument("--version", help="package version (default: billing_addon.__version__)")
    parser.add_argument("--trusted-key", type=Path, action="append", default=[], metavar="PUB",
                        help="vendor public key (.pub) the box trusts; repeatable")
    parser.add_argument("--strict", action="store_true", help="warnings are errors")
    args = parser.parse_args(argv)
    output, warnings = build(ROOT, args.out_dir, args.version, tuple(args.trusted_key))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(output)
    return 1 if warnings and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
