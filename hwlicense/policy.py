"""What the sales tool will sign: a billing.ac checked against its board's profile.

The profile (read as data, by the billing.ac's ``board``) says which identity components
the board reads, the minimum ``match`` and how far its identity can be trusted
(``assurance``).  The box applies the same minimum and names when it verifies a license
(``identity.Policy``); refusing here means a customer's edited request gets an answer,
not a license that no box would accept, or worse, one that some box would.
"""

from __future__ import annotations

from collections.abc import Mapping

from hwlicense.billing_ac import BillingAC
from hwlicense.board import GROUP, BoardProfile, SourceSpec
from hwlicense.identity import Policy
from hwlicense.normalize import normalize, normalize_mac


class PolicyError(Exception):
    """The billing.ac asks for a license the policy does not allow; says why."""


def check_request(ac: BillingAC, profile: BoardProfile, *, test_device: bool = False) -> list[str]:
    """Refuse (PolicyError) what no key is needed to see; returns warnings to show."""
    if ac.version < 2:
        raise PolicyError(
            f"this billing.ac is of the old format 1 (add-on {ac.addon_version}): it carries "
            "guessable hashes instead of sealed values, so its identity cannot be checked; "
            "upgrade the add-on on the box, then download billing.ac again")
    if ac.board != profile.name or ac.model != profile.model:
        raise PolicyError(f"board {ac.board!r} is model {profile.model}, but the billing.ac "
                          f"says model {ac.model}")
    problem = Policy.of(profile).problem(list(ac.names), ac.match)
    if problem:
        readable = (f" (only {len(ac.names)} identity source(s) could be read on the box: "
                    f"{', '.join(ac.names)}; check its hardware)"
                    if len(ac.names) < profile.match else "")
        raise PolicyError(f"the billing.ac is not acceptable: {problem}{readable}")
    if not ac.sealed:
        raise PolicyError("the billing.ac holds no sealed identity: the box trusts no vendor "
                          "key (the add-on package was built without hwlicense/trusted_keys/"
                          "*.pub); install the vendor key on the box and download it again")
    if profile.assurance == "test" and not test_device:
        raise PolicyError(
            f"model {profile.model} (board {profile.name}) is a developer test device: its "
            "identity is a file anyone can copy to another machine; give --test-device to "
            "issue a license for testing")
    warnings = []
    if profile.assurance == "weak":
        warnings.append(
            f"model {profile.model} (board {profile.name}) is a virtual or generic machine: "
            "whoever runs it can set its DMI values and MAC, so a full copy of this "
            "machine keeps the license; sell it knowingly")
    if profile.assurance == "test":
        warnings.append(f"issuing a license for test device model {profile.model}")
    return warnings


def check_values(profile: BoardProfile, values: Mapping[str, str]) -> None:
    """Refuse (PolicyError) unsealed values a box of this board could not have read."""
    specs = {s.name: s for s in profile.identity_sources}
    for name, value in sorted(values.items()):
        spec = specs.get(name)
        if spec is None:
            raise PolicyError(f"sealed component {name!r} is not read by board {profile.name}")
        if not _plausible(spec, value):
            raise PolicyError(f"sealed component {name!r} has a value board {profile.name} "
                              "never reports (edited or forged billing.ac)")


def _plausible(spec: SourceSpec, value: str) -> bool:
    if spec.type == GROUP:
        parts = {p.name: p for p in spec.parts}
        lines = value.split("\n")
        names = [line.partition("=")[0] for line in lines]
        order = [p for p in parts if p in names]
        return (bool(lines) and names == order and
                all(_plausible(parts[n], line.partition("=")[2])
                    for n, line in zip(names, lines)))
    if spec.type == "mac":
        return normalize_mac(value) == value
    return normalize(value) == value
