"""Account PINs: their keyed hash, their format, and the wrong-PIN throttle of a phone.

A PIN is stored only as HMAC-SHA256(key, PIN), where the key is 32 random bytes in a
file beside the database (``<database>.pinkey``, mode 0600, made on first use; on
PostgreSQL a copy of one file on each box, whose fingerprint the store keeps).  The
hash is deterministic, so one PIN belongs to one account of the box (a unique index)
and a caller's PIN is checked with one lookup; a copy of the database alone does not
give the PINs (a 6-digit PIN hashed without a secret would be found by trying all
10^6).  Restoring a backup on another box needs this file too (docs/accounts.md).

The throttle: a phone on which ``MAX_FAILURES`` wrong account/PIN pairs were typed
within ``FAILURE_WINDOW_S`` (over any calls) is refused account calls for ``BLOCK_S``;
a right PIN starts the count over.  Times are the wall clock (a clock step can only
shorten or lengthen one block).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Dict, Optional

from . import settings, sites
from .accounts import AccountError
from .i18n import _
from .store import box_files_path, database_path, db, postgres, sql, sql_one

MAX_FAILURES = 3
FAILURE_WINDOW_S = 15 * 60
BLOCK_S = 15 * 60
KEY_BYTES = 32

_keys: Dict[str, bytes] = {}
_keys_lock = threading.Lock()


class PinError(AccountError):
    """A PIN that is refused (format, already used); nothing was changed."""


def key_path(database: str) -> Path:
    return Path(database + ".pinkey")


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise PinError(f"the PIN key file {path} is damaged ({len(key)} bytes, not {KEY_BYTES})")
    return key


def box_key() -> bytes:
    """This box's PIN key, made (mode 0600) the first time it is needed."""
    if postgres():
        return _shared_key()
    database = database_path()
    key = _keys.get(database)
    if key is not None:
        return key
    with _keys_lock:
        path = key_path(database)
        if not path.exists():
            _make_key(path)
        key = _keys[database] = _read_key(path)
    return key


def fingerprint(key: bytes) -> str:
    """What the store keeps of a key: it tells a key apart and gives nothing of it."""
    return hmac.new(key, b"billing-addon PIN key fingerprint", hashlib.sha256).hexdigest()


def _shared_key() -> bytes:
    """On a PostgreSQL store every box checks the PINs of the same accounts with the same
    key, kept in a file on each box (the first box makes it; it is copied to the others)
    and never in the database: a dump of the database alone still does not give the
    PINs.  The store keeps the key's fingerprint, so a box without the file, or with
    another key, refuses to check PINs instead of answering wrong (docs/store.md)."""
    key = _keys.get(db.database)
    if key is not None:
        return key
    with _keys_lock:
        path = key_path(box_files_path())
        _move_key_out_of_the_store(path)
        known = _stored_fingerprint()
        if known is None:  # the first box: its key is the store's
            if not path.exists():
                _make_key(path)
            known = _keep_fingerprint(_read_key(path))
            assert known is not None  # ours, or another box's made meanwhile
        if not path.exists():
            raise PinError(_("This box has no PIN key file {path}: copy it from a box that "
                             "checks PINs on this store (its fingerprint starts {fp}).")
                           .format(path=path, fp=known[:16]))
        key = _read_key(path)
        if fingerprint(key) != known:
            raise PinError(_("The PIN key file {path} is not the one of this store (its "
                             "fingerprint starts {mine}, the store's {fp}): copy the file of "
                             "a box that checks PINs on this store.")
                           .format(path=path, mine=fingerprint(key)[:16], fp=known[:16]))
        _keys[db.database] = key
    return key


def _keep_fingerprint(key: bytes) -> Optional[str]:
    """The store's fingerprint: ``key``'s unless another box's was kept first."""
    sql("INSERT INTO setting (key, value) VALUES ('pin_key_fingerprint', ?) "
        "ON CONFLICT (key) DO NOTHING", (fingerprint(key),))
    return _stored_fingerprint()


