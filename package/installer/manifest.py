"""MANIFEST: the package's version, library ranges and the sha256 of every file.

Format (docs/box.md): a header line, ``key: value`` lines, ``files: N``, then N lines in
``sha256sum`` format (so ``sha256sum -c`` works on it after removing the header).  The
installer refuses a package in which a file is missing, changed or added.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import DAMAGED, InstallError

FORMAT = "BILLING-ADDON-PACKAGE 1"
NAME = "MANIFEST"
# Made by Python, never part of the package.
IGNORED_DIRS = {"__pycache__"}


@dataclass
class Manifest:
    version: str
    fields: dict[str, str]
    requires: list[str]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    text: str = ""


def parse(text: str) -> Manifest:
    """Parse MANIFEST text; InstallError(DAMAGED) when it is not one."""
    lines = text.splitlines()
    if not lines or lines[0] != FORMAT:
        raise InstallError(f"not a billing-addon package manifest (first line {lines[:1]})", DAMAGED)
    fields: dict[str, str] = {}
    requires: list[str] = []
    index = 1
    while index < len(lines):
        key, sep, value = lines[index].partition(": ")
        index += 1
        if not sep:
            raise InstallError(f"MANIFEST line {index}: expected 'key: value'", DAMAGED)
        if key == "requires":
            requires.append(value)
        else:
            fields[key] = value
        if key == "files":
            break
    try:
        count = int(fields["files"])
        version = fields["version"]
    except (KeyError, ValueError):
        raise InstallError("MANIFEST lacks version or files count", DAMAGED) from None
    files = {}
    for line in lines[index:]:
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or rel.startswith("/") or ".." in rel.split("/"):
            raise InstallError(f"MANIFEST: bad file line {line!r}", DAMAGED)
        files[rel] = digest
    if len(files) != count:
        raise InstallError(f"MANIFEST lists {len(files)} files, says {count}", DAMAGED)
    return Manifest(version, fields, requires, files, text)


def read(folder: Path) -> Manifest:
    try:
        return parse((folder / NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"cannot read {folder / NAME}: {exc}", DAMAGED) from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def present_files(folder: Path, generated: tuple[str, ...] = ()) -> set[str]:
    """Relative paths of the files under folder that a manifest must account for;
    ``generated``: top-level names the installer adds to an installed copy."""
    found = set()
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if IGNORED_DIRS.intersection(rel.parts) or rel.parts[0] in (NAME, *generated):
            continue
        if path.is_file() or path.is_symlink():
            found.add(rel.as_posix())
    return found


def problems(folder: Path, manifest: Manifest, generated: tuple[str, ...] = ()) -> list[str]:
    """What does not match: missing, changed and unexpected files (empty = all good)."""
    out = []
    for rel, digest in sorted(manifest.files.items()):
        path = folder / rel
        if not path.is_file() or path.is_symlink():
            out.append(f"missing: {rel}")
        elif _sha256(path) != digest:
            out.append(f"changed: {rel}")
    out += [f"unexpected: {rel}" for rel in sorted(present_files(folder, generated) - set(manifest.files))]
    return out


def verified(folder: Path) -> Manifest:
    """The manifest of folder after checking every file; InstallError(DAMAGED) otherwise."""
    manifest = read(folder)
    found = problems(folder, manifest)
    if found:
        shown = "\n  ".join(found[:20]) + ("\n  ..." if len(found) > 20 else "")
        raise InstallError(f"{folder} does not match its MANIFEST; refusing it:\n  {shown}",
                           DAMAGED)
    return manifest
