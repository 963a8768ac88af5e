"""The Calling Plans page of the billing user: the plans with their free minutes per call
type, adding, editing and deleting one, this month's use of each pool, and assigning a
plan to extensions, accounts and departments in bulk.  The rules are
``billing_addon.plans``; the extension edit page's plan field is ``extension_field``."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import bottle

from billing_addon import calltypes, plans
from billing_addon.digits import whole_number
from billing_addon.i18n import _

from . import auth
from .core import Route, WebCore, decoded

NONE = "none"  # the plan choice "no plan of its own"


def _minutes(plan: plans.Plan) -> Dict[str, str]:
    return {t: str(s // 60) for t, s in plan.free_s.items()}


def plan_list(ui: WebCore):
    all_plans = plans.all_plans()
    counts: Dict[int, int] = {}
    for _number, _name, plan_id, _kind in plans.payers():
        if plan_id is not None:
            counts[plan_id] = counts.get(plan_id, 0) + 1
    for _id, _name, plan_id in plans.departments():
        if plan_id is not None:
            counts[plan_id] = counts.get(plan_id, 0) + 1
    return ui.render("plans.tpl", title=_("Calling Plans"), plans=all_plans, counts=counts,
                     types=calltypes.CALL_TYPES, labels=calltypes.LABELS)


def plan_form(ui: WebCore, plan_id: Optional[int] = None):
    plan = None
    if plan_id is not None:
        plan = plans.get(plan_id)
        if plan is None:
            raise ui.error_page(404, _("There is no plan {id}.").format(id=plan_id))
    errors: Dict[str, str] = {}
    if bottle.request.method == "POST":
        source = decoded(bottle.request.forms)
        form: Dict[str, Any] = {"name": source.get("name", ""),
                                "minutes": {t: source.get("min_" + t, "") for t in calltypes.CALL_TYPES}}
        try:
            free = plans.parse_allowance(form["minutes"])
            if plan is None:
                plan_id = plans.create(form["name"], free)
            else:
                plans.update(plan.id, form["name"], free)
        except plans.PlanError as exc:
            errors["form"] = str(exc)
        else:
            done = _("Plan {name} added.") if plan is None else _("Plan {name} saved.")
            ui.flash(done.format(name=form["name"].strip()))
            bottle.redirect(f"/plans/{plan_id}")
    elif plan is not None:
        form = {"name": plan.name, "minutes": _minutes(plan)}
    else:
        form = {"name": "", "minutes": {}}
    month = plans.current_month()
    return ui.render("plan_form.tpl", http_status=400 if errors else 200,
                     title=_("Edit Plan") if plan else _("Add Plan"), plan=plan, form=form,
                     errors=errors, types=calltypes.CALL_TYPES, labels=calltypes.LABELS,
                     month=month, usage=plans.usage(plan.id, month) if plan else [])


def plan_delete(ui: WebCore, plan_id: int):
    try:
        name = plans.delete(plan_id)
    except plans.PlanError as exc:
        ui.flash(str(exc), "error")
        bottle.redirect(f"/plans/{plan_id}")
    ui.flash(_("Plan {name} deleted.").format(name=name))
    bottle.redirect("/plans")


def _plan_choice(value: str) -> Tuple[Optional[int], str]:
    """A form's plan choice: (plan id or None for none, '') or (None, the error)."""
    if value == NONE:
        return None, ""
    if whole_number(value) and plans.get(int(value)) is not None:
        return int(value), ""
    return None, _("choose a plan, or none")


def plan_assign(ui: WebCore):
    """One form for every payer and department: tick them, choose a plan (or none)."""
    errors: Dict[str, str] = {}
    source = decoded(bottle.request.forms if bottle.request.method == "POST" else bottle.request.query)
    if bottle.request.method == "POST":
        plan_id, error = _plan_choice(source.get("plan", ""))
        departments = [int(v) for v in source.getall("d") if whole_number(v) and len(v) < 10]
        if error:
            errors["plan"] = error
        else:
            try:
                count = plans.assign(plan_id, source.getall("n"), departments)
            except plans.PlanError as exc:
                errors["form"] = str(exc)
            else:
                name = plans.names().get(plan_id, "") if plan_id is not None else _("no plan")
                ui.flash(_("{name} assigned to {count} extension(s), account(s) or "
                           "department(s).").format(name=name, count=count))
                bottle.redirect("/plans/assign")
    return ui.render("plan_assign.tpl", http_status=400 if errors else 200,
                     title=_("Assign Calling Plans"), errors=errors, form=source,
                     plans=plans.all_plans(), names=plans.names(), payers=plans.payers(),
                     departments=plans.departments(), none=NONE)


# --- the extension edit page's plan field ------------------------------------------------


def extension_choice(source) -> Tuple[Any, Dict[str, str]]:
    """The edit form's plan: (plan id, None for none, or ``...`` when the form has no
    plan field, {}), or (..., the field's error).  Checked before anything is saved."""
    if "plan" not in source:
        return ..., {}
    plan_id, error = _plan_choice(source.get("plan", ""))
    return (..., {"plan": error}) if error else (plan_id, {})


def save_extension_choice(number: str, choice: Any) -> str:
    """Give the extension the plan checked by ``extension_choice``; '' or why not (the
    plan was deleted meanwhile)."""
    if choice is not ...:
        try:
            plans.assign(choice, [number])
        except plans.PlanError as exc:
            return str(exc)
    return ""


def extension_field(ext_id: int, form) -> Dict[str, Any]:
    """What ext_plan.tpl shows: the plans, and the one chosen (the form's, else the
    extension's own)."""
    chosen = form.get("plan") if hasattr(form, "get") else None
    if not chosen:
        own = plans.plan_of_extension(ext_id)
        chosen = NONE if own is None else str(own)
    return {"plans": plans.all_plans(), "chosen": chosen, "none": NONE}


ROUTES: List[Route] = [
    ("/plans", "GET", auth.BILLING, plan_list),
    ("/plans/add", ["GET", "POST"], auth.BILLING, plan_form),
    ("/plans/assign", ["GET", "POST"], auth.BILLING, plan_assign),
    ("/plans/<plan_id:int>", ["GET", "POST"], auth.BILLING, plan_form),
    ("/plans/<plan_id:int>/delete", "POST", auth.BILLING, plan_delete),
]
