"""Normalising identity values so harmless differences do not change the fingerprint.

Harmless (documented in docs/formats.md): letter case, separators (':', '-', '.', '_',
spaces, braces), surrounding whitespace and NUL bytes (device-tree strings end in NUL),
and firmware placeholder values, which count as "no value".  A source reader that finds
no value raises SourceUnavailable (here, so that every reader, hwlicense.sources and
hwlicense.serial_source, can raise it without importing the other).
"""

from __future__ import annotations

import re


class SourceUnavailable(Exception):
    """This source gave no usable value on this box (missing, unreadable, placeholder)."""


_SEPARATORS = re.compile(r"[\s:\-._{}\x00]+")

# Values firmware vendors put in DMI or device-tree fields when there is no real value.
PLACEHOLDERS = frozenset(
    {
        "",
        "NONE",
        "NULL",
        "NA",
        "N/A",
        "UNKNOWN",
        "DEFAULTSTRING",
        "NOTSPECIFIED",
        "NOTAPPLICABLE",
        "TOBEFILLEDBYOEM",
        "SYSTEMSERIALNUMBER",
        "SERIAL",
        "0123456789",
        "123456789",
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        "FFFFFFFFFFFF",
    }
)


def normalize(value: str) -> str | None:
    """Canonical form of an identity value, or None when it is empty or a placeholder.

    >>> normalize(" 52:54:00:ab:CD:ef\\n")
    '525400ABCDEF'
    >>> normalize("{4C4C4544-0042-3510-8052-B4C04F564433}")
    '4C4C4544004235108052B4C04F564433'
    >>> normalize("To Be Filled By O.E.M.") is None
    True
    """
    canonical = _SEPARATORS.sub("", value).upper()
    if canonical in PLACEHOLDERS or set(canonical) <= {"0"}:
        return None
    return canonical


def normalize_mac(value: str) -> str | None:
    """A MAC address as 12 upper-case hex digits; None when invalid, all-zero or broadcast."""
    canonical = _SEPARATORS.sub("", value).upper()
    if len(canonical) != 12 or any(c not in "0123456789ABCDEF" for c in canonical):
        return None
    if canonical in ("000000000000", "FFFFFFFFFFFF"):
        return None
    return canonical
