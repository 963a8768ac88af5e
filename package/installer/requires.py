"""Check that this python3 and its libraries (Debian's python3-*) satisfy the package.

Versions are compared on their leading numbers (``0.12.23``, ``38.0.4``), enough for the
``>=``/``<`` ranges setup.py uses; no third-party parser is available on the box.
"""

from __future__ import annotations

import importlib
import re
import sys
from importlib import metadata

from . import UNSUPPORTED, InstallError

_OPS = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def numbers(version: str) -> tuple[int, ...]:
    """'0.12.23' -> (0, 12, 23); '3.0.2.post1' -> (3, 0, 2); '2' -> (2,)."""
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group(0)))
    return tuple(parts)


def _cmp_key(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def satisfies(version: str, spec: str) -> bool:
    """Does version satisfy a comma list like '>=0.12.23,<0.14'?"""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.]*)", clause)
        if not match:
            raise ValueError(f"unsupported version clause {clause!r}")
        have, want = _cmp_key(numbers(version), numbers(match.group(2)))
        if not _OPS[match.group(1)](have, want):
            return False
    return True


def installed_version(dist: str, module: str) -> str | None:
    """Version of a distribution as its metadata says, else the module's __version__."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        pass
    try:
        return str(getattr(importlib.import_module(module), "__version__", "0"))
    except ImportError:
        return None


def check(requires: list[str], python_spec: str = "") -> list[str]:
    """Lines like 'bottle>=0.12.23,<0.14 module=bottle deb=python3-bottle'; returns the
    problems found, each with the Debian package that fixes it."""
    found = []
    here = ".".join(str(n) for n in sys.version_info[:3])
    if python_spec and not satisfies(here, python_spec):
        found.append(f"python3 {here} does not satisfy {python_spec}")
    for line in requires:
        spec, *extra = line.split()
        options = dict(item.split("=", 1) for item in extra if "=" in item)
        match = re.match(r"([A-Za-z0-9_.-]+)(.*)", spec)
        assert match is not None
        dist, ranges = match.group(1), match.group(2)
        version = installed_version(dist, options.get("module", dist.lower()))
        deb = options.get("deb", f"python3-{dist.lower()}")
        if version is None:
            found.append(f"{dist} is missing: apt-get install {deb}")
        elif not satisfies(version, ranges):
            found.append(f"{dist} {version} does not satisfy {ranges} (Debian package {deb})")
    return found


def require(requires: list[str], python_spec: str = "") -> None:
    found = check(requires, python_spec)
    if found:
        raise InstallError("this box cannot run the package:\n  " + "\n  ".join(found),
                           UNSUPPORTED)
