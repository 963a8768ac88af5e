"""The two FastAGI scripts: ``authorize`` (before Dial) and ``settle`` (hangup handler).

authorize: ``AGI(agi://host/authorize,<caller>,<dialed>)``.  Answers with
``SET VARIABLE`` commands: ``BILLING_RESULT`` UNBILLED|ALLOWED|DENIED, and when they
apply ``BILLING_REASON`` (locked, no-funds, no-rate, barred, billing-inactive, error),
``BILLING_LIMIT_MS`` and ``BILLING_WARN_MS``, and ``BILLING_LOW=1`` on an ALLOWED call
whose extension's balance is below its low-balance threshold.  A phone with account billing
is answered DENIED ``account-needed`` (with ``BILLING_PIN_DIGITS``) until the dialplan asks
again with ``account``: ``AGI(agi://host/account,<caller>,<dialed>,BILLING_ANSWER,<account>,
<pin>,<try>)``, whose answer is authorize's for the account (docs/accounts.md).
Without arguments the caller is
``agi_callerid`` and the dialed number ``agi_extension``.  With a third argument, a
variable name (``authorize,<caller>,<dialed>,BILLING_ANSWER``), the whole answer is one
``SET VARIABLE`` of that variable instead, ``result,reason,limit_ms,warn_ms,low``
(``ALLOWED,,59000,30000,``), which the shipped dialplan splits with ``ARRAY()``: one
round trip instead of up to five.

settle: ``AGI(agi://host/settle,${CDR(billsec)},${DIALSTATUS},${UNIQUEID},
${ANSWEREDTIME}[,<caller>,<dialed>[,${ANSWEREDTIME_MS}]])``.  Every started second is
billed: the answered time is ANSWEREDTIME_MS rounded up to whole seconds when given
(Asterisk 22 sets it; ANSWEREDTIME and the CDR's billsec are truncated), else
ANSWEREDTIME, else the billsec argument (the recordings show ``GET VARIABLE
CDR(billsec)`` is already 0 in the handler, while the expanded argument is right).
Without arguments the values are asked from the (dead) channel with GET VARIABLE, which
still works there.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import time
from typing import Callable, Dict, List, Optional, Tuple

import peewee as pw

from .. import accounts, calls, money, outage, settings, settle_queue, sites, store
from ..digits import whole_number
from ..store import Extension, WouldWait, db, lock_wait
from . import agi

log = logging.getLogger("billing_addon.pbx.handlers")

BillingState = Callable[[], str]
SETTLE_ATTEMPTS = 3  # a locked database (another process writing) gets two more tries
_TRANSIENT = (pw.OperationalError, sqlite3.OperationalError)  # locked, disk full: tried again
WAIT_SECONDS = 1.5  # authorize waits at most this long for the database ([agi] wait_seconds)
# A round of the FastAGI loop waits this long at most for the write queue (its holder
# turned out slow after all): then its sessions go to the workers, which wait the rest
LOOP_WAIT_SECONDS = 0.1
ERROR = "error"
_UNIQUEID_EPOCH = re.compile(r"(\d{9,11})\.\d+$")


def uniqueid_epoch(uniqueid: str) -> Optional[int]:
    """Asterisk uniqueids are ``[systemname-]<epoch>.<sequence>``: the channel's
    creation time, used as the start of a call that was never authorized."""
    match = _UNIQUEID_EPOCH.search(uniqueid or "")
    return int(match.group(1)) if match else None


def _arg(values, index: int) -> str:
    return values[index].strip() if len(values) > index else ""


def decide(number: str, dialed: str, uniqueid: Optional[str], state: str,
           account: Optional[Tuple[str, str, int]] = None) -> calls.Authorization:
    """``calls.authorize`` that never raises: bad input from a billed extension is
    DENIED 'error'; bad input from an extension that is not billed passes UNBILLED
    (billing must not block, say, a SIP URI dialed by a phone nobody bills)."""
    try:
        if account is None:
            return calls.authorize(number, dialed, uniqueid=uniqueid, billing_state=state)
        return calls.authorize(number, dialed, uniqueid=uniqueid, billing_state=state,
                               account=account[0], pin=account[1], attempt=account[2])
    except WouldWait:
        raise  # nothing was written; the server runs it again in a worker
    except store.Unreachable as exc:  # the fail mode, logged once per outage
        outage.current.down(exc)
        return calls.Authorization(calls.DENIED, ERROR, uniqueid=uniqueid or "")
    except (calls.CallError, accounts.AccountError) as exc:
        try:
            ext = Extension.get_or_none((Extension.number == (number or "").strip())
                                        & pw.SQL(sites.number_scope()))
        except Exception:
            ext = None
        if ext is not None and ext.billing_enabled:
            log.warning("authorize %s -> %r refused: %s", number[:32], dialed[:40], exc)
            return calls.Authorization(calls.DENIED, ERROR, uniqueid=uniqueid or "")
        log.info("authorize %r -> %r not billed: %s", number[:32], dialed[:40], exc)
        return calls.Authorization(calls.UNBILLED, uniqueid=uniqueid or "")
    except Exception as exc:
        if store.is_locked(exc) and not store.may_wait_here():
            # a read on the FastAGI loop found the database locked: a worker waits for it
            raise WouldWait(str(exc)) from exc
        log.exception("authorize %s -> %s failed", number[:32], dialed[:40])
        return calls.Authorization(calls.DENIED, ERROR, uniqueid=uniqueid or "")


def authorize(env: Dict[str, str], billing_state: BillingState,
              wait_seconds: float = WAIT_SECONDS, with_account: bool = False) -> agi.Script:
    values = agi.args(env)
    number = _arg(values, 0) or env.get("agi_callerid", "")
    dialed = _arg(values, 1) or env.get("agi_extension", "")
    into = _arg(values, 2)
    account = None
    if with_account:  # the digits the caller typed, and which try this is
        attempt = _arg(values, 5)
        account = (_arg(values, 3), _arg(values, 4),
                   int(attempt) if whole_number(attempt) and len(attempt) < 3 else 1)
    auth = yield agi.Work(_decide_now, (number, dialed, env.get("agi_uniqueid") or None,
                                        billing_state, wait_seconds, account), urgent=True,
                          many=None if store.postgres() else _decide_many_now)
    if _ANSWER_VARIABLE.match(into):
        answer = [(into, one_answer(auth))]
    else:
        answer = _separate_answers(auth)
    delivered = False
    try:
        for n, (name, value) in enumerate(answer, 1):
            reply = yield agi.set_variable(name, value, last=n == len(answer))
            if not reply.ok:
                log.warning("SET VARIABLE %s answered %d %s", name, reply.code, reply.text[:80])
        delivered = reply.ok  # Asterisk has the result: the call may go on
    except agi.Abandoned:
        pass  # the connection is gone (caller hung up, Asterisk gave up waiting)
    if not delivered and auth.result == calls.ALLOWED:
        # nothing will dial on this reservation: release it now rather than at the
        # stale release hours later (a settle that still comes charges the call)
        log.warning("authorize %s -> %s: ALLOWED never reached Asterisk; releasing %s",
                    number[:32], dialed[:40], auth.uniqueid[:64])
        yield agi.Work(_release_now, (auth.uniqueid,))
    log.debug("authorize %s -> %s: %s %s %s", number, dialed, auth.result, auth.reason,
              auth.limit_ms)
    return auth


_ANSWER_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,39}$")


def one_answer(auth: calls.Authorization) -> str:
    """The whole answer as one value, for the dialplan's ``ARRAY()``: result, reason,
    limit, warning, low (empty where they do not apply; none of them has a comma), and
    for ``account-needed`` the PIN's digits."""
    answer = ",".join((auth.result, auth.reason, str(auth.limit_ms or ""),
                       str(auth.warn_ms or ""), "1" if auth.low else ""))
    return answer if auth.pin_digits is None else f"{answer},{auth.pin_digits}"


