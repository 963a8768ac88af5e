"""Asterisk's ``Master.csv`` (cdr_csv): parsing, the billable-row rule, settling rows.

Format, as recorded from Asterisk 22 (tests/fixtures/asterisk/README.md): no header,
LF line ends, strings in double quotes with inner quotes doubled, numbers bare, an
unanswered call's ``answer`` bare and empty, ``lastdata`` with commas.  21 columns with
``newcdrcolumns=yes``, 18 without (no peeraccount, linkedid, sequence).  ``uniqueid``
is only there with ``loguniqueid=yes``, which billing needs (it is what makes a call the
same call in the hangup AGI and in the CDR).  Times are the box's local time.

Which row bills: a call writes several rows, out of time order.  The billable row is
the caller channel's row with ``lastapp=Dial``: its uniqueid is the authorize AGI's
``agi_uniqueid`` and its billsec is ANSWEREDTIME.  Not billable: the callee's and the
originate side's rows (other apps), and the caller channel's second row with
``lastapp=Return`` and billsec 0 that the hangup handler causes.  Replaying rows is
harmless: ``calls.settle`` charges a uniqueid once.

A row settles a call that authorize saw (its uniqueid is known).  A row of a call that
authorize never saw (the add-on was down and the PBX failed open) is billed only when
it carries the mark ``BILLING_MARK`` in its userfield, which the shipped dialplan sets
before its Dial: so inbound calls, internal calls and the phone's own Dial row of a
call routed through a Local channel (another uniqueid) are never billed by mistake.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import itertools
import logging
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Set, Tuple, TypeVar, Union
from zoneinfo import ZoneInfo

from .. import accounts, calls, settings, settle_queue, sites
from ..store import money_txn, others_wait_to_write, sql_in
from .handlers import uniqueid_epoch

log = logging.getLogger("billing_addon.pbx.cdr")

COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
           "lastdata", "start", "answer", "end", "duration", "billsec", "disposition",
           "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid", "sequence")
COLUMN_COUNTS = (18, 21)  # newcdrcolumns=no / yes, both with loguniqueid and loguserfield
DIAL_STATUS = {"ANSWERED": "ANSWER", "NO ANSWER": "NOANSWER", "BUSY": "BUSY",
               "FAILED": "FAILED", "CONGESTION": "CONGESTION"}
MAX_LINE = 8192
BATCH = 500  # rows settled per transaction (a bigger one holds calls up longer)
# rows settled in a step of a batch once writers of this process were found waiting
# behind one (see ``Settler._settle_wanted``)
STEP = 50
OVER_LIMIT_EXAMPLES = 3
BILLING_MARK = "billing"  # CDR(userfield) set by the shipped dialplan's billing-dial
T = TypeVar("T")


class CdrError(ValueError):
    """A line that is not a CDR row of a supported layout."""


class CdrRow(NamedTuple):
    """The fields billing uses from one row."""

    accountcode: str
    src: str
    dst: str
    channel: str
    lastapp: str
    start: str  # local time, 'YYYY-MM-DD HH:MM:SS'
    duration: int
    billsec: int
    disposition: str
    uniqueid: str
    linkedid: str
    userfield: str = ""

    @property
    def number(self) -> str:
        """The calling extension: the accountcode the dialplan sets, else the src."""
        return self.accountcode or self.src

    @property
    def dial_status(self) -> str:
        return DIAL_STATUS.get(self.disposition, self.disposition)[:20]


def _checked_numbers(fields: List[str]) -> Tuple[int, int]:
    """duration and billsec of a row of a supported layout, or ``CdrError``."""
    if len(fields) not in COLUMN_COUNTS:
        raise CdrError(f"{len(fields)} columns (expected 18 or 21: loguniqueid=yes, "
                       "loguserfield=yes)")
    try:
        duration, billsec = int(fields[12]), int(fields[13])
    except ValueError:
        raise CdrError(f"duration/billsec not numbers: {fields[12][:12]!r}, {fields[13][:12]!r}") from None
    if duration < 0 or billsec < 0:
        raise CdrError("negative duration or billsec")
    return duration, billsec


def parse_fields(fields: List[str]) -> CdrRow:
    duration, billsec = _checked_numbers(fields)
    linkedid = fields[19] if len(fields) == 21 else ""
    return CdrRow(fields[0], fields[1], fields[2], fields[5], fields[7], fields[9], duration,
                  billsec, fields[14], fields[16], linkedid, fields[17])


def parse_line(line: str) -> CdrRow:
    """One Master.csv line (without its LF) as a row, or ``CdrError``."""
    if len(line) > MAX_LINE:
        raise CdrError("line too long")
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error as exc:
        raise CdrError(f"not CSV: {exc}") from None
    if len(rows) != 1:
        raise CdrError("not one CSV row")
    return parse_fields(rows[0])


def is_billable(row: CdrRow) -> bool:
    """The caller channel's Dial row (see the module doc).  The ``;1`` half of a Local
    channel is the originating side, never the caller's own leg."""
    return (row.lastapp == "Dial" and bool(row.uniqueid) and bool(row.dst)
            and not (row.channel.startswith("Local/") and row.channel.endswith(";1")))


