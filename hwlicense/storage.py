"""Small crash-safe file helpers for the storage areas (flash: write rarely, atomically).

A write goes to a temporary file in the same directory, is fsynced and renamed over the
target, then the directory is fsynced: after a power cut the old or the new content is
there, never a mix.  Checked records carry a SHA-256 so damage is seen, not trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MAX_RECORD = 64 * 1024


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` all at once; OSError leaves the old file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_bytes(path: Path, limit: int) -> bytes | None:
    """The file's content (at most ``limit`` + 1 bytes), or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        return None


def _check(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_record(path: Path, payload: dict[str, Any]) -> None:
    """A small JSON record with a checksum, written atomically."""
    record = {"payload": payload, "sha256": _check(payload)}
    atomic_write(path, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))


class DamagedRecord(Exception):
    """A record exists but is unreadable or its checksum is wrong."""


def read_record(path: Path) -> dict[str, Any] | None:
    """The payload of a record, None when absent; DamagedRecord when it cannot be trusted."""
    try:
        raw = read_bytes(path, MAX_RECORD)
    except OSError as exc:
        raise DamagedRecord(f"{path}: {exc}") from exc
    if raw is None:
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
        payload = record["payload"]
        good = isinstance(payload, dict) and record["sha256"] == _check(payload)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        good = False  # RecursionError: deeply nested JSON ('[' * 100000)
    if not good:
        raise DamagedRecord(f"{path} is damaged")
    return payload


def wipe(folder: Path) -> None:
    """Remove everything inside ``folder`` but keep the folder (it may be a mount point)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
