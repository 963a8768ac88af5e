"""The Departments page of the billing user: the list with member counts and balances,
create, rename, delete (refused while it has members), and one department's members,
to which extensions and accounts are added by number (many at once) or removed.
Extensions are also put in a department from the Extensions page (Bulk Edit, Edit)."""

from __future__ import annotations

import re
from typing import Dict, List, Optional

import bottle

from billing_addon import departments
from billing_addon.i18n import _, ngettext

from . import auth
from .core import Route, WebCore, decoded

MAX_TYPED = 5000  # numbers one "Add members" may name


def department_list(ui: WebCore, errors: Optional[Dict[str, str]] = None, name: str = ""):
    return ui.render("departments.tpl", http_status=400 if errors else 200, title=_("Departments"),
                     rows=departments.list_all(ui.scope()), errors=errors or {}, new_name=name)


def department_add(ui: WebCore):
    name = decoded(bottle.request.forms).get("name", "")
    try:
        departments.create(name)
    except departments.DepartmentError as exc:
        return department_list(ui, {"name": str(exc)}, name[:200])
    ui.flash(_("Department {name} created.").format(name=name.strip()))
    bottle.redirect("/departments")


def _department(ui: WebCore, dept_id: int) -> departments.DepartmentRow:
    try:
        return departments.get(dept_id)
    except departments.DepartmentError as exc:
        raise ui.error_page(404, _("There is no such department.")) from exc


def department_page(ui: WebCore, dept_id: int, errors: Optional[Dict[str, str]] = None, form=None):
    dept = _department(ui, dept_id)
    return ui.render("department.tpl", http_status=400 if errors else 200,
                     title=_("Department {name}").format(name=dept.name), dept=dept,
                     members=departments.members(dept.id), errors=errors or {},
                     form=form or {"name": dept.name, "numbers": ""})


def department_rename(ui: WebCore, dept_id: int):
    dept = _department(ui, dept_id)
    form = decoded(bottle.request.forms)
    try:
        departments.rename(dept.id, form.get("name", ""))
    except departments.DepartmentError as exc:
        return department_page(ui, dept.id, {"name": str(exc)},
                               {"name": form.get("name", "")[:200], "numbers": ""})
    ui.flash(_("Department renamed to {name}.").format(name=form.get("name", "").strip()))
    bottle.redirect(f"/departments/{dept.id}")


def department_delete(ui: WebCore, dept_id: int):
    dept = _department(ui, dept_id)
    try:
        departments.delete(dept.id)
    except departments.DepartmentError as exc:
        ui.flash(str(exc), "error")
        bottle.redirect(f"/departments/{dept.id}")
    ui.flash(_("Department {name} deleted.").format(name=dept.name))
    bottle.redirect("/departments")


def typed_numbers(text: str) -> List[str]:
    """Numbers typed in a box, separated by spaces, commas, semicolons or new lines."""
    return [n for n in re.split(r"[\s,;]+", text or "") if n][:MAX_TYPED + 1]


def department_members(ui: WebCore, dept_id: int):
    """Add the typed numbers to the department (moving them from any other), or remove
    the ticked members (``remove``), or all members (``remove_all``)."""
    dept = _department(ui, dept_id)
    form = decoded(bottle.request.forms)
    text = form.get("numbers", "")
    try:
        if form.get("remove_all") == "1":
            count = departments.empty(dept.id)
            done = ngettext("{count} member removed from {name}.", "{count} members removed from {name}.",
                            count)
        elif form.get("remove") == "1":
            numbers = [n for n in form.getall("n") if n in {m[0] for m in departments.members(dept.id)}]
            count = departments.assign(numbers, None)
            done = ngettext("{count} member removed from {name}.", "{count} members removed from {name}.",
                            count)
        else:
            numbers = typed_numbers(text)
            if len(numbers) > MAX_TYPED:
                raise departments.DepartmentError(
                    _("at most {count} numbers at once").format(count=MAX_TYPED))
            count = departments.assign(numbers, dept.id)
            done = ngettext("{count} extension or account added to {name}.",
                            "{count} extensions or accounts added to {name}.", count)
    except departments.DepartmentError as exc:
        return department_page(ui, dept.id, {"numbers": str(exc)},
                               {"name": dept.name, "numbers": text[:20000]})
    ui.flash(done.format(count=count, name=dept.name))
    bottle.redirect(f"/departments/{dept.id}")


ROUTES: List[Route] = [
    ("/departments", "GET", auth.BILLING, department_list),
    ("/departments/add", "POST", auth.BILLING, department_add),
    ("/departments/<dept_id:int>", "GET", auth.BILLING, department_page),
    ("/departments/<dept_id:int>/rename", "POST", auth.BILLING, department_rename),
    ("/departments/<dept_id:int>/delete", "POST", auth.BILLING, department_delete),
    ("/departments/<dept_id:int>/members", "POST", auth.BILLING, department_members),
]
