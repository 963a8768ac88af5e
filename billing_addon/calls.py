"""The call money flow: authorize (reserve) before a call, settle (charge) after it.

Sharing the available money between concurrent calls of one extension
--------------------------------------------------------------------
``available = balance + credit - reserved``, where ``reserved`` is the sum of the
reservations of the extension's calls in progress.  A new call reserves, first come
first served, what its longest allowed duration (the ``max_call_seconds`` setting, or
less when the money runs out first) could cost, and gets a limit that this reservation
covers.  A second call then only sees what the first left; when that does not cover
its first charge it is denied ``no-funds``.  When a call ends, it is charged its real
cost (never more than it reserved, since the PBX cuts it at the limit) and the rest of
its reservation is released.  So the calls of one extension can never spend together
more than balance + credit.

The limit is one second shorter than what the reservation covers: Asterisk reports
whole seconds and may round a call cut at exactly the limit up by one.

Exactly once
------------
A call is identified by its Asterisk uniqueid.  ``settle`` charges only a call that
has not been charged (its ledger entry is unique per call), in one transaction with
the release of its reservation; a replayed or duplicate settle returns the recorded
outcome and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Optional

from . import accounts, rates, rating, settings
from .store import Call, CallDaily, Extension, money_txn, now_utc, reservation_txn

UNBILLED, ALLOWED, DENIED = "UNBILLED", "ALLOWED", "DENIED"
LOCKED, NO_FUNDS, NO_RATE, INACTIVE = "locked", "no-funds", "no-rate", "billing-inactive"
MAX_DIALED = 64


class CallError(ValueError):
    """A refused call operation (bad input); nothing was changed."""


@dataclass(frozen=True)
class Authorization:
    result: str  # UNBILLED | ALLOWED | DENIED
    reason: str = ""
    limit_ms: Optional[int] = None
    warn_ms: Optional[int] = None
    uniqueid: str = ""
    rate_id: Optional[int] = None
    reserved: int = 0


@dataclass(frozen=True)
class Settlement:
    uniqueid: str
    outcome: str  # charged | duplicate | unknown | not-billed
    cost: int = 0
    status: str = ""


def _local(at_utc: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(at_utc, dt.timezone.utc).astimezone(settings.zone())


def clean_dialed(dialed: str) -> str:
    dialed = (dialed or "").strip()
    if len(dialed) > MAX_DIALED or not all(c.isdigit() or c in "*#+" for c in dialed):
        raise CallError(f"dialed number {dialed[:40]!r} must be digits (and * # +)")
    return dialed


def _snapshot(rate: rating.Rate) -> str:
    return json.dumps({
        "id": rate.id, "prefix": rate.prefix, "length": rate.length,
        "initial_cost": rate.initial_cost, "initial_time": rate.initial_time,
        "rate": rate.rate, "unit": rate.unit, "remarks": rate.remarks,
    }, separators=(",", ":"))


def _from_snapshot(text: str) -> Optional[rating.Rate]:
    if not text:
        return None
    d = json.loads(text)
    return rating.Rate(id=d["id"], prefix=d["prefix"], length=d["length"],
                       initial_cost=d["initial_cost"], initial_time=d["initial_time"],
                       rate=d["rate"], unit=d["unit"], remarks=d.get("remarks", ""))


def rate_label(call: Call) -> str:
    rate = _from_snapshot(call.rate_snapshot)
    if rate is None:
        return ""
    return rate.remarks or f"{rate.prefix}/{rate.length or 'any'}"


def _existing(call: Call) -> Authorization:
    result = {"in-progress": ALLOWED, "charged": ALLOWED, "expired": ALLOWED,
              "unrated": UNBILLED}.get(call.status, DENIED)
    return Authorization(result, call.reason, call.limit_ms, None, call.uniqueid,
                         call.rate_id, call.reserved)


def authorize(number: str, dialed: str, at: Optional[int] = None, uniqueid: Optional[str] = None,
              billing_state: str = "active") -> Authorization:
    """May extension ``number`` call ``dialed`` now, and for how long?

    ``billing_state`` comes from the license module: 'active', 'deactivated' (no call is
    billed or blocked) or 'expired' (trial over, no license)."""
    at = now_utc() if at is None else int(at)
    dialed = clean_dialed(dialed)
    uniqueid = (uniqueid or f"local-{uuid.uuid4().hex}").strip()[:64]
    if billing_state == "deactivated":
        return Authorization(UNBILLED, uniqueid=uniqueid)
    ext = Extension.get_or_none(Extension.number == accounts.normalize_number(number))
    if ext is None:
        accounts.ensure_extension(number, source="dialed")
        return Authorization(UNBILLED, uniqueid=uniqueid)
    if not ext.billing_enabled:
        return Authorization(UNBILLED, uniqueid=uniqueid)
    local = _local(at)
    index = rates.index()
    with reservation_txn():
        previous = Call.get_or_none(Call.uniqueid == uniqueid)
        if previous is not None:
            return _existing(previous)
        ext = Extension.get_by_id(ext.id)
        call = dict(uniqueid=uniqueid, extension=ext.id, dialed=dialed, started_utc=at,
                    local_day=local.date().isoformat())
        if billing_state == "expired" and settings.get("expired_policy") == "deny":
            Call.create(status="denied", reason=INACTIVE, **call)
            return Authorization(DENIED, INACTIVE, uniqueid=uniqueid)
        if ext.status == "locked":
            Call.create(status="denied", reason=LOCKED, **call)
            return Authorization(DENIED, LOCKED, uniqueid=uniqueid)
        rate = index.match(ext.number, dialed, local)
        if rate is None:
            if settings.get("unrated_policy") == "deny":
                Call.create(status="denied", reason=NO_RATE, **call)
                return Authorization(DENIED, NO_RATE, uniqueid=uniqueid)
            Call.create(status="unrated", reason=NO_RATE, **call)
            return Authorization(UNBILLED, NO_RATE, uniqueid=uniqueid)
        available = ext.balance + ext.credit - ext.reserved
        affordable = rating.max_duration(rate, available)
        if affordable == 0:
            Call.create(status="denied", reason=NO_FUNDS, rate_id=rate.id,
                        rate_snapshot=_snapshot(rate), **call)
            return Authorization(DENIED, NO_FUNDS, uniqueid=uniqueid, rate_id=rate.id)
        cap = settings.get_int("max_call_seconds")
        if affordable is None or affordable > cap:
            limit_s = cap
        else:
            limit_s = affordable - 1 if affordable > 1 else affordable
        reserve = min(max(available, 0), rating.cost(rate, limit_s + 1))
        limit_ms = limit_s * 1000
        warn_s = settings.get_int("warn_seconds")
        warn_ms = min(warn_s * 1000, limit_ms // 2) if warn_s and limit_ms >= 2000 else None
        expires = (at + settings.get_int("ring_allowance_seconds") + limit_s
                   + settings.get_int("stale_grace_seconds"))
        Call.create(status="in-progress", rate_id=rate.id, rate_snapshot=_snapshot(rate),
                    reserved=reserve, limit_ms=limit_ms, expires_utc=expires, **call)
        Extension.update(reserved=Extension.reserved + reserve).where(Extension.id == ext.id).execute()
    return Authorization(ALLOWED, "", limit_ms, warn_ms, uniqueid, rate.id, reserve)


def _count_daily(call: Call, answered_s: int, cost: int) -> None:
    CallDaily.insert(local_day=call.local_day, extension=call.extension_id, calls=1,
                     answered_calls=1 if answered_s > 0 else 0, answered_s=answered_s,
                     cost=cost).on_conflict(
        conflict_target=[CallDaily.local_day, CallDaily.extension],
        update={CallDaily.calls: CallDaily.calls + 1,
                CallDaily.answered_calls: CallDaily.answered_calls + (1 if answered_s > 0 else 0),
                CallDaily.answered_s: CallDaily.answered_s + answered_s,
                CallDaily.cost: CallDaily.cost + cost}).execute()


def settle(uniqueid: str, answered_s: int, dial_status: str = "", at: Optional[int] = None,
           *, number: Optional[str] = None, dialed: Optional[str] = None,
           started: Optional[int] = None, source: str = "agi") -> Settlement:
    """Charge a finished call exactly once and release its reservation.

    A call never authorized (the add-on was down and the PBX failed open, or the CDR
    brings a call the hangup handler missed) is rated now when ``number``, ``dialed``
    and ``started`` are given."""
    uniqueid = (uniqueid or "").strip()
    if not uniqueid or len(uniqueid) > 64:
        raise CallError("a call needs its uniqueid")
    if not isinstance(answered_s, int) or answered_s < 0 or answered_s > 7 * 86400:
        raise CallError(f"answered seconds must be a whole number from 0 to {7 * 86400}")
    at = now_utc() if at is None else int(at)
    with money_txn():
        call = Call.get_or_none(Call.uniqueid == uniqueid)
        if call is None:
            call = _late_call(uniqueid, number, dialed, started, source)
            if call is None:
                return Settlement(uniqueid, "unknown")
        if call.settled_utc is not None or call.status == "denied":
            return Settlement(uniqueid, "duplicate", call.cost, call.status)
        ext = Extension.get_by_id(call.extension_id)
        rate = _from_snapshot(call.rate_snapshot)
        cost = rating.cost(rate, answered_s) if rate else 0
        if call.status == "in-progress" and call.reserved:
            Extension.update(reserved=Extension.reserved - call.reserved).where(
                Extension.id == ext.id).execute()
        if cost:
            accounts._append(ext, "call", -cost, call=call, at=at)
        status = "unrated" if call.status == "unrated" else "charged"
        Call.update(status=status, answered_s=answered_s, dial_status=dial_status[:20],
                    cost=cost, reserved=0, settled_utc=at).where(Call.id == call.id).execute()
        _count_daily(call, answered_s, cost)
    return Settlement(uniqueid, "charged", cost, status)


def _late_call(uniqueid: str, number: Optional[str], dialed: Optional[str],
               started: Optional[int], source: str) -> Optional[Call]:
    """Create the record of a call that was never authorized, when it is billable."""
    if not (number and dialed is not None and started is not None):
        return None
    ext = Extension.get_or_none(Extension.number == accounts.normalize_number(number))
    if ext is None or not ext.billing_enabled:
        return None
    dialed = clean_dialed(dialed)
    local = _local(started)
    rate = rates.index().match(ext.number, dialed, local)
    return Call.create(uniqueid=uniqueid, extension=ext.id, dialed=dialed, started_utc=started,
                       local_day=local.date().isoformat(),
                       status="in-progress" if rate else "unrated",
                       reason="" if rate else NO_RATE, rate_id=rate.id if rate else None,
                       rate_snapshot=_snapshot(rate) if rate else "", source=source)


def release_stale(at: Optional[int] = None) -> int:
    """Release the reservations of calls that never settled, past their limit plus
    grace.  Such a call is marked 'expired'; a later settle (say from the CDR) still
    charges it."""
    at = now_utc() if at is None else int(at)
    released = 0
    with money_txn():
        for call in Call.select().where((Call.status == "in-progress") & (Call.expires_utc < at)):
            Extension.update(reserved=Extension.reserved - call.reserved).where(
                Extension.id == call.extension_id).execute()
            Call.update(status="expired", reserved=0).where(Call.id == call.id).execute()
            released += 1
    return released
