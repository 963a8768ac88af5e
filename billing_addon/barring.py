"""Call barring: the call types an extension (or account) and a department may not call.

Each payer and each department keeps its barred types (``barred_types``: a
comma-separated list of ``calltypes.CALL_TYPES``).  Authorize denies a call with reason
``barred`` when the type of the rate that matched it is barred for the payer or for the
payer's department (its current one), before any money is reserved.  'free' (emergency)
can never be barred: it is refused here, and authorize never checks it.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Sequence

import peewee as pw

from . import calltypes, sites
from .errors import Refusal
from .i18n import N_, _
from .store import Department, Extension, money_txn, now_utc, sql

BARRED = N_("barred")  # authorize's reason (the Call Log shows it translated)
NEVER_BARRED = "free"
BARRABLE = tuple(t for t in calltypes.CALL_TYPES if t != NEVER_BARRED)


class BarringError(Refusal):
    """Refused barring input; nothing was changed."""


def clean(types: Iterable[str]) -> str:
    """The stored form of a set of call types (in CALL_TYPES order), or BarringError."""
    chosen = {t.strip() for t in types if t and t.strip()}
    if NEVER_BARRED in chosen:
        raise BarringError(_("free (emergency) calls can never be barred"))
    unknown = sorted(t for t in chosen if not calltypes.is_call_type(t))
    if unknown:
        raise BarringError(_("unknown call type {type}: use {types}").format(
            type=repr(unknown[0][:20]), types=", ".join(BARRABLE)))
    return ",".join(t for t in calltypes.CALL_TYPES if t in chosen)


def parse(stored: str) -> List[str]:
    """The call types of a stored ``barred_types``."""
    return [t for t in (stored or "").split(",") if t]


# a setting: every type some extension or department is barred from (a department
# deleted with its barring leaves more here than needed, never less)
IN_USE = "call_barring"


def _note_in_use() -> None:
    """Set ``IN_USE`` from the tables (inside the transaction that changed them)."""
    used = set()
    for (stored,) in sql("SELECT DISTINCT barred_types FROM extension WHERE barred_types != '' "
                         "UNION SELECT DISTINCT barred_types FROM department "
                         "WHERE barred_types != ''").fetchall():
        used.update(parse(stored))
    sql("INSERT INTO setting (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (IN_USE, clean(used)))


# The payer's own barred types and its department's, joined: one indexed read.
_BARRED_SQL = ("SELECT e.barred_types || ',' || coalesce(d.barred_types, '') FROM extension e "
               "LEFT JOIN department d ON d.id = e.department_id WHERE e.id = ?")


def is_barred(call_type: str, extension_ids: Sequence[int], conf: Mapping[str, str]) -> bool:
    """Whether ``call_type`` is barred for any of ``extension_ids`` (the payer; an
    account's call may name its phone too) or their departments.  ``conf``: the settings
    snapshot authorize read; a type barred nowhere (``IN_USE``) reads no table, so a box
    without barring, and the calls of the types nobody is barred from, pay nothing."""
    if not call_type or call_type == NEVER_BARRED or call_type not in conf.get(IN_USE, "").split(","):
        return False
    for extension_id in extension_ids:
        row = sql(_BARRED_SQL, (extension_id,)).fetchone()
        if row and call_type in row[0].split(","):
            return True
    return False


def bar_extensions(numbers: Sequence[str], types: Iterable[str]) -> int:
    """Set the barred types of extensions (or accounts) ``numbers``; how many changed."""
    stored = clean(types)
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
    with money_txn():
        here = Extension.number.in_(wanted) & pw.SQL(sites.number_scope())
        found = Extension.select(Extension.id).where(here).count()
        if found != len(wanted):
            raise BarringError(_("select existing extensions only"))
        changed = (Extension.update(barred_types=stored, updated_utc=now_utc())
                   .where(here).execute())
        _note_in_use()
    return changed


def bar_departments(barred: Dict[int, Iterable[str]]) -> int:
    """Set the barred types of departments (id -> types), all or none."""
    cleaned = {dept_id: clean(types) for dept_id, types in barred.items()}
    with money_txn():
        known = {d.id for d in Department.select(Department.id)
                 .where(Department.id.in_(list(cleaned)))}
        missing = [i for i in cleaned if i not in known]
        if missing:
            raise BarringError(_("there is no department {id}").format(id=missing[0]))
        for dept_id, stored in cleaned.items():
            (Department.update(barred_types=stored, updated_utc=now_utc())
             .where(Department.id == dept_id).execute())
        _note_in_use()
    return len(cleaned)


def of_extension(number: str) -> List[str]:
    row = Extension.get_or_none((Extension.number == number.strip())
                                & pw.SQL(sites.number_scope()))
    return parse(row.barred_types) if row else []
