"""Re-rating: charge the calls of a past period again under today's rates.

After a rate was wrong, ``preview`` finds every charged call of a period (the box's
local days; optionally some extensions and accounts, or one department) whose cost is
different under the rates in force now, and saves them as a run: for each call its old
and new cost and rate.  ``apply`` then moves exactly that money, so what the user saw
is what is charged.

The rules, in the order the code applies them:

* Only charged calls (status ``charged``: settled, billed) are re-rated.  Unrated,
  unbilled and denied calls were never billed and stay so; an ``expired`` call not
  settled yet has no cost to correct (a later settle charges it by its own rate).
* A period with calls in progress is refused (their cost is not known yet); so is a
  period that ends after today or starts after it ends.
* The new rate is chosen as authorize chooses it (``RateIndex.match`` with the call's
  extension, the dialed number and its local start time, in the box's zone now); the
  new cost is ``rating.cost(rate, answered_s - free_s)``: the seconds a calling plan
  paid stay free.  A call no rate covers now is listed apart and not changed.
* Applying writes, per changed call, one ``adjustment`` ledger entry of old minus new
  cost (through ``accounts.append_entry``, reason "re-rating #RUN: call UNIQUEID") and
  the call's new cost, rate, snapshot and type, and its day's statistics.  A few hundred
  calls a transaction, so calls go on meanwhile; each item is marked applied in the
  transaction that moves its money, so applying twice, or again after a crash, changes
  nothing more.  A call whose cost or rate changed since the preview (another run
  re-rated it) is skipped and reported, never charged twice.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from . import accounts, call_type_stats, calls, money, rates, rating, settings, sites, store
from .errors import Refusal
from .i18n import _
from .store import insert_returning_id, money_txn, now_utc, sql, sql_in, sql_many, sql_one, staging_txn

APPLY_BATCH = 50  # calls a transaction: a few ms of the write lock (fsync included)
# After each transaction the write lock is left free for at least as long as it was held
# (and 1 ms): the daemon's calls queue for it in-process, but a writer of another
# process (the CLI applies there) retries on SQLite's busy handler and needs a gap to
# land in; in the daemon (the web UI) the calls' threads get the interpreter meanwhile.
PAUSE_S = 0.001
SAVE_BATCH = 500  # preview items written a transaction (no money moves)
PAGE_SIZE = 50


class RerateError(Refusal):
    """A refused re-rating; nothing was saved or changed.  The message says why."""


@dataclass(frozen=True)
class Run:
    id: int
    from_day: str
    to_day: str
    extensions: str
    department: str
    operator: str
    state: str
    created_utc: int
    apply_started_utc: Optional[int]
    applied_utc: Optional[int]
    changed: int
    uncovered: int
    old_total: int
    new_total: int
    applied: int
    skipped: int

    @property
    def difference(self) -> int:
        """What the changed calls cost more (positive) or less under today's rates."""
        return self.new_total - self.old_total


_RUN_COLUMNS = ("id, from_day, to_day, extensions, department, operator, state, created_utc, "
                "apply_started_utc, applied_utc, changed, uncovered, old_total, new_total, "
                "applied, skipped")


def get_run(run_id: int) -> Run:
    row = (sql_one(f"SELECT {_RUN_COLUMNS} FROM rerate_run WHERE id = ?", (run_id,))
           if 0 < run_id <= store.MAX_ID else None)
    if row is None:
        raise RerateError(_("there is no re-rating run {run}").format(run=run_id))
    return Run(*row)


