"""Statements: what an extension's account did over a period, kept as issued.

``snapshot`` reads the ledger of one extension for [from_utc, to_utc) and returns the
statement as a plain dict (the contract of the PDF and xlsx files, statement_files.py):
the opening balance is the sum of the entries before the period, the closing balance
that plus the entries in it, so a statement always equals the ledger for its period.
``issue`` stores that dict as JSON under the next number; the row is never changed
(the 0004 migration's triggers refuse it), so a statement re-opened later shows what
was printed, whatever happened to the rates or the extension since.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional

from . import money, settings
from .errors import Refusal
from .i18n import _
from .store import Extension, db, money_txn, now_utc, sql

KINDS_SUMMED = ("recharge", "adjustment", "payment")  # the non-call entries, by kind


class StatementError(Refusal):
    """A statement that cannot be issued or found; nothing was stored."""


def number_of(statement_id: int) -> str:
    return f"S-{statement_id:06d}"


def in_progress(ext_id: int) -> int:
    """The extension's calls still in progress (their cost is not known yet)."""
    return db.execute_sql("SELECT COUNT(*) FROM call WHERE extension_id = ? AND status = "
                          "'in-progress'", (ext_id,)).fetchone()[0]


def _calls(ext_id: int, from_utc: int, to_utc: int, upto: int) -> Iterator[Dict[str, Any]]:
    """Every call of the period: those charged in it (their ledger entry's time) and
    those started in it that cost nothing (unrated, denied, unanswered)."""
    rows = db.execute_sql(
        "SELECT c.started_utc, c.dialed, COALESCE(c.answered_s, 0), -l.amount, c.status, c.id "
        "FROM ledger l JOIN call c ON c.id = l.call_id WHERE l.extension_id = ? "
        "AND l.kind = 'call' AND l.created_utc >= ? AND l.created_utc < ? AND l.id <= ? "
        "UNION ALL "
        "SELECT c.started_utc, c.dialed, COALESCE(c.answered_s, 0), 0, c.status, c.id FROM call c "
        "WHERE c.extension_id = ? AND c.started_utc >= ? AND c.started_utc < ? "
        "AND c.status != 'in-progress' AND NOT EXISTS (SELECT 1 FROM ledger l2 "
        "WHERE l2.call_id = c.id) ORDER BY 1, 6",
        (ext_id, from_utc, to_utc, upto, ext_id, from_utc, to_utc))
    for started, dialed, answered, cost, status, _id in rows:
        yield {"started_utc": started, "dialed": dialed, "answered_s": answered, "cost": cost,
               "status": status}


def _entries(ext_id: int, from_utc: int, to_utc: int, upto: int) -> List[Dict[str, Any]]:
    rows = db.execute_sql(
        "SELECT created_utc, kind, amount, reason FROM ledger WHERE extension_id = ? "
        "AND kind != 'call' AND created_utc >= ? AND created_utc < ? AND id <= ? "
        "ORDER BY created_utc, id", (ext_id, from_utc, to_utc, upto))
    return [{"at_utc": at, "kind": kind, "amount": amount, "note": reason}
            for at, kind, amount, reason in rows]


