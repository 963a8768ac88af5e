"""billing.ac: the device's license request ("Download Billing Source File").

Format 2 (written now) names the product, board, model and the names of the identity
components; their values are sealed to the vendor's key(s) (``hwlicense.seal``), so only
the sales tool holding the private key can read them.  Format 1 (older add-ons) carried
unkeyed hashes of the values instead; it is still read (inspect, verify), never written.
A SHA-256 checksum line catches typos, truncation and casual edits before the sales tool
signs anything (it is not a security boundary: the sales tool's policy checks, the
license signature and the device's own identity check are).  Format: docs/formats.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from hwlicense.identity import Identity, fingerprint_of
from hwlicense.results import Code, FormatError
from hwlicense.textformat import AC_KIND, Document, parse, serialize
from hwlicense.timefmt import format_utc, parse_utc

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

AC_VERSION = 2
_HASH = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[a-z0-9_]{1,40}$")
_WORD = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_SEALED = re.compile(r"^([0-9a-f]{16}) ([A-Za-z0-9+/]+={0,2})$")
MAX_SEALED = 8  # vendor keys a box seals to (key rotation: old and new)
PAD = 64  # sealed values are padded to a multiple of this: lengths say little


@dataclass(frozen=True)
class BillingAC:
    """The content of a billing.ac file."""

    product: str
    model: str
    board: str
    addon_version: str
    created: datetime
    nonce: str
    names: tuple[str, ...]  # the identity components the box read, sorted
    match: int
    version: int = AC_VERSION
    legacy: Mapping[str, str] = field(default_factory=dict)  # format 1: name -> hash
    sealed: Mapping[str, bytes] = field(default_factory=dict)  # format 2: key id -> blob
    sealed_aad: bytes = b""  # format 2: the text the sealed blobs are bound to

    @property
    def fingerprint(self) -> str | None:
        """Format 1's hash of the components; format 2 has none (the license's is the
        vendor's, see license.py)."""
        return fingerprint_of(self.legacy) if self.version == 1 else None


def _values_text(values: Mapping[str, str]) -> bytes:
    text = json.dumps(dict(sorted(values.items())), separators=(",", ":")).encode("ascii")
    return text + b" " * (-len(text) % PAD)


def make_billing_ac(
    identity: Identity, *, product: str, model: str, board: str, addon_version: str,
    created: datetime, recipients: Mapping[str, Ed25519PublicKey],
) -> bytes:
    """Render a billing.ac (format 2) for this device, its values sealed to each of the
    ``recipients`` (key id -> vendor public key; none: nobody can issue from it)."""
    fields = [
        ("product", product),
        ("model", model),
        ("board", board),
        ("addon-version", addon_version),
        ("created", format_utc(created)),
        ("nonce", secrets.token_hex(16)),
        ("components", ",".join(sorted(identity.values))),
        ("match", str(identity.match)),
    ]
    head = serialize(AC_KIND, AC_VERSION, fields)
    sealed = []
    if recipients:
        from hwlicense.seal import seal

        plaintext = _values_text(identity.values)
        for kid, public in sorted(recipients.items())[:MAX_SEALED]:
            blob = base64.b64encode(seal(public, plaintext, head)).decode("ascii")
            sealed.append(f"sealed: {kid} {blob}\n")
    body = head + "".join(sealed).encode("ascii")
    return body + f"checksum: sha256:{hashlib.sha256(body).hexdigest()}\n".encode("ascii")


def component_fields(components: Mapping[str, str]) -> list[tuple[str, str]]:
    """'component: NAME HASH' lines, sorted by name so the text is canonical."""
    return [("component", f"{n} {h}") for n, h in sorted(components.items())]


def parse_components(doc: Document, check_fingerprint: bool = True) -> tuple[dict[str, str], int]:
    """The component lines and match count of a billing.ac or license, validated."""
    components: dict[str, str] = {}
    for value in doc.all("component"):
        name, _, digest = value.partition(" ")
        if not _NAME.match(name) or not _HASH.match(digest) or name in components:
            raise FormatError(Code.MALFORMED, f"bad component line {value!r}")
        components[name] = digest
    if not components:
        raise FormatError(Code.MALFORMED, "no identity components")
    if [("component", v) for v in doc.all("component")] != component_fields(components):
        raise FormatError(Code.MALFORMED, "component lines are not in canonical order")
    match = parse_match(doc, len(components))
    if check_fingerprint and doc.get("fingerprint") != fingerprint_of(components):
        raise FormatError(Code.MALFORMED, "fingerprint does not agree with the components")
    return components, match


def parse_match(doc: Document, count: int) -> int:
    match_text = doc.get("match")
    if not match_text.isdigit() or not 1 <= int(match_text) <= count:
        raise FormatError(Code.MALFORMED, f"bad match count {match_text!r}")
    return int(match_text)


