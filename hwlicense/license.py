"""License files: issue (sign with the vendor key) and read back.  Format: docs/formats.md.

The signature is Ed25519 over a domain prefix plus every byte before the signature
line, which must be the last line; base64 must be canonical, so no byte of the file can
change without the check failing.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hwlicense.billing_ac import BillingAC, component_fields, parse_components
from hwlicense.identity import fingerprint_of
from hwlicense.keys import key_id
from hwlicense.results import Code, FormatError
from hwlicense.textformat import LICENSE_KIND, Document, parse, serialize
from hwlicense.timefmt import format_utc, parse_utc

if TYPE_CHECKING:  # imported where a key is used (see keys.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LICENSE_VERSION = 1
SIGNING_DOMAIN = b"billing-addon license signature v1\x00"
DEFAULT_FEATURES = ("billing",)
_SIG_PREFIX = b"signature: "
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_LICENSE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FEATURE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class License:
    """The signed content of a license file (signature checked separately)."""

    license_id: str
    product: str
    model: str
    board: str
    components: Mapping[str, str]
    match: int
    issued: datetime
    features: tuple[str, ...]
    ac_nonce: str
    key_id: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.components)


@dataclass(frozen=True)
class SignedLicense:
    """A parsed license file: its content, the signed message and the signature."""

    license: License
    signed: bytes
    signature: bytes


def new_license_id(issued: datetime) -> str:
    """E.g. BL-20240501-3F9A1C2B: sortable by date, unique by chance."""
    return f"BL-{issued:%Y%m%d}-{secrets.token_hex(4).upper()}"


def issue_license(
    ac: BillingAC,
    private_key: Ed25519PrivateKey,
    *,
    issued: datetime,
    license_id: str | None = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    product: str | None = None,
) -> bytes:
    """Sign a license for the device that wrote ``ac`` (product defaults to the ac's)."""
    license_id = license_id or new_license_id(issued)
    if not _LICENSE_ID.match(license_id):
        raise ValueError(f"bad license id {license_id!r}")
    if not features or not all(_FEATURE.match(f) for f in features):
        raise ValueError(f"bad features {features!r}")
    fields = [
        ("license-id", license_id),
        ("product", product or ac.product),
        ("model", ac.model),
        ("board", ac.board),
        ("fingerprint", ac.fingerprint),
    ]
    fields += component_fields(ac.components)
    fields += [
        ("match", str(ac.match)),
        ("issued", format_utc(issued)),
        ("expires", "never"),
        ("features", ",".join(features)),
        ("ac-nonce", ac.nonce),
        ("key-id", key_id(private_key.public_key())),
    ]
    body = serialize(LICENSE_KIND, LICENSE_VERSION, fields)
    signature = private_key.sign(SIGNING_DOMAIN + body)
    return body + _SIG_PREFIX + base64.b64encode(signature) + b"\n"


def read_license(data: bytes) -> SignedLicense:
    """Parse a license file without checking the signature; FormatError otherwise."""
    doc, signed, signature = split_signed(data)
    return SignedLicense(license_from(doc), signed, signature)


def split_signed(data: bytes) -> tuple[Document, bytes, bytes]:
    """The document, the signed bytes and the signature; only the shape is checked."""
    doc = parse(data, LICENSE_KIND, LICENSE_VERSION)
    body, _, last = doc.text[:-1].rpartition(b"\n")
    if not last.startswith(_SIG_PREFIX):
        raise FormatError(Code.TRUNCATED, "the license has no signature line at the end: cut short?")
    encoded = last[len(_SIG_PREFIX):]
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(Code.MALFORMED, "the signature is not valid base64") from None
    if len(signature) != 64 or base64.b64encode(signature) != encoded:
        raise FormatError(Code.MALFORMED, "the signature is damaged (not 64 canonical bytes)")
    if doc.all("signature") != [encoded.decode("ascii")]:
        raise FormatError(Code.MALFORMED, "more than one signature line")
    kid = doc.get("key-id")
    if not _KEY_ID.match(kid):
        raise FormatError(Code.MALFORMED, f"bad key id {kid!r}")
    return doc, SIGNING_DOMAIN + body + b"\n", signature


def license_from(doc: Document) -> License:
    """The fields of a (signature-checked) license document, validated."""
    components, match = parse_components(doc)
    if doc.get("expires") != "never":
        raise FormatError(Code.MALFORMED, "this format only knows permanent licenses")
    features = tuple(doc.get("features").split(","))
    if not all(_FEATURE.match(f) for f in features):
        raise FormatError(Code.MALFORMED, "bad features list")
    return License(
        license_id=_checked(doc.get("license-id"), _LICENSE_ID, "license-id"),
        product=doc.get("product"),
        model=doc.get("model"),
        board=doc.get("board"),
        components=components,
        match=match,
        issued=parse_utc(doc.get("issued"), "issued"),
        features=features,
        ac_nonce=doc.get("ac-nonce"),
        key_id=doc.get("key-id"),
    )


def _checked(value: str, pattern: re.Pattern[str], field: str) -> str:
    if not pattern.match(value):
        raise FormatError(Code.MALFORMED, f"field {field!r} has a bad value")
    return value
