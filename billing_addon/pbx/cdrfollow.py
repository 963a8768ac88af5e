"""Follow Master.csv as Asterisk appends to it, across rotation and truncation, and
remember the position across restarts.

The position (file identity, byte offset, and the file's first bytes as a fingerprint)
is saved in the database's ``setting`` table under ``cdr_follower``, in the same
transaction as the settlements of the lines it covers, so after a crash the follower
resumes exactly after the last settled batch (and a replayed line would be harmless
anyway: a uniqueid is charged once).

* Growth: complete lines are read from the saved offset; a line still being written
  (no LF yet) waits for the next poll.
* Rotation (the path now names another file): the old file is read to its end first,
  then the new one from its start.  After a restart, a rotated file is found again by
  its inode in the same folder (``Master.csv.1``, ``Master.csv-20261123`` ...).
* Copies (``copytruncate``, or a rotated file compressed at once): a file that appears
  in the folder and begins with the first bytes of the file being read is a copy of it;
  the rows written after the last poll are read from it, from the saved offset (a
  ``.gz`` copy is decompressed to get there).  Then the truncated file is read from its
  start.  After a restart the copy is found by the saved first bytes.  At most one
  rotation between two polls (logrotate runs daily, the follower polls every few
  seconds); docs/pbx.md says which logrotate settings the box must use.
* Truncation without a copy (a new file that reuses the inode): the file is shorter
  than the offset, or its first bytes changed: read it again from the start.
* Unparsable lines are reported and skipped; a partial line left at the end of a
  rotated file is reported as truncated.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import time
from typing import List, Optional, Set, Tuple

from .. import outage, store
from ..store import Setting, db
from . import cdr

log = logging.getLogger("billing_addon.pbx.cdrfollow")

STATE_KEY = "cdr_follower"
HEAD_BYTES = 256
READ_CHUNK = 256 * 1024
# a gzip copy that ends before its end marker and was written to this recently is still
# being compressed (logrotate's compress without delaycompress): read again next poll
COPY_WAIT_S = 60.0


class _CopyNotReady(Exception):
    """A rotated copy that logrotate is still compressing."""


def _ident(st: os.stat_result) -> Tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _head(fh) -> str:
    # pread, not seek and read: a buffered file object answers from its buffer what the
    # file held before a truncation
    return os.pread(fh.fileno(), HEAD_BYTES, 0).hex()


def _open_copy(path: str):
    """A rotated file for reading, decompressed when logrotate compressed it."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _copy_ident(path: str) -> Optional[Tuple[int, int]]:
    try:
        return _ident(os.stat(path))
    except OSError:
        return None


def _recently_written(path: str) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime < COPY_WAIT_S
    except OSError:
        return False


def _copy_head(path: str) -> Optional[str]:
    try:
        with _open_copy(path) as fh:
            return fh.read(HEAD_BYTES).hex()
    except (OSError, EOFError):  # gone meanwhile, or not gzip after all
        return None


