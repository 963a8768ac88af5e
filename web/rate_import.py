"""A big rate import from the web UI runs in a thread of its own, and the page that
started it shows its progress until it is done (the Rate page's Import CSV).  A small
deck is put in force at once, within the request."""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Dict, List

from billing_addon import i18n, rates, store
from billing_addon.errors import Refusal
from billing_addon.i18n import _

log = logging.getLogger(__name__)

INLINE_ROWS = 2000  # a deck this small is in force in a fraction of a second
MAX_JOBS = 20  # finished imports nobody came back for are forgotten beyond this


@dataclass
class Job:
    rows: int
    done: int = 0
    finished: bool = False
    count: int = 0
    error: str = ""
    warnings: List[str] = field(default_factory=list)


_jobs: Dict[str, Job] = {}
_jobs_lock = threading.Lock()


def start(deck: rates.Deck, replace: bool) -> str:
    """Put ``deck`` in force in a new thread; the id of the job that follows it."""
    job_id = secrets.token_hex(8)
    job = Job(rows=len(deck.rows))
    with _jobs_lock:
        for old in [k for k, j in _jobs.items() if j.finished][:max(0, len(_jobs) - MAX_JOBS)]:
            del _jobs[old]
        _jobs[job_id] = job
    threading.Thread(target=_run, args=(job, deck, replace, i18n.current()), name="rate-import",
                     daemon=True).start()
    return job_id


def _run(job: Job, deck: rates.Deck, replace: bool, locale: str) -> None:
    """The import, its outcome in the language of the user who started it."""
    with i18n.using(locale):
        _put_in_force(job, deck, replace)


def _put_in_force(job: Job, deck: rates.Deck, replace: bool) -> None:
    def progress(done: int, _total: int) -> None:
        job.done = done

    try:
        job.count = rates.put_in_force(deck, replace=replace, progress=progress)
        job.warnings = rates.import_warnings()
    except Refusal as exc:
        job.error = _("nothing imported: {reason}").format(reason=exc)
    except Exception:  # noqa: BLE001 - the page must learn the import ended
        log.exception("rate import failed")
        job.error = _("nothing imported: the import failed (the error is in the add-on's log)")
    finally:
        job.finished = True
        store.close_db()  # this thread's connection


def get(job_id: str) -> Job:
    """The job (KeyError: no such job, or it was shown finished already)."""
    return _jobs[job_id]


def forget(job_id: str) -> None:
    with _jobs_lock:
        _jobs.pop(job_id, None)
