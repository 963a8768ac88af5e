"""Calling plans: free seconds a month per call type, used before money.

A plan gives, for each call type (``calltypes``), a number of free seconds a month.  It
is assigned to extensions and accounts, or to departments.  The plan that applies to a
call is the payer's own plan, else its department's.  The seconds are counted in a
*pool*: a payer with its own plan is a pool of its own; the members of a department on
the department's plan share the department's pool.  A pool's month is the box's local
month (the ``timezone`` setting) of the call's start: a call that runs past midnight at
the end of a month counts, whole, in the month it started.

How allowance and money combine (``calls.authorize`` and ``calls.settle_many`` call
the functions here, in their transactions):

* authorize: ``left = allowance - used - reserved`` of the pool, month and call type.
  The call may last the free seconds left plus what the money covers; it reserves
  ``min(left, limit + 1)`` free seconds (first come first served, like money: a second
  call sees only what the first left) and money only for the rest.
* settle: ``free_s = min(answered_s, free seconds reserved)``; the call is charged
  ``rating.cost(rate, answered_s - free_s)`` (0 when nothing is left); the pool's
  reserved seconds become used seconds in the statement that charges the call (the
  triggers of migration 0012 follow the call's status and ``free_s``), so exactly once
  with its charge, whichever path settles or releases it.
* a call that authorize never saw (the CDR path), or whose reservation was released as
  stale, uses the free seconds left when it is settled.
* ``verify``: every pool's used seconds are the sum of its calls' ``free_s``, its
  reserved seconds the sum of what its calls in progress hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from . import calltypes, settings, sites, store
from .errors import Refusal
from .i18n import _
from .store import insert_returning_id, money_txn, now_utc, sql, sql_in, sql_many, sql_one

MAX_MINUTES = 1_000_000  # a month has 44,640 minutes; more is a typing slip
MAX_NAME = 80
EXTENSION, DEPARTMENT = "extension", "department"


class PlanError(Refusal):
    """A refused plan operation; nothing was changed.  The message says why."""


def month_of(local: dt.datetime) -> str:
    """The pool month of a call that started at ``local`` (the box's zone).

    >>> month_of(dt.datetime(2026, 11, 30, 23, 59, 59))
    '2026-11'
    """
    return f"{local.year:04d}-{local.month:02d}"


# --- which call types any plan gives free seconds -------------------------------------

# A setting: the call types some plan assigned to someone (an extension, an account or a
# department) gives free seconds for, comma-separated (migration 0014 sets it first).
# Authorize and settle look for a pool only for these types, so a box without plans,
# and the calls of types no plan covers, pay nothing for plans.  It may name more types
# than needed (a department deleted with its plan), never fewer: every change of plans
# and assignments sets it again in its transaction.
IN_USE = "calling_plans"


def _note_in_use() -> None:
    """Set ``IN_USE`` from the tables (inside the transaction that changed them)."""
    types = {r[0] for r in sql(
        "SELECT DISTINCT call_type FROM plan_allowance WHERE free_s > 0 AND plan_id IN "
        "(SELECT plan_id FROM extension UNION SELECT plan_id FROM department)")}
    sql("INSERT INTO setting (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (IN_USE, ",".join(t for t in calltypes.CALL_TYPES if t in types)))


def in_use(call_type: str, conf: Mapping[str, str]) -> bool:
    """Whether a plan may give a call of ``call_type`` free seconds (``conf``: a settings
    snapshot; without the setting, any type may)."""
    types = conf.get(IN_USE)
    return types is None or bool(call_type) and call_type in types.split(",")


# --- plans ------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    free_s: Dict[str, int]  # call type -> free seconds a month (types without: none)


def parse_minutes(text: str, label: str) -> int:
    """Free minutes as typed (empty: 0) in seconds; ``label`` names the field."""
    text = (text or "").strip()
    if not text:
        return 0
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_MINUTES:
        raise PlanError(_("{type}: free minutes must be a whole number from 0 to {most}").format(
            type=label, most=MAX_MINUTES))
    return int(text) * 60


def parse_allowance(minutes: Mapping[str, str]) -> Dict[str, int]:
    """The form's free minutes per call type as seconds per type (zeros left out)."""
    free = {}
    for call_type in calltypes.CALL_TYPES:
        seconds = parse_minutes(minutes.get(call_type, ""), _(calltypes.LABELS[call_type]))
        if seconds:
            free[call_type] = seconds
    return free


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise PlanError(_("a plan needs a name"))
    if len(name) > MAX_NAME:
        raise PlanError(_("the plan name is at most {count} characters").format(count=MAX_NAME))
    return name


def _check_unique(name: str, plan_id: int = 0) -> None:
    if sql_one("SELECT 1 FROM plan WHERE name = ? AND id != ?", (name, plan_id)):
        raise PlanError(_("there is already a plan named {name}").format(name=repr(name)))


def _write_allowance(plan_id: int, free: Dict[str, int]) -> None:
    sql("DELETE FROM plan_allowance WHERE plan_id = ?", (plan_id,))
    sql_many("INSERT INTO plan_allowance (plan_id, call_type, free_s) VALUES (?, ?, ?)",
             [(plan_id, call_type, seconds) for call_type, seconds in free.items()])


def create(name: str, free: Dict[str, int]) -> int:
    """A new plan with ``free`` seconds per call type (``parse_allowance``); its id."""
    name = _clean_name(name)
    at = now_utc()
    with money_txn():
        _check_unique(name)
        plan_id = insert_returning_id("INSERT INTO plan (name, created_utc, updated_utc) "
                                      "VALUES (?, ?, ?)", (name, at, at))
        _write_allowance(plan_id, free)
        _note_in_use()
    return plan_id


def update(plan_id: int, name: str, free: Dict[str, int]) -> None:
    """Rename a plan and set its allowance.  Calls in progress keep the free seconds
    they reserved; a pool whose use is past a lowered allowance gets nothing more."""
    name = _clean_name(name)
    with money_txn():
        _get_or_refuse(plan_id)
        _check_unique(name, plan_id)
        sql("UPDATE plan SET name = ?, updated_utc = ? WHERE id = ?", (name, now_utc(), plan_id))
        _write_allowance(plan_id, free)
        _note_in_use()


def delete(plan_id: int) -> str:
    """Delete a plan assigned to nobody; its name."""
    with money_txn():
        plan = _get_or_refuse(plan_id)
        users = sql_one("SELECT (SELECT COUNT(*) FROM extension WHERE plan_id = ?) + "
                        "(SELECT COUNT(*) FROM department WHERE plan_id = ?)",
                        (plan_id, plan_id))[0]
        if users:
            raise PlanError(_("plan {name} is assigned to {count} extension(s) or department(s): "
                              "assign them another plan or none first").format(
                name=plan.name, count=users))
        sql("DELETE FROM plan WHERE id = ?", (plan_id,))
        _note_in_use()
    return plan.name


def _get_or_refuse(plan_id: int) -> Plan:
    plan = get(plan_id)
    if plan is None:
        raise PlanError(_("there is no plan {id}").format(id=plan_id))
    return plan


def get(plan_id: int) -> Optional[Plan]:
    if not 0 < plan_id <= store.MAX_ID:  # no such row (SQLite refuses larger integers)
        return None
    row = sql_one("SELECT id, name FROM plan WHERE id = ?", (plan_id,))
    if row is None:
        return None
    free = dict(sql("SELECT call_type, free_s FROM plan_allowance WHERE plan_id = ?",
                    (plan_id,)).fetchall())
    return Plan(row[0], row[1], free)


def all_plans() -> List[Plan]:
    free: Dict[int, Dict[str, int]] = {}
    for plan_id, call_type, seconds in sql("SELECT plan_id, call_type, free_s FROM plan_allowance"):
        free.setdefault(plan_id, {})[call_type] = seconds
    return [Plan(plan_id, name, free.get(plan_id, {}))
            for plan_id, name in sql("SELECT id, name FROM plan ORDER BY name COLLATE NOCASE")]


def names() -> Dict[int, str]:
    return dict(sql("SELECT id, name FROM plan").fetchall())


# --- assignment ---------------------------------------------------------------------


def assign(plan_id: Optional[int], numbers: Sequence[str] = (),
           department_ids: Sequence[int] = ()) -> int:
    """Give the extensions/accounts ``numbers`` and the departments ``department_ids``
    the plan ``plan_id`` (None: no plan of their own), all or none; how many changed.
    Calls in progress keep the pool they reserved from."""
    numbers = list(dict.fromkeys((n or "").strip() for n in numbers))
    department_ids = list(dict.fromkeys(department_ids))
    if not numbers and not department_ids:
        raise PlanError(_("select at least one extension, account or department"))
    with money_txn():
        if plan_id is not None:
            _get_or_refuse(plan_id)
        found = dict(sql_in(f"SELECT number, id FROM extension WHERE {sites.number_scope()} "
                            f"AND number IN ({{}})", numbers))
        missing = [n for n in numbers if n not in found]
        if missing:
            raise PlanError(_("unknown extension {number}").format(number=repr(missing[0][:40])))
        known = {r[0] for r in sql_in("SELECT id FROM department WHERE id IN ({})", department_ids)}
        if len(known) != len(department_ids):
            raise PlanError(_("there is no such department"))
        at = now_utc()
        sql_many("UPDATE extension SET plan_id = ?, updated_utc = ? WHERE id = ?",
                 [(plan_id, at, ext_id) for ext_id in found.values()])
        sql_many("UPDATE department SET plan_id = ?, updated_utc = ? WHERE id = ?",
                 [(plan_id, at, dep_id) for dep_id in department_ids])
        _note_in_use()
    return len(numbers) + len(department_ids)


def plan_of_extension(ext_id: int) -> Optional[int]:
    """The extension's own plan (not its department's)."""
    row = sql_one("SELECT plan_id FROM extension WHERE id = ?", (ext_id,))
    return row[0] if row else None


def payers() -> List[Tuple[str, str, Optional[int], str]]:
    """(number, name, own plan id, kind) of every extension and account, by number."""
    return [tuple(r) for r in sql("SELECT number, name, plan_id, kind FROM extension "
                                  "ORDER BY number")]


def departments() -> List[Tuple[int, str, Optional[int]]]:
    """(id, name, plan id) of every department, by name."""
    return [tuple(r) for r in sql("SELECT id, name, plan_id FROM department "
                                  "ORDER BY name COLLATE NOCASE")]


# --- the money path -----------------------------------------------------------------


class Allowance(NamedTuple):
    """A pool's free seconds left for one call type in one month."""
    pool_kind: str
    pool_id: int
    month: str
    call_type: str
    left: int


# the payer's pool (its own plan, else its department's) and what is left of it, in one
# statement: a call of a payer without a plan finds no row
_ALLOWANCE = (
    "SELECT p.kind, p.pool_id, a.free_s - COALESCE((SELECT u.used_s + u.reserved_s "
    "FROM plan_usage u WHERE u.pool_kind = p.kind AND u.pool_id = p.pool_id AND u.month = ? "
    "AND u.call_type = a.call_type), 0) FROM (SELECT CASE WHEN e.plan_id IS NULL "
    "THEN 'department' ELSE 'extension' END AS kind, CASE WHEN e.plan_id IS NULL "
    "THEN e.department_id ELSE e.id END AS pool_id, COALESCE(e.plan_id, d.plan_id) AS plan_id "
    "FROM extension e LEFT JOIN department d ON d.id = e.department_id WHERE e.id = ?) p "
    "JOIN plan_allowance a ON a.plan_id = p.plan_id AND a.call_type = ? AND a.free_s > 0")


def allowance(ext_id: int, call_type: str, local: dt.datetime) -> Optional[Allowance]:
    """The pool a call of ``ext_id`` started at ``local`` draws on, with what is left of
    it for ``call_type``; None when no plan gives that type free seconds."""
    pool = _pool(ext_id, call_type, month_of(local))
    return None if pool is None else pool._replace(left=max(0, pool.left))


# PostgreSQL: the payer's pool locked till the commit before it is read (the call path's
# transactions run side by side there, and a department's members share one pool);
# keys of their own (two int4: pool kind, pool id), apart from store's write lock
_LOCK_POOL = ("SELECT pg_advisory_xact_lock(CASE WHEN plan_id IS NULL THEN 1886191618 "
              "ELSE 1886191617 END, CAST(CASE WHEN plan_id IS NULL THEN department_id ELSE id END "
              "AS INTEGER)) "
              "FROM extension WHERE id = ? AND (plan_id IS NOT NULL OR department_id IS NOT NULL)")


def _pool(ext_id: int, call_type: str, month: str) -> Optional[Allowance]:
    """As ``allowance``, but ``left`` may be below 0 (a plan's minutes were lowered
    below what its pool used this month)."""
    if store.postgres():
        sql(_LOCK_POOL, (ext_id,))
    row = sql_one(_ALLOWANCE, (month, ext_id, call_type))
    return None if row is None else Allowance(row[0], row[1], month, call_type, row[2])


# the triggers of migration 0012 move the pool's seconds (plan_usage) with these rows
# and with the call's status and free_s
_RECORD = ("INSERT INTO plan_call (call_id, pool_kind, pool_id, month, call_type, reserved_s) "
           "VALUES (?, ?, ?, ?, ?, ?)")


def reserve(pool: Allowance, call_id: int, seconds: int) -> None:
    """Record that the in-progress call draws on ``pool`` and holds ``seconds`` (> 0) of
    it (authorize, in its transaction; a call that holds none records none).  The pool
    gets them back when the call leaves 'in-progress' (settled, or released as stale: a
    later settle uses what is left then)."""
    sql(_RECORD, (call_id, pool.pool_kind, pool.pool_id, pool.month, pool.call_type, seconds))


class Settling:
    """The free seconds of the calls one ``settle_many`` charges: read once for the
    batch, handed out call by call (``free_seconds``); the charges write them
    (``call.free_s``), ``write`` records the pools of the calls authorize never saw.
    Calls released as stale or never authorized draw on what the pool has left at their
    turn: what it had before the batch, less what the batch drew, plus what the calls
    settled before them in the batch held and did not use (as one after the other)."""

    def __init__(self, held: Dict[int, list]):
        # call id -> its plan_call row (pool_kind, pool_id, month, call_type, reserved_s):
        # read by settle_many with the calls, a call without free seconds has none
        self._calls = held
        self._new: Dict[int, Allowance] = {}  # calls authorize never saw: their pool
        self._left: Dict[tuple, int] = {}  # pool, month, type -> left, as this batch draws
        self._back: Dict[tuple, int] = {}  # held and not used by calls settled in the batch
        self._conf: Optional[Dict[str, str]] = None
        self._zone: Optional[ZoneInfo] = None

    def free_seconds(self, call_id: int, ext_id: int, status: str, call_type: str,
                     answered_s: int, started: Optional[int]) -> int:
        """The free seconds of a call being charged.  ``started`` (UTC) is given for a
        call authorize never saw: it draws on its pool at its start's month now."""
        if started is not None:
            if self._conf is None:
                self._conf = settings.snapshot()
                self._zone = ZoneInfo(self._conf["timezone"])
            if not in_use(call_type, self._conf):
                return 0
            pool = _pool(ext_id, call_type, month_of(dt.datetime.fromtimestamp(started, self._zone)))
            if pool is None:
                return 0
            free = self._draw(tuple(pool[:4]), pool.left, answered_s)
            if free:
                self._new[call_id] = pool
        else:
            held = self._calls.get(call_id)
            if held is None:
                return 0
            kind, pool_id, month, held_type, reserved = held
            key = (kind, pool_id, month, held_type)
            if status == "in-progress":
                free = min(answered_s, reserved)
                if key in self._left:
                    self._left[key] += reserved - free
                else:
                    self._back[key] = self._back.get(key, 0) + reserved - free
            else:  # released as stale: what is left of the pool it held seconds of
                left = self._left.get(key)
                free = self._draw(key, _left_now(key, ext_id) if left is None else left,
                                  answered_s)
        return free

    def _draw(self, key: tuple, left: int, answered_s: int) -> int:
        """Draw from ``left`` (read from the database: before this batch), or from what
        this batch left of the pool when it drew on it already."""
        if key in self._left:
            left = self._left[key]
        else:
            left += self._back.pop(key, 0)
        free = min(answered_s, max(0, left))
        self._left[key] = left - free
        return free

    def write(self, charged: Iterable[int]) -> None:
        """Record the pools of the calls authorize never saw among those charged (ids),
        once their rows are in: the trigger counts their free seconds as used."""
        if self._new:
            sql_many(_RECORD, [(call_id, *self._new[call_id][:4], 0)
                               for call_id in charged if call_id in self._new])


def _left_now(key: tuple, ext_id: int) -> int:
    """What is left now in a pool (may be below 0), when it is still the payer's pool."""
    kind, pool_id, month, call_type = key
    pool = _pool(ext_id, call_type, month)
    return pool.left if pool is not None and pool[:2] == (kind, pool_id) else 0


# --- pages and checks -------------------------------------------------------------


@dataclass(frozen=True)
class PoolUsage:
    kind: str  # extension | department
    pool_id: int
    label: str  # the extension's number and name, or the department's name
    call_type: str
    free_s: int
    used_s: int
    reserved_s: int


def usage(plan_id: int, month: str) -> List[PoolUsage]:
    """This plan's pools (its extensions and accounts, its departments) and their use
    of each call type it gives seconds for, in ``month``."""
    plan = _get_or_refuse(plan_id)
    pools: List[Tuple[str, int, str]] = [
        (EXTENSION, ext_id, f"{number} {name}".strip()) for ext_id, number, name in sql(
            "SELECT id, number, name FROM extension WHERE plan_id = ? ORDER BY number", (plan_id,))]
    pools += [(DEPARTMENT, dep_id, name) for dep_id, name in sql(
        "SELECT id, name FROM department WHERE plan_id = ? ORDER BY name COLLATE NOCASE",
        (plan_id,))]
    used = {(r[0], r[1], r[2]): (r[3], r[4]) for r in sql(
        "SELECT pool_kind, pool_id, call_type, used_s, reserved_s FROM plan_usage WHERE month = ?",
        (month,))}
    rows = []
    for kind, pool_id, label in pools:
        for call_type in calltypes.CALL_TYPES:
            if call_type in plan.free_s:
                u, r = used.get((kind, pool_id, call_type), (0, 0))
                rows.append(PoolUsage(kind, pool_id, label, call_type, plan.free_s[call_type], u, r))
    return rows


def current_month() -> str:
    return month_of(settings.local(now_utc()))


def verify() -> List[Tuple[str, str, int, int]]:
    """(pool, field, stored, recomputed) for every pool whose used or reserved seconds
    differ from its calls' free seconds and reservations."""
    stored = {tuple(r[:4]): (r[4], r[5]) for r in sql(
        "SELECT pool_kind, pool_id, month, call_type, used_s, reserved_s FROM plan_usage")}
    recomputed = {tuple(r[:4]): (r[4], r[5]) for r in sql(
        "SELECT p.pool_kind, p.pool_id, p.month, p.call_type, SUM(c.free_s), "
        "SUM(CASE WHEN c.status = 'in-progress' THEN p.reserved_s ELSE 0 END) "
        "FROM plan_call p JOIN call c ON c.id = p.call_id "
        "GROUP BY p.pool_kind, p.pool_id, p.month, p.call_type")}
    problems = []
    for key in sorted(set(stored) | set(recomputed)):
        pool = f"plan pool {key[0]} {key[1]} {key[2]} {key[3]}"
        for index, field in enumerate(("used seconds", "reserved seconds")):
            have, want = stored.get(key, (0, 0))[index], recomputed.get(key, (0, 0))[index]
            if have != want:
                problems.append((pool, field, have, want))
    orphans = sql_one("SELECT COUNT(*) FROM call c WHERE c.free_s > 0 AND NOT EXISTS "
                      "(SELECT 1 FROM plan_call p WHERE p.call_id = c.id)")[0]
    if orphans:
        problems.append(("plan pools", "free calls without a pool", orphans, 0))
    return problems