def _separate_answers(auth: calls.Authorization) -> List[Tuple[str, str]]:
    """The answer as a variable each.  BILLING_RESULT goes last: a session cut short
    must never leave ALLOWED without its limit on the channel (the dialplan also
    refuses an ALLOWED without a limit)."""
    answer = []
    if auth.reason:
        answer.append(("BILLING_REASON", auth.reason))
    if auth.limit_ms:
        answer.append(("BILLING_LIMIT_MS", str(auth.limit_ms)))
    if auth.warn_ms:
        answer.append(("BILLING_WARN_MS", str(auth.warn_ms)))
    if auth.low:
        answer.append(("BILLING_LOW", "1"))
    if auth.pin_digits is not None:
        answer.append(("BILLING_PIN_DIGITS", str(auth.pin_digits)))
    answer.append(("BILLING_RESULT", auth.result))
    return answer


def _decide_now(number: str, dialed: str, uniqueid: Optional[str],
                billing_state: BillingState, wait_seconds: float = WAIT_SECONDS,
                account: Optional[Tuple[str, str, int]] = None) -> calls.Authorization:
    if store.damaged or outage.current.skip_store():  # the dialplan's fail mode applies
        return calls.Authorization(calls.DENIED, ERROR, uniqueid=uniqueid or "")
    if outage.current.since is not None and not store.may_wait_here():
        # trying the store again may take the connect timeout: never on the FastAGI loop
        raise agi.WouldBlock("the central store is out of reach: a worker tries it")
    try:
        with lock_wait(wait_seconds):
            auth = decide(number, dialed, uniqueid, _state(billing_state), account)
        if auth.reason != ERROR:
            outage.current.up()
        return auth
    except WouldWait as exc:
        raise agi.WouldBlock(str(exc)) from exc


