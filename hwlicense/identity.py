"""Device identity: the components read from the board's sources, and how a license
names them.

Each readable source gives a **component**: its normalised value.  A ``group`` source
(DMI serial and UUID on a VM) is one component made of its parts' values.  The values
stay on the box in clear; what leaves it (docs/formats.md):

* in billing.ac (format 2), the values sealed to the vendor's key (``hwlicense.seal``);
* in a license (format 2), per component a slow keyed digest: scrypt of the value with
  the license's random salt (``keyed_digest``), which the box recomputes from its own
  values to count how many still match.

Licenses of format 1 name unkeyed SHA-256 hashes of each source (and of each part of a
group); ``Identity.legacy`` holds them so those licenses keep verifying.

A license names the components and how many must match (``match``), so one source may
change or disappear (a replaced NIC, an unplugged modem) without losing the license; the
board profile sets the minimum (``Policy``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from hwlicense.board import GROUP, BoardProfile, SourceSpec
from hwlicense.sources import SourceUnavailable, read_source

COMPONENT_DOMAIN = "billing-addon/identity/v1"  # format-1 hashes (legacy)
KEYED_DOMAIN = "billing-addon/identity/v2"  # format-2 keyed digests
HASH_HEX = 32  # 128 bits, printed as lower-case hex


class IdentityError(Exception):
    """No identity source of the board could be read: the box cannot be licensed."""


@dataclass(frozen=True)
class Identity:
    """This device as a license sees it."""

    values: Mapping[str, str] = field(repr=False)  # component name -> normalised value
    match: int  # how many components a license for this device needs to match
    problems: Mapping[str, str]  # source (or part) name -> why it was not readable
    legacy: Mapping[str, str] = field(repr=False, default_factory=dict)
    # ^ format-1 name (a source or a group's part) -> its unkeyed format-1 hash

    @property
    def components(self) -> Mapping[str, str]:
        """Component name -> unkeyed hash (for comparisons and display on the box; no
        file that leaves the box carries these)."""
        return {n: component_hash(n, v) for n, v in self.values.items()}

    @property
    def fingerprint(self) -> str:
        """One short hash over the components (on the box only)."""
        return fingerprint_of(self.components)


def component_hash(name: str, value: str) -> str:
    """Format 1: unkeyed hash of a normalised value (guessable values can be recovered)."""
    data = f"{COMPONENT_DOMAIN}\0{name}\0{value}".encode()
    return hashlib.sha256(data).hexdigest()[:HASH_HEX]


def fingerprint_of(components: Mapping[str, str]) -> str:
    """Hash over all components, independent of their order."""
    lines = "".join(f"{n}={h}\n" for n, h in sorted(components.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:HASH_HEX]


# --- format 2: keyed slow digests ------------------------------------------------------

_KDF = re.compile(r"^scrypt n=([0-9]{1,7}) r=([0-9]{1,2}) p=([0-9])$")
MAX_KDF_MEMORY = 64 * 1024 * 1024  # a box never spends more on one digest


@dataclass(frozen=True)
class Kdf:
    """scrypt cost parameters, written into each license (``kdf: scrypt n=.. r=.. p=..``)."""

    n: int
    r: int
    p: int

    def __str__(self) -> str:
        return f"scrypt n={self.n} r={self.r} p={self.p}"

    @property
    def memory(self) -> int:
        return 128 * self.r * self.n

    @classmethod
    def parse(cls, text: str) -> Kdf:
        """The parameters of a ``kdf:`` value; ValueError when unknown or too costly."""
        found = _KDF.match(text)
        if found is None:
            raise ValueError(f"unknown key derivation {text!r}")
        kdf = cls(*(int(g) for g in found.groups()))
        if not (1024 <= kdf.n <= 2**16 and kdf.n & (kdf.n - 1) == 0 and 1 <= kdf.r <= 16
                and 1 <= kdf.p <= 4 and kdf.memory <= MAX_KDF_MEMORY):
            raise ValueError(f"key derivation {text!r} is out of the allowed range")
        return kdf


# 8 MiB and 18-23 ms per digest on an x86 server core; the box checks each of its (at
# most three) components once per license file.  docs/formats.md has the numbers.
DEFAULT_KDF = Kdf(n=2**13, r=8, p=1)


def keyed_digest(name: str, value: str, salt: bytes, kdf: Kdf) -> str:
    """Format 2: scrypt of a component with the license's salt (32 hex digits)."""
    secret = f"{KEYED_DOMAIN}\0{name}\0{value}".encode()
    digest = hashlib.scrypt(secret, salt=salt, n=kdf.n, r=kdf.r, p=kdf.p,
                            maxmem=kdf.memory + 1024 * 1024, dklen=HASH_HEX // 2)
    return digest.hex()


# --- reading the device --------------------------------------------------------------

def _read_group(spec: SourceSpec, profile: BoardProfile, problems: dict[str, str],
                legacy: dict[str, str]) -> str:
    """A group's value: ``part=value`` lines of its readable parts, in profile order."""
    lines = []
    for part in spec.parts:
        try:
            value = read_source(part, profile)
        except SourceUnavailable as exc:
            problems[part.name] = str(exc)
            continue
        legacy[part.name] = component_hash(part.name, value)
        lines.append(f"{part.name}={value}")
    if not lines:
        raise SourceUnavailable(f"none of {', '.join(p.name for p in spec.parts)} readable")
    return "\n".join(lines)


def read_identity(profile: BoardProfile) -> Identity:
    """Read every identity source of the profile; raise IdentityError if none works."""
    values: dict[str, str] = {}
    problems: dict[str, str] = {}
    legacy: dict[str, str] = {}
    for spec in profile.identity_sources:
        try:
            if spec.type == GROUP:
                values[spec.name] = _read_group(spec, profile, problems, legacy)
            else:
                values[spec.name] = read_source(spec, profile)
                legacy[spec.name] = component_hash(spec.name, values[spec.name])
        except SourceUnavailable as exc:
            problems[spec.name] = str(exc)
    if not values:
        detail = "; ".join(f"{n}: {r}" for n, r in problems.items())
        raise IdentityError(
            f"cannot identify this {profile.model} device (board {profile.name!r}): "
            f"no identity source could be read ({detail})"
        )
    return Identity(values, min(profile.match, len(values)), problems, legacy)


# --- what a board accepts ------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    """What a board's profile allows a license to say about identity."""

    board: str
    min_match: int  # a license requiring fewer matching components is refused
    sources: tuple[str, ...]  # the components the board reads
    parts: Mapping[str, str] = field(default_factory=dict)  # group part -> its component

    @classmethod
    def of(cls, profile: BoardProfile) -> Policy:
        return cls(profile.name, profile.match, profile.source_names, dict(profile.part_names))

    @classmethod
    def from_json(cls, data: dict) -> Policy:
        return cls(str(data["board"]), int(data["min_match"]), tuple(data["sources"]),
                   dict(data["parts"]))

    def problem(self, names: list[str], match: int, legacy: bool = False) -> str | None:
        """Why a license (or request) naming ``names`` with ``match`` is not acceptable
        on this board, or None.  Format 1 (``legacy``) may name the parts of a group."""
        known = set(self.sources) | (set(self.parts) if legacy else set())
        unknown = sorted(set(names) - known)
        if unknown:
            return (f"it names identity component{'s' if len(unknown) > 1 else ''} "
                    f"{', '.join(unknown)}, which board {self.board} does not read (it reads "
                    f"{', '.join(self.sources)})")
        if match < self.min_match:
            return (f"it requires only {match} matching identity component"
                    f"{'s' if match > 1 else ''}; board {self.board} requires at least "
                    f"{self.min_match}")
        return None


def matching_keyed(licensed: Mapping[str, str], values: Mapping[str, str], salt: bytes,
                   kdf: Kdf) -> tuple[str, ...]:
    """Format 2: names of the licensed components whose digest this device reproduces."""
    return tuple(sorted(n for n, digest in licensed.items()
                        if n in values and keyed_digest(n, values[n], salt, kdf) == digest))


def matching_legacy(licensed: Mapping[str, str], legacy: Mapping[str, str],
                    policy: Policy | None) -> tuple[tuple[str, ...], int]:
    """Format 1: the components this device still has, and how many the license names.
    The parts of a group count as one component, which matches when every part the
    license names is unchanged (a cloned VM keeps its DMI, not its MAC)."""
    groups: dict[str, bool] = {}
    for name, digest in licensed.items():
        component = policy.parts.get(name, name) if policy else name
        groups[component] = groups.get(component, True) and legacy.get(name) == digest
    return tuple(sorted(n for n, ok in groups.items() if ok)), len(groups)
