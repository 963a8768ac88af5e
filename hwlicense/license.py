"""License files: issue (sign with the vendor key) and read back.  Format: docs/formats.md.

The signature is Ed25519 over a domain prefix plus every byte before the signature
line, which must be the last line; base64 must be canonical, so no byte of the file can
change without the check failing.

Format 2 (issued now) binds the license to the device with a keyed slow digest per
identity component (scrypt with a random salt of this license, ``identity.keyed_digest``),
made from the values sealed in a format-2 billing.ac; its fingerprint is an HMAC keyed
with a secret derived from the vendor key, so it names the device in the vendor's records
but nobody else can compute it.  Format 1 (unkeyed SHA-256 hashes) is still read and
verified: licenses already issued keep working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from hwlicense.billing_ac import BillingAC, component_fields, parse_components, unseal_values
from hwlicense.identity import DEFAULT_KDF, HASH_HEX, Kdf, keyed_digest
from hwlicense.keys import key_id
from hwlicense.product import BILLING_FEATURE
from hwlicense.results import Code, FormatError
from hwlicense.textformat import LICENSE_KIND, Document, parse, serialize
from hwlicense.timefmt import format_utc, parse_utc

if TYPE_CHECKING:  # imported where a key is used (see keys.py)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LICENSE_VERSION = 2
SIGNING_DOMAIN = b"billing-addon license signature v1\x00"
FINGERPRINT_LABEL = b"billing-addon vendor fingerprint v2"
SALT_BYTES = 16
DEFAULT_FEATURES = (BILLING_FEATURE,)
_SIG_PREFIX = b"signature: "
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_LICENSE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_FEATURE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class License:
    """The signed content of a license file (signature checked separately)."""

    license_id: str
    product: str
    model: str
    board: str
    fingerprint: str
    components: Mapping[str, str]  # name -> digest (format 2: keyed, format 1: unkeyed)
    match: int
    issued: datetime
    features: tuple[str, ...]
    ac_nonce: str
    key_id: str
    version: int = LICENSE_VERSION
    salt: bytes = b""  # format 2: the salt of the keyed digests
    kdf: Kdf | None = None  # format 2: their cost


@dataclass(frozen=True)
class SignedLicense:
    """A parsed license file: its content, the signed message and the signature."""

    license: License
    signed: bytes
    signature: bytes


def new_license_id(issued: datetime) -> str:
    """E.g. BL-20240501-3F9A1C2B: sortable by date, unique by chance."""
    return f"BL-{issued:%Y%m%d}-{secrets.token_hex(4).upper()}"


def vendor_fingerprint(private_key: Ed25519PrivateKey, values: Mapping[str, str]) -> str:
    """32 hex digits naming a device in the vendor's records: an HMAC of its component
    values under a secret derived from the vendor key (stable for the device; nobody
    without the key can compute or test it)."""
    from cryptography.hazmat.primitives import serialization

    seed = private_key.private_bytes(serialization.Encoding.Raw,
                                     serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
    secret = hmac.new(seed, FINGERPRINT_LABEL, hashlib.sha256).digest()
    text = "".join(f"{n}={v}\n" for n, v in sorted(values.items())).encode("ascii")
    return hmac.new(secret, text, hashlib.sha256).hexdigest()[:HASH_HEX]


def issue_license(
    ac: BillingAC,
    private_key: Ed25519PrivateKey,
    *,
    issued: datetime,
    license_id: str | None = None,
    features: Sequence[str] = DEFAULT_FEATURES,
    product: str | None = None,
    values: Mapping[str, str] | None = None,
    kdf: Kdf = DEFAULT_KDF,
) -> bytes:
    """Sign a license (format 2) for the device that wrote ``ac`` (product defaults to
    the ac's).  ``values``: the ac's unsealed values (``unseal_values``), unsealed here
    when not given.  No policy is checked here: see hwlicense.policy and the sales tool."""
    license_id = license_id or new_license_id(issued)
    if not _LICENSE_ID.match(license_id):
        raise ValueError(f"bad license id {license_id!r}")
    if not features or not all(_FEATURE.match(f) for f in features):
        raise ValueError(f"bad features {features!r}")
    if ac.version < 2:
        raise ValueError("a format-1 billing.ac cannot be issued: it holds no sealed values")
    if values is None:
        values = unseal_values(ac, private_key)
    salt = secrets.token_bytes(SALT_BYTES)
    fields = [
        ("license-id", license_id),
        ("product", product or ac.product),
        ("model", ac.model),
        ("board", ac.board),
        ("fingerprint", vendor_fingerprint(private_key, values)),
        ("kdf", str(kdf)),
        ("salt", salt.hex()),
    ]
    fields += component_fields({n: keyed_digest(n, v, salt, kdf) for n, v in values.items()})
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
    components, match = parse_components(doc, check_fingerprint=doc.version == 1)
    salt, kdf = b"", None
    if doc.version >= 2:
        _checked(doc.get("fingerprint"), _HEX32, "fingerprint")
        salt = bytes.fromhex(_checked(doc.get("salt"), _HEX32, "salt"))
        try:
            kdf = Kdf.parse(doc.get("kdf"))
        except ValueError as exc:
            raise FormatError(Code.MALFORMED, str(exc)) from exc
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
        fingerprint=doc.get("fingerprint"),
        components=components,
        match=match,
        issued=parse_utc(doc.get("issued"), "issued"),
        features=features,
        ac_nonce=doc.get("ac-nonce"),
        key_id=doc.get("key-id"),
        version=doc.version,
        salt=salt,
        kdf=kdf,
    )


def _checked(value: str, pattern: re.Pattern[str], field: str) -> str:
    if not pattern.match(value):
        raise FormatError(Code.MALFORMED, f"field {field!r} has a bad value")
    return value
