"""Board profiles: where a box's identity comes from and which reset wipes which area.

Profiles are INI data files shipped in the package ``billing_addon.board`` (folder
``profiles``), loaded by name.  Every path a profile names can be rooted under a test
directory, so two emulated devices can live side by side.  See docs/formats.md.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

PROFILE_PACKAGE = "billing_addon.board"
PROFILE_FOLDER = "profiles"
AREAS = ("data", "persist", "nvram")
RESETS = ("upgrade", "factory", "hard")


class ProfileError(Exception):
    """A board profile is unknown or malformed."""


@dataclass(frozen=True)
class SourceSpec:
    """One identity source as the profile declares it: a name, a type, its options."""

    name: str
    type: str
    options: Mapping[str, str]
    fallback: SourceSpec | None = None

    def list(self, key: str) -> tuple[str, ...]:
        """A comma-separated option as a tuple (empty when absent)."""
        return split_list(self.options.get(key, ""))


@dataclass(frozen=True)
class BoardProfile:
    """A loaded board profile, optionally rooted under a directory."""

    name: str
    model: str
    description: str
    areas: Mapping[str, str]
    resets: Mapping[str, tuple[str, ...]]
    identity_sources: tuple[SourceSpec, ...]
    match: int
    root: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def path(self, path: str) -> Path:
        """A path the profile names, read under the root when there is one."""
        if self.root is None:
            return Path(path)
        return self.root / path.lstrip("/")

    def area(self, name: str) -> Path:
        """The directory of storage area 'data', 'persist' or 'nvram'."""
        if name not in self.areas:
            raise ProfileError(f"board {self.name!r} has no storage area {name!r}")
        return self.path(self.areas[name])

    def wipes(self, reset: str) -> tuple[str, ...]:
        """Names of the areas that reset 'upgrade', 'factory' or 'hard' wipes."""
        if reset not in self.resets:
            raise ProfileError(f"unknown reset {reset!r} (known: {', '.join(RESETS)})")
        return self.resets[reset]


def split_list(value: str) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def available_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped in the package."""
    folder = resources.files(PROFILE_PACKAGE).joinpath(PROFILE_FOLDER)
    return tuple(sorted(e.name[:-4] for e in folder.iterdir() if e.name.endswith(".ini")))


def load_profile(name: str, root: str | Path | None = None) -> BoardProfile:
    """Load the shipped profile ``name``; every path it names is rooted under ``root``."""
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ProfileError(f"invalid board name {name!r}")
    entry = resources.files(PROFILE_PACKAGE).joinpath(PROFILE_FOLDER, f"{name}.ini")
    if not entry.is_file():
        known = ", ".join(available_profiles())
        raise ProfileError(f"unknown board {name!r} (known: {known})")
    return parse_profile(entry.read_text(encoding="utf-8"), root=root, origin=f"{name}.ini")


def parse_profile(
    text: str, root: str | Path | None = None, origin: str = "<profile>"
) -> BoardProfile:
    """Parse profile INI text (exposed for tests of custom boards)."""
    cp = configparser.ConfigParser(interpolation=None)
    try:
        cp.read_string(text, source=origin)
        board = cp["board"]
        areas = {a: cp["areas"][a] for a in AREAS}
        resets = {r: split_list(cp["resets"].get(r, "")) for r in RESETS}
        names = split_list(cp["identity"]["sources"])
        match = int(cp["identity"].get("match", "1"))
        name, model = board["name"], board["model"]
    except (configparser.Error, KeyError, ValueError) as exc:
        raise ProfileError(f"{origin}: malformed profile: {exc}") from exc
    for reset, wiped in resets.items():
        unknown = [a for a in wiped if a not in AREAS]
        if unknown:
            raise ProfileError(f"{origin}: reset {reset!r} names unknown areas {unknown}")
    if not names or match < 1:
        raise ProfileError(f"{origin}: needs at least one identity source and match >= 1")
    sources = tuple(_source(cp, n, origin, set()) for n in names)
    return BoardProfile(
        name=name,
        model=model,
        description=board.get("description", ""),
        areas=areas,
        resets=resets,
        identity_sources=sources,
        match=match,
        root=_root(root, board),
        extra=dict(board),
    )


def _source(cp: configparser.ConfigParser, name: str, origin: str, seen: set) -> SourceSpec:
    section = f"source:{name}"
    if section not in cp or "type" not in cp[section]:
        raise ProfileError(f"{origin}: identity source {name!r} needs a [{section}] with type")
    if name in seen:
        raise ProfileError(f"{origin}: fallback loop at source {name!r}")
    seen.add(name)
    options: dict[str, str] = dict(cp[section])
    fallback_name = options.pop("fallback", "").strip()
    fallback = _source(cp, fallback_name, origin, seen) if fallback_name else None
    return SourceSpec(name, options.pop("type").strip(), options, fallback)


def _root(root: str | Path | None, board: configparser.SectionProxy) -> Path | None:
    """The explicit root, else the profile's default root (demo), else none (real box)."""
    if root is not None:
        return Path(root)
    env = board.get("default_root_env", "")
    if env and os.environ.get(env):
        return Path(os.environ[env])
    default = board.get("default_root", "")
    return Path(os.path.expanduser(default)) if default else None
