"""The Re-rating page (linked from the Rate page): choose a period and extensions or a
department, see the calls whose cost changes under today's rates (saved as a run, paged),
apply the run, and the list of past runs.  The rules are ``billing_addon.rerate``.

Applying a month of calls takes many seconds: it runs in a thread of its own, and the
run's page shows its progress until it is done.  A run whose apply stopped (the add-on
was restarted) offers Apply again, which goes on where it stopped."""

from __future__ import annotations

import logging
import threading
from typing import Dict, List

import bottle

from billing_addon import accounts, reports, rerate, settings, store
from billing_addon.i18n import N_, _

from . import auth
from .core import Route, WebCore, decoded

log = logging.getLogger(__name__)
_applying: Dict[int, threading.Thread] = {}  # run id -> the thread applying it
_applying_lock = threading.Lock()

# a run's and a call's state as stored, shown in the user's language
STATES = {"saving": N_("incomplete"), "preview": N_("preview"), "applying": N_("applying"),
          "applied": N_("applied"), "pending": N_("to apply"), "skipped": N_("skipped")}


def _operator(ui: WebCore) -> str:
    session = ui.session()
    return session.username if session else ""


def _departments() -> List[str]:
    return [row[0] for row in store.sql("SELECT name FROM department ORDER BY name").fetchall()]


def rerate_form(ui: WebCore):
    """The choice of calls (GET) and its preview (POST: saved as a run, then shown)."""
    request = bottle.request
    today = settings.local(store.now_utc()).date()
    form = {"from": today.replace(day=1).isoformat(), "to": today.isoformat(),
            "extensions": "", "department": ""}
    errors: Dict[str, str] = {}
    if request.method == "POST":
        source = decoded(request.forms)
        form = {key: source.get(key, "").strip() for key in form}
        try:
            run = rerate.preview(form["from"], form["to"], rerate.numbers_of(form["extensions"]),
                                 form["department"], operator=_operator(ui))
        except (rerate.RerateError, accounts.AccountError) as exc:
            errors["form"] = str(exc)
        else:
            bottle.redirect(f"/rates/rerate/{run.id}")
    return ui.render("rerate.tpl", http_status=400 if errors else 200, title=_("Re-rating"),
                     form=form, errors=errors, departments=_departments(), runs=rerate.runs(),
                     describe=rerate.describe, states=STATES)


def _page(value: str, count: int) -> reports.Page:
    per_page = rerate.PAGE_SIZE
    number = reports._page_number(value or 1, count, per_page)
    return reports.Page([], number, per_page, number * per_page < count, count)


def rerate_run(ui: WebCore, run_id: int):
    """One run: its totals, its changed calls a page at a time, those no rate covers."""
    try:
        run = rerate.get_run(run_id)
    except rerate.RerateError:
        raise ui.error_page(404, _("There is no re-rating run {run}.").format(run=run_id)) from None
    q = decoded(bottle.request.query)
    page = _page(q.get("page", ""), run.changed)
    rows = rerate.items(run.id, page=page.page)
    page = reports.Page(rows, page.page, page.per_page, page.has_next, page.total)
    upage = _page(q.get("upage", ""), run.uncovered)
    uncovered = rerate.items(run.id, uncovered=True, page=upage.page) if run.uncovered else []
    busy = applying(run.id)
    return ui.render("rerate_run.tpl", title=_("Re-rating #{run}").format(run=run.id), run=run,
                     page=page, uncovered=uncovered, upage=upage, describe=rerate.describe,
                     states=STATES, busy=busy, done=rerate.done_count(run.id) if busy else 0,
                     refresh=2 if busy else None)


def applying(run_id: int) -> bool:
    """Whether a thread of this process is applying the run now."""
    thread = _applying.get(run_id)
    return thread is not None and thread.is_alive()


def _apply_in_thread(run_id: int, operator: str) -> None:
    try:
        done = rerate.apply(run_id, operator)
        log.info("re-rating #%d applied: %d call(s) adjusted, %d skipped, longest transaction "
                 "%.1f ms", run_id, done.applied, done.skipped, done.longest_txn_s * 1000)
    except Exception:  # noqa: BLE001 - the run stays 'applying': Apply again resumes it
        log.exception("re-rating #%d: the apply failed", run_id)
    finally:
        store.close_db()  # this thread's connection


def rerate_apply(ui: WebCore, run_id: int):
    try:
        run = rerate.get_run(run_id)
    except rerate.RerateError:
        raise ui.error_page(404, _("There is no re-rating run {run}.").format(run=run_id)) from None
    if run.state == "applied":
        ui.flash(_("Re-rating #{run} was applied already: nothing more changed.").format(
            run=run_id), "info")
    elif run.state == "saving":
        ui.flash(_("Nothing was applied: {reason}.").format(reason=_(
            "re-rating run {run} was not saved completely: preview the period again").format(
            run=run_id)), "error")
    else:
        with _applying_lock:
            if not applying(run_id):
                _applying[run_id] = thread = threading.Thread(
                    target=_apply_in_thread, args=(run_id, _operator(ui)),
                    name=f"rerate-{run_id}", daemon=True)
                thread.start()
    bottle.redirect(f"/rates/rerate/{run_id}")


ROUTES: List[Route] = [
    ("/rates/rerate", ["GET", "POST"], auth.BILLING, rerate_form),
    ("/rates/rerate/<run_id:int>", "GET", auth.BILLING, rerate_run),
    ("/rates/rerate/<run_id:int>/apply", "POST", auth.BILLING, rerate_apply),
]