def _decide_many_now(batch: List[tuple]) -> List[agi.Outcome]:
    """Authorizations a worker found queued together (``_decide_now``'s arguments
    each): one transaction for them all, as the loop's rounds (store.reserve_together).
    When the write lock could not be had within their bound (another process held it),
    each is answered as it would have been alone: DENIED error."""
    if len(batch) == 1:
        return [agi.outcome_of(_decide_now, batch[0])]
    members = store.reserve_together([functools.partial(_decide_now, *args) for args in batch],
                                     batch[0][4])
    failure = members[0].error
    if failure is not None and (isinstance(failure, WouldWait) or store.is_locked(failure)):
        log.error("%d authorizations: %s; answered DENIED error", len(batch), failure)
        return [(calls.Authorization(calls.DENIED, ERROR, uniqueid=args[2] or ""), None)
                for args in batch]
    return [(member.result, member.error) for member in members]


def _release_now(uniqueid: str) -> bool:
    for attempt in range(SETTLE_ATTEMPTS):
        try:
            return calls.release(uniqueid)
        except store.Unreachable as exc:
            outage.current.down(exc)
            return False  # the stale release frees it once the store is back
        except _TRANSIENT as exc:  # locked past its timeout
            log.warning("release %r: %s%s", uniqueid[:64], exc,
                        "; trying again" if attempt + 1 < SETTLE_ATTEMPTS else
                        "; the stale release will free it")
            if attempt + 1 < SETTLE_ATTEMPTS:
                time.sleep(1.0)
    return False


def _state(billing_state: BillingState) -> str:
    try:
        return billing_state()
    except Exception:
        log.exception("billing state unavailable; treating billing as active")
        return "active"


