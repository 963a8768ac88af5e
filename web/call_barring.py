"""Call barring in the web UI: the "Call Barring" page (the call types each department
may not call, a checkbox per type) and the "Barred call types" block of the extension
edit and bulk edit forms.  The rules are ``billing_addon.barring``."""

from __future__ import annotations

from typing import Dict, List, Optional

import bottle

from billing_addon import barring, calltypes
from billing_addon.i18n import _
from billing_addon.store import Department

from . import auth
from .core import Route, WebCore, decoded


class BarringRefused(Exception):
    """The form's barred types were refused: the message for the form's field."""


def barred_in_form(form, bulk: bool) -> Optional[List[str]]:
    """The barred call types an extension form sets, None when it leaves them (a bulk
    edit without "set_barred" ticked); ``BarringRefused`` for a type that cannot be."""
    if bulk and form.get("set_barred") != "1":
        return None
    chosen = form.getall("barred")
    try:
        barring.clean(chosen)
    except barring.BarringError as exc:
        raise BarringRefused(str(exc)) from None
    return chosen


def form_values(form) -> List[str]:
    """The types ticked in a form as the template reads it (a POST's, or a dict)."""
    return form.getall("barred") if hasattr(form, "getall") else list(form.get("barred", []))


def template_values() -> Dict[str, object]:
    return {"barrable": barring.BARRABLE, "type_label": calltypes.label,
            "barred_of": form_values}


def departments_page(ui: WebCore):
    departments = list(Department.select().order_by(Department.name))
    error = ""
    if bottle.request.method == "POST":
        form = decoded(bottle.request.forms)
        wanted = {d.id: form.getall(f"barred_{d.id}") for d in departments}
        try:
            barring.bar_departments(wanted)
        except barring.BarringError as exc:
            error = str(exc)
        else:
            ui.flash(_("Call barring saved for {count} department(s).").format(count=len(wanted)))
            bottle.redirect("/barring")
    return ui.render("call_barring.tpl", http_status=400 if error else 200,
                     title=_("Call Barring"), departments=departments, error=error,
                     barrable=barring.BARRABLE, type_label=calltypes.label, parse=barring.parse)


ROUTES: List[Route] = [
    ("/barring", ["GET", "POST"], auth.BILLING, departments_page),
]
