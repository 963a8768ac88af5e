"""Verifying a license against trusted keys and an expected device, as one typed result.

Used by the box (expected = this device's identity) and by the sales tool (expected =
the billing.ac the license was made from).  Checks run in this order: shape, key id,
signature, content, product, device, model; the first failure is the reason given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hwlicense.identity import fingerprint_of, matching
from hwlicense.license import License, license_from, split_signed
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
    """What the license must be for: product, board model and identity components."""

    product: str
    model: str
    components: Mapping[str, str]


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
    found = matching(lic.components, expected.components)
    if len(found) < lic.match:
        return VerifyResult.fail(
            Code.WRONG_DEVICE,
            f"license refused: it is for another device (license fingerprint "
            f"{lic.fingerprint}, this device {fingerprint_of(expected.components)}; "
            f"{len(found)} of {len(lic.components)} identity components match, "
            f"{lic.match} needed)",
        )
    if lic.model != expected.model:
        return VerifyResult.fail(
            Code.WRONG_MODEL,
            f"license refused: it is for model {lic.model}, this device is {expected.model}",
        )
    return VerifyResult(True, Code.OK, f"license {lic.license_id} is valid for this device", lic)