def _parse_names(doc: Document) -> tuple[str, ...]:
    names = tuple(doc.get("components").split(","))
    if not all(_NAME.match(n) for n in names) or list(names) != sorted(set(names)):
        raise FormatError(Code.MALFORMED, "bad components list (names, sorted, once each)")
    return names


def _parse_sealed(doc: Document) -> tuple[dict[str, bytes], bytes]:
    """key id -> sealed blob, and the text before the first sealed line (the AAD)."""
    sealed: dict[str, bytes] = {}
    for value in doc.all("sealed"):
        found = _SEALED.match(value)
        try:
            blob = base64.b64decode(found.group(2), validate=True) if found else b""
        except (binascii.Error, ValueError):
            blob = b""
        if found is None or not blob or found.group(1) in sealed:
            raise FormatError(Code.MALFORMED, "bad sealed line")
        sealed[found.group(1)] = blob
    if len(sealed) > MAX_SEALED:
        raise FormatError(Code.MALFORMED, "too many sealed lines")
    keys = [k for k, _ in doc.fields]
    first = keys.index("sealed") if sealed else keys.index("checksum")
    if any(k != "sealed" for k in keys[first:-1]):
        raise FormatError(Code.MALFORMED, "sealed lines must come last, before the checksum")
    aad = b"".join(line + b"\n" for line in doc.text.split(b"\n")[: first + 1])
    return sealed, aad


def read_billing_ac(data: bytes) -> BillingAC:
    """Parse and check a billing.ac (format 1 or 2); FormatError (code CHECKSUM when
    damaged) otherwise."""
    doc = parse(data, AC_KIND, AC_VERSION)
    text = doc.text
    body, _, last = text[:-1].rpartition(b"\n")
    if not last.startswith(b"checksum: "):
        raise FormatError(Code.TRUNCATED, "billing.ac has no checksum line at the end: cut short?")
    body += b"\n"
    expected = f"checksum: sha256:{hashlib.sha256(body).hexdigest()}".encode("ascii")
    if last != expected:
        raise FormatError(
            Code.CHECKSUM,
            "billing.ac is damaged or was edited (checksum mismatch); download it again "
            "from Addons -> Billing -> Settings and send it unchanged",
        )
    legacy: dict[str, str] = {}
    sealed: dict[str, bytes] = {}
    aad = b""
    if doc.version == 1:
        legacy, match = parse_components(doc)
        names = tuple(sorted(legacy))
    else:
        names = _parse_names(doc)
        match = parse_match(doc, len(names))
        sealed, aad = _parse_sealed(doc)
    for key in ("product", "model", "board", "addon-version"):
        if not _WORD.match(doc.get(key)):
            raise FormatError(Code.MALFORMED, f"field {key!r} has a bad value")
    nonce = doc.get("nonce")
    if not re.match(r"^[0-9a-f]{32}$", nonce):
        raise FormatError(Code.MALFORMED, "bad nonce")
    return BillingAC(
        product=doc.get("product"),
        model=doc.get("model"),
        board=doc.get("board"),
        addon_version=doc.get("addon-version"),
        created=parse_utc(doc.get("created"), "created"),
        nonce=nonce,
        names=names,
        match=match,
        version=doc.version,
        legacy=legacy,
        sealed=sealed,
        sealed_aad=aad,
    )


def unseal_values(ac: BillingAC, private_key: Ed25519PrivateKey) -> dict[str, str]:
    """The identity values sealed in a format-2 billing.ac for this vendor key;
    FormatError (UNKNOWN_KEY: sealed to other keys; MALFORMED: damaged) otherwise."""
    from hwlicense.keys import key_id
    from hwlicense.seal import SealError, unseal

    kid = key_id(private_key.public_key())
    if ac.version < 2:
        raise FormatError(Code.MALFORMED, "a format-1 billing.ac holds no sealed values")
    if kid not in ac.sealed:
        sealed_to = ", ".join(sorted(ac.sealed)) or "no vendor key (the box trusts none)"
        raise FormatError(Code.UNKNOWN_KEY, f"the billing.ac is sealed to {sealed_to}, not "
                          f"to this vendor key ({kid})")
    try:
        plaintext = unseal(private_key, ac.sealed[kid], ac.sealed_aad)
        values = json.loads(plaintext.decode("ascii"), object_pairs_hook=_unique_keys)
    except SealError as exc:
        raise FormatError(Code.MALFORMED, str(exc)) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting: crafted
        raise FormatError(Code.MALFORMED, "the sealed values are not readable") from exc
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise FormatError(Code.MALFORMED, "the sealed values are not readable")
    if tuple(sorted(values)) != ac.names:
        raise FormatError(Code.MALFORMED, "the sealed values do not agree with the "
                          "components line")
    return values


def _unique_keys(pairs: list) -> dict:
    """A JSON object whose names are all different (a crafted one may repeat a name)."""
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("a component is named twice")
    return dict(pairs)