def local_to_utc(text: str, zone: ZoneInfo) -> Optional[int]:
    """A CDR time ('2026-11-23 21:42:58', box-local) as UTC epoch seconds."""
    # fromisoformat takes other forms too; a zone's offset changes on a whole minute,
    # so the minute is converted once (an import brings many calls a minute)
    if len(text) != 19 or text[10] != " " or text[16] != ":":
        return None
    seconds = text[17:]
    if not (seconds.isascii() and seconds.isdigit()) or seconds > "59":
        return None
    minute = _minute_to_utc(text[:16], zone)
    return None if minute is None else minute + int(seconds)


@functools.lru_cache(maxsize=4096)
def _minute_to_utc(text: str, zone: ZoneInfo) -> Optional[int]:
    try:
        local = dt.datetime.fromisoformat(text + ":00")
    except ValueError:
        return None
    return int(local.replace(tzinfo=zone).timestamp())


@dataclass
class Stats:
    """What a run of lines came to."""

    lines: int = 0
    billable: int = 0
    charged: int = 0
    already: int = 0  # settled before (by the hangup AGI or an earlier replay)
    not_billed: int = 0  # extension not billed, or no record of the call
    outside: int = 0  # outside the import period
    errors: int = 0
    problems: List[str] = field(default_factory=list)
    over_limit: int = 0  # charged past their reservation (the PBX did not cut them)
    over_limit_examples: List[str] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        self.errors += 1
        if len(self.problems) < 50:
            self.problems.append(f"{where}: {message}")
        if self.errors <= 20 or self.errors % 1000 == 0:
            log.warning("CDR %s: %s", where, message)

    def went_over(self, uniqueid: str, cost: int) -> None:
        self.over_limit += 1
        if len(self.over_limit_examples) < OVER_LIMIT_EXAMPLES:
            self.over_limit_examples.append(f"{uniqueid} (charged {cost})")

    def log_over_limit(self, since: int = 0) -> None:
        """One line for the calls that went past their limit (counted from ``since``):
        a count and a few examples, never a line per call (an import may bring 60,000)."""
        count = self.over_limit - since
        if count > 0:
            log.warning("%d call(s) went on past their limit (not cut by the PBX), e.g. %s",
                        count, ", ".join(self.over_limit_examples))
            self.over_limit_examples = []

    def add(self, other: Stats) -> None:
        for name in ("lines", "billable", "charged", "already", "not_billed", "outside", "errors",
                     "over_limit"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems[: max(0, 50 - len(self.problems))])


def billable_rows(lines: Iterable[Tuple[str, str]], stats: Stats,
                  since: Optional[str] = None, until: Optional[str] = None) -> Iterator[CdrRow]:
    """Parse (where, line) pairs; yield the billable rows, count and report the rest.
    ``since``/``until`` ('YYYY-MM-DD HH:MM:SS', local) bound the call start, end excluded."""
    for chunk in _chunked(lines, PARSE_CHUNK):
        stats.lines += len(chunk)
        for where, parsed in _parse_chunk(chunk, dial_only=True):
            if parsed is None:
                continue
            if isinstance(parsed, CdrError):
                stats.error(where, str(parsed))
                continue
            row = parsed
            if not is_billable(row):
                continue
            if (since and row.start < since) or (until and row.start >= until):
                stats.outside += 1
                continue
            stats.billable += 1
            yield row


PARSE_CHUNK = 1000


def _chunked(items: Iterable[T], size: int) -> Iterator[List[T]]:
    it = iter(items)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _parse_chunk(chunk: List[Tuple[str, str]], dial_only: bool = False
                 ) -> List[Tuple[str, Union[CdrRow, CdrError, None]]]:
    """Parse many lines with one CSV reader (several times faster than one reader a
    line).  When any line is damaged (the reader fails, or a quote left open joined two
    lines into one row), the chunk is parsed again line by line, so each line gets its
    own verdict.  None for a blank line, and with ``dial_only`` for a good row whose
    lastapp is not Dial (never billable: checked, no row built)."""
    texts = [line for _, line in chunk]
    try:
        rows = list(csv.reader(texts, strict=True))
    except csv.Error:
        rows = []
    if len(rows) != len(texts) or any(len(line) > MAX_LINE for line in texts):
        return [(where, _parse_or_error(line)) for where, line in chunk]
    out: List[Tuple[str, Union[CdrRow, CdrError, None]]] = []
    for (where, line), fields in zip(chunk, rows):
        if not line.strip():
            out.append((where, None))
            continue
        try:
            if dial_only and len(fields) > 7 and fields[7] != "Dial":
                _checked_numbers(fields)
                out.append((where, None))
            else:
                out.append((where, parse_fields(fields)))
        except CdrError as exc:
            out.append((where, exc))
    return out


def _parse_or_error(line: str) -> Union[CdrRow, CdrError, None]:
    if not line.strip():
        return None
    try:
        return parse_line(line)
    except CdrError as exc:
        return exc