def started_seconds(answered_ms: str, answered: str, billsec: str) -> int:
    """The answered seconds to bill: every started second of ANSWEREDTIME_MS, else the
    whole seconds of ANSWEREDTIME or billsec (older Asterisk, or a site's own dialplan)."""
    for value, per_second in ((answered_ms, 1000), (answered, 1), (billsec, 1)):
        if whole_number(value):  # ASCII digits only: '١٢' or '²' are never numbers
            return -(-int(value) // per_second)
    return 0


def settle(env: Dict[str, str], billing_state: BillingState = lambda: "active") -> agi.Script:
    values = agi.args(env)
    billsec, dial_status = _arg(values, 0), _arg(values, 1)
    uniqueid = _arg(values, 2) or env.get("agi_uniqueid", "")
    answered, answered_ms = _arg(values, 3), _arg(values, 6)
    if not values:
        answered_ms = agi.variable_value((yield agi.get_variable("ANSWEREDTIME_MS"))) or ""
        if not whole_number(answered_ms):
            answered = agi.variable_value((yield agi.get_variable("ANSWEREDTIME"))) or ""
        dial_status = agi.variable_value((yield agi.get_variable("DIALSTATUS"))) or ""
    seconds = started_seconds(answered_ms, answered, billsec)
    number = _arg(values, 4) or env.get("agi_accountcode") or env.get("agi_callerid") or None
    dialed = _arg(values, 5) or None
    # taken together only where they share a transaction: on PostgreSQL the workers
    # settle side by side
    return (yield agi.Work(_settle_now, (uniqueid, seconds, dial_status, number, dialed,
                                         billing_state),
                           many=None if store.postgres() else _settle_many_now))


def _settle_request(uniqueid: str, seconds: int, dial_status: str, number: Optional[str],
                    dialed: Optional[str], billing_state: BillingState
                    ) -> calls.SettleRequest:
    if _state(billing_state) != "active":
        number = dialed = None  # a call authorize never saw is billed only while billing is on
    return calls.SettleRequest(uniqueid, seconds, dial_status, number, dialed,
                               uniqueid_epoch(uniqueid), "agi")


def _settle_now(uniqueid: str, seconds: int, dial_status: str, number: Optional[str],
                dialed: Optional[str], billing_state: BillingState,
                attempts: int = SETTLE_ATTEMPTS) -> Optional[calls.Settlement]:
    if store.damaged:
        log.error("settle %r not written: the database is damaged; the CDR follower bills "
                  "the call once it is restored", uniqueid[:64])
        return None
    request = _settle_request(uniqueid, seconds, dial_status, number, dialed, billing_state)
    if outage.current.skip_store() or settle_queue.waiting(uniqueid):
        return _queue_now(request)  # the store is down, or this call waits there already
    for attempt in range(attempts):
        try:
            result = calls.settle(uniqueid, seconds, dial_status, number=request.number,
                                  dialed=request.dialed, started=request.started, source="agi")
            outage.current.up()
            break
        except store.Unreachable as exc:
            outage.current.down(exc)
            return _queue_now(request)
        except (calls.CallError, accounts.AccountError) as exc:
            log.warning("settle %r refused: %s", uniqueid[:64], exc)
            return None
        except _TRANSIENT as exc:  # locked past its timeout
            if attempt + 1 == attempts:
                log.error("settle %r failed: %s; the CDR follower will charge the call from "
                          "Master.csv", uniqueid[:64], exc)
                return None
            log.warning("settle %r: %s; trying again", uniqueid[:64], exc)
            time.sleep(1.0)
    log.debug("settle %s %ss %s: %s", uniqueid, seconds, dial_status, result.outcome)
    return result


def _settle_many_now(batch: List[tuple]) -> List[agi.Outcome]:
    """The settlements a worker found queued together (``_settle_now``'s arguments
    each): charged in one transaction, one fsync for them all, each answered after it
    (store.run_all: the money group's batch, whose settlements next to each other are
    charged set-wise).  Whatever would not simply be charged (the store out of reach or
    damaged, a call waiting in the local queue) takes ``_settle_now``'s way, alone.
    Those whose transaction failed (a full disk, a lock held past the busy timeout) are
    tried again together a second later, as ``_settle_now`` tries one; those still
    failing then once alone each, since one of them may be what fails the rest (not
    those behind the lock: alone they would wait for it one after another).  Any other
    error (a bug, one bad request failing its run) sends its settlements alone at once."""
    if (len(batch) == 1 or store.damaged or store.postgres()
            or outage.current.skip_store()):
        return [agi.outcome_of(_settle_now, args) for args in batch]
    outcomes: List[Optional[agi.Outcome]] = [None] * len(batch)
    alone = functools.partial(_settle_now, attempts=1)
    todo: List[int] = list(range(len(batch)))
    failed: Dict[int, BaseException] = {}
    for attempt in range(SETTLE_ATTEMPTS):
        if attempt:
            log.warning("%d settlements: %s; trying them again", len(todo), failed[todo[0]])
            time.sleep(1.0)
            if store.damaged:
                break
        try:
            failed = _charge_together(batch, todo, outcomes)
        except Exception as exc:  # the local queue unreadable, say: the rest get it
            log.exception("settling %d calls together failed", len(todo))
            for i in todo:
                outcomes[i] = outcomes[i] or (None, exc)
            return [outcome or (None, None) for outcome in outcomes]
        todo = []
        for i, error in failed.items():
            if isinstance(error, _TRANSIENT):
                todo.append(i)
            else:  # not the transaction's: alone, as before any batching
                outcomes[i] = agi.outcome_of(_settle_now, batch[i])
        if not todo:
            break
    for i in todo:
        if store.is_locked(failed[i]):
            log.error("settle %r failed: %s; the CDR follower will charge the call from "
                      "Master.csv", batch[i][0][:64], failed[i])
        else:
            outcomes[i] = agi.outcome_of(alone, batch[i])
    return [outcome or (None, None) for outcome in outcomes]


def _charge_together(batch: List[tuple], todo: List[int], outcomes: List[Optional[agi.Outcome]]
                     ) -> Dict[int, BaseException]:
    """One try at the settlements ``todo`` (indexes into ``batch``) in one transaction:
    the outcomes of those charged or refused go into ``outcomes``, a call waiting in the
    local queue takes ``_settle_now``'s way; returns those whose transaction failed,
    each with its error."""
    ready = []
    for i in todo:
        if settle_queue.waiting(batch[i][0]):
            outcomes[i] = agi.outcome_of(_settle_now, batch[i])
        else:
            ready.append((i, _settle_request(*batch[i])))
    members = store.run_all(calls.settle, [
        ((r.uniqueid, r.answered_s, r.dial_status),
         {"number": r.number, "dialed": r.dialed, "started": r.started, "source": "agi"})
        for _, r in ready]) if ready else []
    failed: Dict[int, BaseException] = {}
    for (i, request), member in zip(ready, members):
        if member.error is None:
            log.debug("settle %s %ss %s: %s", request.uniqueid, request.answered_s,
                      request.dial_status, member.result.outcome)
            outcomes[i] = (member.result, None)
        elif isinstance(member.error, (calls.CallError, accounts.AccountError)):
            log.warning("settle %r refused: %s", request.uniqueid[:64], member.error)
            outcomes[i] = (None, None)
        else:
            failed[i] = member.error
    return failed


def _queue_now(request: calls.SettleRequest) -> Optional[calls.Settlement]:
    """Keep the settlement in the box's queue for the store (on disk when this returns)."""
    queue = settle_queue.current()
    try:
        if queue is None:
            raise OSError("no settlement queue in this process")
        seq = queue.put(request, store.now_utc())
    except (OSError, sqlite3.Error) as exc:
        log.error("settle %r not written: the store cannot be reached and the local queue "
                  "failed (%s); the CDR follower will charge the call", request.uniqueid[:64], exc)
        return None
    log.info("settle %r queued as #%d for the central store", request.uniqueid[:64], seq)
    return calls.Settlement(request.uniqueid, "queued")


def balance_figures(units: int) -> Dict[str, str]:
    """The channel variables of the balance announcement: whole currency units and
    hundredths (cents), the sign apart (SayNumber says no minus)."""
    whole, rest = divmod(abs(units), 10 ** money.SCALE)
    return {"BILLING_BALANCE_NEGATIVE": "1" if units < 0 else "0",
            "BILLING_BALANCE_UNITS": str(whole),
            "BILLING_BALANCE_CENTS": str(rest * 100 // 10 ** money.SCALE)}


def _balance_now(number: str) -> Optional[Tuple[int, str]]:
    try:
        number = accounts.normalize_number(number)
    except accounts.AccountError:
        return None
    row = store.sql_one("SELECT balance FROM extension WHERE number = ? AND "
                        + sites.number_scope(), (number,))
    if row is None:
        return None
    return row[0], settings.get("currency")


def balance(env: Dict[str, str]) -> agi.Script:
    """``AGI(agi://host/balance[,<caller>])``: BILLING_BALANCE_RESULT OK (with the
    figures of ``balance_figures`` and BILLING_CURRENCY) or UNKNOWN (no such extension,
    or the database could not answer)."""
    values = agi.args(env)
    number = _arg(values, 0) or env.get("agi_callerid", "")
    try:
        found = yield agi.Work(_balance_now, (number,))
    except store.Unreachable as exc:
        outage.current.down(exc)
        found = None
    except Exception:  # noqa: BLE001 - the caller hears "unknown", never silence
        log.exception("balance of %s failed", number[:32])
        found = None
    answer = []
    if found is not None:
        units, currency = found
        answer = list(balance_figures(units).items()) + [("BILLING_CURRENCY", currency)]
    answer.append(("BILLING_BALANCE_RESULT", "OK" if found is not None else "UNKNOWN"))
    try:
        for name, value in answer:
            yield agi.set_variable(name, value)
    except agi.Abandoned:
        pass
    return found


def run_together(wait_seconds: float = WAIT_SECONDS
                 ) -> Callable[[List[agi.Work]], List[agi.Outcome]]:
    """``AgiServer``'s ``run_together`` for the daemon: the authorizations of one
    round of the FastAGI loop share one transaction (store.reserve_together); when the
    write lock could not be had at once, each goes to a worker (``agi.WouldBlock``)."""
    def run(works: List[agi.Work]) -> List[agi.Outcome]:
        members = store.reserve_together(
            [functools.partial(work.function, *work.args) for work in works],
            min(wait_seconds, LOOP_WAIT_SECONDS))
        outcomes: List[agi.Outcome] = []
        for member in members:
            error = member.error
            if isinstance(error, WouldWait) or (error is not None and store.is_locked(error)):
                error = agi.WouldBlock(str(error))
            outcomes.append((member.result, error))
        return outcomes
    return run


def close_db() -> None:
    """Close this worker thread's database connection (the server's thread cleanup)."""
    db.close()


def make_handlers(billing_state: BillingState, wait_seconds: float = WAIT_SECONDS
                  ) -> Dict[str, Callable[[Dict[str, str]], agi.Script]]:
    """The script table for ``AgiServer`` (give it ``thread_cleanup=close_db``)."""
    return {
        "authorize": lambda env: authorize(env, billing_state, wait_seconds),
        "account": lambda env: authorize(env, billing_state, wait_seconds, with_account=True),
        "settle": lambda env: settle(env, billing_state),
        "balance": balance,
    }
