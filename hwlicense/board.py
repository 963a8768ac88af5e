"""Board profiles: where a box's identity comes from and which reset wipes which area.

Profiles are INI data files (NAME.ini) in a folder, loaded by name.  The caller may name
the folder (``profiles=``: a path, or a Traversable such as
``importlib.resources.files("pkg").joinpath("profiles")``); by default it is the add-on's
board profiles, found as data beside this package (DEFAULT_PROFILE_DIRS): hwlicense
imports no code of the add-on to read them.  Every path a profile names can be rooted
under a test directory, so two emulated devices can live side by side.  See
docs/formats.md.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    Folder = str | os.PathLike | Traversable  # a path, or e.g. importlib.resources.files(...)

# The add-on's board/profiles, relative to the folder that holds hwlicense: installed
# (site-packages, the box's lib/) it is the package data of billing_addon.board, in the
# source tree the folder board/profiles.  Only read as data, never imported.
DEFAULT_PROFILE_DIRS = ("billing_addon/board/profiles", "board/profiles")
AREAS = ("data", "persist", "nvram")
RESETS = ("upgrade", "factory", "hard")
# How far the vendor may trust a board's identity (``[identity] assurance``): an appliance
# (our firmware on our hardware), a weak one (a VM or a generic Linux box, whose DMI values
# and MAC whoever runs it can set: the sales tool warns), a test device (demo: an id in a
# file anyone can copy; the sales tool refuses it unless told it is for testing).
ASSURANCES = ("appliance", "weak", "test")
GROUP = "group"  # source type: one component made of several sources (``parts``)


class ProfileError(Exception):
    """A board profile is unknown or malformed."""


@dataclass(frozen=True)
class SourceSpec:
    """One identity source as the profile declares it: a name, a type, its options."""

    name: str
    type: str
    options: Mapping[str, str]
    fallback: SourceSpec | None = None
    parts: tuple[SourceSpec, ...] = ()  # type 'group': the sources it is made of

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
    match: int  # the minimum: a license needing fewer matching components is refused
    root: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    assurance: str = "appliance"  # see ASSURANCES

    @property
    def source_names(self) -> tuple[str, ...]:
        """The identity components this board reads, in order."""
        return tuple(s.name for s in self.identity_sources)

    @property
    def part_names(self) -> Mapping[str, str]:
        """Part name -> the group component it belongs to (sources of a 'group')."""
        return {p.name: s.name for s in self.identity_sources for p in s.parts}

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


def profile_folder(profiles: Folder | None = None) -> Traversable:
    """The folder of profiles: ``profiles`` when given, else the first of
    DEFAULT_PROFILE_DIRS that exists beside this package."""
    if isinstance(profiles, (str, os.PathLike)):
        return Path(profiles)
    if profiles is not None:
        return profiles
    base = Path(__file__).resolve().parents[1]
    for candidate in DEFAULT_PROFILE_DIRS:
        if (base / candidate).is_dir():
            return base / candidate
    raise ProfileError(f"no board profiles in {', '.join(DEFAULT_PROFILE_DIRS)} under {base}; "
                       "name the folder (profiles=)")


def available_profiles(profiles: Folder | None = None) -> tuple[str, ...]:
    """Names of the profiles in the folder (see profile_folder)."""
    folder = profile_folder(profiles)
    return tuple(sorted(e.name[:-4] for e in folder.iterdir() if e.name.endswith(".ini")))


def load_profile(
    name: str, root: str | Path | None = None, profiles: Folder | None = None
) -> BoardProfile:
    """Load the profile ``name`` from the folder ``profiles`` (default: the add-on's, see
    profile_folder); every path it names is rooted under ``root``."""
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ProfileError(f"invalid board name {name!r}")
    folder = profile_folder(profiles)
    entry = folder.joinpath(f"{name}.ini")
    if not entry.is_file():
        known = ", ".join(available_profiles(folder))
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
        assurance = cp["identity"].get("assurance", ASSURANCES[0]).strip()
        name, model = board["name"], board["model"]
    except (configparser.Error, KeyError, ValueError) as exc:
        raise ProfileError(f"{origin}: malformed profile: {exc}") from exc
    for reset, wiped in resets.items():
        unknown = [a for a in wiped if a not in AREAS]
        if unknown:
            raise ProfileError(f"{origin}: reset {reset!r} names unknown areas {unknown}")
    if not names or match < 1:
        raise ProfileError(f"{origin}: needs at least one identity source and match >= 1")
    if 2 * match <= len(names):
        # Else one license could name half the components of one device and half of
        # another's and be valid on both.
        raise ProfileError(f"{origin}: match {match} of {len(names)} sources: more than half "
                           "of the sources must have to match")
    if assurance not in ASSURANCES:
        raise ProfileError(f"{origin}: assurance {assurance!r} is not one of "
                           f"{', '.join(ASSURANCES)}")
    seen: set[str] = set()
    sources = tuple(_source(cp, n, origin, seen) for n in names)
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
        assurance=assurance,
    )


def _source(cp: configparser.ConfigParser, name: str, origin: str, seen: set,
            in_group: bool = False) -> SourceSpec:
    """The source ``name``; ``seen`` holds every name used so far, so no source is read
    twice (a fallback loop, a part of two groups, a group part listed as a source)."""
    section = f"source:{name}"
    if section not in cp or "type" not in cp[section]:
        raise ProfileError(f"{origin}: identity source {name!r} needs a [{section}] with type")
    if name in seen:
        raise ProfileError(f"{origin}: source {name!r} is used twice (fallback loop?)")
    seen.add(name)
    options: dict[str, str] = dict(cp[section])
    kind = options.pop("type").strip()
    fallback_name = options.pop("fallback", "").strip()
    fallback = _source(cp, fallback_name, origin, seen) if fallback_name else None
    parts: tuple[SourceSpec, ...] = ()
    if kind == GROUP:
        part_names = split_list(options.pop("parts", ""))
        if in_group or fallback is not None or not part_names:
            raise ProfileError(f"{origin}: group {name!r} needs parts, is not a part itself "
                               "and has no fallback")
        parts = tuple(_source(cp, p, origin, seen, in_group=True) for p in part_names)
    return SourceSpec(name, kind, options, fallback, parts)


def _root(root: str | Path | None, board: configparser.SectionProxy) -> Path | None:
    """The explicit root, else the profile's default root (demo), else none (real box)."""
    if root is not None:
        return Path(root)
    env = board.get("default_root_env", "")
    if env and os.environ.get(env):
        return Path(os.environ[env])
    default = board.get("default_root", "")
    return Path(os.path.expanduser(default)) if default else None
