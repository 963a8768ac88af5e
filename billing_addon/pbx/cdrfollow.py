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
* Truncation (copytruncate, or a new file that reuses the inode): the file is shorter
  than the offset, or its first bytes changed: read it again from the start.
* Unparsable lines are reported and skipped; a partial line left at the end of a
  rotated file is reported as truncated.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import List, Optional, Tuple

from ..store import Setting, db
from . import cdr

log = logging.getLogger("billing_addon.pbx.cdrfollow")

STATE_KEY = "cdr_follower"
HEAD_BYTES = 256
READ_CHUNK = 256 * 1024


def _ident(st: os.stat_result) -> Tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _head(fh) -> str:
    fh.seek(0)
    return fh.read(HEAD_BYTES).hex()


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
            Setting.insert(key=STATE_KEY, value=value).on_conflict_replace().execute()

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

    def _find_rotated(self, ident: Tuple[int, int]) -> Optional[str]:
        folder = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return None
        for name in names:
            if name == base or not name.startswith(base.split(".")[0]):
                continue
            full = os.path.join(folder, name)
            try:
                if _ident(os.stat(full)) == ident:
                    return full
            except OSError:
                continue
        return None

    def _resume(self) -> bool:
        """Open the file at the saved position (first poll after a start)."""
        fh = self._open(self.path)
        if fh is None:
            return False
        st = os.fstat(fh.fileno())
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
            else:
                log.warning("CDR file %s was truncated or replaced; reading it from the start",
                            self.path)
            return True
        old_path = self._find_rotated((saved["dev"], saved["ino"]))
        if old_path:
            old = self._open(old_path)
            if old is not None:
                log.info("CDR file was rotated while stopped: finishing %s", old_path)
                self._switch_to(old, saved["offset"])
                self._drain_rotated()
        else:
            log.warning("CDR file %s was rotated while stopped and the old file is gone",
                        self.path)
        self._switch_to(fh, 0)
        self._commit([], [], 0)
        return True

    # -- polling -----------------------------------------------------------------------
    def poll(self) -> int:
        """Process the lines that are complete now; returns how many were read."""
        with self._lock:
            if self._fh is None and not self._resume():
                return 0
            count = self._read_available()
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is not None and _ident(st) != self._ident:
                # rotated: finish the old file (Asterisk reopens the path for each row)
                count += self._drain_rotated()
                new = self._open(self.path)
                if new is not None:
                    log.info("CDR file %s was rotated; following the new file", self.path)
                    self._switch_to(new, 0)
                    self._commit([], [], 0)
                    count += self._read_available()
            elif st is not None and (st.st_size < self._offset or not self._same_head()):
                log.warning("CDR file %s was truncated; reading it from the start", self.path)
                self._switch_to(self._fh, 0)
                self._commit([], [], 0)
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
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) >= cdr.MAX_LINE:  # a "line" that never ends: skip it
                    self.stats.error(f"{self.path} byte {self._offset}", "line too long")
                    self._commit([], [], self._offset + len(data))
                return count
            lines = self._split(data[:cut + 1], self._offset)
            count += len(lines)
            rows: List[cdr.CdrRow] = list(cdr.billable_rows(lines, self.stats))
            self._commit(rows, lines, self._offset + cut + 1)
            if len(data) < READ_CHUNK:
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
