"""Reset semantics as the installer and the qemu harness run them.

Each function wipes exactly the storage areas the board profile lists for that reset
(the contents; the area folder itself stays, it may be a mount point) and returns the
names of the areas it wiped.
"""

from __future__ import annotations

from hwlicense.board import BoardProfile
from hwlicense.storage import wipe


def apply_reset(profile: BoardProfile, reset: str) -> tuple[str, ...]:
    """Wipe the areas of reset 'upgrade', 'factory' or 'hard' (ProfileError if unknown)."""
    areas = profile.wipes(reset)
    for area in areas:
        wipe(profile.area(area))
    return areas


def firmware_upgrade(profile: BoardProfile) -> tuple[str, ...]:
    """Firmware upgrade: every profile shipped keeps all areas."""
    return apply_reset(profile, "upgrade")


def factory_reset(profile: BoardProfile) -> tuple[str, ...]:
    """Factory defaults: the billing data goes; license and trial stay."""
    return apply_reset(profile, "factory")


def hard_reset(profile: BoardProfile) -> tuple[str, ...]:
    """Hard reset: data, and on U20/U50 also persist (the license)."""
    return apply_reset(profile, "hard")
