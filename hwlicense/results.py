"""Typed outcomes of checking a license or a billing.ac: a code for scripts, a reason for people."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from hwlicense.license import License


class Code(str, enum.Enum):
    """Why a file was accepted or refused (stable strings, printed by the CLIs)."""

    OK = "ok"
    EMPTY = "empty"
    TOO_LARGE = "too-large"
    NOT_TEXT = "not-text"
    WRONG_KIND = "wrong-kind"  # a billing.ac where a license was expected, or vice versa
    UNKNOWN_FORMAT = "unknown-format"
    UNSUPPORTED_VERSION = "unsupported-version"
    MALFORMED = "malformed"
    TRUNCATED = "truncated"
    CHECKSUM = "checksum"  # billing.ac damaged or edited
    NO_TRUSTED_KEYS = "no-trusted-keys"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    WRONG_PRODUCT = "wrong-product"
    WRONG_MODEL = "wrong-model"
    WRONG_DEVICE = "wrong-device"
    NO_IDENTITY = "no-identity"
    STORAGE = "storage"


class FormatError(Exception):
    """A file could not be read as the expected document; carries a Code."""

    def __init__(self, code: Code, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


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
