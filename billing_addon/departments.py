"""Departments (billing units): named groups of extensions and accounts, for reports,
exports and a department manager's view.

An extension or account belongs to at most one department (``extension.department_id``);
reports of a department read its *current* members.  A department that still has members
is never deleted: the refusal says how many, and the billing user moves them out first
(Bulk Edit, or "Remove all members" on the department's page), so nothing is orphaned
silently.  Managers (billing users of role ``manager``) are linked to the departments
they manage in ``user_department``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import peewee as pw

from . import sites
from .errors import Refusal
from .i18n import _, ngettext
from .store import Department, money_txn, now_utc, sql, sql_in

MAX_NAME = 60
MAX_SHOWN = 5  # unknown numbers a refusal names


class DepartmentError(Refusal):
    """A refused department operation; nothing was changed.  The message says why."""


@dataclass(frozen=True)
class DepartmentRow:
    id: int
    name: str
    members: int
    balance: int  # the members' balances added up, minor units


def clean_name(name: Optional[str]) -> str:
    """The name as stored: trimmed, not empty, at most MAX_NAME characters, printable."""
    name = (name or "").strip()
    if not name:
        raise DepartmentError(_("the department needs a name"))
    if len(name) > MAX_NAME:
        raise DepartmentError(_("the department name is at most {count} characters").format(count=MAX_NAME))
    if not name.isprintable():
        raise DepartmentError(_("the department name must not contain control characters"))
    return name


def _check_free(name: str, except_id: Optional[int] = None) -> None:
    """Names are unique without regard to case ("Sales" and "sales" are one)."""
    row = sql("SELECT id, name FROM department WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
    if row is not None and row[0] != except_id:
        raise DepartmentError(_("a department named {name} already exists").format(name=repr(row[1])))


def create(name: str) -> int:
    """A new department; its id."""
    name = clean_name(name)
    now = now_utc()
    with money_txn():  # in the write queue, like every other writer of the process
        _check_free(name)
        try:
            return Department.insert(name=name, created_utc=now, updated_utc=now).execute()
        except pw.IntegrityError as exc:  # pragma: no cover - _check_free saw it first
            raise DepartmentError(_("a department named {name} already exists").format(
                name=repr(name))) from exc


def rename(dept_id: int, name: str) -> None:
    name = clean_name(name)
    with money_txn():
        get(dept_id)
        _check_free(name, except_id=dept_id)
        sql("UPDATE department SET name = ?, updated_utc = ? WHERE id = ?", (name, now_utc(), dept_id))


def delete(dept_id: int) -> None:
    """Delete an empty department (its managers' links go with it)."""
    with money_txn():
        dept = get(dept_id)
        if dept.members:
            raise DepartmentError(ngettext(
                "department {name} still has {count} member: move it to another department "
                "or to none first; nothing was deleted",
                "department {name} still has {count} members: move them to another department "
                "or to none first; nothing was deleted", dept.members).format(
                name=repr(dept.name), count=dept.members))
        sql("DELETE FROM user_department WHERE department_id = ?", (dept_id,))
        sql("DELETE FROM department WHERE id = ?", (dept_id,))


def _rows(where: str = "", params: tuple = ()) -> List[DepartmentRow]:
    cur = sql("SELECT d.id, d.name, count(e.id), coalesce(sum(e.balance), 0) FROM department d "
              f"LEFT JOIN extension e ON e.department_id = d.id {where} "
              "GROUP BY d.id ORDER BY d.name COLLATE NOCASE", params)
    return [DepartmentRow(*r) for r in cur.fetchall()]


def list_all(only: Optional[Sequence[int]] = None) -> List[DepartmentRow]:
    """Every department (or those of ``only``) with its member count and balances total."""
    rows = _rows()
    if only is None:
        return rows
    wanted = set(only)
    return [r for r in rows if r.id in wanted]


def get(dept_id) -> DepartmentRow:
    rows = _rows("WHERE d.id = ?", (parse_id(dept_id),))
    if not rows:
        raise DepartmentError(_("there is no such department"))
    return rows[0]


def parse_id(value) -> int:
    """A department id from a form or query; DepartmentError when it is not one."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise DepartmentError(_("there is no such department"))
    return int(text)


def choices(only: Optional[Sequence[int]] = None) -> List[Tuple[int, str]]:
    """(id, name) of every department (or those of ``only``), by name, for pickers."""
    rows = sql("SELECT id, name FROM department ORDER BY name COLLATE NOCASE").fetchall()
    wanted = None if only is None else set(only)
    return [(r[0], r[1]) for r in rows if wanted is None or r[0] in wanted]


def member_ids(dept_ids: Sequence[int]) -> List[int]:
    """The ids of the extensions and accounts in ``dept_ids``."""
    return [row[0] for row in sql_in("SELECT id FROM extension WHERE department_id IN ({})",
                                     [int(d) for d in dept_ids])] if dept_ids else []


def members(dept_id: int) -> List[Tuple[str, str, str, int]]:
    """(number, name, kind, balance) of a department's extensions and accounts."""
    return [tuple(r) for r in sql(
        "SELECT number, name, kind, balance FROM extension WHERE department_id = ? "
        "ORDER BY length(number), number", (dept_id,)).fetchall()]


def assign(numbers: Iterable[str], dept_id: Optional[int]) -> int:
    """Put the extensions and accounts ``numbers`` in department ``dept_id`` (None: in
    none).  Every number must be known, else nothing changes.  Returns how many."""
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n and n.strip()))
    if not wanted:
        raise DepartmentError(_("select at least one extension"))
    with money_txn():
        if dept_id is not None:
            get(dept_id)
        here = sites.number_scope()  # members are named by number: this site's
        known = {r[0] for r in sql_in(f"SELECT number FROM extension WHERE {here} AND number IN ({{}})",
                                      wanted)}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            shown = ", ".join(n[:32] for n in unknown[:MAX_SHOWN])
            shown += " …" if len(unknown) > MAX_SHOWN else ""
            raise DepartmentError(ngettext(
                "{count} unknown extension or account: {numbers}; nothing was changed",
                "{count} unknown extensions or accounts: {numbers}; nothing was changed",
                len(unknown)).format(count=len(unknown), numbers=shown))
        now = now_utc()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            sql(f"UPDATE extension SET department_id = ?, updated_utc = ? "
                f"WHERE {here} AND number IN ({', '.join('?' * len(chunk))})", (dept_id, now, *chunk))
    return len(wanted)


