"""A full or read-only disk: no SIGBUS, and one line that says so.

Why SQLite dies of SIGBUS on a full file system with 1 KiB blocks: the WAL index (the
``-shm`` file) is used through a shared memory map.  The first connection truncates it
to 3 bytes, and SQLite grows it by writing one byte at the end of each 4 KiB page, which
allocates only the last file-system block of the page when blocks are 1 KiB (ext4's
default under 512 MB).  The other three blocks stay holes; the first store into a hole
through the map must allocate a block, and when none is free the kernel answers with
SIGBUS instead of an error.  With 4 KiB blocks the one-byte write allocates the whole
page, so bigger file systems never meet it.

The fix: the ``-shm`` file is kept allocated (``fallocate``, which fails cleanly with
ENOSPC) before every connection opens it, right after (the first connection's truncation
freed its blocks) and whenever the daemon checkpoints, with ``SHM_RESERVE`` bytes ahead
of what SQLite uses, so every page SQLite maps is backed.  A connection that cannot get
that refuses with ``DiskFull`` instead of running on with holes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sqlite3
import threading
from typing import Dict, Optional

from .errors import Refusal

# SQLite maps the index in 32 KiB regions; 4 regions cover a WAL of 16,000 frames, far
# more than the daemon's checkpoints let it reach.
SHM_REGION = 32 * 1024
SHM_RESERVE = 4 * SHM_REGION
FALLOC_FL_KEEP_SIZE = 1  # allocate without changing the size SQLite sees

_NOT_SUPPORTED = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class DiskFull(Refusal):
    """The file system of the database has no space left (nothing was written)."""


def _load_fallocate():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    # fallocate64 takes 64-bit offsets on 32-bit boards too; no emulation (posix_fallocate's
    # byte-by-byte fallback would race SQLite's own stores into the map)
    func = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if func is not None:
        func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        func.restype = ctypes.c_int
    return func


_fallocate = _load_fallocate()


# One descriptor per -shm (and database) file, kept open: closing any descriptor of a file
# drops every POSIX lock this process holds on it, and SQLite's connections (other
# threads) lock it.
_held: Dict[str, int] = {}
_held_lock = threading.Lock()


def back_shm(database: str) -> None:
    """Allocate every block of ``database``'s ``-shm`` file and ``SHM_RESERVE`` beyond
    what SQLite uses.  Raises ``DiskFull`` when the file system has no room for it; does
    nothing where ``fallocate`` is not supported or the folder is read-only."""
    if _fallocate is None or not database or database == ":memory:":
        return
    shm = database + "-shm"
    with _held_lock:
        _drop_if_gone(shm)
        fd = _held.get(shm)
        if fd is None:
            try:
                fd = os.open(shm, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _mode_of(database))
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFull(disk_full_message(database)) from None
                return  # read-only, or no folder yet: SQLite reports it in its own words
            _held[shm] = fd
        size = os.fstat(fd).st_size
        want = max(SHM_RESERVE, -(-size // SHM_REGION) * SHM_REGION + SHM_RESERVE)
        if _fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, want) != 0:
            code = ctypes.get_errno()
            if code in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(disk_full_message(database))
            if code not in _NOT_SUPPORTED:
                raise OSError(code, os.strerror(code), shm)


def is_wal(database: str) -> bool:
    """Whether ``database``'s header says WAL mode (byte 18 is 2).  Read through a
    descriptor that stays open like the ``-shm``'s: closing any descriptor of the database
    file drops every lock this process's SQLite connections hold on it, and another process
    closing its last connection would then take itself for the last user of the file and
    delete the WAL and its index under ours (two logs from then on)."""
    with _held_lock:
        _drop_if_gone(database)
        fd = _held.get(database)
        if fd is None:
            try:
                fd = os.open(database, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return False
            _held[database] = fd
        try:
            header = os.pread(fd, 20, 0)
        except OSError:
            return False
    return len(header) == 20 and header[18] == 2


def forget_gone(database: str) -> None:
    """Close the held descriptor of a ``-shm`` file SQLite has deleted (its last
    connection closed): no lock of anyone's is on that file any more; and the one of the
    database file, whose locks went with the store's last connection."""
    with _held_lock:
        _drop_if_gone(database + "-shm")
        fd = _held.pop(database, None)
        if fd is not None:
            os.close(fd)


def _drop_if_gone(shm: str) -> None:
    fd = _held.get(shm)
    if fd is None:
        return
    try:
        current: Optional[int] = os.stat(shm).st_ino
    except OSError:
        current = None
    if current != os.fstat(fd).st_ino:
        del _held[shm]
        os.close(fd)


def _mode_of(database: str) -> int:
    try:
        return os.stat(database).st_mode & 0o666
    except OSError:
        return 0o644


def disk_full_message(path: str) -> str:
    return (f"disk full: no space left on the file system of {os.path.dirname(path) or '.'}; "
            "nothing was written (free some space and try again)")


def read_only_message(path: str) -> str:
    return (f"read-only file system: {os.path.dirname(path) or '.'} cannot be written; "
            "nothing was written (remount it read-write and try again)")


def _space_left(folder: str) -> Optional[os.statvfs_result]:
    try:
        return os.statvfs(folder)
    except OSError:
        return None


def problem(exc: BaseException, database: str) -> Optional[str]:
    """One line for an error that is a full or read-only disk under ``database`` (the
    exception or any it was raised from), else None."""
    seen = 0
    cause: Optional[BaseException] = exc
    while cause is not None and seen < 10:
        if isinstance(cause, DiskFull):
            return str(cause)
        code = getattr(cause, "errno", None)
        if code in (errno.ENOSPC, errno.EDQUOT):
            return disk_full_message(getattr(cause, "filename", None) or database)
        if code == errno.EROFS:
            return read_only_message(getattr(cause, "filename", None) or database)
        name = getattr(cause, "sqlite_errorname", "") or ""
        if isinstance(cause, sqlite3.Error) or name:
            text = str(cause)
            if name == "SQLITE_FULL" or "disk is full" in text:
                return disk_full_message(database)
            if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")) or \
                    "readonly" in text or "disk I/O error" in text or "unable to open" in text:
                # SQLite says "I/O error" for an ENOSPC of its own writes: ask the file system
                vfs = _space_left(os.path.dirname(os.path.abspath(database)))
                if vfs is not None and vfs.f_flag & os.ST_RDONLY:
                    return read_only_message(database)
                if vfs is not None and vfs.f_bfree * vfs.f_frsize < SHM_RESERVE:
                    return disk_full_message(database)
        seen += 1
        wrapped = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = cause.__cause__ or wrapped or cause.__context__  # peewee keeps sqlite3's in args
    return None
