"""Sealing billing.ac's identity values to the vendor: only the holder of the vendor's
private key can read them (docs/formats.md, "Sealed values").

The recipient key is the X25519 form of the vendor's Ed25519 key, the standard
birational map (libsodium's ``crypto_sign_ed25519_pk_to_curve25519``, age's ssh-ed25519
recipients): a box derives it from the trusted ``.pub`` it already has, and the vendor's
X25519 private key is the scalar of its Ed25519 key (SHA-512 of the seed), so there is no
second key to make, ship, back up or rotate.

A sealed blob is ``ephemeral X25519 public key (32 bytes) || ChaCha20-Poly1305
ciphertext``; the key is HKDF-SHA256 of the X25519 shared secret, salted with both public
keys; the nonce is zero (every key is used once).  The associated data binds it to the
billing.ac text before the ``sealed:`` lines.  cryptography is imported here only, and
only when a billing.ac is made or read by the vendor.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SEAL_INFO = b"billing-addon billing.ac seal v2"
_P = 2**255 - 19
_NONCE = bytes(12)


class SealError(Exception):
    """A sealed blob cannot be opened: another key, or damaged."""


def _raw(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def recipient_bytes(public: Ed25519PublicKey) -> bytes:
    """The X25519 public key (u coordinate) of an Ed25519 public key: u = (1+y)/(1-y)."""
    y = int.from_bytes(_raw(public), "little") & ((1 << 255) - 1)
    if y >= _P or (1 - y) % _P == 0:
        raise SealError("not a usable vendor key")
    return ((1 + y) * pow(1 - y, _P - 2, _P) % _P).to_bytes(32, "little")


def _private_x25519(private: Ed25519PrivateKey):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    # The Ed25519 secret scalar; X25519 clamps it the same way Ed25519 does.
    return X25519PrivateKey.from_private_bytes(hashlib.sha512(seed).digest()[:32])


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if shared == bytes(32):
        raise SealError("degenerate key exchange")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient,
                info=SEAL_INFO).derive(shared)


def seal(public: Ed25519PublicKey, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` so that only the holder of ``public``'s private key reads it."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    recipient = recipient_bytes(public)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = _raw(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    box = ChaCha20Poly1305(_key(shared, ephemeral_raw, recipient))
    return ephemeral_raw + box.encrypt(_NONCE, plaintext, aad)


def unseal(private: Ed25519PrivateKey, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of a blob sealed to ``private``'s public key; SealError otherwise."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    if len(blob) < 32 + 16:
        raise SealError("the sealed values are cut short")
    ephemeral_raw, ciphertext = blob[:32], blob[32:]
    mine = _private_x25519(private)
    try:
        shared = mine.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError as exc:
        raise SealError("the sealed values are damaged (bad ephemeral key)") from exc
    box = ChaCha20Poly1305(_key(shared, ephemeral_raw, _raw(mine.public_key())))
    try:
        return box.decrypt(_NONCE, ciphertext, aad)
    except InvalidTag:
        raise SealError("the sealed values do not open: damaged, edited, or sealed to "
                        "another key") from None
