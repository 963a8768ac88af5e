"""Why a license or a billing.ac was refused: a code for scripts, a reason for people.

A leaf: it imports no other module of hwlicense, so every module can use it.  The
outcome of verifying a license, which carries the License, is hwlicense.verify.VerifyResult.
"""

from __future__ import annotations

import enum


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
    POLICY = "policy"  # match below the board's minimum, or a component it does not read
    NO_FEATURE = "no-feature"  # a valid license without the billing feature
    NO_IDENTITY = "no-identity"
    STORAGE = "storage"


class FormatError(Exception):
    """A file could not be read as the expected document; carries a Code."""

    def __init__(self, code: Code, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason
