"""Read-only queries behind the web UI's lists and exports: extensions, recharge history,
call log, statistics.

Lists fetch one page (plus one row to know whether a next page exists) through an
index; exports read a chunk at a time, each chunk a short read of its own (``_stream``),
so 100,000 rows never sit in memory at once and no read stays open while they are
sent.  Statistics read the per-day tables ``call_daily`` and ``call_day_total`` (kept
up to date when calls settle), never the call table.  Day filters are days in the
box's time zone.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from . import call_type_stats, lowbalance, settings, sites, store
from .i18n import _
from .store import db, sql_in

PAGE_SIZE = 50
EXPORT_CHUNK = 2000  # rows an export reads at once, about
MAX_WINDOW_S = 366 * 86400  # the longest stretch of time it reads at once
MAX_KEYWORD = 40


class ReportError(ValueError):
    """A refused filter value (the message says which and why)."""


@dataclass(frozen=True)
class Page:
    rows: list
    page: int
    per_page: int
    has_next: bool
    total: Optional[int] = None

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)

    @property
    def pages(self) -> Optional[int]:
        if self.total is None:
            return None
        return max(1, -(-self.total // self.per_page))


# --- filters -------------------------------------------------------------------------


def parse_day(text: Optional[str], what: str) -> Optional[dt.date]:
    """'YYYY-MM-DD' (or empty) to a date; ReportError when malformed."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) == 10 else _bad_day(what)
    except ValueError:
        return _bad_day(what)


def _bad_day(what: str):
    raise ReportError(_("{what}: use a date like 2024-05-31").format(what=_(what)))


