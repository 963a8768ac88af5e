"""Extension accounts: recharge, adjust, edit, bulk edit, and the ledger check.

Money moves only by appending a ``Ledger`` entry and applying the same amount to the
extension's cached balance in one transaction, so ``verify`` can always recompute every
balance from its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Union

import peewee as pw

from . import money, plans
from .digits import first_foreign_digit
from .errors import Refusal
from .i18n import _
from .store import Call, Extension, Ledger, insert_returning_id, money_txn, now_utc, sql_one

PAYMENT_TYPES = ("prepaid", "postpaid")
STATUSES = ("unlocked", "locked")


class AccountError(Refusal):
    """A refused account operation; nothing was changed.  The message says why."""


def normalize_number(number: str) -> str:
    number = (number or "").strip()
    foreign = first_foreign_digit(number)
    if foreign is not None:  # '１００１' would look like 1001 and be another extension
        raise AccountError(_("extension number {number}: use the digits 0-9 only "
                             "({digit} is not one of them)").format(number=repr(number[:40]),
                                                                    digit=repr(foreign)))
    if not number or len(number) > 32 or not (
            number.isalnum() or all(c.isalnum() or c in "+*#-_." for c in number)):
        raise AccountError(_("invalid extension number {number}").format(number=repr(number[:40])))
    return number


def get_extension(number: str) -> Extension:
    ext = Extension.get_or_none(Extension.number == normalize_number(number))
    if ext is None:
        raise AccountError(_("unknown extension {number}").format(number=repr(number[:40])))
    return ext


def ensure_extension(number: str, name: str = "", source: str = "manual") -> Extension:
    """The extension with this number, created with billing off when new."""
    number = normalize_number(number)
    ext = Extension.get_or_none(Extension.number == number)
    if ext is not None:
        if ext.kind == "account":  # one number space: a number names one payer
            raise AccountError(_("{number} is an account's number, not an extension's").format(
                number=number))
        return ext
    now = now_utc()
    try:
        with money_txn():
            return Extension.create(
                number=number, name=name[:80], source=source, created_utc=now, updated_utc=now
            )
    except pw.IntegrityError:  # created by a concurrent request meanwhile
        return Extension.get(Extension.number == number)


def append_entry(ext_id: int, kind: str, amount: int, *, reason: str = "", operator: str = "",
                 call: Optional[int] = None, at: Optional[int] = None,
                 release: int = 0) -> Ledger:
    """Append one ledger entry and apply it to the extension's cached balance (and give
    back ``release`` of its reservation) in one statement.  Call inside a ``money_txn``,
    whose rollback undoes both when this raises."""
    at = at or now_utc()
    recharged = amount if kind == "recharge" else 0
    row = sql_one("UPDATE extension SET balance = balance + ?, total_recharges = total_recharges + ?, "
                  "reserved = reserved - ?, updated_utc = ? WHERE id = ? RETURNING balance",
                  (amount, recharged, release, at, ext_id))
    if row is None:
        raise AccountError(f"unknown extension id {ext_id}")
    new_balance = row[0]
    if abs(new_balance) > money.MAX_AMOUNT:
        raise AccountError(_("the balance would exceed the largest amount allowed"))
    entry_id = insert_returning_id(
        "INSERT INTO ledger (extension_id, kind, amount, balance_after, call_id, reason, "
        "operator, created_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (ext_id, kind, amount, new_balance, call, reason[:200], operator[:80], at))
    return Ledger(id=entry_id, extension=ext_id, kind=kind, amount=amount,
                  balance_after=new_balance, call=call, reason=reason[:200],
                  operator=operator[:80], created_utc=at)


@dataclass(frozen=True)
class Recharge:
    number: str
    name: str
    pre_balance: int
    amount: int
    post_balance: int
    ledger_id: int


def recharge(numbers: Iterable[str], amount: int, operator: str) -> List[Recharge]:
    """Add ``amount`` (> 0) to each extension, all or none."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise AccountError(_("the recharge amount must be greater than zero"))
    if amount > money.MAX_AMOUNT:
        raise AccountError(_("the recharge amount is too large"))
    wanted = list(dict.fromkeys(normalize_number(n) for n in numbers))
    if not wanted:
        raise AccountError(_("select at least one extension to recharge"))
    done = []
    with money_txn():
        for number in wanted:
            ext = get_extension(number)
            entry = append_entry(ext.id, "recharge", amount, operator=operator)
            done.append(Recharge(ext.number, ext.name, entry.balance_after - amount, amount,
                                 entry.balance_after, entry.id))
    return done


