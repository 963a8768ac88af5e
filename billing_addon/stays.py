"""Stays: a guest checked in on an extension and checked out with a statement.

Check-in names the extension after the guest, unlocks it (billing on), and optionally
takes a deposit (a recharge) and sets a credit.  Check-out refuses while a call of the
extension is in progress, or a released call of the stay is not settled (their cost is
not known: the statement would miss it, and a later charge would fall on the next
guest; the desk may close the released ones as not charged instead), takes
an optional payment at the desk (ledger kind ``payment``, at most what is owed), issues
the statement of the stay, then gives the extension back its name and the state of the
``checkout_status`` setting.  All of a check-out is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import accounts, calls, money, settings, settle_queue, sites, statement_files, statements
from .errors import Refusal
from .i18n import _
from .store import Extension, db, insert_returning_id, money_txn, now_utc, sql


class StayError(Refusal):
    """A refused check-in or check-out; nothing was changed."""


@dataclass(frozen=True)
class Stay:
    id: int
    number: str
    guest: str
    checkin_utc: int
    checkout_utc: Optional[int]
    statement: str


_SELECT = ("SELECT s.id, e.number, s.guest, s.checkin_utc, s.checkout_utc, "
           "COALESCE(st.number, '') FROM stay s JOIN extension e ON e.id = s.extension_id "
           "LEFT JOIN statement st ON st.id = s.statement_id ")


def open_stay(ext: Extension) -> Optional[Stay]:
    row = db.execute_sql(_SELECT + "WHERE s.extension_id = ? AND s.checkout_utc IS NULL",
                         (ext.id,)).fetchone()
    return Stay(*row) if row else None


def checked_in(numbers: List[str]) -> set:
    """Which of these extension numbers have a guest checked in."""
    if not numbers:
        return set()
    rows = db.execute_sql("SELECT e.number FROM stay s JOIN extension e ON e.id = s.extension_id "
                          f"WHERE s.checkout_utc IS NULL AND {sites.number_scope('e')} AND e.number IN "
                          f"({', '.join('?' * len(numbers))})", list(numbers))
    return {r[0] for r in rows}


def listing(open_only: bool = False, limit: int = 200) -> List[Stay]:
    where = f"WHERE {sites.number_scope('e')} " + ("AND s.checkout_utc IS NULL " if open_only else "")
    return [Stay(*r) for r in db.execute_sql(
        _SELECT + where + "ORDER BY s.checkout_utc IS NOT NULL, s.id DESC LIMIT ?", (limit,))]


def _check_guest(guest: str) -> str:
    guest = (guest or "").strip()
    if not guest:
        raise StayError(_("a check-in needs the guest's name"))
    if len(guest) > 80:
        raise StayError(_("the guest's name is at most 80 characters"))
    return guest


def check_in(number: str, guest: str, *, deposit: int = 0, credit: Optional[int] = None,
             operator: str = "", at: Optional[int] = None) -> Stay:
    guest = _check_guest(guest)
    if not isinstance(deposit, int) or deposit < 0 or deposit > money.MAX_AMOUNT:
        raise StayError(_("the deposit must be zero or a positive amount"))
    if credit is not None and (not isinstance(credit, int) or not 0 <= credit <= money.MAX_AMOUNT):
        raise StayError(_("credit must be zero or a positive amount"))
    with money_txn():
        ext = accounts.get_extension(number)
        if ext.kind == "account":
            raise StayError(_("{number} is an account, not a phone: a guest checks in on an "
                              "extension").format(number=ext.number))
        if open_stay(ext) is not None:
            raise StayError(_("extension {number} is already checked in: check it out first").format(
                number=ext.number))
        start = at if at is not None else now_utc()
        # a stay starts after the last one ended, so no entry is on two statements
        last_end = db.execute_sql("SELECT MAX(checkout_utc) FROM stay WHERE extension_id = ?",
                                  (ext.id,)).fetchone()[0]
        start = max(start, last_end or 0)
        changes: Dict[str, Any] = {"status": "unlocked", "billing_enabled": True, "name": guest}
        if credit is not None:
            changes["credit"] = credit
        accounts.edit([ext.number], **changes)
        stay_id = insert_returning_id(
            "INSERT INTO stay (extension_id, guest, previous_name, checkin_utc, operator) "
            "VALUES (?, ?, ?, ?, ?)", (ext.id, guest, ext.name, start, operator[:80]))
        if deposit:
            accounts.append_entry(ext.id, "recharge", deposit,
                                  reason=statement_files.DEPOSIT_NOTE.format(guest=guest)[:200],
                                  operator=operator, at=start)
    return Stay(stay_id, ext.number, guest, start, None, "")


def _unknown_costs(ext: Extension, since: int, close_unknown: bool,
                   unknown_seen: Optional[int]) -> int:
    """How many released calls of ``ext`` started since ``since`` no settle charged yet
    (``calls.released_unsettled``), to close as not charged; else the refusal: while one
    of them waits in this box's settle queue (its charge is known and on its way), when
    they are not the ``unknown_seen`` the desk was shown, or when the desk did not ask
    to close them."""
    uniqueids = calls.released_unsettled(ext.id, since)
    unknown = len(uniqueids)
    if not unknown:
        return 0
    queued = sum(1 for uniqueid in uniqueids if settle_queue.waiting(uniqueid))
    if queued:
        raise StayError(_("extension {number} has {count} call(s) whose charge waits in this "
                          "box's queue for the central store: try again once it is "
                          "delivered").format(number=ext.number, count=queued))
    if close_unknown and unknown_seen is not None and unknown != unknown_seen:
        raise StayError(_("the calls with no known cost changed since the review ({seen} "
                          "then, {count} now): review it again").format(
            seen=unknown_seen, count=unknown))
    if not close_unknown:
        raise StayError(_("extension {number} has {count} call(s) of this stay with no known "
                          "cost yet (the PBX's call records may still bill them): check out "
                          "later, or close them as not charged").format(
            number=ext.number, count=unknown))
    return unknown


def owed(number: str) -> int:
    """What the guest owes now: the part of the balance below zero."""
    return max(0, -accounts.get_extension(number).balance)


def check_out(number: str, *, payment: int = 0, operator: str = "",
              at: Optional[int] = None, close_unknown: bool = False,
              unknown_seen: Optional[int] = None) -> Dict[str, Any]:
    """Check the extension's stay out; returns the statement's snapshot.

    Calls of the stay whose reservation was released and that no settle charged yet
    (``calls.released_unsettled``: the box restarted during them, say) have no known
    cost: check-out waits for them, as for calls in progress, since a charge coming
    after it would fall on the next guest.  ``close_unknown``: the desk closes them as
    not charged instead (one that never settles would hold the room forever); a later
    settle then charges nothing.  ``unknown_seen``: how many the desk was shown; another
    count now is refused (one released since would be closed unseen).  A call whose
    settlement waits in this box's local queue (the central store out of reach) is never
    closed: its charge is known and on its way."""
    if not isinstance(payment, int) or isinstance(payment, bool) or payment < 0:
        raise StayError(_("the payment must be zero or a positive amount"))
    with money_txn():
        ext = accounts.get_extension(number)
        stay = open_stay(ext)
        if stay is None:
            raise StayError(_("extension {number} is not checked in").format(number=ext.number))
        busy = statements.in_progress(ext.id)
        if busy:
            raise StayError(_("extension {number} has {count} call(s) in progress: check out when "
                              "they have ended, so that the statement has them").format(
                number=ext.number, count=busy))
        unknown = _unknown_costs(ext, stay.checkin_utc, close_unknown, unknown_seen)
        if payment > max(0, -ext.balance):
            currency = settings.get("currency")
            raise StayError(_("the payment {payment} is more than extension {number} owes "
                              "({owed})").format(payment=money.format_amount(payment, currency),
                                                 number=ext.number,
                                                 owed=money.format_amount(max(0, -ext.balance), currency)))
        end = max(at if at is not None else now_utc(), stay.checkin_utc)
        if unknown:
            calls.close_released_unsettled(ext.id, stay.checkin_utc, end)
        if payment:
            accounts.append_entry(ext.id, "payment", payment, reason=statement_files.PAYMENT_NOTE.format(
                                  guest=stay.guest)[:200], operator=operator, at=end)
        # the period is [check-in, check-out]: entries of the check-out second are in it
        snap = statements.issue(ext, stay.checkin_utc, end + 1, guest=stay.guest)
        previous = db.execute_sql("SELECT previous_name FROM stay WHERE id = ?",
                                  (stay.id,)).fetchone()[0]
        accounts.edit([ext.number], status=settings.get("checkout_status"), name=previous)
        sql("UPDATE stay SET checkout_utc = ?, statement_id = (SELECT id FROM statement WHERE "
            "number = ?) WHERE id = ?", (end + 1, snap["number"], stay.id))
    return snap
