"""Verifying a license against trusted keys and an expected device, as one typed result.

Used by the box (expected = this device's identity, its board's policy, the billing
feature) and by the sales tool (expected = the billing.ac the license was made from).
Checks run in this order: shape, key id, signature, content, product, model, policy
(match and component names), device, feature; the first failure is the reason given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from hwlicense.board import BoardProfile
from hwlicense.identity import Identity, Policy, matching_keyed, matching_legacy
from hwlicense.license import License, license_from, split_signed
from hwlicense.product import BILLING_FEATURE, PRODUCT
from hwlicense.results import Code, FormatError

if TYPE_CHECKING:  # imported when a signature is checked (see keys.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying a license: ``ok`` plus a code and a human reason."""

    ok: bool
    code: Code
    reason: str
    license: License | None = None

    def __bool__(self) -> bool:
        return self.ok

    @classmethod
    def fail(cls, code: Code, reason: str) -> VerifyResult:
        return cls(False, code, reason, None)


@dataclass(frozen=True)
class Expected:
    """What the license must be for.  Each optional part is checked when given."""

    product: str
    model: str
    values: Mapping[str, str] | None = None  # the device's component values (format 2)
    legacy: Mapping[str, str] | None = None  # its format-1 hashes (format-1 licenses)
    policy: Policy | None = None  # the board's minimum match and known components
    feature: str | None = None  # a feature the license must include
    ac_nonce: str | None = None  # made from this billing.ac (sales tool, no values)

    @classmethod
    def device(cls, profile: BoardProfile, identity: Identity) -> Expected:
        """What a box requires: this device, its board's policy, the billing feature."""
        return cls(PRODUCT, profile.model, identity.values, identity.legacy,
                   Policy.of(profile), BILLING_FEATURE)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Expected:
        policy = Policy.from_json(data["policy"]) if data.get("policy") else None
        return cls(**{**data, "policy": policy})


def verify_license(
    data: bytes, trusted: Mapping[str, Ed25519PublicKey], expected: Expected
) -> VerifyResult:
    """Check every byte of ``data``; never raises for bad input."""
    try:
        doc, signed, signature = split_signed(data)
    except FormatError as exc:
        return VerifyResult.fail(exc.code, f"license refused: {exc.reason}")
    kid = doc.get("key-id")
    if not trusted:
        return VerifyResult.fail(
            Code.NO_TRUSTED_KEYS, "license refused: no vendor public key is installed"
        )
    public = trusted.get(kid)
    if public is None:
        return VerifyResult.fail(
            Code.UNKNOWN_KEY,
            f"license refused: signed by an unknown vendor key (key id {kid}); "
            "it was not issued by our sales team, or this add-on is too old for the new key",
        )
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(signature, signed)
    except InvalidSignature:
        return VerifyResult.fail(
            Code.BAD_SIGNATURE,
            "license refused: the signature does not match (the file was changed or "
            "damaged); upload the file exactly as received",
        )
    try:
        lic = license_from(doc)
    except FormatError as exc:
        return VerifyResult.fail(exc.code, f"license refused: {exc.reason}")
    if lic.product != expected.product:
        return VerifyResult.fail(
            Code.WRONG_PRODUCT,
            f"license refused: it is for product {lic.product!r}, not {expected.product!r}",
        )
    if lic.model != expected.model:
        return VerifyResult.fail(
            Code.WRONG_MODEL,
            f"license refused: it is for model {lic.model}, this device is {expected.model}",
        )
    problem = expected.policy and expected.policy.problem(
        list(lic.components), lic.match, legacy=lic.version == 1)
    if problem:
        return VerifyResult.fail(Code.POLICY, f"license refused: {problem}")
    refused = _device_problem(lic, expected)
    if refused is not None:
        return refused
    if expected.feature and expected.feature not in lic.features:
        return VerifyResult.fail(
            Code.NO_FEATURE,
            f"license refused: license {lic.license_id} does not include the "
            f"{expected.feature!r} feature (it has: {', '.join(lic.features)}); ask the "
            "sales team for a license with it",
        )
    return VerifyResult(True, Code.OK, f"license {lic.license_id} is valid for this device", lic)


def _device_problem(lic: License, expected: Expected) -> VerifyResult | None:
    """WRONG_DEVICE when too few components match; without the device's values (the
    sales tool without the private key), when the license was not made from the
    expected billing.ac."""
    if lic.version >= 2 and expected.values is not None and lic.kdf is not None:
        found = matching_keyed(lic.components, expected.values, lic.salt, lic.kdf)
        total = len(lic.components)
    elif lic.version == 1 and expected.legacy is not None:
        found, total = matching_legacy(lic.components, expected.legacy, expected.policy)
    elif expected.ac_nonce is not None:
        if lic.ac_nonce == expected.ac_nonce:
            return None
        return VerifyResult.fail(
            Code.WRONG_DEVICE,
            f"license refused: it was made from another billing.ac (nonce {lic.ac_nonce}, "
            f"not {expected.ac_nonce})")
    else:
        return VerifyResult.fail(Code.WRONG_DEVICE, "license refused: the device's identity "
                                 "is not known, so the license cannot be checked against it")
    if len(found) >= lic.match:
        return None
    return VerifyResult.fail(
        Code.WRONG_DEVICE,
        f"license refused: it is for another device (license fingerprint "
        f"{lic.fingerprint}; {len(found)} of {total} identity components match, "
        f"{lic.match} needed)",
    )