class CdrFollower:
    """``poll()`` handles what is new; ``run(stop_event)`` polls until stopped."""

    def __init__(self, path: str, *, poll_seconds: float = 2.0, start: str = "end",
                 settler: Optional[cdr.Settler] = None):
        self.path = path
        self.poll_seconds = poll_seconds
        self.start = start
        self.settler = settler or cdr.Settler()
        self.stats = cdr.Stats()
        self._fh = None
        self._ident: Optional[Tuple[int, int]] = None
        self._offset = 0
        self._head = ""
        self._seen: Set[Tuple[int, int, int]] = set()  # the rotated files in the folder
        self._lock = threading.Lock()

    # -- state -------------------------------------------------------------------------
    def _load_state(self) -> Optional[dict]:
        row = Setting.get_or_none(Setting.key == STATE_KEY)
        if row is None:
            return None
        try:
            state = json.loads(row.value)
            return state if state.get("path") == self.path else None
        except ValueError:
            return None

    def _state_saver(self, offset: int):
        value = json.dumps({"path": self.path, "dev": self._ident[0] if self._ident else 0,
                            "ino": self._ident[1] if self._ident else 0, "offset": offset,
                            "head": self._head})

        def save() -> None:
            Setting.insert(key=STATE_KEY, value=value).on_conflict(
            conflict_target=[Setting.key], preserve=[Setting.value]).execute()

        return save

    @property
    def offset(self) -> int:
        return self._offset

    # -- files -------------------------------------------------------------------------
    def _open(self, path: str):
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return None
        return fh

    def _switch_to(self, fh, offset: int) -> None:
        if self._fh is not None and self._fh is not fh:
            self._fh.close()
        self._fh = fh
        self._ident = _ident(os.fstat(fh.fileno()))
        self._head = _head(fh)
        self._offset = offset

    def _rotated(self) -> List[Tuple[float, str, Tuple[int, int], Tuple[int, int, int]]]:
        """(mtime, path, identity, version) of the rotated files beside the file, newest
        first.  The version tells a new file that reuses a freed inode from the old one
        (logrotate deletes a file when it compresses it, then copies into a new one)."""
        folder = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        found = []
        for name in names:
            if name == base or not name.startswith(base.split(".")[0]):
                continue
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            found.append((st.st_mtime, full, _ident(st), _ident(st) + (st.st_ctime_ns,)))
        return sorted(found, reverse=True)

    def _find_rotated(self, ident: Tuple[int, int]) -> Optional[str]:
        return next((r[1] for r in self._rotated() if r[2] == ident), None)

    @staticmethod
    def _find_copy(head: str, rotated) -> Optional[str]:
        """The newest of ``rotated`` that begins with ``head`` (hex), the first bytes of
        the file this follower was reading."""
        for _, path, *_ in rotated:
            found = _copy_head(path)
            if found is not None and found.startswith(head):
                return path
        return None

    def _new_copies(self) -> List[str]:
        """The copy of the file being read that appeared since the last poll.  When the
        file was empty at the last poll, no first bytes tell it: then every new file,
        oldest first, is read from its start (a row read twice is charged once)."""
        rotated = self._rotated()
        new = [r for r in rotated if r[3] not in self._seen and r[2] != self._ident]
        self._seen = {r[3] for r in rotated}
        if not new or not self._head:
            return [r[1] for r in reversed(new)]
        copy = self._find_copy(self._head, new)
        return [copy] if copy else []

    def _resume(self) -> bool:
        """Open the file at the saved position (first poll after a start)."""
        fh = self._open(self.path)
        if fh is None:
            return False
        st = os.fstat(fh.fileno())
        self._seen = {r[3] for r in self._rotated()}
        saved = self._load_state()
        if saved is None:
            offset = st.st_size if self.start == "end" else 0
            self._switch_to(fh, offset)
            self._commit([], [], self._offset)
            log.info("CDR follower starts at %s byte %d", self.path, offset)
            return True
        if (saved["dev"], saved["ino"]) == _ident(st):
            self._switch_to(fh, 0)
            if st.st_size >= saved["offset"] and self._head.startswith(saved["head"]):
                self._offset = saved["offset"]
                return True
            self._finish_copy(saved, "truncated")
            self._restart(fh)
            return True
        old_path = self._find_rotated((saved["dev"], saved["ino"]))
        if old_path:
            old = self._open(old_path)
            if old is not None:
                log.info("CDR file was rotated while stopped: finishing %s", old_path)
                self._switch_to(old, saved["offset"])
                self._drain_rotated()
        else:
            self._finish_copy(saved, "rotated")
        self._restart(fh)
        return True

    def _finish_copy(self, saved: dict, what: str) -> None:
        """After a restart: read what the saved position had not reached from the copy
        that begins with the saved first bytes (copytruncate, or compressed at once)."""
        copy = self._find_copy(saved["head"], self._rotated()) if saved["head"] else None
        if copy is None:
            log.warning("CDR file %s was %s while stopped and no copy of it is left; rows "
                        "written after the last read are not charged from the CDR", self.path,
                        what)
            return
        log.info("CDR file was %s while stopped: finishing its copy %s", what, copy)
        self._ident, self._head = (saved["dev"], saved["ino"]), saved["head"]
        self._offset = saved["offset"]
        try:
            self._drain_copy(copy)
        except _CopyNotReady:  # at a start, as a damaged copy: the follower must go on
            self.stats.error(copy, "rotated copy still being compressed at the start")

    def _restart(self, fh) -> None:
        """Read ``fh`` (the file the path names now) from its start."""
        self._switch_to(fh, 0)
        self._commit([], [], 0)

    # -- polling -----------------------------------------------------------------------
    def poll(self) -> int:
        """Process the lines that are complete now; returns how many were read."""
        with self._lock:
            if self._fh is None and not self._resume():
                return 0
            count, start = 0, self._offset
            copies = self._new_copies()
            for copy in copies:
                log.info("CDR file %s was copied to %s; reading what was not read yet from "
                         "the copy", self.path, copy)
                self._offset = start
                try:
                    count += self._drain_copy(copy)
                except _CopyNotReady:
                    # the file goes on once the copy is read whole: its rows come first
                    log.info("CDR copy %s is still being compressed; reading it next poll", copy)
                    self._seen = {v for v in self._seen if v[:2] != _copy_ident(copy)}
                    return count
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            same = st is not None and _ident(st) == self._ident
            if same and copies:  # copytruncate: the file starts over
                self._restart(self._fh)
            elif same and st is not None and (st.st_size < self._offset or not self._same_head()):
                log.warning("CDR file %s was truncated and no copy of it was found; reading "
                            "it from the start", self.path)
                self._restart(self._fh)
            count += self._read_available()
            if st is not None and not same:
                # rotated: finish the old file (Asterisk reopens the path for each row)
                count += self._drain_rotated()
                new = self._open(self.path)
                if new is not None:
                    log.info("CDR file %s was rotated; following the new file", self.path)
                    self._restart(new)
                    count += self._read_available()
            return count

    def _same_head(self) -> bool:
        assert self._fh is not None
        current = os.pread(self._fh.fileno(), HEAD_BYTES, 0).hex()
        known = self._head
        if current.startswith(known):
            if len(current) > len(known):
                self._head = current  # the file grew past the fingerprint's length
            return True
        return False

    def _read_available(self) -> int:
        assert self._fh is not None
        count = 0
        while True:
            data = os.pread(self._fh.fileno(), READ_CHUNK, self._offset)
            lines, _ = self._consume(data)
            count += lines
            if not lines or len(data) < READ_CHUNK:
                return count

    def _consume(self, data: bytes) -> Tuple[int, int]:
        """Settle the complete lines at the start of ``data`` (the bytes at the offset);
        returns (lines, bytes used)."""
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) >= cdr.MAX_LINE:  # a "line" that never ends: skip it
                self.stats.error(f"{self.path} byte {self._offset}", "line too long")
                self._commit([], [], self._offset + len(data))
                return 0, len(data)
            return 0, 0
        lines = self._split(data[:cut + 1], self._offset)
        rows: List[cdr.CdrRow] = list(cdr.billable_rows(lines, self.stats))
        self._commit(rows, lines, self._offset + cut + 1)
        return len(lines), cut + 1

    def _drain_copy(self, path: str) -> int:
        """Read a copy of the file (plain or gzip) from the offset to its end."""
        count, pending = 0, b""
        try:
            with _open_copy(path) as fh:
                fh.seek(self._offset)
                while True:
                    data = fh.read(READ_CHUNK)
                    if not data:
                        break
                    pending += data
                    lines, used = self._consume(pending)
                    count, pending = count + lines, pending[used:]
        except EOFError as exc:  # a gzip file that ends too soon: unfinished, or damaged
            if _recently_written(path):
                raise _CopyNotReady(path) from exc
            self.stats.error(path, f"rotated copy unreadable: {exc}")
            return count
        except OSError as exc:  # gone meanwhile, or not gzip after all
            self.stats.error(path, f"rotated copy unreadable: {exc}")
            return count
        if pending:
            self.stats.error(f"{path} byte {self._offset}",
                             "truncated line at the end of the rotated copy")
        return count

    def _drain_rotated(self) -> int:
        """Read an old (rotated) file to its end; a partial last line is reported."""
        count = self._read_available()
        assert self._fh is not None
        size = os.fstat(self._fh.fileno()).st_size
        if size > self._offset:
            self.stats.error(f"{self.path} (rotated) byte {self._offset}",
                             "truncated line at the end of the rotated file")
        return count

    @staticmethod
    def _split(data: bytes, offset: int) -> List[Tuple[str, str]]:
        out = []
        for raw in data[:-1].split(b"\n"):
            out.append((f"byte {offset}", raw.decode("utf-8", "replace")))
            offset += len(raw) + 1
        return out

    def _commit(self, rows: List[cdr.CdrRow], lines, offset: int) -> None:
        self.settler.settle(rows, self.stats, on_commit=self._state_saver(offset))
        self._offset = offset

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; errors are logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.poll()
            except store.Unreachable as exc:  # logged once per outage; the rows wait in the file
                outage.current.down(exc)
            except Exception:
                log.exception("CDR follower poll failed; retrying")
            stop.wait(self.poll_seconds)
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            if threading.current_thread() is not threading.main_thread():
                db.close()
