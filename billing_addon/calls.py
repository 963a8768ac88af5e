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

A call that went on past its limit was not cut by the shipped dialplan (a route around
it): it is charged in full all the same, since the money is owed, and marked
``over-limit`` in the call log (its balance may then be below -credit).  A call that
authorize never saw (the add-on was down and the dialplan failed open) had no limit to
outrun: it is charged when it ends, from the hangup handler or the CDR, and marked
``not-authorized`` instead.  A call whose reservation ``release_stale`` freed (it ran
past its limit plus grace, counted in the box's running time so that a clock step never
frees a live call's money; or the box rebooted) is charged when its CDR row comes all
the same, and marked ``after-release``: its money may have gone to another call.

The limit is one second shorter than what the reservation covers: every started second
is billed, and a call cut at its limit ends a few milliseconds past it.

Exactly once
------------
A call is identified by its Asterisk uniqueid (within the box's site, sites.py).
``settle`` charges only a call that has not been charged (its ledger entry is unique
per call), in one transaction with the release of its reservation; a replayed or
duplicate settle returns the recorded outcome and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from typing import AbstractSet, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union
from zoneinfo import ZoneInfo

from . import (
    accounts,
    barring,
    boottime,
    money,
    pins,
    plans,
    rates,
    rating,
    settings,
    sites,
    store,
)
from .errors import Refusal
from .store import Call, money_txn, now_utc, reservation_txn, sql, sql_in, sql_many, sql_one

UNBILLED, ALLOWED, DENIED = "UNBILLED", "ALLOWED", "DENIED"
LOCKED, NO_FUNDS, NO_RATE, INACTIVE = "locked", "no-funds", "no-rate", "billing-inactive"
OVER_LIMIT = "over-limit"  # reason of a call charged past its reservation
NOT_AUTHORIZED = "not-authorized"  # reason of a call charged that authorize never saw
AFTER_RELEASE = "after-release"  # reason of a call charged after release_stale freed its money
# the start a call never authorized may have (the CDR's, a hangup handler's): out of this,
# a row is refused alone rather than failing its whole batch (year 9999 has no local time)
# (1970: a box without a clock battery runs on it until NTP sets the time)
FIRST_START_UTC, LAST_START_UTC = 0, 4_102_444_800  # 1970-01-01, 2100-01-01 UTC
# reason of a released call the desk closed at check-out as not charged (stays.check_out)
CLOSED_AT_CHECK_OUT = "closed-at-check-out"
ERROR = "error"
# PIN billing (docs/accounts.md): the phone must name an account first; a wrong account or
# PIN (the caller may try again); the third wrong one in a call; the phone is throttled;
# the caller's number is an account's, which is never charged without its PIN
ACCOUNT_NEEDED, BAD_PIN, PIN_FAILED = "account-needed", "bad-pin", "pin-failed"
PIN_THROTTLED, ACCOUNT_CALLER = "pin-throttled", "account-caller"
MAX_DIALED = 64
log = logging.getLogger("billing_addon.calls")


class CallError(Refusal):
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
    low: bool = False  # ALLOWED while the balance is below its low-balance threshold
    pin_digits: Optional[int] = None  # ACCOUNT_NEEDED: how many digits a PIN has


@dataclass(frozen=True)
class Settlement:
    uniqueid: str
    outcome: str  # charged | duplicate | unknown | not-billed
    cost: int = 0
    status: str = ""
    over_limit: bool = False  # it cost more than its reservation (the PBX did not cut it)


def _local(at_utc: int, zone_name: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(at_utc, dt.timezone.utc).astimezone(ZoneInfo(zone_name))


def clean_dialed(dialed: str) -> str:
    dialed = (dialed or "").strip()
    if len(dialed) > MAX_DIALED or not dialed.isascii() or not (dialed.isdigit()
                                        or all(c.isdigit() or c in "*#+" for c in dialed)):
        raise CallError(f"dialed number {dialed[:40]!r} must be digits (and * # +)")
    return dialed


@functools.lru_cache(maxsize=1024)
def _snapshot(rate: rating.Rate) -> str:
    return json.dumps({
        "id": rate.id, "prefix": rate.prefix, "length": rate.length,
        "initial_cost": rate.initial_cost, "initial_time": rate.initial_time,
        "rate": rate.rate, "unit": rate.unit, "remarks": rate.remarks,
        "call_type": rate.call_type,
    }, separators=(",", ":"))


@functools.lru_cache(maxsize=1024)  # a Rate is immutable; calls share a few rates
def _from_snapshot(text: str) -> Optional[rating.Rate]:
    if not text:
        return None
    d = json.loads(text)
    return rating.Rate(id=d["id"], prefix=d["prefix"], length=d["length"],
                       initial_cost=d["initial_cost"], initial_time=d["initial_time"],
                       rate=d["rate"], unit=d["unit"], remarks=d.get("remarks", ""),
                       call_type=d.get("call_type", "other"))


def rate_label(call: Call) -> str:
    rate = _from_snapshot(call.rate_snapshot)
    if rate is None:
        return ""
    return rate.remarks or f"{rate.prefix}/{rate.length or 'any'}"


_AUTH_OF_STATUS = {"in-progress": ALLOWED, "charged": ALLOWED, "expired": ALLOWED,
                   "unrated": UNBILLED, "unbilled": UNBILLED}


@dataclass
class _Account:
    """The extension columns the call path needs, read inside its transaction."""
    id: int
    number: str
    billing_enabled: bool
    status: str
    credit: int
    balance: int
    reserved: int
    low_threshold: Optional[int]
    kind: str
    account_billing: bool
    pin_blocked_until: Optional[int]
    pin_failures: int


_ACCOUNT_FIELDS = ("id", "number", "billing_enabled", "status", "credit", "balance", "reserved",
                   "low_balance_threshold", "kind", "account_billing", "pin_blocked_until_utc",
                   "pin_failures")
_ACCOUNT_COLUMNS = f"SELECT {', '.join(_ACCOUNT_FIELDS)} FROM extension"
_ACCOUNT_SQL = _ACCOUNT_COLUMNS + " WHERE {} = ?"
_ACCOUNTS_BY_NUMBER = _ACCOUNT_COLUMNS + " WHERE number IN ({})"
# authorize's one read in its transaction: the payer, and the call if it was asked before
_PREVIOUS_FIELDS = ("status", "reason", "limit_ms", "rate_id", "reserved", "extension_id",
                    "dialed")
_ACCOUNT_AND_PREVIOUS = (
    f"SELECT {', '.join('e.' + f for f in _ACCOUNT_FIELDS)}, "
    f"{', '.join('c.' + f for f in _PREVIOUS_FIELDS)} FROM extension e "
    "LEFT JOIN call c ON c.uniqueid = ? AND {1} WHERE {0}")


def _account(key: str, value, lock: bool = False) -> Optional[_Account]:
    """``lock``: its row locked until the commit (the call path's transactions run side
    by side on PostgreSQL: store.for_update)."""
    scope = " AND " + sites.number_scope() if key == "number" else ""
    row = sql_one(_ACCOUNT_SQL.format(key) + scope + (store.for_update() if lock else ""),
                  (value,))
    return _Account(*row) if row else None


_CALL_COLUMNS = ("uniqueid", "extension_id", "dialed", "started_utc", "local_day", "status",
                 "reason", "rate_id", "rate_snapshot", "reserved", "limit_ms", "expires_utc",
                 "source", "settled_utc", "boot_id", "expires_uptime", "call_type", "site")


def _insert_sql(columns: Tuple[str, ...]) -> str:
    return f"INSERT INTO call ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_CALL = _insert_sql(_CALL_COLUMNS)
_INSERT_ACCOUNT_CALL = _insert_sql(_CALL_COLUMNS + ("phone_id",))
_INSERT_CALL_WITH_ID = _insert_sql(("id",) + _CALL_COLUMNS)
_INSERT_SETTLED_CALL = _insert_sql(("id",) + _CALL_COLUMNS + ("answered_s", "dial_status", "cost",
                                                                "free_s"))


def _insert_call(uniqueid: str, ext_id: int, dialed: str, at: int, day: str, status: str,
                 reason: str = "", rate: Optional[rating.Rate] = None, reserved: int = 0,
                 limit_ms: Optional[int] = None, expires: Optional[int] = None,
                 source: str = "agi", settled: Optional[int] = None,
                 expires_running: Optional[boottime.Running] = None,
                 phone_id: Optional[int] = None, at_commit: bool = False) -> int:
    """The new call's id; ``at_commit``: written with the commit (store.sql_at_commit),
    0 returned."""
    boot, uptime = expires_running if expires_running else ("", None)
    values = (uniqueid, ext_id, dialed, at, day, status, reason,
              rate.id if rate else None, _snapshot(rate) if rate else "",
              reserved, limit_ms, expires, source, settled, boot, uptime,
              rate.call_type if rate else "", sites.current())
    if at_commit:
        store.sql_at_commit(_INSERT_CALL if phone_id is None else _INSERT_ACCOUNT_CALL,
                            [values if phone_id is None else values + (phone_id,)])
        return 0
    if phone_id is None:
        return store.insert_returning_id(_INSERT_CALL, values)
    return store.insert_returning_id(_INSERT_ACCOUNT_CALL, values + (phone_id,))


@store.grouped(store.reservation_group)  # authorizations arriving together share a transaction
@store.retry_conflicts
def authorize(number: str, dialed: str, at: Optional[int] = None, uniqueid: Optional[str] = None,
              billing_state: str = "active", running: Optional[boottime.Running] = None,
              account: Optional[str] = None, pin: str = "", attempt: int = 1
              ) -> Authorization:
    """May extension ``number`` call ``dialed`` now, and for how long?

    ``billing_state`` comes from the license module: 'active', 'deactivated' (no call is
    billed or blocked) or 'expired' (trial over, no license).  ``at`` (wall clock, UTC)
    dates the call; ``running`` (default: now) times its reservation.

    PIN billing: a phone with account billing is answered ``ACCOUNT_NEEDED`` (nothing
    written) until ``account`` and ``pin`` are given (``attempt``: the how-manieth try in
    this call); with the right PIN the account is the payer of the call, which is
    authorized exactly as one of its own (docs/accounts.md)."""
    at = now_utc() if at is None else int(at)
    dialed = clean_dialed(dialed)
    number = accounts.normalize_number(number)
    uniqueid = (uniqueid or f"local-{uuid.uuid4().hex}").strip()[:64]
    conf = settings.snapshot()
    local = _local(at, conf["timezone"])
    index = rates.index(conf["rates_version"])
    asked = _Asked(uniqueid, dialed, at, local, billing_state, running, conf, index)
    # the common case, a phone paying its own calls: its row locked by the first statement
    with reservation_txn(shared=True):
        row = sql_one(_ACCOUNT_AND_PREVIOUS.format(
            "e.number = ? AND " + sites.number_scope("e"), sites.call_scope("c"))
            + store.for_update("e"), (uniqueid, number))
        if row is not None:
            phone = _Account(*row[:len(_ACCOUNT_FIELDS)])
            if billing_state == "deactivated" or (
                    phone.kind != "account" and account is None and not phone.account_billing):
                return _reserve(row, asked, phone.number)
    # else a phone seen for the first time, a call paid with an account's PIN, or a caller
    # that is an account's number
    ext = _account("number", number)
    if ext is None:
        accounts.ensure_extension(number, source="dialed")
        ext = _account("number", number)
        assert ext is not None
    phone_id: Optional[int] = None
    if ext.kind == "account" and billing_state != "deactivated":
        log.error("authorize: caller %s is an account's number, not a phone: denied (an "
                  "account is charged only with its PIN; rename that PBX extension)", number)
        return Authorization(DENIED, ACCOUNT_CALLER, uniqueid=uniqueid)
    if billing_state != "deactivated" and (account is not None or ext.account_billing):
        if pins.blocked(ext.pin_blocked_until, at):
            return Authorization(DENIED, PIN_THROTTLED, uniqueid=uniqueid)
        if account is None:
            return Authorization(DENIED, ACCOUNT_NEEDED, uniqueid=uniqueid,
                                 pin_digits=pins.pin_length())
        phone_id, rated_as = ext.id, ext.number
        payer = _pin_payer(ext, account, pin, attempt, at, uniqueid)
        if isinstance(payer, Authorization):
            return payer
        ext = payer
    else:
        rated_as = ext.number
    with reservation_txn(shared=True):
        row = sql_one(_ACCOUNT_AND_PREVIOUS.format("e.id = ?", sites.call_scope("c"))
                      + store.for_update("e"), (uniqueid, ext.id))
        assert row is not None  # extensions are never deleted
        return _reserve(row, asked, rated_as, phone_id)


class _Asked(NamedTuple):
    """An authorization asked for, as ``_reserve`` needs it."""
    uniqueid: str
    dialed: str
    at: int
    local: dt.datetime
    billing_state: str
    running: Optional[boottime.Running]
    conf: dict
    rate_index: rating.RateIndex


def _reserve(row: tuple, asked: _Asked, rated_as: str, phone_id: Optional[int] = None
             ) -> Authorization:
    """The rest of ``authorize``, in its transaction.  ``row``: the payer's row, locked,
    and the columns of the call if it was asked for before; ``rated_as``: the number
    whose rates apply (an account's call: the phone's); ``phone_id``: the phone of an
    account's call."""
    uniqueid, dialed, at, local, billing_state, running, conf, index = asked
    fields = len(_ACCOUNT_FIELDS)
    ext = _Account(*row[:fields])
    if row[fields] is not None:  # a call's status is never NULL: asked before
        status, reason, limit_ms, rate_id, reserved, prev_ext, prev_dialed = row[fields:]
        if (prev_ext, prev_dialed) != (ext.id, dialed):
            # the same call asked again for another extension or number: not the same call
            return Authorization(DENIED, ERROR, uniqueid=uniqueid)
        return Authorization(_AUTH_OF_STATUS.get(status, DENIED), reason, limit_ms, None,
                             uniqueid, rate_id, reserved)
    day = local.date().isoformat()
    # Not billed: recorded all the same (as settled), so that neither the hangup
    # handler nor the CDR bills the call later when billing has been switched on.
    if billing_state == "deactivated" or not ext.billing_enabled:
        _insert_call(uniqueid, ext.id, dialed, at, day, "unbilled", settled=at,
                     phone_id=phone_id)
        return Authorization(UNBILLED, uniqueid=uniqueid)

    def deny(reason: str, rate: Optional[rating.Rate] = None) -> Authorization:
        _insert_call(uniqueid, ext.id, dialed, at, day, "denied", reason, rate,
                     phone_id=phone_id, at_commit=True)
        return Authorization(DENIED, reason, uniqueid=uniqueid, rate_id=rate.id if rate else None)

    if billing_state == "expired" and conf["expired_policy"] == "deny":
        return deny(INACTIVE)
    if ext.status == "locked":
        return deny(LOCKED)
    rate = index.match(rated_as, dialed, local)  # an account's call: the phone's rates
    if rate is None:
        if conf["unrated_policy"] == "deny":
            return deny(NO_RATE)
        _insert_call(uniqueid, ext.id, dialed, at, day, "unrated", NO_RATE, phone_id=phone_id)
        return Authorization(UNBILLED, NO_RATE, uniqueid=uniqueid)
    # an account's call: barred when the account or the phone is
    if barring.is_barred(rate.call_type, (ext.id, phone_id) if phone_id else (ext.id,), conf):
        return deny(barring.BARRED, rate)  # nothing reserved, as for every denial
    available = ext.balance + ext.credit - ext.reserved
    affordable = rating.max_duration(rate, available)
    # free seconds come first (looked for only when some plan covers the type)
    pool = (plans.allowance(ext.id, rate.call_type, local)
            if plans.in_use(rate.call_type, conf) else None)
    if pool is not None and affordable is not None:
        affordable += pool.left
    if affordable is not None and affordable < 2:
        # a call needs its first second plus the second Asterisk may round up
        return deny(NO_FUNDS, rate)
    cap = int(conf["max_call_seconds"])
    if affordable is None or affordable > cap:
        limit_s = cap
    else:
        limit_s = affordable - 1
    free_reserve = min(pool.left, limit_s + 1) if pool is not None else 0
    reserve = min(max(available, 0), rating.cost(rate, limit_s + 1 - free_reserve))
    limit_ms = limit_s * 1000
    warn_s = int(conf["warn_seconds"])
    warn_ms = min(warn_s * 1000, limit_ms // 2) if warn_s and limit_ms >= 2000 else None
    lifetime = (int(conf["ring_allowance_seconds"]) + limit_s
                + int(conf["stale_grace_seconds"]))
    running = running or boottime.now()
    holds_free = pool is not None and free_reserve > 0  # plans.reserve needs its id
    call_id = _insert_call(uniqueid, ext.id, dialed, at, day, "in-progress", "", rate, reserve,
                           limit_ms, at + lifetime, expires_running=boottime.Running(
                               running.boot, running.seconds + lifetime), phone_id=phone_id,
                           at_commit=not holds_free)
    if pool is not None and holds_free:
        plans.reserve(pool, call_id, free_reserve)
    store.sql_at_commit("UPDATE extension SET reserved = reserved + ? WHERE id = ?",
                        [(reserve, ext.id)])
    threshold = (settings.threshold_units(conf["low_balance_threshold"])
                 if ext.low_threshold is None else ext.low_threshold)
    low = threshold is not None and ext.balance < threshold
    return Authorization(ALLOWED, "", limit_ms, warn_ms, uniqueid, rate.id, reserve, low)


def _pin_payer(phone: _Account, account: str, pin: str, attempt: int, at: int,
               uniqueid: str) -> Union[_Account, Authorization]:
    """The account that pays a call of ``phone`` when ``pin`` is its PIN; else the
    answer to give (a wrong PIN is counted on the phone, see pins.py)."""
    account_id = pins.account_with_pin(account.strip(), pin.strip())
    blocked = False
    if account_id is None or phone.pin_failures:
        with reservation_txn():
            if account_id is not None:
                pins.record_success(phone.id)
            else:
                blocked = pins.record_failure(phone.id, at)
    payer = _account("id", account_id) if account_id is not None else None
    if payer is not None:
        return payer
    log.warning("authorize %s: wrong account or PIN (try %d)%s", phone.number, attempt,
                "; the phone is throttled" if blocked else "")
    if attempt >= pins.MAX_FAILURES:
        return Authorization(DENIED, PIN_FAILED, uniqueid=uniqueid)
    return Authorization(DENIED, PIN_THROTTLED if blocked else BAD_PIN, uniqueid=uniqueid)


_COUNT_DAILY = (  # one row per day, extension and call type (migration 0014)
    "INSERT INTO call_daily (local_day, extension_id, call_type, calls, answered_calls, "
    "answered_s, cost) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (extension_id, local_day, call_type) DO UPDATE SET "
    "calls = call_daily.calls + excluded.calls, "
    "answered_calls = call_daily.answered_calls + excluded.answered_calls, "
    "answered_s = call_daily.answered_s + excluded.answered_s, "
    "cost = call_daily.cost + excluded.cost")


class SettleRequest(NamedTuple):
    """One finished call to charge.  ``number``, ``dialed`` and ``started`` let a call
    that authorize never saw be rated and charged now."""
    uniqueid: str
    answered_s: int
    dial_status: str = ""
    number: Optional[str] = None
    dialed: Optional[str] = None
    started: Optional[int] = None
    source: str = "agi"


def _settle_together(invocations: List[Tuple[tuple, dict]]) -> List[Union[Settlement, Exception]]:
    """The outcomes of ``settle`` called with each (args, kwargs) in turn, by
    ``settle_many`` (a group commit's settlements: one set of statements for all)."""
    outcomes: List[Union[Settlement, Exception]] = []
    requests: List[SettleRequest] = []
    at: Optional[int] = None
    for args, kwargs in invocations:
        try:
            request, when = _request(*args, **kwargs)
        except TypeError as exc:  # not settle's arguments: refused alone, as settle would be
            request, when = None, None
            error: Exception = exc
        if requests and (request is None or when != at):
            outcomes += settle_many(requests, at)
            requests = []
        if request is None:
            outcomes.append(error)
            continue
        requests.append(request)
        at = when
    if requests:
        outcomes += settle_many(requests, at)
    for outcome in outcomes:
        if isinstance(outcome, Settlement):
            _log_over_limit(outcome)
    return outcomes


def _request(uniqueid: str, answered_s: int, dial_status: str = "", at: Optional[int] = None,
             *, number: Optional[str] = None, dialed: Optional[str] = None,
             started: Optional[int] = None, source: str = "agi"
             ) -> Tuple[SettleRequest, Optional[int]]:
    """``settle``'s arguments as a request and its ``at``."""
    return SettleRequest(uniqueid, answered_s, dial_status, number, dialed, started, source), at


def _log_over_limit(result: Settlement) -> None:
    if result.over_limit:
        log.warning("call %s went on past its limit (not cut by the PBX): charged %d",
                    result.uniqueid, result.cost)


# settlements arriving together share a transaction and its fsync, and its statements
@store.grouped(store.money_group, many=_settle_together)
def settle(uniqueid: str, answered_s: int, dial_status: str = "", at: Optional[int] = None,
           *, number: Optional[str] = None, dialed: Optional[str] = None,
           started: Optional[int] = None, source: str = "agi") -> Settlement:
    """Charge a finished call exactly once and release its reservation.

    A call never authorized (the add-on was down and the PBX failed open, or the CDR
    brings a call the hangup handler missed) is rated now when ``number``, ``dialed``
    and ``started`` are given.  Raises ``CallError``/``AccountError`` for bad input."""
    request = SettleRequest(uniqueid, answered_s, dial_status, number, dialed, started, source)
    result = settle_many([request], at)[0]
    if isinstance(result, Exception):
        raise result
    _log_over_limit(result)
    return result


class _Charge(NamedTuple):
    """What settling one call writes."""
    uniqueid: str
    call_id: int
    ext_id: int
    cost: int
    release: int
    status: str
    answered_s: int
    dial_status: str
    day: str
    flag: str = ""  # OVER_LIMIT or AFTER_RELEASE: its cost was not (all) reserved
    call_type: str = ""  # its rate's (calltypes.py), '' when unrated
    free_s: int = 0  # seconds paid by a calling plan


@store.retry_conflicts
def settle_many(requests: Sequence[SettleRequest], at: Optional[int] = None
                ) -> List[Union[Settlement, Exception]]:
    """Settle many finished calls in one transaction, with the outcome of ``settle``
    run for each in turn: a Settlement per request, or the CallError/AccountError that
    refused it (a refused request changes nothing).  A few set-wise statements instead
    of ten per call: the CDR import settles hundreds of calls at once."""
    at = now_utc() if at is None else int(at)
    results: List[Union[Settlement, Exception]] = []
    # one call (the FastAGI's case): its payer's row is locked with it, in one statement;
    # many: their payers' rows are locked afterwards, in id order (_plan_charges)
    one = len(requests) == 1
    with money_txn(shared=True):
        # with the free seconds a call holds of a plan's pool, if any (plans.Settling)
        rows = sql_in(
            "SELECT c.uniqueid, c.id, c.extension_id, c.status, c.reserved, c.rate_snapshot, "
            "c.settled_utc, c.cost, c.local_day, p.pool_kind, p.pool_id, p.month, p.call_type, "
            "p.reserved_s, e.balance FROM call c LEFT JOIN plan_call p ON p.call_id = c.id "
            "JOIN extension e ON e.id = c.extension_id "
            "WHERE c.uniqueid IN ({}) AND " + sites.call_scope("c")
            + store.for_update("c, e" if one else "c"),
            list({(q.uniqueid or "").strip() for q in requests}))
        known = {r[0]: r[1:9] for r in rows}
        locked = {r[2]: r[14] for r in rows} if one else {}
        late = _LateCalls(requests, known)
        free = plans.Settling({r[1]: list(r[9:14]) for r in rows if r[9] is not None})
        charges: List[_Charge] = []
        charged: Dict[str, int] = {}  # uniqueid -> its index in results
        for request in requests:
            uniqueid = (request.uniqueid or "").strip()
            try:
                _check_request(uniqueid, request.answered_s)
                row = known.get(uniqueid)
                if row is None:
                    row = late.record(uniqueid, request)
                    if row is None:
                        results.append(Settlement(uniqueid, "unknown"))
                        continue
                    known[uniqueid] = row
            except (CallError, accounts.AccountError) as exc:
                results.append(exc)
                continue
            call_id, ext_id, status, reserved, snapshot, settled_utc, old_cost, day = row
            if settled_utc is not None or status == "denied":
                results.append(Settlement(uniqueid, "duplicate", old_cost, status))
                continue
            if uniqueid in charged:  # twice in this batch: the first one counts
                first = results[charged[uniqueid]]
                assert isinstance(first, Settlement)
                results.append(Settlement(uniqueid, "duplicate", first.cost, first.status))
                continue
            rate = _from_snapshot(snapshot)
            free_s = free.free_seconds(call_id, ext_id, status, rate.call_type, request.answered_s,
                                       request.started if late.saw(uniqueid) else None) if rate else 0
            cost = rating.cost(rate, request.answered_s - free_s) if rate else 0
            new_status = "unrated" if status == "unrated" else "charged"
            over_limit = status == "in-progress" and cost > reserved and not late.saw(uniqueid)
            flag = OVER_LIMIT if over_limit else ""
            if status == "expired" and cost:
                flag = AFTER_RELEASE  # its money may have gone to another call meanwhile
                log.warning("call %s charged %d after its reservation was released as stale",
                            uniqueid, cost)
            charges.append(_Charge(uniqueid, call_id, ext_id, cost,
                                   reserved if status == "in-progress" else 0, new_status,
                                   request.answered_s, request.dial_status[:20], day, flag,
                                   rate.call_type if rate else "", free_s))
            charged[uniqueid] = len(results)
            # its caller logs it: one line per call, or a summary for a CDR import
            results.append(Settlement(uniqueid, "charged", cost, new_status, over_limit))
        done, ledger, refused = _plan_charges(charges, at, locked)
        for charge, error in refused:
            results[charged[charge.uniqueid]] = error
        inserted = late.insert({charge.call_id for charge, _ in refused}, done, at)
        _write_charges(done, ledger, at, inserted)
        free.write(c.call_id for c in done)
    return results


def _check_request(uniqueid: str, answered_s: int) -> None:
    if not uniqueid or len(uniqueid) > 64:
        raise CallError("a call needs its uniqueid")
    if not isinstance(answered_s, int) or answered_s < 0 or answered_s > 7 * 86400:
        raise CallError(f"answered seconds must be a whole number from 0 to {7 * 86400}")


class _LateCalls:
    """The calls authorize never saw, for ``settle_many``: their extensions, the
    settings and the rates are read once for all of them, and they are inserted
    together (with ids given here, in the write transaction) before their charges."""

    def __init__(self, requests: Sequence[SettleRequest], known: Dict[str, tuple]):
        self._numbers: Dict[str, str] = {}  # as the request has it -> normalized
        for q in requests:
            if q.number and (q.uniqueid or "").strip() not in known:
                try:
                    self._number(q.number)
                except accounts.AccountError:
                    pass  # refused again, with its message, by record()
        self.accounts = {row[1]: _Account(*row)
                         for row in sql_in(_ACCOUNTS_BY_NUMBER + " AND " + sites.number_scope(),
                                           list(set(self._numbers.values())))}
        self._conf: Optional[Dict[str, str]] = None
        self._zone: Optional[ZoneInfo] = None
        self._index: Optional[rating.RateIndex] = None
        self._snapshots: Dict[int, str] = {}
        self._next_id = 0
        self.rows: List[tuple] = []
        self._uniqueids: Set[str] = set()

    def _number(self, number: str) -> str:
        normalized = self._numbers.get(number)
        if normalized is None:
            normalized = self._numbers[number] = accounts.normalize_number(number)
        return normalized

    def _snapshot(self, rate: rating.Rate) -> str:
        # by id (one index's rates have distinct ids): hashing a whole Rate costs more
        snapshot = self._snapshots.get(rate.id)
        if snapshot is None:
            snapshot = self._snapshots[rate.id] = _snapshot(rate)
        return snapshot

    def saw(self, uniqueid: str) -> bool:
        """Whether ``uniqueid`` is one of the calls recorded here (never authorized)."""
        return uniqueid in self._uniqueids

    def record(self, uniqueid: str, request: SettleRequest) -> Optional[tuple]:
        """The call's row as ``settle_many`` reads it when it is billable, else None."""
        number, dialed, started = request.number, request.dialed, request.started
        if not (number and dialed is not None and started is not None):
            return None
        ext = self.accounts.get(self._number(number))
        if ext is None or not ext.billing_enabled:
            return None
        if ext.kind == "account":  # an account is charged only with its PIN
            log.error("call %s: the caller %s is an account's number: not charged",
                      uniqueid, ext.number)
            return None
        dialed = clean_dialed(dialed)
        if not FIRST_START_UTC <= started < LAST_START_UTC:  # a date no zone may even show
            raise CallError(f"call start {started} is not a time between 1970 and 2100")
        if self._conf is None:
            store.write_alone()  # it numbers the new calls itself
            self._conf = settings.snapshot()
            self._zone = ZoneInfo(self._conf["timezone"])
            self._index = rates.index(self._conf["rates_version"])
            self._next_id = sql_one("SELECT COALESCE(MAX(id), 0) + 1 FROM call")[0]
        assert self._index is not None
        local = dt.datetime.fromtimestamp(started, self._zone)
        rate = self._index.match(ext.number, dialed, local)
        status, day = ("in-progress" if rate else "unrated"), local.date().isoformat()
        call_id, self._next_id = self._next_id, self._next_id + 1
        snapshot = self._snapshot(rate) if rate else ""
        self.rows.append((call_id, uniqueid, ext.id, dialed, started, day, status,
                          NOT_AUTHORIZED if rate else NO_RATE, rate.id if rate else None,
                          snapshot, 0, None, None, request.source, None, "", None,
                          rate.call_type if rate else "", sites.current()))
        self._uniqueids.add(uniqueid)
        return (call_id, ext.id, status, 0, snapshot, None, 0, day)

    def insert(self, skip: Set[int], done: List[_Charge], at: int) -> Set[int]:
        """Insert the recorded calls but those in ``skip`` (refused: they leave no row,
        as a refused ``settle`` leaves none).  Those charged in ``done`` are inserted as
        their charge leaves them (one write a call, no UPDATE after): their ids are
        returned for ``_write_charges`` to pass over."""
        final = {c.call_id: c for c in done if c.uniqueid in self._uniqueids}
        plain, settled = [], []
        for row in self.rows:
            charge = final.get(row[0])
            if charge is not None:
                # status, reason (the flag, as the UPDATE sets it) and settled_utc
                settled.append(row[:6] + (charge.status, charge.flag or row[7]) + row[8:14]
                               + (at,) + row[15:] + (charge.answered_s, charge.dial_status,
                                                     charge.cost, charge.free_s))
            elif row[0] not in skip:
                plain.append(row)
        sql_many(_INSERT_CALL_WITH_ID, plain)
        sql_many(_INSERT_SETTLED_CALL, settled)
        return set(final)


def _plan_charges(charges: List[_Charge], at: int, locked: Dict[int, int]
                  ) -> Tuple[List[_Charge], List[tuple], List[Tuple[_Charge, Exception]]]:
    """The charges that go through, their ledger rows with running balances, and the
    ones refused because they would take a balance past the largest amount.
    ``locked``: the balances of extensions whose rows this transaction locked already."""
    balance = dict(locked)
    # every other row it changes, locked in one order (by id) against a deadlock with another
    balance.update(sql_in("SELECT id, balance FROM extension WHERE id IN ({}) ORDER BY id"
                          + store.for_update(), sorted({c.ext_id for c in charges} - set(locked))))
    done: List[_Charge] = []
    ledger: List[tuple] = []
    refused: List[Tuple[_Charge, Exception]] = []
    for c in charges:
        if c.cost:
            after = balance[c.ext_id] - c.cost
            if abs(after) > money.MAX_AMOUNT:
                refused.append((c, accounts.AccountError(
                    "the balance would exceed the largest amount allowed")))
                continue
            balance[c.ext_id] = after
            ledger.append((c.ext_id, -c.cost, after, c.call_id, at))
        done.append(c)
    return done, ledger, refused


def _write_charges(done: List[_Charge], ledger: List[tuple], at: int,
                   inserted: AbstractSet[int] = frozenset()) -> None:
    """The ledger entries, the extensions' balances and reservations, the calls (but
    those ``inserted`` already settled) and the daily counts, a statement each."""
    # with the commit, on PostgreSQL: nothing here reads what they write
    store.sql_at_commit("INSERT INTO ledger (extension_id, kind, amount, balance_after, call_id, "
                        "created_utc) VALUES (?, 'call', ?, ?, ?, ?)", ledger)
    changes: Dict[int, List[int]] = {}  # extension id -> [cost, released reservation]
    daily: Dict[Tuple[str, int, str], List[int]] = {}  # (day, extension id, type) -> counts
    for c in done:
        change = changes.setdefault(c.ext_id, [0, 0])
        change[0] += c.cost
        change[1] += c.release
        counts = daily.setdefault((c.day, c.ext_id, c.call_type), [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += 1 if c.answered_s > 0 else 0
        counts[2] += c.answered_s
        counts[3] += c.cost
    store.sql_at_commit(
        "UPDATE extension SET balance = balance - ?, reserved = reserved - ?, "
        "updated_utc = CASE WHEN ? > 0 THEN ? ELSE updated_utc END WHERE id = ?",
        [(cost, release, cost, at, ext_id)
         for ext_id, (cost, release) in sorted(changes.items()) if cost or release])
    store.sql_at_commit(
        "UPDATE call SET status = ?, answered_s = ?, dial_status = ?, cost = ?, free_s = ?, "
        "reserved = 0, settled_utc = ?, reason = CASE WHEN ? != '' THEN ? ELSE reason END "
        "WHERE id = ?",
        [(c.status, c.answered_s, c.dial_status, c.cost, c.free_s, at, c.flag, c.flag,
          c.call_id) for c in done if c.call_id not in inserted])
    store.sql_at_commit(_COUNT_DAILY,
                        [key + tuple(counts) for key, counts in sorted(daily.items())])


_STALE = ("SELECT id, extension_id, reserved FROM call WHERE status = 'in-progress' AND "
          "CASE WHEN boot_id = '' THEN expires_utc < ? "  # recorded before running time was
          "ELSE boot_id != ? OR expires_uptime < ? END AND {} ORDER BY id{}")  # this box's only


@store.retry_conflicts
def release_stale(at: Optional[int] = None, running: Optional[boottime.Running] = None) -> int:
    """Release the reservations of calls that never settled, past their limit plus
    grace in the box's running time (``boottime``: a clock step moves neither way), or
    made in an earlier boot.  Such a call is marked 'expired'; a later settle (say from
    the CDR) still charges it.  ``at`` (wall clock) only times calls recorded before
    the running time was."""
    at = now_utc() if at is None else int(at)
    running = running or boottime.now()
    released = 0
    with money_txn(shared=True):
        stale = _STALE.format(sites.call_scope(), store.for_update())
        for call_id, ext_id, reserved in sql(stale, (at, running.boot, running.seconds)).fetchall():
            sql("UPDATE extension SET reserved = reserved - ? WHERE id = ?", (reserved, ext_id))
            sql("UPDATE call SET status = 'expired', reserved = 0 WHERE id = ?", (call_id,))
            released += 1
    return released


_UNSETTLED_RELEASED = ("WHERE extension_id = ? AND status = 'expired' "
                       "AND settled_utc IS NULL AND started_utc >= ?")


def released_unsettled(ext_id: int, since: int) -> List[str]:
    """The uniqueids of the extension's calls started since ``since`` whose reservation
    was released and that no settle has charged yet: their cost is not known (a late
    settle, say from the CDR, may still charge them)."""
    return [row[0] for row in sql("SELECT uniqueid FROM call " + _UNSETTLED_RELEASED,
                                  (ext_id, since)).fetchall()]


def close_released_unsettled(ext_id: int, since: int, at: int) -> int:
    """Close those calls (``released_unsettled``) as not charged, settled at ``at``: a
    later settle finds them settled and charges nothing.  Inside the caller's
    ``money_txn`` (check-out's).  How many were closed."""
    return sql("UPDATE call SET settled_utc = ?, cost = 0, reason = ? " + _UNSETTLED_RELEASED,
               (at, CLOSED_AT_CHECK_OUT, ext_id, since)).rowcount


@store.retry_conflicts
def release(uniqueid: str) -> bool:
    """Release the reservation of an in-progress call at once, as ``release_stale`` does
    later: authorize reserved it but the answer never reached the PBX (the connection
    was gone).  A later settle still charges the call.  True when one was released."""
    with reservation_txn(shared=True):
        row = sql_one("SELECT id, extension_id, reserved FROM call WHERE uniqueid = ? "
                      "AND status = 'in-progress' AND " + sites.call_scope() + store.for_update(),
                      ((uniqueid or "").strip(),))
        if row is None:
            return False
        call_id, ext_id, reserved = row
        sql("UPDATE extension SET reserved = reserved - ? WHERE id = ?", (reserved, ext_id))
        sql("UPDATE call SET status = 'expired', reserved = 0 WHERE id = ?", (call_id,))
    return True