def snapshot(ext: Extension, from_utc: int, to_utc: int, *, guest: str = "",
             number: str = "", issued_utc: Optional[int] = None) -> Dict[str, Any]:
    """The statement of ``ext`` for [from_utc, to_utc) as a dict (see the module doc)."""
    issued = issued_utc if issued_utc is not None else now_utc()
    # the ledger as it is now: an entry written later in the period's last second (a
    # check-out's) is not on it, and recomputing with last_ledger_id gives the same
    upto = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM ledger").fetchone()[0]
    opening = db.execute_sql("SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE extension_id = ? "
                             "AND created_utc < ? AND id <= ?", (ext.id, from_utc, upto)).fetchone()[0]
    calls = list(_calls(ext.id, from_utc, to_utc, upto))
    entries = _entries(ext.id, from_utc, to_utc, upto)
    sums = {kind: sum(e["amount"] for e in entries if e["kind"] == kind) for kind in KINDS_SUMMED}
    call_cost = sum(c["cost"] for c in calls)
    values = settings.get_all()
    return {
        "number": number,
        "issued_utc": issued,
        "zone": values["timezone"],
        "zone_label": settings.zone_label(issued),
        "currency": values["currency"],
        "hotel": {"name": values["hotel_name"], "address": values["hotel_address"]},
        "extension": {"number": ext.number, "name": ext.name},
        "guest": guest,
        "period": {"from_utc": from_utc, "to_utc": to_utc},
        "opening_balance": opening,
        "closing_balance": opening + sums["recharge"] + sums["adjustment"] + sums["payment"]
        - call_cost,
        "calls": calls,
        "entries": entries,
        "totals": {"calls": len(calls), "call_cost": call_cost, "recharges": sums["recharge"],
                   "adjustments": sums["adjustment"], "payments": sums["payment"]},
        "in_progress": in_progress(ext.id),
        "last_ledger_id": upto,  # added key: the ledger entries it was made from
    }


# the period a user may type (a stay's comes from its stored times: a check-in made while
# a box without a clock battery still read 1970 must check out all the same)
FIRST_UTC = 0  # 1970-01-01 00:00 UTC ("from the beginning")
LAST_UTC = 4_102_444_800  # 2100-01-01


def issue(ext: Extension, from_utc: int, to_utc: int, guest: str = "") -> Dict[str, Any]:
    """Build and store the statement under the next number.  Call inside a money_txn
    (check-out does, with its payment) or alone; refuses an empty period."""
    if to_utc <= from_utc:
        raise StatementError(_("the period is empty: its end must come after its start"))
    with money_txn():  # the write lock: the next number is ours until commit
        issued = now_utc()
        # statements are never deleted (migration 0004), so the highest id is the last used
        last = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM statement").fetchone()[0]
        snap = snapshot(ext, from_utc, to_utc, guest=guest, number=number_of(last + 1),
                        issued_utc=issued)
        sql("INSERT INTO statement (id, number, extension_id, issued_utc, from_utc, to_utc, "
            "snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (last + 1, snap["number"], ext.id, issued, from_utc, to_utc,
             json.dumps(snap, separators=(",", ":"))))
    return snap


def issue_period(number: str, from_utc: int, to_utc: int) -> Dict[str, Any]:
    """A statement of any period (not a stay's): refused when nothing happened in it."""
    from .accounts import get_extension

    ext = get_extension(number)
    if from_utc < FIRST_UTC or to_utc > LAST_UTC:
        raise StatementError(_("a statement's period lies between the years 1970 and 2100"))
    snap = snapshot(ext, from_utc, to_utc) if to_utc > from_utc else None
    if snap is not None and not snap["calls"] and not snap["entries"]:
        raise StatementError(_("extension {number} has no calls and no balance changes in that "
                               "period: no statement issued").format(number=ext.number))
    return issue(ext, from_utc, to_utc)


def load(number: str) -> Dict[str, Any]:
    row = db.execute_sql("SELECT snapshot FROM statement WHERE number = ?",
                         ((number or "").strip().upper(),)).fetchone()
    if row is None:
        raise StatementError(_("no statement {number}").format(number=repr(number[:20])))
    return json.loads(row[0])


def listing(limit: int = 100, offset: int = 0) -> List[tuple]:
    """(number, issued_utc, extension number, from_utc, to_utc) newest first."""
    return db.execute_sql(
        "SELECT s.number, s.issued_utc, e.number, s.from_utc, s.to_utc FROM statement s "
        "JOIN extension e ON e.id = s.extension_id ORDER BY s.id DESC LIMIT ? OFFSET ?",
        (limit, offset)).fetchall()


def format_money(snap: Dict[str, Any], units: int) -> str:
    return money.format_amount(units, snap["currency"])