def runs(limit: int = 50) -> List[Run]:
    """The latest runs, newest first."""
    return [Run(*row) for row in sql(f"SELECT {_RUN_COLUMNS} FROM rerate_run "
                                     "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()]


# --- the choice of calls ---------------------------------------------------------------


def _day(text: str, what: str) -> dt.date:
    try:
        text = (text or "").strip()
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise RerateError(_("{what}: use a date like 2024-05-31").format(what=what)) from None


def _day_start(day: dt.date, zone: ZoneInfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())


@dataclass(frozen=True)
class Choice:
    """A checked choice of calls: the period as [start, end) UTC and the payers."""
    from_day: dt.date
    to_day: dt.date
    start_utc: int
    end_utc: int
    ext_ids: Optional[List[int]]  # None: every extension and account
    numbers: Tuple[str, ...]
    department: str


def choose(from_text: str, to_text: str, numbers: Sequence[str] = (),
           department: str = "", at: Optional[int] = None) -> Choice:
    """Check the period and the filter; RerateError/AccountError say what is wrong."""
    zone = settings.zone()
    from_day, to_day = _day(from_text, _("from")), _day(to_text, _("to"))
    if from_day > to_day:
        raise RerateError(_("the period starts ({start}) after it ends ({end})").format(
            start=from_day.isoformat(), end=to_day.isoformat()))
    today = dt.datetime.fromtimestamp(now_utc() if at is None else at, zone).date()
    if to_day > today:
        raise RerateError(_("the period ends in the future ({end}; today is {today}): "
                            "only calls that have ended can be re-rated").format(
            end=to_day.isoformat(), today=today.isoformat()))
    wanted = list(dict.fromkeys(accounts.normalize_number(n) for n in numbers if n.strip()))
    department = (department or "").strip()
    if wanted and department:
        raise RerateError(_("choose extensions or a department, not both"))
    ext_ids: Optional[List[int]] = None
    if wanted:
        found = dict(sql_in(f"SELECT number, id FROM extension WHERE {sites.number_scope()} "
                            f"AND number IN ({{}})", wanted))
        unknown = [n for n in wanted if n not in found]
        if unknown:
            raise RerateError(_("unknown extension or account: {numbers}").format(
                numbers=", ".join(unknown[:10])))
        ext_ids = [found[n] for n in wanted]
    elif department:
        row = sql_one("SELECT id, name FROM department WHERE name = ? COLLATE NOCASE", (department,))
        if row is None:
            raise RerateError(_("unknown department {name}").format(name=repr(department[:80])))
        department = row[1]
        ext_ids = [r[0] for r in sql("SELECT id FROM extension WHERE department_id = ?",
                                     (row[0],)).fetchall()]
    start = _day_start(from_day, zone)
    end = _day_start(to_day + dt.timedelta(days=1), zone)
    return Choice(from_day, to_day, start, end, ext_ids, tuple(wanted), department)


def _where(choice: Choice) -> Tuple[str, tuple]:
    """The SQL condition on ``call`` (aliased c) and its parameters, without the status."""
    where, params = "c.started_utc >= ? AND c.started_utc < ?", (choice.start_utc, choice.end_utc)
    where += " AND " + sites.call_scope("c")  # rated with this site's rates
    if choice.ext_ids is not None:
        ids = choice.ext_ids or [0]
        where += f" AND c.extension_id IN ({', '.join(str(int(i)) for i in ids)})"
    return where, params


def in_progress(choice: Choice) -> int:
    where, params = _where(choice)
    return sql_one(f"SELECT count(*) FROM call c WHERE c.status = 'in-progress' AND {where}",
                   params)[0]


# --- preview -----------------------------------------------------------------------------


def preview(from_text: str, to_text: str, numbers: Sequence[str] = (), department: str = "",
            operator: str = "", at: Optional[int] = None) -> Run:
    """Rate the period's charged calls under today's rates and save the changed ones
    as a run (nothing is charged).  Refused, and nothing saved, for bad input or a
    period with calls in progress."""
    choice = choose(from_text, to_text, numbers, department, at)
    busy = in_progress(choice)
    if busy:
        raise RerateError(_("{count} call(s) of the period are in progress: re-rate it when "
                            "they have ended").format(count=busy))
    conf = settings.snapshot()
    zone = ZoneInfo(conf["timezone"])
    index = rates.index(conf["rates_version"])
    where, params = _where(choice)
    # rated as authorize rated it: by the phone's number (an account's call), else the payer's
    rows = sql("SELECT c.id, COALESCE(p.number, e.number), c.dialed, c.started_utc, c.answered_s, "
               "c.free_s, c.cost, c.rate_id FROM call c JOIN extension e ON e.id = c.extension_id "
               "LEFT JOIN extension p ON p.id = c.phone_id "
               f"WHERE {store.unindexed('c.status')} = 'charged' AND {where} ORDER BY c.id",
               params).fetchall()
    items: List[tuple] = []
    snapshots: Dict[int, str] = {}
    first_of_rate: Dict[int, int] = {}  # old rate id -> a call rated by it, for its label
    old_total = new_total = changed = uncovered = 0
    for call_id, number, dialed, started, answered_s, free_s, old_cost, old_rate in rows:
        rate = index.match(number, dialed, dt.datetime.fromtimestamp(started, zone))
        if old_rate is not None:
            first_of_rate.setdefault(old_rate, call_id)
        if rate is None:
            items.append((call_id, old_cost, None, old_rate, None, "uncovered"))
            uncovered += 1
            continue
        new_cost = rating.cost(rate, (answered_s or 0) - (free_s or 0))
        if new_cost == old_cost:
            continue
        if rate.id not in snapshots:
            snapshots[rate.id] = calls._snapshot(rate)
        items.append((call_id, old_cost, new_cost, old_rate, rate.id, "pending"))
        old_total += old_cost
        new_total += new_cost
        changed += 1
    # the old rates' names as the calls knew them (the rows may have changed since)
    old_labels = {rate_id: _label(snapshot) for rate_id, snapshot in sql_in(
        "SELECT rate_id, rate_snapshot FROM call WHERE id IN ({})", list(first_of_rate.values()))}
    now = now_utc()
    with staging_txn():
        run_id = insert_returning_id(
            "INSERT INTO rerate_run (from_day, to_day, extensions, department, operator, "
            "created_utc, rates, old_rates) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (choice.from_day.isoformat(), choice.to_day.isoformat(),
             " ".join(choice.numbers), choice.department, operator[:80], now,
             json.dumps({str(k): v for k, v in snapshots.items()}),
             json.dumps({str(k): v for k, v in old_labels.items()})))
    for i in range(0, len(items), SAVE_BATCH):  # short transactions: calls go on meanwhile
        with staging_txn():
            sql_many("INSERT INTO rerate_item (run_id, call_id, old_cost, new_cost, old_rate_id, "
                     "new_rate_id, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(run_id,) + item for item in items[i:i + SAVE_BATCH]])
    with money_txn():
        sql("UPDATE rerate_run SET state = 'preview', changed = ?, uncovered = ?, old_total = ?, "
            "new_total = ? WHERE id = ?", (changed, uncovered, old_total, new_total, run_id))
    return get_run(run_id)


@dataclass(frozen=True)
class Item:
    call_id: int
    uniqueid: str
    number: str
    name: str
    dialed: str
    started_utc: int
    answered_s: Optional[int]
    free_s: int
    old_cost: int
    new_cost: Optional[int]
    old_rate: str
    new_rate: str
    state: str
    note: str

    @property
    def difference(self) -> int:
        return (self.new_cost or 0) - self.old_cost if self.new_cost is not None else 0


def _label(snapshot: str) -> str:
    rate = calls._from_snapshot(snapshot) if snapshot else None
    if rate is None:
        return ""
    return rate.remarks or f"{rate.prefix}/{rate.length or 'any'}"


def items(run_id: int, *, uncovered: bool = False, page: int = 1,
          per_page: int = PAGE_SIZE) -> List[Item]:
    """One page of a run's calls: the changed ones (applied or not), or those no rate
    covers now, in call order."""
    rates_json, old_json = sql_one("SELECT rates, old_rates FROM rerate_run WHERE id = ?", (run_id,))
    snapshots, old_labels = json.loads(rates_json), json.loads(old_json)
    states = "('uncovered')" if uncovered else "('pending', 'applied', 'skipped')"
    rows = sql("SELECT i.call_id, c.uniqueid, e.number, e.name, c.dialed, c.started_utc, "
               "c.answered_s, c.free_s, i.old_cost, i.new_cost, i.old_rate_id, i.new_rate_id, "
               "i.state, i.note, c.rate_snapshot FROM rerate_item i "
               "JOIN call c ON c.id = i.call_id JOIN extension e ON e.id = c.extension_id "
               f"WHERE i.run_id = ? AND i.state IN {states} ORDER BY i.call_id LIMIT ? OFFSET ?",
               (run_id, per_page, (max(1, page) - 1) * per_page)).fetchall()
    found = []
    for (call_id, uniqueid, number, name, dialed, started, answered_s, free_s, old_cost,
         new_cost, old_rate, new_rate, state, note, current) in rows:
        old_label = old_labels.get(str(old_rate)) or (_label(current) if state != "applied" else "")
        new_label = _label(snapshots.get(str(new_rate), "")) if new_rate else ""
        found.append(Item(call_id, uniqueid, number, name, dialed, started, answered_s,
                          free_s or 0, old_cost, new_cost, old_label, new_label, state, note))
    return found


# --- apply -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    run: Run
    applied: int  # calls adjusted by this call of apply
    skipped: int  # calls changed since the preview, passed over by this call
    amount: int  # the sum of the adjustments written (refunds positive)
    transactions: int
    txn_s: Tuple[float, ...]  # how long each write transaction held the write lock

    @property
    def longest_txn_s(self) -> float:
        return max(self.txn_s, default=0.0)


_PENDING = ("SELECT i.call_id, i.old_cost, i.new_cost, i.old_rate_id, i.new_rate_id, c.cost, "
            "c.rate_id, c.status, c.extension_id, c.local_day, c.uniqueid, c.call_type, "
            "COALESCE(c.answered_s, 0) FROM rerate_item i "
            "JOIN call c ON c.id = i.call_id WHERE i.run_id = ? AND i.call_id > ? "
            "AND i.state = 'pending' ORDER BY i.call_id LIMIT ?")


def apply(run_id: int, operator: str = "", batch: int = APPLY_BATCH,
          progress: Optional[Callable[[int], None]] = None) -> Applied:
    """Move the money of a saved run's changed calls, a batch a transaction; what an
    earlier apply (or one killed midway) did is not done again.  ``progress(calls)``
    after each committed transaction: the calls done so far by this apply."""
    run = get_run(run_id)
    if run.state == "saving":
        raise RerateError(_("re-rating run {run} was not saved completely: preview the "
                            "period again").format(run=run_id))
    if run.state == "applied":
        return Applied(run, 0, 0, 0, 0, ())
    snapshots = {int(k): v for k, v in json.loads(
        sql_one("SELECT rates FROM rerate_run WHERE id = ?", (run_id,))[0]).items()}
    with money_txn():
        sql("UPDATE rerate_run SET state = 'applying', apply_started_utc = "
            "COALESCE(apply_started_utc, ?) WHERE id = ?", (now_utc(), run_id))
    applied = skipped = amount = transactions = 0
    held: List[float] = []
    after = 0  # the items in call order: each batch starts past the last one's calls
    while True:
        with money_txn():
            began = time.perf_counter()
            pending = sql(_PENDING, (run_id, after, batch)).fetchall()
            if pending:
                done = _apply_batch(run_id, pending, snapshots, operator)
        took = time.perf_counter() - began
        if not pending:
            break
        after = pending[-1][0]
        transactions += 1
        held.append(took)
        applied += done[0]
        skipped += done[1]
        amount += done[2]
        if progress is not None:
            progress(applied + skipped)
        time.sleep(max(PAUSE_S, took))
    with money_txn():
        sql("UPDATE rerate_run SET state = 'applied', applied_utc = ?, "
            "applied = (SELECT count(*) FROM rerate_item WHERE run_id = ? AND state = 'applied'), "
            "skipped = (SELECT count(*) FROM rerate_item WHERE run_id = ? AND state = 'skipped') "
            "WHERE id = ?", (now_utc(), run_id, run_id, run_id))
    return Applied(get_run(run_id), applied, skipped, amount, transactions, tuple(held))


def _apply_batch(run_id: int, pending: List[tuple], snapshots: Dict[int, str],
                 operator: str) -> Tuple[int, int, int]:
    """Inside the caller's transaction: adjust each call of ``pending`` and mark it;
    (applied, skipped, sum of adjustments)."""
    applied = skipped = amount = 0
    marks: List[tuple] = []
    calls_changed: List[tuple] = []
    balances = dict(sql_in("SELECT id, balance FROM extension WHERE id IN ({})",
                           list({row[8] for row in pending})))
    retyped: List[call_type_stats.Moved] = []
    for (call_id, old_cost, new_cost, old_rate, new_rate, cost, rate_id, status, ext_id, day,
         uniqueid, old_type, answered_s) in pending:
        if status != "charged" or cost != old_cost or rate_id != old_rate:
            marks.append(("skipped", _("changed since the preview: now {status}, cost {cost}, "
                                       "rate {rate}").format(status=status, cost=cost,
                                                             rate=rate_id or "-"),
                          run_id, call_id))
            skipped += 1
            continue
        refund = old_cost - new_cost
        if abs(balances[ext_id] + refund) > money.MAX_AMOUNT:  # append_entry would refuse it
            marks.append(("skipped", _("the balance would exceed the largest amount allowed"),
                          run_id, call_id))
            skipped += 1
            continue
        balances[ext_id] += refund
        accounts.append_entry(ext_id, "adjustment", refund, operator=operator,
                              reason=f"re-rating #{run_id}: call {uniqueid}")
        snapshot = snapshots[new_rate]
        new_type = calls._from_snapshot(snapshot).call_type  # type: ignore[union-attr]
        calls_changed.append((new_cost, new_rate, snapshot, new_type, call_id))
        retyped.append(call_type_stats.Moved(day, ext_id, old_type, new_type, answered_s,
                                             old_cost, new_cost))
        marks.append(("applied", "", run_id, call_id))
        applied += 1
        amount += refund
    sql_many("UPDATE call SET cost = ?, rate_id = ?, rate_snapshot = ?, call_type = ? "
             "WHERE id = ?", calls_changed)
    call_type_stats.move(retyped)  # its day's statistics row (of its type, or from old to new)
    sql_many("UPDATE rerate_item SET state = ?, note = ? WHERE run_id = ? AND call_id = ?", marks)
    return applied, skipped, amount


def done_count(run_id: int) -> int:
    """How many of the run's changed calls were applied or skipped so far."""
    return sql_one("SELECT count(*) FROM rerate_item WHERE run_id = ? AND state IN "
                   "('applied', 'skipped')", (run_id,))[0]


def parse_run(text: str) -> int:
    text = (text or "").strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise RerateError(_("a re-rating run is a number, like 12"))
    return int(text)


def numbers_of(text: str) -> List[str]:
    """Extension numbers typed in one field, separated by spaces or commas."""
    return [n for n in text.replace(",", " ").split() if n]


def total_pages(count: int, per_page: int = PAGE_SIZE) -> int:
    return max(1, -(-count // per_page))


def describe(run: Run) -> str:
    """The run's choice of calls in a line (for lists and the CLI)."""
    who = run.extensions or (_("department {name}").format(name=run.department)
                             if run.department else _("all extensions and accounts"))
    return f"{run.from_day} – {run.to_day}, {who}"