def adjust(number: str, amount: int, reason: str, operator: str) -> Ledger:
    """A signed correction with a reason (refunds, mistakes); not a recharge."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise AccountError(_("the adjustment must be a non-zero amount"))
    if abs(amount) > money.MAX_AMOUNT:
        raise AccountError(_("the adjustment is too large"))
    if not (reason or "").strip():
        raise AccountError(_("an adjustment needs a reason"))
    if len(reason.strip()) > 200:
        raise AccountError(_("the reason is at most 200 characters"))
    with money_txn():
        ext = get_extension(number)
        if amount < 0 and ext.reserved and ext.balance + amount + ext.credit < ext.reserved:
            # its calls in progress were allowed on that money (as for a lower credit)
            least = money.to_decimal_string(max(0, ext.balance + ext.credit - ext.reserved))
            raise AccountError(_("extension {number} has calls in progress that reserved {reserved}: "
                                 "it can be lowered by at most {least} until they end").format(
                number=ext.number, reserved=money.to_decimal_string(ext.reserved), least=least))
        return append_entry(ext.id, "adjustment", amount, reason=reason.strip(), operator=operator)


def _check_edit(credit, status, payment_type) -> None:
    if credit is not None and (not isinstance(credit, int) or credit < 0 or credit > money.MAX_AMOUNT):
        raise AccountError(_("credit must be zero or a positive amount"))
    if status is not None and status not in STATUSES:
        raise AccountError(_("status must be Unlocked or Locked"))
    if payment_type is not None and payment_type not in PAYMENT_TYPES:
        raise AccountError(_("payment type must be Prepaid or Postpaid"))


def _check_credit_covers_reservations(ext: Extension, credit: int) -> None:
    """Calls in progress were allowed on balance + credit: lowering the credit below
    what they reserved would let them spend money that is not there."""
    if ext.reserved and ext.balance + credit < ext.reserved:
        least = money.to_decimal_string(max(0, ext.reserved - ext.balance))
        raise AccountError(_("extension {number} has calls in progress that reserved {reserved}: "
                             "its credit cannot go below {least} until they end").format(
            number=ext.number, reserved=money.to_decimal_string(ext.reserved), least=least))


USE_DEFAULT = "default"  # edit(low_threshold=...): follow the Settings default again


def edit(numbers: Sequence[str], *, billing_enabled: Optional[bool] = None,
         credit: Optional[int] = None, status: Optional[str] = None,
         payment_type: Optional[str] = None, name: Optional[str] = None,
         low_threshold: Union[int, str, None] = None,
         account_billing: Optional[bool] = None) -> int:
    """Edit one or many extensions (bulk edit); fields left None are not touched.
    ``low_threshold``: minor units, or ``USE_DEFAULT`` for the Settings default.
    Changing the payment type resets Total Recharges.  ``account_billing``: the phone's
    calls ask for an account and its PIN (docs/accounts.md).  Returns how many changed."""
    _check_edit(credit, status, payment_type)
    if isinstance(low_threshold, int) and not 0 <= low_threshold <= money.MAX_AMOUNT:
        raise AccountError(_("the low-balance threshold must be 0 or more"))
    if isinstance(low_threshold, str) and low_threshold != USE_DEFAULT:
        raise AccountError(_("low-balance threshold {value}: an amount or {default}").format(
            value=repr(low_threshold[:20]), default=repr(USE_DEFAULT)))
    wanted = list(dict.fromkeys(normalize_number(n) for n in numbers))
    if not wanted:
        raise AccountError(_("select at least one extension"))
    with money_txn():
        exts = [get_extension(n) for n in wanted]
        if credit is not None:
            for ext in exts:
                _check_credit_covers_reservations(ext, credit)
        last_ledger = Ledger.select(pw.fn.MAX(Ledger.id)).scalar() or 0
        for ext in exts:
            updates: dict = {Extension.updated_utc: now_utc()}
            if billing_enabled is not None:
                updates[Extension.billing_enabled] = bool(billing_enabled)
            if credit is not None:
                updates[Extension.credit] = credit
            if status is not None:
                updates[Extension.status] = status
            if name is not None:
                updates[Extension.name] = name.strip()[:80]
            if account_billing is not None and ext.kind == "extension":
                updates[Extension.account_billing] = bool(account_billing)
            if low_threshold is not None:
                updates[Extension.low_balance_threshold] = (
                    None if low_threshold == USE_DEFAULT else low_threshold)
            if payment_type is not None and payment_type != ext.payment_type:
                updates[Extension.payment_type] = payment_type
                updates[Extension.total_recharges] = 0
                updates[Extension.recharges_since] = last_ledger
            Extension.update(updates).where(Extension.id == ext.id).execute()
    return len(exts)


@dataclass(frozen=True)
class Mismatch:
    number: str
    field: str
    stored: int
    recomputed: int

    def __str__(self) -> str:
        return f"extension {self.number}: {self.field} is {self.stored}, ledger says {self.recomputed}"


class PoolMismatch(Mismatch):
    """A calling plan's pool whose seconds differ from its calls' (plans.verify)."""

    def __str__(self) -> str:
        return f"{self.number}: {self.field} is {self.stored}, its calls say {self.recomputed}"


def verify() -> List[Mismatch]:
    """Recompute balances, total recharges and reservations from their history, and
    the calling plans' pools from their calls."""
    sums = dict(
        Ledger.select(Ledger.extension, pw.fn.SUM(Ledger.amount)).group_by(Ledger.extension).tuples()
    )
    reserved = dict(
        Call.select(Call.extension, pw.fn.SUM(Call.reserved))
        .where(Call.status.in_(("in-progress",)))
        .group_by(Call.extension).tuples()
    )
    problems = []
    for ext in Extension.select():
        recharges = (
            Ledger.select(pw.fn.COALESCE(pw.fn.SUM(Ledger.amount), 0))
            .where((Ledger.extension == ext.id) & (Ledger.kind == "recharge")
                   & (Ledger.id > ext.recharges_since))
            .scalar()
        )
        for field, stored, recomputed in (
            ("balance", ext.balance, sums.get(ext.id) or 0),
            ("total recharges", ext.total_recharges, recharges),
            ("reserved", ext.reserved, reserved.get(ext.id) or 0),
        ):
            if stored != recomputed:
                problems.append(Mismatch(ext.number, field, stored, recomputed))
    last: dict = {}
    for entry in Ledger.select().order_by(Ledger.id):
        before = last.get(entry.extension_id, 0)
        if before + entry.amount != entry.balance_after:
            problems.append(Mismatch(str(entry.extension_id), f"ledger entry {entry.id}",
                                     entry.balance_after, before + entry.amount))
        last[entry.extension_id] = entry.balance_after
    doubles = (Ledger.select(Ledger.call).where(Ledger.call.is_null(False))
               .group_by(Ledger.call).having(pw.fn.COUNT(Ledger.id) > 1).count())
    if doubles:
        problems.append(Mismatch("*", "calls charged twice", doubles, 0))
    problems += [PoolMismatch(*problem) for problem in plans.verify()]  # calling plans
    return problems
