"""billing.ac: the device's license request ("Download Billing Source File").

It names the product, board model and hashed identity components; nothing secret.  A
SHA-256 checksum line catches typos, truncation and casual edits before the sales tool
signs anything (it is not a security boundary: the license signature and the device's
own identity check are).  Format: docs/formats.md.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from hwlicense.identity import Identity, fingerprint_of
from hwlicense.results import Code, FormatError
from hwlicense.textformat import AC_KIND, Document, parse, serialize
from hwlicense.timefmt import format_utc, parse_utc

AC_VERSION = 1
_HASH = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[a-z0-9_]{1,40}$")
_WORD = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


@dataclass(frozen=True)
class BillingAC:
    """The content of a billing.ac file."""

    product: str
    model: str
    board: str
    addon_version: str
    created: datetime
    nonce: str
    components: Mapping[str, str]
    match: int

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.components)


def make_billing_ac(
    identity: Identity, *, product: str, model: str, board: str, addon_version: str,
    created: datetime,
) -> bytes:
    """Render a billing.ac for this device (a fresh nonce each time)."""
    fields = [
        ("product", product),
        ("model", model),
        ("board", board),
        ("addon-version", addon_version),
        ("created", format_utc(created)),
        ("nonce", secrets.token_hex(16)),
        ("fingerprint", identity.fingerprint),
    ]
    fields += component_fields(identity.components)
    fields.append(("match", str(identity.match)))
    body = serialize(AC_KIND, AC_VERSION, fields)
    return body + f"checksum: sha256:{hashlib.sha256(body).hexdigest()}\n".encode("ascii")


def component_fields(components: Mapping[str, str]) -> list[tuple[str, str]]:
    """'component: NAME HASH' lines, sorted by name so the text is canonical."""
    return [("component", f"{n} {h}") for n, h in sorted(components.items())]


def parse_components(doc: Document) -> tuple[dict[str, str], int]:
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
    match_text = doc.get("match")
    if not match_text.isdigit() or not 1 <= int(match_text) <= len(components):
        raise FormatError(Code.MALFORMED, f"bad match count {match_text!r}")
    if doc.get("fingerprint") != fingerprint_of(components):
        raise FormatError(Code.MALFORMED, "fingerprint does not agree with the components")
    return components, int(match_text)


def read_billing_ac(data: bytes) -> BillingAC:
    """Parse and check a billing.ac; FormatError (code CHECKSUM when damaged) otherwise."""
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
    components, match = parse_components(doc)
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
        components=components,
        match=match,
    )