def day_start_utc(day: dt.date) -> int:
    """The UTC epoch of local midnight starting ``day`` in the box's zone."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=settings.zone()).timestamp())


def time_bounds(from_day: Optional[dt.date],
                to_day: Optional[dt.date]) -> Tuple[Optional[int], Optional[int]]:
    """[from, to) UTC epochs for an inclusive range of local days."""
    if from_day and to_day and to_day < from_day:
        raise ReportError(_("the end date is before the start date"))
    return _day_bound(from_day, 0), _day_bound(to_day, 1)


def _day_bound(day: Optional[dt.date], days_after: int) -> Optional[int]:
    """Local midnight ``days_after`` the day as UTC seconds; a day so far off that a
    timestamp cannot hold it (0001-01-01, 9999-12-31) leaves that end open."""
    if day is None:
        return None
    try:
        return day_start_utc(day + dt.timedelta(days=days_after))
    except (OverflowError, ValueError, OSError):
        return None


def _like(keyword: str) -> str:
    escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def clean_keyword(keyword: Optional[str]) -> str:
    return (keyword or "").strip()[:MAX_KEYWORD]


def extension_ids_matching(keyword: str) -> Optional[List[int]]:
    """Ids of extensions whose number or name contains ``keyword``; None = no filter."""
    keyword = clean_keyword(keyword)
    if not keyword:
        return None
    cur = db.execute_sql(
        "SELECT id FROM extension WHERE number LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'",
        (_like(keyword), _like(keyword)))
    return [row[0] for row in cur.fetchall()]


class Matched(NamedTuple):
    """A keyword already looked up: the ids of the extensions it matches (None: no
    keyword), for a report that builds several conditions from it."""
    ids: Optional[List[int]]


def _matched(keyword: Union[str, Matched]) -> Matched:
    return keyword if isinstance(keyword, Matched) else Matched(extension_ids_matching(keyword))


def site_member_ids(site: str) -> List[int]:
    """Ids of the extensions and accounts of ``site`` ('' the group-wide accounts)."""
    return [row[0] for row in db.execute_sql("SELECT id FROM extension WHERE site = ?", (site,))]


def extension_id(number: str) -> Optional[int]:
    row = db.execute_sql("SELECT id FROM extension WHERE number = ? AND " + sites.number_scope(),
                         (number.strip(),)).fetchone()
    return row[0] if row else None


Departments = Optional[Sequence[int]]  # a department filter: None = every extension


def in_departments(column: str, departments: Departments) -> Tuple[str, List[object]]:
    """A condition (or "") keeping the rows whose ``column`` (an extension id, or
    ``department_id`` of the extension table itself) belongs to ``departments``."""
    if departments is None:
        return "", []
    ids = [int(d) for d in departments]
    if not ids:
        return "1 = 0", []
    marks = ", ".join("?" * len(ids))
    if column.endswith("department_id"):
        return f"{column} IN ({marks})", list(ids)
    return f"{column} IN (SELECT id FROM extension WHERE department_id IN ({marks}))", list(ids)


def _page_number(page, total: Optional[int] = None, per_page: int = PAGE_SIZE) -> int:
    """The page asked for as a number from 1, past the last page (``total`` rows known)
    the last page; anything but digits is page 1."""
    text = str(page).strip()
    if not (text.isascii() and text.isdigit()):
        return 1
    value = min(max(int(text[:8]), 1), 1_000_000)
    if total is not None:
        value = min(value, max(1, -(-total // per_page)))
    return value


# --- extensions ----------------------------------------------------------------------

EXT_COLUMNS = ("id", "number", "name", "billing_enabled", "payment_type", "status", "credit",
               "balance", "reserved", "total_recharges", "missing", "site")


@dataclass(frozen=True)
class ExtensionRow:
    id: int
    number: str
    name: str
    billing_enabled: bool
    payment_type: str
    status: str
    credit: int
    balance: int
    reserved: int
    total_recharges: int
    missing: bool
    site: str = ""  # sites.py


def _extension_filter(number: str = "", status: str = "", payment_type: str = "",
                      billing: str = "", low: str = "", kind: str = "extension",
                      departments: Departments = None, site: Optional[str] = None
                      ) -> Tuple[str, List[object]]:
    """The WHERE clause and its parameters for the Extensions search (``kind``:
    'extension', the phones; 'account', the Accounts page; ``site``: those of a site, or
    None: what this box acts on)."""
    where: List[str] = ["kind = ?"]
    params: List[object] = [kind]
    if site is None:  # what this box acts on: its site's (and the group-wide accounts)
        where.append(sites.number_scope())
    else:
        where.append("site = ?")
        params.append(site)
    condition, dept_params = in_departments("department_id", departments)
    if condition:
        where.append(condition)
        params += dept_params
    number = clean_keyword(number)
    if number:
        where.append("(number LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\')")
        params += [_like(number), _like(number)]
    if status in ("locked", "unlocked"):
        where.append("status = ?")
        params.append(status)
    if payment_type in ("prepaid", "postpaid"):
        where.append("payment_type = ?")
        params.append(payment_type)
    if billing in ("on", "off"):
        where.append("billing_enabled = ?")
        params.append(1 if billing == "on" else 0)
    if low == "1":  # below its low-balance threshold (lowbalance.py)
        condition, low_params = lowbalance.low_condition()
        where.append(f"({condition})")
        params += list(low_params)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def _extension_row(r) -> ExtensionRow:
    return ExtensionRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7], r[8], r[9],
                        bool(r[10]), r[11])


def extensions_page(number: str = "", status: str = "", payment_type: str = "",
                    billing: str = "", page=1, per_page: int = PAGE_SIZE, low: str = "",
                    kind: str = "extension", departments: Departments = None,
                    site: Optional[str] = None) -> Page:
    """Extensions sorted by number (shorter numbers first), filtered, one page."""
    clause, params = _extension_filter(number, status, payment_type, billing, low, kind,
                                       departments, site)
    total = db.execute_sql("SELECT count(*) FROM extension" + clause, params).fetchone()[0]
    page = _page_number(page, total, per_page)
    cur = db.execute_sql(
        f"SELECT {', '.join(EXT_COLUMNS)} FROM extension{clause} "
        "ORDER BY length(number), number LIMIT ? OFFSET ?",
        params + [per_page, (page - 1) * per_page])
    rows = [_extension_row(r) for r in cur.fetchall()]
    return Page(rows, page, per_page, page * per_page < total, total)


MAX_SELECTED = 5000  # extensions one Recharge or Bulk Edit may take


def extensions_by_number(numbers: Sequence[str]) -> List[ExtensionRow]:
    numbers = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))[:MAX_SELECTED]
    rows = [_extension_row(r) for r in sql_in(
        f"SELECT {', '.join(EXT_COLUMNS)} FROM extension WHERE {sites.number_scope()} "
        f"AND number IN ({{}})", numbers)]
    rows.sort(key=lambda e: (len(e.number), e.number))
    return rows


def extensions_matching(number: str = "", status: str = "", payment_type: str = "",
                        billing: str = "", low: str = "",
                        departments: Departments = None,
                        site: Optional[str] = None) -> List[ExtensionRow]:
    """Every extension the Extensions search finds (all its pages), up to MAX_SELECTED."""
    clause, params = _extension_filter(number, status, payment_type, billing, low,
                                       departments=departments, site=site)
    cur = db.execute_sql(f"SELECT {', '.join(EXT_COLUMNS)} FROM extension{clause} "
                         "ORDER BY length(number), number LIMIT ?", params + [MAX_SELECTED])
    return [_extension_row(r) for r in cur.fetchall()]


def all_extension_numbers() -> List[Tuple[str, str]]:
    """(number, name) of every extension, for pickers."""
    return list(db.execute_sql(
        "SELECT number, name FROM extension WHERE kind = 'extension' AND " + sites.number_scope()
        + " ORDER BY length(number), number").fetchall())


# --- recharge history ----------------------------------------------------------------


@dataclass(frozen=True)
class RechargeRow:
    """A recharge, or a signed adjustment (with its reason) that corrects a balance."""
    id: int
    created_utc: int
    number: str
    name: str
    pre_balance: int
    amount: int
    post_balance: int
    operator: str
    kind: str = "recharge"
    reason: str = ""
    site: str = ""  # the site of its extension or account ('' group-wide)

    @property
    def note(self) -> str:
        return _("Adjustment: {reason}").format(reason=self.reason) if self.kind == "adjustment" else ""


def _search_filter(base: str, alias: str, time_column: str, from_utc, to_utc,
                   keyword, departments: Departments = None, site: Optional[str] = None,
                   site_column: str = "e.site", extension_column: str = "") -> Tuple[str, list]:
    """WHERE clause and parameters: ``base``, a [from, to) time range on
    ``alias.time_column``, the extensions whose number or name match ``keyword``, those
    of ``departments``, and the rows whose ``site_column`` is ``site`` (None: any).
    ``extension_column``: how the extension conditions name ``alias.extension_id``."""
    where: List[str] = [base]
    params: List[object] = []
    extension_column = extension_column or f"{alias}.extension_id"
    if site is not None:
        where.append(f"{site_column} = ?")
        params.append(site)
    condition, dept_params = in_departments(extension_column, departments)
    if condition:
        where.append(condition)
        params += dept_params
    if from_utc is not None:
        where.append(f"{alias}.{time_column} >= ?")
        params.append(from_utc)
    if to_utc is not None:
        where.append(f"{alias}.{time_column} < ?")
        params.append(to_utc)
    ids = _matched(keyword).ids
    if ids is not None:
        where.append(f"{extension_column} IN ({', '.join('?' * len(ids))})" if ids else "1 = 0")
        params += ids
    return " AND ".join(where), params


def _ledger_filter(from_utc, to_utc, keyword, departments: Departments = None,
                   site: Optional[str] = None,
                   kinds: str = "l.kind IN ('recharge', 'adjustment')") -> Tuple[str, list]:
    return _search_filter(kinds, "l", "created_utc", from_utc, to_utc, keyword, departments, site)


_RECHARGE_SELECT = ("SELECT l.id, l.created_utc, e.number, e.name, l.balance_after - l.amount, "
                    "l.amount, l.balance_after, l.operator, l.kind, l.reason, e.site FROM ledger l "
                    "JOIN extension e ON e.id = l.extension_id WHERE ")


def _page(query: str, params: list, row_type, page, per_page: int) -> Page:
    """One page of a query, fetching one row more than shown instead of counting."""
    page = _page_number(page)
    cur = db.execute_sql(query + " LIMIT ? OFFSET ?", params + [per_page + 1, (page - 1) * per_page])
    rows = [row_type(*r) for r in cur.fetchall()]
    return Page(rows[:per_page], page, per_page, len(rows) > per_page)


_RECHARGE_BOUNDS = ("SELECT min(created_utc), max(created_utc) FROM ledger "
                    "WHERE kind IN ('recharge', 'adjustment')")


def recharges_page(from_utc=None, to_utc=None, keyword: str = "", page=1,
                   per_page: int = PAGE_SIZE, departments: Departments = None,
                   site: Optional[str] = None) -> Page:
    query, params = _merged(_RECHARGE_SELECT, _recharge_arms(from_utc, to_utc, keyword, departments,
                                                              site))
    return _page(query + _MERGED_ORDER, params, RechargeRow, page, per_page)


def _recharge_arms(from_utc, to_utc, keyword, departments: Departments = None,
                   site: Optional[str] = None) -> List[Tuple[str, list]]:
    """The recharges' and the adjustments' conditions, each read in its own index's time
    order and merged (``_merged``): a page reads only its rows.  (Re-rating leaves an
    adjustment a call: one ordered list of both kinds sorted them all for every page,
    200,000 of them in 100 ms.)"""
    matched = _matched(keyword)  # looked up once for both
    return [_ledger_filter(from_utc, to_utc, matched, departments, site, f"l.kind = '{kind}'")
            for kind in ("recharge", "adjustment")]


_MERGED_ORDER = " ORDER BY 2 DESC, 1 DESC"  # a report's select: its id, then its time


def _merged(select: str, arms: List[Tuple[str, list]]) -> Tuple[str, list]:
    """``select`` of each (clause, parameters) arm, as one UNION ALL (to be ordered by
    ``_MERGED_ORDER``, which SQLite runs as a merge of the arms' index orders)."""
    return " UNION ALL ".join(select + clause for clause, _ in arms), [
        value for _, params in arms for value in params]


def iter_recharges(from_utc=None, to_utc=None, keyword: str = "",
                   departments: Departments = None, site: Optional[str] = None
                   ) -> Iterator[RechargeRow]:
    """Every matching recharge and adjustment, newest first, fetched in chunks."""
    clause, params = _ledger_filter(from_utc, to_utc, keyword, departments, site)
    for r in _stream(_RECHARGE_SELECT + clause, params, _RECHARGE_BOUNDS, "l.created_utc", "l.id",
                     from_utc, to_utc):
        yield RechargeRow(*r)


def _stream(query: str, params: list, bounds: str, column: str, id_column: str,
            from_utc: Optional[int], to_utc: Optional[int]) -> Iterator[tuple]:
    """Rows of ``query`` newest first, a window of time at a time, each window one short
    read.  An export streams to a client that may read slowly: one read held open for
    all of it would keep the WAL from being checkpointed that long (the file grows,
    every read walks it); a window's read ends before its rows are sent.  Windows are
    [start, end) ranges of the time index, so none splits a second between two reads
    (no LIMIT, no ties); each is sized from the one before to hold about EXPORT_CHUNK
    rows.  ``bounds`` is a cheap query of the first and last time there is (an index's
    ends)."""
    low, high = db.execute_sql(bounds).fetchone()
    if low is None:
        return
    low = low if from_utc is None else max(low, from_utc)
    end = high + 1 if to_utc is None else min(high + 1, to_utc)
    query += f" AND {column} >= ? AND {column} < ? ORDER BY {column} DESC, {id_column} DESC"
    window = 3600
    while end > low:
        start = max(low, end - window)
        rows = db.execute_sql(query, params + [start, end]).fetchall()
        yield from rows
        end = start
        if len(rows) < EXPORT_CHUNK // 2:
            window = min(window * 2, MAX_WINDOW_S)
        elif len(rows) > EXPORT_CHUNK * 2:
            window = max(window // 2, 1)


# --- call log ------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    id: int
    started_utc: int
    number: str
    name: str
    dialed: str
    answered_s: Optional[int]
    cost: int
    status: str
    reason: str
    rate_snapshot: str
    phone: str = ""  # an account's call: the extension it was made from
    call_type: str = ""  # its rate's (calltypes.py), '' when no rate matched
    free_s: int = 0  # seconds paid by a calling plan
    site: str = ""  # the site of the box that saw it (sites.py)

    @property
    def rate_label(self) -> str:
        return rate_label(self.rate_snapshot)


@functools.lru_cache(maxsize=4096)
def rate_label(snapshot: str) -> str:
    """The rate a call was billed with, as the call log shows it (remarks, else
    prefix/length); cached, since an export repeats a few snapshots many times."""
    if not snapshot:
        return ""
    try:
        snap = json.loads(snapshot)
    except ValueError:
        return ""
    return snap.get("remarks") or f"{snap.get('prefix', '')}/{snap.get('length') or 'any'}"


_CALL_SELECT = ("SELECT c.id, c.started_utc, e.number, e.name, c.dialed, c.answered_s, c.cost, "
                "c.status, c.reason, c.rate_snapshot, COALESCE(p.number, ''), c.call_type, "
                "c.free_s, c.site FROM call c JOIN extension e ON e.id = c.extension_id "
                "LEFT JOIN extension p ON p.id = c.phone_id WHERE ")


def _call_filter(from_utc, to_utc, keyword, departments: Departments = None,
                 call_type: Optional[str] = None, site: Optional[str] = None,
                 extension_column: str = "") -> Tuple[str, list]:
    # calls nobody bills (billing off for the extension, or deactivated) are recorded
    # only so that they are never billed later; the Call Log leaves them out
    clause, params = _search_filter("c.status != 'unbilled'", "c", "started_utc", from_utc,
                                    to_utc, keyword, departments, site, "c.site", extension_column)
    if call_type is not None:
        clause += " AND c.call_type = ?"
        params.append(call_type)
    return clause, params


_CALL_ORDER = " ORDER BY c.started_utc DESC, c.id DESC"
_CALL_BOUNDS = "SELECT min(started_utc), max(started_utc) FROM call"


_WALK_CALLS = 20_000  # the newest calls a page of many extensions' calls is looked for in
# a Call Log filter: keyword (looked up), departments, call type, site
_CallFilters = Tuple[Matched, Departments, Optional[str], Optional[str]]

# A filter keeping many extensions (a department, a keyword matching many names) keeps
# many calls: looked up in the extensions' index, all of them are read and sorted for one
# page (a department's 100,000 calls of a year).  Such a page is first looked for among
# the newest _WALK_CALLS calls of its period, walked newest first with each call's
# extension tested, which reads them only until the page is full; by the index only when
# they do not hold it (a deep page).


def _many_extensions(filters: _CallFilters) -> bool:
    matched, departments = filters[0], filters[1]
    return departments is not None or len(matched.ids or ()) > 1


def _walked_page(from_utc, to_utc, filters: _CallFilters) -> Tuple[str, list, bool]:
    """The walk's condition (the newest calls of the period, each call's extension
    tested, not looked up in its index), its parameters, and whether it sees the whole
    period."""
    start, whole = _walk_start(from_utc, to_utc)
    clause, params = _call_filter(start, to_utc, *filters,
                                  extension_column=store.unindexed("c.extension_id"))
    return clause, params, whole


def _walk_start(from_utc: Optional[int], to_utc: Optional[int]) -> Tuple[Optional[int], bool]:
    """Where the newest ``_WALK_CALLS`` calls of [from, to) start, and whether they are
    all of the period's calls (then a walk from there sees the whole period)."""
    period, bounds = ["1 = 1"], []
    if from_utc is not None:
        period.append("started_utc >= ?")
        bounds.append(from_utc)
    if to_utc is not None:
        period.append("started_utc < ?")
        bounds.append(to_utc)
    edge = db.execute_sql(f"SELECT started_utc FROM call WHERE {' AND '.join(period)} "
                          "ORDER BY started_utc DESC LIMIT 1 OFFSET ?",
                          bounds + [_WALK_CALLS]).fetchone()
    if edge is None:
        return from_utc, True
    return max(edge[0], from_utc if from_utc is not None else edge[0]), False


def calls_page(from_utc=None, to_utc=None, keyword: str = "", page=1,
               per_page: int = PAGE_SIZE, *, departments: Departments = None,
               call_type: Optional[str] = None, site: Optional[str] = None) -> Page:
    filters: _CallFilters = (_matched(keyword), departments, call_type, site)
    if _many_extensions(filters):
        clause, params, whole = _walked_page(from_utc, to_utc, filters)
        found = _page(_CALL_SELECT + clause + _CALL_ORDER, params, CallRow, page, per_page)
        if whole or found.has_next:  # else the page may go on before the walk's start
            return found
    clause, params = _call_filter(from_utc, to_utc, *filters)
    return _page(_CALL_SELECT + clause + _CALL_ORDER, params, CallRow, page, per_page)


def iter_calls(from_utc=None, to_utc=None, keyword: str = "", *,
               departments: Departments = None, call_type: Optional[str] = None,
               site: Optional[str] = None) -> Iterator[CallRow]:
    """Every matching call, newest first, fetched in chunks."""
    clause, params = _call_filter(from_utc, to_utc, keyword, departments, call_type, site)
    for r in _stream(_CALL_SELECT + clause, params, _CALL_BOUNDS, "c.started_utc", "c.id",
                     from_utc, to_utc):
        yield CallRow(*r)


# --- statistics ----------------------------------------------------------------------

PERIODS = {"day": 10, "month": 7, "year": 4}


@dataclass(frozen=True)
class StatRow:
    period: str
    calls: int
    answered_calls: int
    answered_s: int
    cost: int

    @property
    def average_s(self) -> int:
        """Average answered call time, whole seconds (rounded half up)."""
        if not self.answered_calls:
            return 0
        return (2 * self.answered_s + self.answered_calls) // (2 * self.answered_calls)


def statistics(by: str = "day", extension: Optional[int] = None,
               from_day: Optional[dt.date] = None, to_day: Optional[dt.date] = None,
               *, departments: Departments = None, call_type: Optional[str] = None,
               site: Optional[str] = None) -> Tuple[List[StatRow], StatRow]:
    """Totals per day, month or year and the grand total: of every extension from
    ``call_day_total`` (a row a day and call type), of one from ``call_daily``, of the
    extensions of ``departments`` from ``call_daily`` summed per day; of one call type
    from their rows of that type."""
    if by not in PERIODS:
        raise ReportError(_("statistics by Day, Month or Year"))
    where: List[str] = ["1 = 1"]
    params: List[object] = []
    table = "call_day_total"
    if extension is not None:
        table = "call_daily"
        where.append("extension_id = ?")
        params.append(extension)
    condition, dept_params = in_departments("extension_id", departments)
    if condition:
        table = "call_daily"
        where.append(condition)
        params += dept_params
    if call_type is not None:
        where.append("call_type = ?")
        params.append(call_type)
    if site is not None:  # the payer's site (docs/scale.md, Reports)
        table = "call_daily"
        where.append("extension_id IN (SELECT id FROM extension WHERE site = ?)")
        params.append(site)
    days, day_params = call_type_stats.day_range(from_day, to_day)
    where += days[1:]
    params += day_params
    width = PERIODS[by]
    # Both tables are read in local_day order through their key or index (a few rows a
    # day: one per call type, and per extension for departments, summed here); days are
    # folded into months or years here, a few hundred rows a year.
    cur = db.execute_sql(
        "SELECT local_day, sum(calls), sum(answered_calls), sum(answered_s), sum(cost) "
        f"FROM {table} WHERE {' AND '.join(where)} GROUP BY local_day ORDER BY local_day",
        params)
    folded: Dict[str, List[int]] = {}
    for day, n, answered, seconds, cost in cur.fetchall():
        acc = folded.setdefault(day[:width], [0, 0, 0, 0])
        acc[0] += n
        acc[1] += answered
        acc[2] += seconds
        acc[3] += cost
    rows = [StatRow(period, *acc) for period, acc in sorted(folded.items())]
    total = StatRow("total", sum(r.calls for r in rows), sum(r.answered_calls for r in rows),
                    sum(r.answered_s for r in rows), sum(r.cost for r in rows))
    return rows, total


@dataclass(frozen=True)
class DepartmentTotal:
    """One line of the Statistics page's per-department table (id None: no department)."""
    department_id: Optional[int]
    name: str
    calls: int
    answered_s: int
    cost: int


def department_totals(from_day: Optional[dt.date] = None, to_day: Optional[dt.date] = None,
                      departments: Departments = None) -> List[DepartmentTotal]:
    """Calls, answered seconds and cost of each department over the days, by the
    current membership (from ``call_daily``: a row per extension, day and type); the
    extensions in no department are one line (id None, name "") unless ``departments``
    narrows it to some."""
    names = db.execute_sql("SELECT id, name FROM department ORDER BY name COLLATE NOCASE").fetchall()
    if not names:  # no departments yet: no table, and no reading of call_daily for it
        return []
    where, params = call_type_stats.day_range(from_day, to_day, "d.local_day")
    condition, dept_params = in_departments("e.department_id", departments)
    if condition:
        where.append(condition)
        params += dept_params
    cur = db.execute_sql(
        "SELECT e.department_id, sum(d.calls), sum(d.answered_s), sum(d.cost) "
        # each extension's days are a range of call_daily's key: read in its order
        "FROM extension e CROSS JOIN call_daily d ON d.extension_id = e.id "
        f"WHERE {' AND '.join(where)} GROUP BY e.department_id", params)
    sums = {r[0]: r[1:] for r in cur.fetchall()}
    wanted = None if departments is None else set(departments)
    rows = [DepartmentTotal(i, name, *sums.get(i, (0, 0, 0))) for i, name in names
            if wanted is None or i in wanted]
    if departments is None and None in sums:
        rows.append(DepartmentTotal(None, "", *sums[None]))
    return rows


MAX_FILLED = 400


def fill_periods(rows: List[StatRow], by: str, from_day: Optional[dt.date],
                 to_day: Optional[dt.date]) -> List[StatRow]:
    """Rows for every day/month/year of the range (zeros where nothing happened), so a
    chart shows time evenly; left as is when the range is open or too long."""
    if not rows and (from_day is None or to_day is None):
        return rows
    first = from_day or dt.date.fromisoformat(_pad(rows[0].period))
    last = to_day or dt.date.fromisoformat(_pad(rows[-1].period))
    if rows:
        first = min(first, dt.date.fromisoformat(_pad(rows[0].period)))
        last = max(last, dt.date.fromisoformat(_pad(rows[-1].period)))
    keys: List[str] = []
    if by == "day":
        if (last - first).days >= MAX_FILLED:
            return rows
        keys = [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    elif by == "month":
        y, m = first.year, first.month
        while (y, m) <= (last.year, last.month) and len(keys) < MAX_FILLED:
            keys.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    else:
        keys = [f"{y:04d}" for y in range(first.year, min(last.year, first.year + MAX_FILLED) + 1)]
    have = {r.period: r for r in rows}
    return [have.get(k) or StatRow(k, 0, 0, 0, 0) for k in keys]


def _pad(period: str) -> str:
    return period + "-01-01"[len(period) - 4:] if len(period) < 10 else period


# --- keyset pages (the JSON API) ------------------------------------------------------
# A page starts after the last row of the one before (its cursor: time and id), so a
# page deep in a million calls costs what the first does (an OFFSET reads every row
# it skips).

Cursor = Optional[Tuple[int, int]]  # (time, id) of the last row of the previous page


def _keyset(select: str, arms: List[Tuple[str, list]], column: str, id_column: str,
            cursor: Cursor, limit: int) -> Tuple[list, Cursor]:
    """The rows after ``cursor`` of ``select`` with each (clause, parameters) arm, merged
    when there are several; and the next page's cursor."""
    if cursor is not None:
        after = f" AND {column} <= ? AND ({column} < ? OR {id_column} < ?)"
        arms = [(clause + after, params + [cursor[0], cursor[0], cursor[1]])
                for clause, params in arms]
    query, params = _merged(select, arms)
    order = f" ORDER BY {column} DESC, {id_column} DESC" if len(arms) == 1 else _MERGED_ORDER
    rows = db.execute_sql(query + order + " LIMIT ?", params + [limit + 1]).fetchall()
    return rows[:limit], ((rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None)


def calls_after(cursor: Cursor, limit: int = PAGE_SIZE, from_utc=None, to_utc=None,
                keyword: str = "", *, departments: Departments = None,
                call_type: Optional[str] = None) -> Tuple[List[CallRow], Cursor]:
    """The Call Log's calls after ``cursor`` (newest first), and the next page's cursor."""
    filters: _CallFilters = (_matched(keyword), departments, call_type, None)
    if _many_extensions(filters):  # walked first, as calls_page does
        # the rows after the cursor are in its second or before
        ends = [t for t in (to_utc, None if cursor is None else cursor[0] + 1) if t is not None]
        clause, params, whole = _walked_page(from_utc, min(ends, default=None), filters)
        rows, after = _keyset(_CALL_SELECT, [(clause, params)], "c.started_utc", "c.id", cursor,
                              limit)
        if whole or after is not None:
            return [CallRow(*r) for r in rows], after
    rows, after = _keyset(_CALL_SELECT, [_call_filter(from_utc, to_utc, *filters)], "c.started_utc",
                          "c.id", cursor, limit)
    return [CallRow(*r) for r in rows], after


def recharges_after(cursor: Cursor, limit: int = PAGE_SIZE, from_utc=None, to_utc=None,
                    keyword: str = "", departments: Departments = None
                    ) -> Tuple[List[RechargeRow], Cursor]:
    """The Recharge History's entries after ``cursor``, and the next page's cursor."""
    rows, after = _keyset(_RECHARGE_SELECT, _recharge_arms(from_utc, to_utc, keyword, departments),
                          "l.created_utc", "l.id", cursor, limit)
    return [RechargeRow(*r) for r in rows], after