def empty(dept_id: int) -> int:
    """Move every member of the department to no department; how many were moved."""
    with money_txn():
        get(dept_id)
        return sql("UPDATE extension SET department_id = NULL, updated_utc = ? WHERE department_id = ?",
                   (now_utc(), dept_id)).rowcount


# --- managers ------------------------------------------------------------------------


def managed(user_id: int) -> List[int]:
    """Ids of the departments the user manages."""
    return [r[0] for r in sql("SELECT department_id FROM user_department WHERE user_id = ? "
                              "ORDER BY department_id", (user_id,)).fetchall()]


def managers() -> Dict[int, List[int]]:
    """{user id: ids of the departments they manage} of every manager."""
    found: Dict[int, List[int]] = {}
    for user_id, dept_id in sql("SELECT user_id, department_id FROM user_department "
                                "ORDER BY user_id, department_id").fetchall():
        found.setdefault(user_id, []).append(dept_id)
    return found


def set_managed(user_id: int, dept_ids: Iterable[int]) -> None:
    """The departments a manager manages, replacing those before (unknown ids refused)."""
    ids = sorted(set(dept_ids))
    with money_txn():
        for dept_id in ids:
            get(dept_id)
        sql("DELETE FROM user_department WHERE user_id = ?", (user_id,))
        for dept_id in ids:
            sql("INSERT INTO user_department (user_id, department_id) VALUES (?, ?)", (user_id, dept_id))


def outside(numbers: Iterable[str], scope: Sequence[int]) -> List[str]:
    """The numbers that are not extensions or accounts of the departments ``scope``."""
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n and n.strip()))
    if not scope:
        return wanted
    inside = set(scope)
    rows = sql_in(f"SELECT number, department_id FROM extension WHERE {sites.number_scope()} "
                  f"AND number IN ({{}})", wanted)
    allowed = {number for number, dept in rows if dept in inside}
    return [n for n in wanted if n not in allowed]
