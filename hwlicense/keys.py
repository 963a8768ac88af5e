"""Vendor Ed25519 keys: generate, save, load, name by key id, and the device's trusted list.

The device trusts every public key found in (1) the package folder hwlicense/trusted_keys
(filled by the release pipeline; nothing is committed), (2) each directory in the
environment variable BILLING_TRUSTED_KEYS_DIR (os.pathsep separated), (3) whatever the
caller passes (``trusted_keys=``).  A key id is derived from the key itself, so a file's
name cannot lie about it.  Private keys never live in the repository or the package.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Union

# cryptography is imported where it is used: the daemon of a box without a license
# never needs it, and its OpenSSL binding alone is about 7 MB of resident memory.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

TRUSTED_KEYS_ENV = "BILLING_TRUSTED_KEYS_DIR"
PUBLIC_SUFFIX = ".pub"
MAX_KEY_FILE = 16 * 1024

KeySource = Union[str, Path, "Ed25519PublicKey"]  # noqa: UP007 (runtime alias, py3.9)


class KeyProblem(Exception):
    """A key file could not be used (wrong passphrase, wrong type, unreadable)."""


def generate() -> Ed25519PrivateKey:
    """A new vendor signing key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex digits naming a public key (SHA-256 of its raw bytes)."""
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def private_pem(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted when a passphrase is given."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_pem(public: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM: the content of a trusted .pub file."""
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(data: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load a vendor private key; KeyProblem with a reason otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError as exc:  # encrypted without passphrase, or passphrase for a plain key
        raise KeyProblem(f"passphrase problem: {exc}") from exc
    except ValueError as exc:
        raise KeyProblem("cannot load the private key (wrong passphrase or not a key)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem("the private key is not an Ed25519 key")
    return key


def load_public(data: bytes) -> Ed25519PublicKey:
    """Load a .pub file (PEM SubjectPublicKeyInfo); KeyProblem otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyProblem("not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("the public key is not an Ed25519 key")
    return key


def _package_files() -> Iterable[bytes]:
    try:
        folder = resources.files("hwlicense").joinpath("trusted_keys")
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e.read_bytes() for e in sorted(entries, key=lambda e: e.name)
            if e.name.endswith(PUBLIC_SUFFIX) and e.is_file()]


def _path_files(path: Path) -> Iterable[bytes]:
    if path.is_dir():
        return [p.read_bytes() for p in sorted(path.glob("*" + PUBLIC_SUFFIX)) if p.is_file()]
    if path.is_file():
        return [path.read_bytes()]
    return []


def load_trusted(extra: Iterable[KeySource] | None = None,
                 use_env: bool = True, use_package: bool = True) -> dict[str, Ed25519PublicKey]:
    """key id -> public key for every trusted vendor key; unreadable files are skipped."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    blobs = list(_package_files()) if use_package else []
    env = os.environ.get(TRUSTED_KEYS_ENV, "") if use_env else ""
    for folder in filter(None, env.split(os.pathsep)):
        blobs += _path_files(Path(folder))
    keys = []
    for item in extra or ():
        if isinstance(item, Ed25519PublicKey):
            keys.append(item)
        else:
            blobs += _path_files(Path(item))
    for blob in blobs:
        if len(blob) <= MAX_KEY_FILE:
            try:
                keys.append(load_public(blob))
            except KeyProblem:
                continue
    return {key_id(k): k for k in keys}
