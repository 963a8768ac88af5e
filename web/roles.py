"""The billing users' roles, and what each may do in the billing area.

* ``billing``: everything, as before roles existed.
* ``auditor``: every page and export of the billing area (every GET), and no change:
  every POST of the billing area is refused.
* ``manager``: a department manager.  Only the routes of ``MANAGER_ROUTES`` (an explicit
  allow-list: a page added later stays closed to managers until it is put here), and in
  them only the extensions and accounts of the departments they manage (``scope``).

``check`` runs in the guard of every billing route (``WebCore.require``), so a route
needs nothing of its own to be closed to an auditor's POST or to a manager.
"""

from __future__ import annotations

from typing import FrozenSet, List, Optional, Sequence, Tuple

from billing_addon import departments, i18n
from billing_addon.i18n import N_

from . import auth

BILLING, AUDITOR, MANAGER = auth.BILLING, auth.AUDITOR, auth.MANAGER
ROLE_LABELS = {BILLING: N_("Billing (full access)"), AUDITOR: N_("Auditor (read-only)"),
               MANAGER: N_("Department manager")}

# (route rule, method) a manager may use: view their extensions, recharge them, see
# their history, calls and statistics, and their own password and language
MANAGER_ROUTES: FrozenSet[Tuple[str, str]] = frozenset({
    ("/extensions", "GET"),
    ("/accounts", "GET"),
    ("/extensions/recharge", "GET"),
    ("/extensions/recharge", "POST"),
    ("/recharges", "GET"),
    ("/recharges/export.<kind:re:xlsx|csv>", "GET"),
    ("/calls", "GET"),
    ("/calls/export.<kind:re:xlsx|csv>", "GET"),
    ("/statistics", "GET"),
    ("/account", "GET"),
    ("/account/password", "GET"),
    ("/account/password", "POST"),
    ("/account/language", "POST"),
})

READ_ONLY_MESSAGE = N_("Your account is read-only (auditor): it can see every page and export "
                       "but change nothing. Nothing was changed.")
MANAGER_MESSAGE = N_("This page is not open to department managers.")


def refusal(role: str, rule: str, method: str) -> Optional[str]:
    """Why ``role`` may not use the billing route ``rule`` with ``method`` (None: it may)."""
    method = "GET" if method == "HEAD" else method
    if role == AUDITOR and method != "GET":
        return i18n._(READ_ONLY_MESSAGE)
    if role == MANAGER and (rule, method) not in MANAGER_ROUTES:
        return i18n._(MANAGER_MESSAGE)
    return None


def may(role: str, path: str, method: str = "POST") -> bool:
    """Whether ``role`` may use ``path`` (a route rule without arguments) with ``method``:
    the templates show an action's button only when it may."""
    if role == BILLING:
        return True
    return role in (AUDITOR, MANAGER) and refusal(role, path, method) is None


def menu(role: str, billing_menu: Sequence[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The billing menu of ``role``: a manager's has only the pages open to managers."""
    if role == MANAGER:
        return [(href, label) for href, label in billing_menu if (href, "GET") in MANAGER_ROUTES]
    return list(billing_menu)


def scope(role: str, username: str) -> Optional[List[int]]:
    """The departments whose extensions ``role`` sees: None (all) but for a manager."""
    if role != MANAGER:
        return None
    user = auth.get_user(username)
    return departments.managed(user.id) if user is not None else []


def narrowed(scope_ids: Optional[List[int]], chosen: str) -> Optional[List[int]]:
    """The departments a page shows: the one ``chosen`` in its department filter (an id,
    or "" for all), within ``scope_ids``; DepartmentError when the choice is unknown or
    outside the scope."""
    chosen = (chosen or "").strip()
    if not chosen:
        return scope_ids
    dept_id = departments.parse_id(chosen)
    if scope_ids is not None and dept_id not in scope_ids:
        raise departments.DepartmentError(i18n._("there is no such department"))
    departments.get(dept_id)
    return [dept_id]
