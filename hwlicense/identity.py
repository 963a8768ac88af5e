"""Device identity: hashed components from the board's sources, and a fingerprint.

Each readable source gives a component hash; the fingerprint hashes all components.  A
license names the components and how many must match (``match``), so one source may
change or disappear (a replaced NIC, an unplugged modem) without losing the license.
Raw values never leave the box: only their salted SHA-256 prefixes do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from hwlicense.board import BoardProfile
from hwlicense.sources import SourceUnavailable, read_source

COMPONENT_DOMAIN = "billing-addon/identity/v1"
HASH_HEX = 32  # 128 bits, printed as lower-case hex


class IdentityError(Exception):
    """No identity source of the board could be read: the box cannot be licensed."""


@dataclass(frozen=True)
class Identity:
    """This device as a license sees it."""

    components: Mapping[str, str]  # source name -> component hash
    match: int  # how many components a license needs to match
    problems: Mapping[str, str]  # source name -> why it was not readable

    @property
    def fingerprint(self) -> str:
        """One short hash naming the device (display and quick comparison)."""
        return fingerprint_of(self.components)


def component_hash(name: str, value: str) -> str:
    """Salted hash of a normalised value; the raw serial or MAC never leaves the box."""
    data = f"{COMPONENT_DOMAIN}\0{name}\0{value}".encode()
    return hashlib.sha256(data).hexdigest()[:HASH_HEX]


def fingerprint_of(components: Mapping[str, str]) -> str:
    """Hash over all components, independent of their order."""
    lines = "".join(f"{n}={h}\n" for n, h in sorted(components.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()[:HASH_HEX]


def read_identity(profile: BoardProfile) -> Identity:
    """Read every identity source of the profile; raise IdentityError if none works."""
    components: dict[str, str] = {}
    problems: dict[str, str] = {}
    for spec in profile.identity_sources:
        try:
            components[spec.name] = component_hash(spec.name, read_source(spec, profile))
        except SourceUnavailable as exc:
            problems[spec.name] = str(exc)
    if not components:
        detail = "; ".join(f"{n}: {r}" for n, r in problems.items())
        raise IdentityError(
            f"cannot identify this {profile.model} device (board {profile.name!r}): "
            f"no identity source could be read ({detail})"
        )
    return Identity(components, min(profile.match, len(components)), problems)


def matching(licensed: Mapping[str, str], current: Mapping[str, str]) -> tuple[str, ...]:
    """Names of the licensed components this device still has, unchanged."""
    return tuple(sorted(n for n, h in licensed.items() if current.get(n) == h))