def _stored_fingerprint() -> Optional[str]:
    row = sql_one("SELECT value FROM setting WHERE key = 'pin_key_fingerprint'")
    return row[0] if row else None


def _move_key_out_of_the_store(path: Path) -> None:
    """A store made before the key files kept the key itself (setting ``pin_key``): it
    goes to this box's file (unless the file is there already) and out of the store."""
    row = sql_one("SELECT value FROM setting WHERE key = 'pin_key'")
    if row is None:
        return
    key = bytes.fromhex(row[0])
    if not path.exists():
        _make_key(path, key)
    if _read_key(path) != key:
        raise PinError(_("The PIN key file {path} is not the one of this store: move it "
                         "away, and the store's key is written there.").format(path=path))
    _keep_fingerprint(key)
    sql("DELETE FROM setting WHERE key = 'pin_key'")


def _make_key(path: Path, key: Optional[bytes] = None) -> None:
    """Write a new key (or ``key``) whole under another name, then link it in place:
    another process (the CLI beside the daemon) never reads half a key, and of two
    making one at once the first link wins and both use it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=".pinkey-", dir=path.parent)  # mode 0600
    try:
        os.write(fd, key if key is not None else secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the name too survives a power cut, before any PIN uses it
        finally:
            os.close(folder)
    finally:
        if fd >= 0:
            os.close(fd)
        os.unlink(scratch)


def pin_hash(pin: str) -> str:
    return hmac.new(box_key(), pin.encode("ascii"), hashlib.sha256).hexdigest()


def pin_length() -> int:
    return settings.get_int("pin_length")


def check_format(pin: str, length: Optional[int] = None) -> str:
    """The PIN when it is ``length`` (the setting) ASCII digits, else ``PinError``."""
    length = pin_length() if length is None else length
    pin = (pin or "").strip()
    if pin and (not pin.isascii() or not pin.isdigit()):
        raise PinError(_("a PIN is digits 0-9 only"))
    if len(pin) != length:
        raise PinError(_("a PIN has {length} digits").format(length=length))
    return pin


def account_with_pin(number: str, pin: str) -> Optional[int]:
    """The id of account ``number`` when ``pin`` is its PIN, else None."""
    if not number.isascii() or not number.isdigit() or not pin.isascii() or not pin.isdigit():
        return None
    row = sql_one("SELECT id, pin_hash FROM extension WHERE number = ? AND kind = 'account' AND "
                  + sites.number_scope(), (number,))
    if row is None or row[1] is None:
        pin_hash(pin)  # the same work as a known account: no timing hint
        return None
    return row[0] if hmac.compare_digest(row[1], pin_hash(pin)) else None


def blocked(blocked_until: Optional[int], at: int) -> bool:
    return blocked_until is not None and at < blocked_until


def record_failure(phone_id: int, at: int) -> bool:
    """Count a wrong PIN on the phone (inside a write transaction); True when this
    failure blocks it."""
    failures = sql_one(
        "UPDATE extension SET pin_failures = CASE WHEN pin_failed_utc IS NULL "
        "OR pin_failed_utc < ? THEN 1 ELSE pin_failures + 1 END, "
        "pin_failed_utc = CASE WHEN pin_failed_utc IS NULL OR pin_failed_utc < ? "
        "THEN ? ELSE pin_failed_utc END WHERE id = ? RETURNING pin_failures",
        (at - FAILURE_WINDOW_S, at - FAILURE_WINDOW_S, at, phone_id))[0]
    if failures < MAX_FAILURES:
        return False
    sql("UPDATE extension SET pin_failures = 0, pin_failed_utc = NULL, "
        "pin_blocked_until_utc = ? WHERE id = ?", (at + BLOCK_S, phone_id))
    return True


def record_success(phone_id: int) -> None:
    """A right PIN: the phone's count starts over (inside a write transaction)."""
    sql("UPDATE extension SET pin_failures = 0, pin_failed_utc = NULL WHERE id = ? "
        "AND (pin_failures != 0 OR pin_failed_utc IS NOT NULL)", (phone_id,))
