"""Downloads built in the background: an .xlsx of 200,000 calls takes many seconds to
build (the file is a zip, written only when the last row is in, so nothing can be sent
before), so the request that asks for it only starts a build thread and answers at once
with a progress page; the page refreshes itself and offers the download when the file
is ready.

A build belongs to the user who asked for it: someone else asking for its page or file
is told there is no such page.  Each user builds one file at a time, the box at most
``MAX_RUNNING`` (two cores); a finished file is kept ``KEEP_S`` seconds, then deleted,
as are files left over by a previous run.  A build runs in the language of the request
that started it (a new thread would start in English)."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

from billing_addon import i18n, store
from billing_addon.i18n import _

log = logging.getLogger(__name__)

MAX_RUNNING = 2
KEEP_S = 30 * 60
PREFIX = "export-"


class ExportsBusy(Exception):
    """As many files as the box builds at once are being built."""


@dataclass
class Job:
    id: str
    owner: str
    filename: str  # the name the download gets
    path: str  # where it is built, in the scratch folder
    total: Optional[int] = None  # rows, once counted
    done: int = 0  # rows written so far
    ready: bool = False
    error: str = ""
    ended: Optional[float] = None  # clock reading when the build ended
    locale: str = i18n.DEFAULT_LOCALE  # the language of the user who asked for it

    @property
    def running(self) -> bool:
        return self.ended is None


Build = Callable[[Job], None]  # writes job.path, counting job.total and job.done


class ExportJobs:
    """The builds of one web UI: start, look up by id and owner, clean up."""

    def __init__(self, keep_s: float = KEEP_S, clock: Callable[[], float] = time.monotonic):
        self.keep_s = keep_s
        self.clock = clock
        self._jobs: Dict[str, Job] = {}
        self._lock = threading.Lock()
        self._swept_folders: set = set()

    def start(self, owner: str, filename: str, folder: str, build: Build) -> Job:
        """A new build in a thread of its own, or the owner's build still running."""
        self.sweep(folder)
        with self._lock:
            running = [j for j in self._jobs.values() if j.running]
            mine = [j for j in running if j.owner == owner]
            if mine:
                return mine[0]
            if len(running) >= MAX_RUNNING:
                raise ExportsBusy(_("{count} downloads are being built; try again when one is ready").format(
                    count=len(running)))
            job_id = secrets.token_urlsafe(16)
            job = Job(job_id, owner, filename, os.path.join(folder, f"{PREFIX}{job_id}.xlsx"),
                      locale=i18n.current())
            self._jobs[job_id] = job
        threading.Thread(target=self._run, args=(job, build), name=f"export-{job_id[:6]}",
                         daemon=True).start()
        return job

    def _run(self, job: Job, build: Build) -> None:
        """Build in the language of the user who asked (the sheet names, headers and
        any message are theirs)."""
        try:
            with i18n.using(job.locale):
                build(job)
            job.ready = True
        except Exception as exc:  # noqa: BLE001 - shown on the progress page, logged here
            log.exception("export %s failed", job.filename)
            job.error = str(exc) or type(exc).__name__
            _unlink(job.path)
        finally:
            store.close_db()  # this thread's connection
            job.ended = self.clock()

    def get(self, job_id: str, owner: str) -> Optional[Job]:
        """The build ``job_id`` if ``owner`` started it and it was not cleaned up."""
        self.sweep()
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def sweep(self, folder: Optional[str] = None) -> None:
        """Forget builds that ended more than ``keep_s`` ago and delete their files; the
        first time a folder is used, delete what a previous run left in it."""
        now = self.clock()
        with self._lock:
            old = [j for j in self._jobs.values()
                   if j.ended is not None and now - j.ended > self.keep_s]
            for job in old:
                del self._jobs[job.id]
            first = folder is not None and folder not in self._swept_folders
            if first:
                self._swept_folders.add(folder)
            known = {j.path for j in self._jobs.values()}
        for job in old:
            _unlink(job.path)
        if first:
            for path in Path(str(folder)).glob(f"{PREFIX}*.xlsx"):
                if str(path) not in known:
                    _unlink(str(path))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
