"""Accounts (PIN billing): create, set a PIN, delete; the list is ``reports``'.

An account is a row of the extension table of kind 'account' (migration 0008): its
balance, credit, lock, recharges, calls and statements are an extension's, by the same
code (accounts.py, calls.py).  Only what an extension lacks is here: its PIN (pins.py)
and that its number is typed by DTMF, so digits only.
"""

from __future__ import annotations

import peewee as pw

from . import accounts, money, pins, sites, store
from .i18n import _
from .store import Call, Extension, Ledger, money_txn, now_utc

MAX_NUMBER_DIGITS = 20


def _account_number(number: str) -> str:
    number = accounts.normalize_number(number)
    if not number.isdigit() or len(number) > MAX_NUMBER_DIGITS:
        raise accounts.AccountError(_("an account number is 1 to {most} digits 0-9").format(
            most=MAX_NUMBER_DIGITS))
    return number


def get_account(number: str) -> Extension:
    ext = Extension.get_or_none((Extension.number == accounts.normalize_number(number))
                                & (Extension.kind == "account") & pw.SQL(sites.number_scope()))
    if ext is None:
        raise accounts.AccountError(_("unknown account {number}").format(number=repr(number[:40])))
    return ext


def _pin_taken(exc: pw.IntegrityError) -> bool:
    return "pin_hash" in str(exc)


def create(number: str, pin: str, *, name: str = "", payment_type: str = "prepaid",
           credit: int = 0, status: str = "unlocked", all_sites: bool = False) -> Extension:
    """A new account with billing on.  Refused (nothing written) when the number is an
    extension's or an account's, or the PIN is malformed or another account's.
    ``all_sites``: a group-wide account, usable at every site of a shared store
    (sites.py); else this site's."""
    number = _account_number(number)
    pin = pins.check_format(pin)
    name = (name or "").strip()
    if len(name) > 80:
        raise accounts.AccountError(_("the name is at most 80 characters"))
    if payment_type not in accounts.PAYMENT_TYPES:
        raise accounts.AccountError(_("payment type must be Prepaid or Postpaid"))
    if status not in accounts.STATUSES:
        raise accounts.AccountError(_("status must be Unlocked or Locked"))
    if not isinstance(credit, int) or not 0 <= credit <= money.MAX_AMOUNT:
        raise accounts.AccountError(_("credit must be zero or a positive amount"))
    digest = pins.pin_hash(pin)
    now = now_utc()
    site = "" if all_sites else sites.current()
    with money_txn():
        _check_number_free(number, site)
        try:
            with money_txn():  # a savepoint: the duplicate PIN leaves nothing behind
                return Extension.create(
                    number=number, name=name, kind="account", billing_enabled=True,
                    payment_type=payment_type, credit=credit, status=status, pin_hash=digest,
                    source="manual", created_utc=now, updated_utc=now, site=site)
        except pw.IntegrityError as exc:
            if _pin_taken(exc):
                raise accounts.AccountError(_("that PIN is another account's: choose another")) from None
            raise


def _check_number_free(number: str, site: str, account_id: int = 0) -> None:
    """Refuse a number that an extension or another account already has where an
    account of ``site`` ('' = every site) would be used (sites.clashes)."""
    clash = store.sql_one(f"SELECT kind, site FROM extension WHERE number = ? AND id != ? AND "
                          f"{sites.clashes(site, 'account')} LIMIT 1", (number, account_id))
    if clash is None:
        return
    kind, where = clash
    if kind == "account":
        raise accounts.AccountError(_("account {number} exists already").format(number=number))
    if where != sites.current():
        raise accounts.AccountError(_("{number} is the number of an extension at site {site}: an "
                                      "account of all sites needs a number no site uses").format(
            number=number, site=where))
    raise accounts.AccountError(_("{number} is an extension's number: an account needs a "
                                  "number of its own").format(number=number))


def set_all_sites(number: str, all_sites: bool) -> None:
    """Make account ``number`` group-wide (usable at every site) or this site's only.
    Refused when another site has an extension or account of that number."""
    with money_txn():
        ext = get_account(number)
        site = "" if all_sites else sites.current()
        if ext.site == site:
            return
        _check_number_free(ext.number, site, ext.id)
        Extension.update(site=site, updated_utc=now_utc()).where(Extension.id == ext.id).execute()


def set_pin(number: str, pin: str) -> None:
    """Give account ``number`` a new PIN (the old one stops working at once)."""
    pin = pins.check_format(pin)
    digest = pins.pin_hash(pin)
    with money_txn():
        ext = get_account(number)
        if ext.pin_hash == digest:
            return
        try:
            with money_txn():
                Extension.update(pin_hash=digest, updated_utc=now_utc()).where(
                    Extension.id == ext.id).execute()
        except pw.IntegrityError as exc:
            if _pin_taken(exc):
                raise accounts.AccountError(_("that PIN is another account's: choose another")) from None
            raise


def delete(number: str) -> None:
    """Delete an account that has no history (no call, no ledger entry)."""
    with money_txn():
        ext = get_account(number)
        used = (Ledger.select().where(Ledger.extension == ext.id).exists()
                or Call.select().where(Call.extension == ext.id).exists())
        if used:
            raise accounts.AccountError(_("account {number} has calls or recharges: it cannot be "
                                          "deleted (lock it instead)").format(number=ext.number))
        Extension.delete().where(Extension.id == ext.id).execute()