def _chunks(items: List[CdrRow], size: int) -> Iterator[List[CdrRow]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Settler:
    """Settles billable rows in batches: one transaction per batch (so a replayed file
    costs one commit per batch, not per row), rows already settled filtered out with
    one query, unknown extensions created with billing off (they appear in the list)."""

    def __init__(self, billing_state=None, mark: Optional[str] = BILLING_MARK) -> None:
        """``billing_state()``: the license module's state; calls authorize never saw
        are billed only while it is 'active', and only from rows whose userfield is
        ``mark`` (None: from every caller Dial row, for a dialplan that sets no mark)."""
        self.billing_state = billing_state or (lambda: "active")
        self.mark = mark
        self.known_numbers: Set[str] = set()
        self.open_calls: Set[str] = set()
        self.step = BATCH  # rows settled before looking whether others wait to write

    def settle(self, rows: List[CdrRow], stats: Stats, on_commit=None, report: bool = True) -> None:
        """``on_commit()`` runs inside the last batch's transaction (to save a position
        atomically with the settlements it covers).  ``report``: log the calls that went
        past their limit when done (else the caller logs them, ``Stats.log_over_limit``)."""
        over_before = stats.over_limit
        if not rows:
            if on_commit:
                with money_txn():
                    on_commit()
            return
        zone = settings.zone()
        batches = list(_chunks(rows, BATCH))
        for index, batch in enumerate(batches):
            self._ensure_extensions(batch)
            todo = self._unsettled(batch, stats)
            billed = self._billed_numbers(todo)
            active = self.billing_state() == "active"
            wanted = [row for row in todo if self._wanted(row, billed, active)]
            last = index == len(batches) - 1
            self._settle_wanted(wanted, zone, stats, on_commit if last else None,
                                not_billed=len(todo) - len(wanted))
        if report:
            stats.log_over_limit(over_before)

    def _settle_wanted(self, wanted: List[CdrRow], zone: ZoneInfo, stats: Stats,
                       on_commit, not_billed: int) -> None:
        """In one transaction, unless writers of this process (a call to authorize, a
        settlement) are found waiting behind it: then what is settled commits and they go
        first.  A step that found others waiting makes the next one STEP rows, one that
        did not doubles it up to a whole batch: an import beside calls holds the lock for
        a few milliseconds (ten times that on a box), alone it keeps its whole batches (a
        step costs a statement per extension and day whatever its size).
        ``on_commit`` goes in the last transaction.  What a transaction settled is
        counted once it committed (the batch's rows not billed with its first), so that
        a failed one, tried again, is not counted twice."""
        done = 0
        while True:
            settled: list = []
            with money_txn():
                while done < len(wanted):
                    step = wanted[done:done + self.step]
                    settled.extend(zip(step, calls.settle_many(
                        [self._request(row, zone) for row in step])))
                    done += len(step)
                    if others_wait_to_write():
                        self.step = STEP
                        if done < len(wanted):
                            break
                    else:
                        self.step = min(BATCH, 2 * self.step)
                if done == len(wanted) and on_commit:
                    on_commit()
            for row, result in settled:
                self._count(row, result, stats)
            stats.not_billed, not_billed = stats.not_billed + not_billed, 0
            if done == len(wanted):
                return

    def _unsettled(self, batch: List[CdrRow], stats: Stats) -> List[CdrRow]:
        uids = list({row.uniqueid for row in batch})
        done: Set[str] = set()
        self.open_calls = set()
        for uid, settled, status in sql_in("SELECT uniqueid, settled_utc, status FROM call "
                                           "WHERE uniqueid IN ({}) AND " + sites.call_scope(),
                                           uids):
            if settled is not None or status == "denied":
                done.add(uid)
            else:
                self.open_calls.add(uid)
        todo, seen = [], set()
        for row in batch:
            # a settlement of the call waits in the local queue: it charges the call
            if row.uniqueid in done or row.uniqueid in seen or settle_queue.waiting(row.uniqueid):
                stats.already += 1
            else:
                seen.add(row.uniqueid)
                todo.append(row)
        return todo

    def _billed_numbers(self, rows: List[CdrRow]) -> Set[str]:
        return {n for (n,) in sql_in("SELECT number FROM extension WHERE billing_enabled = 1 "
                                     "AND number IN ({}) AND " + sites.number_scope(),
                                     list({row.number for row in rows}))}

    def _marked(self, row: CdrRow) -> bool:
        return self.mark is None or row.userfield == self.mark

    def _ensure_extensions(self, batch: List[CdrRow]) -> None:
        new = {row.number for row in batch if self._marked(row)} - self.known_numbers
        if not new:
            return
        existing = {n for (n,) in sql_in("SELECT number FROM extension WHERE number IN ({}) AND "
                                         + sites.number_scope(), list(new))}
        for number in new - existing:
            try:
                accounts.ensure_extension(number, source="dialed")
            except accounts.AccountError:
                continue
        self.known_numbers |= new

    def _wanted(self, row: CdrRow, billed: Set[str], active: bool) -> bool:
        """A call authorize saw settles from its row; one it never saw only from a
        marked row of a billed extension while billing is on."""
        return row.uniqueid in self.open_calls or (self._marked(row) and row.number in billed
                                                   and active)

    @staticmethod
    def _request(row: CdrRow, zone: ZoneInfo) -> calls.SettleRequest:
        started = local_to_utc(row.start, zone) or uniqueid_epoch(row.uniqueid)
        return calls.SettleRequest(row.uniqueid, row.billsec, row.dial_status, number=row.number,
                                   dialed=row.dst, started=started, source="cdr")

    @staticmethod
    def _count(row: CdrRow, result, stats: Stats) -> None:
        if isinstance(result, Exception):
            stats.error(f"call {row.uniqueid}", str(result))
        elif result.outcome == "charged":
            stats.charged += 1
            if result.over_limit:
                stats.went_over(row.uniqueid, result.cost)
        elif result.outcome == "duplicate":
            stats.already += 1
        else:
            stats.not_billed += 1


def read_lines(path: str, chunk: int = 1 << 20) -> Iterator[Tuple[str, str]]:
    """(where, line) of a whole file; a last line without LF is still returned (a
    one-shot import reads a finished file)."""
    number = 0
    with open(path, "rb") as fh:
        rest = b""
        while True:
            data = fh.read(chunk)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1:]
            for raw in data[:cut].split(b"\n"):
                number += 1
                yield f"line {number}", raw.decode("utf-8", "replace")
        if rest:
            yield f"line {number + 1} (no LF at the end)", rest.decode("utf-8", "replace")


def import_file(path: str, since: Optional[str] = None, until: Optional[str] = None,
                settler: Optional[Settler] = None) -> Stats:
    """Settle every billable call of a CDR file (optionally only calls that started in
    [since, until), local time).  Safe to repeat: settled calls stay as they are."""
    stats = Stats()
    settler = settler or Settler()
    for batch in _chunked(billable_rows(read_lines(path), stats, since, until), BATCH):
        settler.settle(batch, stats, report=False)
    stats.log_over_limit()
    return stats


def summary(stats: Stats) -> Dict[str, int]:
    return {name: getattr(stats, name) for name in
            ("lines", "billable", "charged", "already", "not_billed", "outside", "errors")}
