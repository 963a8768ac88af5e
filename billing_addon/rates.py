"""The rate table: validation of user input, add/edit/delete, CSV import/export, and the
in-memory index that authorize matches against.

Validation returns a message per field, so the web form can show each one next to its
field, the CSV import can report line and field, and the CLI can print them.

Which rows are in force: every row has a deck number, and the rates in force are the
rows whose deck is from the setting ``rates_deck_from`` to ``rates_deck``.  An import
(``import_csv``) never holds the write lock for long: it writes its rows under a new
deck number, out of sight, a few hundred rows per short transaction, then one short
transaction moves the window over them (and, for a replace, past the old deck).  A
crash or refusal before that leaves the old rates in force; the rows left behind are
deleted by the next import.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

import peewee as pw

from . import calltypes, i18n, money, rating, sites, store
from .cells import from_spreadsheet, spreadsheet_safe
from .digits import first_foreign_digit, whole_number
from .errors import Refusal
from .i18n import N_, _
from .store import (
    Extension,
    Rate,
    RateExtension,
    Setting,
    WouldWait,
    db,
    may_wait_here,
    money_txn,
    now_utc,
    sql_many,
    sql_one,
    staging_txn,
)

CSV_COLUMNS = ["active", "remarks", "prefix", "length", "initial_cost", "initial_time",
               "rate", "unit", "start", "end", "extensions", "call_type"]
# The same columns as a user reads them (the Rate page's headings), for the header of a
# rate file exported in another language than English.
CSV_HEADINGS = [N_("Activate"), N_("Remarks"), N_("Prefix"), N_("Number Length"),
                N_("Initial Cost"), N_("Initial Time"), N_("Rate"), N_("Billing Unit"),
                N_("Start Time"), N_("End Time"), N_("Extensions"), N_("Call Type")]
# a rate's site ('' = every site): a column of the file only at a box with a site name
# (sites.py), so a box on its own reads and writes the files it always did
SITE_COLUMN, SITE_HEADING = "site", N_("Site")
MAX_IMPORT_ROWS = 200_000
MAX_ID = store.MAX_ID  # a larger id is no rate, never a crash
IMPORT_CHUNK = 250  # rows per staging transaction: about a millisecond of write lock
# Reading a big deck is pure Python: every YIELD_ROWS rows it lets other threads (calls
# being authorized) have the interpreter at once, not after the 5 ms switch interval.
YIELD_ROWS = 100

_DECK_SETTING = "coalesce((SELECT CAST(value AS INTEGER) FROM setting WHERE key = '{}'), 0)"
IN_FORCE_SQL = (f"deck BETWEEN {_DECK_SETTING.format('rates_deck_from')} "
                f"AND {_DECK_SETTING.format('rates_deck')}")
ALL = "*"


class RateError(Refusal):
    """Refused rate input; ``errors`` maps field name to message."""

    def __init__(self, errors: Mapping[str, str], line: Optional[int] = None):
        self.errors = dict(errors)
        self.line = line
        where = _("line {line}: ").format(line=line) if line else ""
        # the punctuation is the language's too (Chinese writes full-width colons)
        problems = (_("{field}: {problem}").format(field=_field_name(k), problem=v)
                    for k, v in self.errors.items())
        super().__init__(where + _("; ").join(problems))


_OTHER_FIELDS = (N_("file"), N_("header"), N_("row"))  # what a message names besides columns


def _field_name(key: str) -> str:
    """A field as a message names it: its column in a rate file's header (the header in
    the user's language), or the file, its header or a row."""
    return dict(zip(CSV_COLUMNS, csv_header())).get(key) or _(key)


@dataclass
class RateValues:
    prefix: str
    length: int
    initial_cost: int
    initial_time: int
    rate: int
    unit: int
    start_s: int
    end_s: int
    remarks: str = ""
    active: bool = True
    all_extensions: bool = False
    extensions: List[str] = field(default_factory=list)
    call_type: str = calltypes.DEFAULT
    site: str = ""  # '': shared by every site


def parse_time_of_day(text: str, *, allow_24: bool) -> int:
    """'HH:MM' (or 'HH:MM:SS') to seconds of day; '24:00' only as an end time."""
    text = (text or "").strip()
    if first_foreign_digit(text):
        raise ValueError(_("{text}: use the digits 0-9 only, for example 08:00").format(text=repr(text[:20])))
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(whole_number(p) and len(p) <= 2 for p in parts):
        raise ValueError(_("use HH:MM, for example 08:00"))
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if (h, m, s) == (24, 0, 0) and allow_24:
        return rating.DAY_SECONDS
    if h > 23 or m > 59 or s > 59:
        raise ValueError(_("not a time of day (00:00 to 23:59)"))
    return h * 3600 + m * 60 + s


def format_time_of_day(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _whole(text: str, low: int, high: int, what: str) -> int:
    text = (text or "").strip()
    if first_foreign_digit(text):
        raise ValueError(_("{what} {text}: use the digits 0-9 only").format(
            what=_(what), text=repr(text[:20])))
    if not whole_number(text):
        raise ValueError(_("{what} must be a whole number").format(what=_(what)))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(_("{what} must be from {low} to {high}").format(what=_(what), low=low, high=high))
    return value


def _flag(text) -> bool:
    if isinstance(text, bool):
        return text
    return str(text).strip().lower() in ("1", "yes", "on", "true", "y")


_FILE_FLAGS = {"": True, "1": True, "yes": True, "y": True, "true": True, "on": True,
               "0": False, "no": False, "n": False, "false": False, "off": False}


def _file_flag(text: str) -> bool:
    """A deck file's ``active`` cell, strictly: a word it does not know (a spreadsheet's
    TRUE in another language, a typo) is refused, never read as "off"; empty is the
    column's default, active."""
    value = _FILE_FLAGS.get(text.strip().lower())
    if value is None:
        raise RateError({"active": _("{value}: use 1 or 0 (yes or no)").format(
            value=repr(text.strip()[:20]))})
    return value


def validate(form: Mapping[str, object], currency: Optional[str] = None,
             locale: Optional[str] = None) -> RateValues:
    """Turn user input (text fields) into rate values, or raise ``RateError`` with a
    message for every bad field.  ``currency`` and ``locale``: the decimal mark typed
    amounts use (``money.decimal_mark``; a file's are always points)."""
    errors: Dict[str, str] = {}

    def text(key: str) -> str:
        value = form.get(key, "")
        return value if isinstance(value, str) else str(value)

    prefix = text("prefix").strip()
    if not prefix:
        errors["prefix"] = _("prefix is required")
    elif not prefix.lstrip("+").isdigit() or not prefix.isascii() or prefix.count("+") > 1:
        # a leading + matches numbers dialed in international form (+4930...)
        errors["prefix"] = _("prefix must contain digits only (after an optional leading +)")
    elif len(prefix) > 20:
        errors["prefix"] = _("prefix is at most 20 digits")
    values: Dict[str, int] = {}
    for key, low, high, what in (("length", 0, 32, N_("number length")),
                                 ("initial_time", 0, 86400, N_("initial time")),
                                 ("unit", 1, 86400, N_("billing unit"))):
        try:
            values[key] = _whole(text(key) or ("0" if key != "unit" else ""), low, high, what)
        except ValueError as exc:
            errors[key] = str(exc)
    if "length" in values and values["length"] and prefix and values["length"] < len(prefix):
        errors["length"] = _("number length counts the whole number incl. the prefix: "
                             "0 or at least the prefix's length")
    for key in ("initial_cost", "rate"):
        try:
            values[key] = money.parse_amount(text(key) or "0", currency=currency, locale=locale)
        except money.AmountError as exc:
            errors[key] = str(exc)
    for key, allow_24 in (("start", False), ("end", True)):
        try:
            values[key] = parse_time_of_day(text(key) or ("00:00" if key == "start" else "24:00"),
                                            allow_24=allow_24)
        except ValueError as exc:
            errors[key] = str(exc)
    if "start" in values and "end" in values and values["start"] % 86400 == values["end"] % 86400 \
            and not (values["start"] == 0 and values["end"] == rating.DAY_SECONDS):
        errors["end"] = _("end time must differ from start time (00:00-24:00 means all day)")
    call_type = text("call_type").strip() or calltypes.DEFAULT
    if not calltypes.is_call_type(call_type):
        errors["call_type"] = _("unknown call type {type}: use {types}").format(
            type=repr(call_type[:20]), types=", ".join(calltypes.CALL_TYPES))
    remarks = text("remarks").strip()
    if len(remarks) > 200:
        errors["remarks"] = _("remarks are at most 200 characters")
    raw_exts = form.get("extensions", [])
    if isinstance(raw_exts, str):
        raw_exts = raw_exts.replace(";", " ").replace(",", " ").split()
    exts = [str(e).strip() for e in raw_exts if str(e).strip()]  # type: ignore[attr-defined]
    all_extensions = _flag(form.get("all_extensions", False)) or exts == [ALL]
    if all_extensions:
        exts = []
    site = text(SITE_COLUMN).strip()
    if site and site != sites.current():
        errors[SITE_COLUMN] = _("{site}: a rate is this site's ({here}) or every site's (empty)"
                                ).format(site=repr(site[:40]), here=sites.current() or "-")
    if errors:
        raise RateError(errors)
    return RateValues(prefix=prefix, length=values["length"], initial_cost=values["initial_cost"],
                      initial_time=values["initial_time"], rate=values["rate"], unit=values["unit"],
                      start_s=values["start"], end_s=values["end"], remarks=remarks,
                      active=_flag(form.get("active", True)), all_extensions=all_extensions,
                      extensions=exts, call_type=call_type, site=site)


DAY_END_S = 24 * 3600  # 24:00, the end of a block that runs to midnight
END_OF_DAY_TYPO = 23 * 3600 + 59 * 60  # 23:59: the day's last minute left out


def warnings(values: RateValues) -> List[str]:
    """What is allowed but most likely not meant, for one rate."""
    if values.end_s == END_OF_DAY_TYPO:
        return [_("it ends at 23:59, so calls started from 23:59:00 to 23:59:59 get no rate "
                  "(the end is exclusive): use 24:00 to end at midnight")]
    return []


def shadowed(deck: Iterable[rating.Rate]) -> Dict[int, int]:
    """Rates that can never be chosen, each with the id of the rate chosen instead: an
    older active rate with the same prefix, number length and time block, for all
    extensions as this one is, or by name for every extension this one names (see the
    order in ``rating``: nothing else tells them apart)."""
    groups: Dict[tuple, List[rating.Rate]] = {}
    for r in sorted(deck, key=lambda r: r.id):
        groups.setdefault((r.prefix, r.length, r.start, r.end), []).append(r)
    out: Dict[int, int] = {}
    for group in groups.values():
        first_for_all: Optional[int] = None
        named: List[rating.Rate] = []
        for r in group:
            if r.all_extensions:
                if first_for_all is not None:
                    out[r.id] = first_for_all
                elif r.active:
                    first_for_all = r.id
                continue
            # bounded: a group of thousands of rates by name is not a real deck
            winner = next((a.id for a in named[:50] if r.extensions <= a.extensions), None)
            if winner is not None and r.extensions:
                out[r.id] = winner
            elif r.active:
                named.append(r)
    return out


_shadow_cache: Dict[str, Tuple[str, Dict[int, int]]] = {}


def never_apply() -> Dict[int, int]:
    """``shadowed`` of the rates in force, computed once per rates version."""
    key, version = _cache_key(), current_version()
    cached = _shadow_cache.get(key)
    if cached is None or cached[0] != version:
        cached = (version, shadowed(_here()))
        _shadow_cache[key] = cached
    return cached[1]


def save_warnings(rate_id: int, values: RateValues) -> List[str]:
    """The warnings of a rate just saved: ``warnings`` and whether it can ever apply."""
    found = warnings(values)
    winner = never_apply().get(rate_id)
    if winner is not None:
        found.append(_("it never applies: rate {winner} has the same prefix, number length, "
                       "time and extensions and is older").format(winner=winner))
    return found


def import_warnings() -> List[str]:
    """The warnings of the deck in force after an import, counted."""
    deck = load_all()
    found = []
    ending = sum(1 for r in deck if r.end == END_OF_DAY_TYPO)
    if ending:
        found.append(_("{count} rate(s) end at 23:59, leaving 23:59:00-23:59:59 without "
                       "a rate (use 24:00)").format(count=ending))
    never = len(never_apply())
    if never:
        found.append(_("{count} rate(s) never apply: an older rate has the same prefix, "
                       "number length, time and extensions (marked in the Rates list)"
                       ).format(count=never))
    return found


def _extension_ids(numbers: Iterable[str]) -> List[int]:
    numbers = list(dict.fromkeys(numbers))
    if not numbers:
        return []
    found = dict(Extension.select(Extension.number, Extension.id)
                 .where(Extension.number.in_(numbers) & pw.SQL(sites.number_scope())).tuples())
    unknown = [n for n in numbers if n not in found]
    if unknown:
        raise RateError({"extensions": _unknown_extensions(unknown)})
    return [found[n] for n in numbers]


def _unknown_extensions(numbers: List[str]) -> str:
    return _("unknown extension(s): {numbers}").format(numbers=", ".join(numbers[:10]))


def _bump_version() -> None:
    db.execute_sql("INSERT INTO setting (key, value) VALUES ('rates_version', '1') "
                   "ON CONFLICT (key) DO UPDATE "
                   "SET value = CAST(CAST(setting.value AS INTEGER) + 1 AS TEXT)")


def _save(values: RateValues, rate: Optional[Rate], bump: bool = True) -> Rate:
    ext_ids = _extension_ids(values.extensions)
    now = now_utc()
    columns = dict(active=values.active, remarks=values.remarks, prefix=values.prefix,
                   length=values.length, initial_cost=values.initial_cost,
                   initial_time=values.initial_time, rate=values.rate, unit=values.unit,
                   start_s=values.start_s, end_s=values.end_s,
                   all_extensions=values.all_extensions, call_type=values.call_type,
                   updated_utc=now, site=values.site)
    if rate is None:
        rate = Rate.create(created_utc=now, deck=current_deck(), **columns)
    else:
        Rate.update(columns).where(Rate.id == rate.id).execute()
        RateExtension.delete().where(RateExtension.rate == rate.id).execute()
    if ext_ids:
        RateExtension.insert_many([(rate.id, e) for e in ext_ids],
                                  fields=[RateExtension.rate, RateExtension.extension]).execute()
    if bump:
        _bump_version()
    return rate


def in_force():
    """The peewee condition of the rows in force (see the module doc) that this box
    rates with (its site's and the shared ones, sites.py)."""
    return pw.SQL(IN_FORCE_SQL.replace("deck BETWEEN", '"deck" BETWEEN') + " AND "
                  + sites.rate_scope())


def get(rate_id: int) -> Optional[Rate]:
    if not 0 < rate_id <= MAX_ID:
        return None
    return Rate.get_or_none((Rate.id == rate_id) & in_force())


def current_deck() -> int:
    return sql_one(f"SELECT {_DECK_SETTING.format('rates_deck')}")[0]


def add(values: RateValues) -> Rate:
    with money_txn():
        return _save(values, None)


def update(rate_id: int, values: RateValues) -> Rate:
    with money_txn():
        rate = get(rate_id)
        if rate is None:
            raise RateError({"id": _("no rate {id}").format(id=rate_id)})
        return _save(values, rate)


def set_active(rate_ids: Iterable[int], active: bool) -> int:
    ids = [i for i in rate_ids if 0 < i <= MAX_ID]
    with money_txn():
        count = Rate.update(active=bool(active), updated_utc=now_utc()).where(
            Rate.id.in_(ids) & pw.SQL(sites.rate_scope())).execute()
        _bump_version()
    return count


def delete(rate_ids: Iterable[int]) -> int:
    """Delete rates; calls keep the snapshot of the rate that charged them."""
    ids = [r[0] for r in Rate.select(Rate.id).where(
        Rate.id.in_(list(rate_ids)) & pw.SQL(sites.rate_scope())).tuples()]
    with money_txn():
        RateExtension.delete().where(RateExtension.rate.in_(ids)).execute()
        count = Rate.delete().where(Rate.id.in_(ids)).execute()
        _bump_version()
    return count


def assignments(rate_ids: Optional[Iterable[int]] = None) -> Dict[int, List[str]]:
    query = (RateExtension.select(RateExtension.rate, Extension.number)
             .join(Extension).order_by(Extension.number))
    if rate_ids is not None:
        query = query.where(RateExtension.rate.in_(list(rate_ids)))
    out: Dict[int, List[str]] = {}
    for rate_id, number in query.tuples():
        out.setdefault(rate_id, []).append(number)
    return out


def to_rating(row: Rate, extensions: Iterable[str]) -> rating.Rate:
    return rating.Rate(id=row.id, prefix=row.prefix, length=row.length,
                       initial_cost=row.initial_cost, initial_time=row.initial_time,
                       rate=row.rate, unit=row.unit, start=row.start_s, end=row.end_s,
                       extensions=frozenset(extensions), all_extensions=row.all_extensions,
                       active=row.active, remarks=row.remarks, call_type=row.call_type)


_RATE_COLUMNS = ("id, prefix, length, initial_cost, initial_time, rate, unit, start_s, end_s, "
                 "all_extensions, active, remarks, call_type")


def load_all(where: Optional[str] = None, params: tuple = ()) -> List[rating.Rate]:
    """The rates in force at this box (its site's and the shared ones), or the rows
    ``where`` selects, in id order."""
    if where is None:
        where = f"{IN_FORCE_SQL} AND {sites.rate_scope()}"
    assigned = assignments()
    out = []
    for i, (rid, prefix, length, initial_cost, initial_time, rate, unit, start, end, all_exts,
            active, remarks, call_type) in enumerate(db.execute_sql(
            f"SELECT {_RATE_COLUMNS} FROM rate WHERE {where} ORDER BY id", params)):
        if i % (YIELD_ROWS * 10) == 0:
            time.sleep(0)
        out.append(rating.Rate(id=rid, prefix=prefix, length=length, initial_cost=initial_cost,
                               initial_time=initial_time, rate=rate, unit=unit, start=start,
                               end=end, extensions=frozenset(assigned.get(rid, ())),
                               all_extensions=bool(all_exts), active=bool(active),
                               remarks=remarks, call_type=call_type))
    return out


# --- the cached index ----------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: Dict[str, Tuple[str, rating.RateIndex]] = {}


def _cache_key() -> str:
    return f"{db.database}#{sites.current()}"  # an index per store and site


def _here(where: str = IN_FORCE_SQL, params: tuple = ()) -> List[rating.Rate]:
    """The rates this box rates with among the rows ``where`` selects: the shared
    ones and its site's, a site's replacing a shared one (``sites.overlay``)."""
    shared = load_all(f"({where}) AND site = ''", params)
    if not sites.current():
        return shared
    own = load_all(f"({where}) AND site = {sites.literal(sites.current())}", params)
    return sites.overlay(own, shared)


def current_version() -> str:
    row = Setting.get_or_none(Setting.key == "rates_version")
    return row.value if row else "0"


def index(version: Optional[str] = None) -> rating.RateIndex:
    """The index of active rates, rebuilt only when the table changed (also when another
    process, such as the CLI, changed it).  ``version``: the caller's fresh reading of
    the rates version, if it has one."""
    version = current_version() if version is None else version
    key = _cache_key()
    cached = _cache.get(key)
    if cached and cached[0] == version:
        return cached[1]
    if not may_wait_here():
        # the FastAGI loop: a deck of 40,000 rates takes a fifth of a second to index
        # here, seconds on a box, and every call in progress would wait: a worker builds
        # it (housekeeping too, within a second of a change)
        raise WouldWait("the rate index is being rebuilt")
    with _cache_lock:
        cached = _cache.get(key)
        if cached and cached[0] == version:
            return cached[1]
        built = rating.RateIndex(_here())
        _cache[key] = (version, built)
        return built


# --- CSV -------------------------------------------------------------------------------


def export_csv(out: io.TextIOBase) -> int:
    writer = csv.writer(out, lineterminator="\n")
    with_site = bool(sites.current())
    site_of: Dict[int, str] = dict(db.execute_sql(
        "SELECT id, site FROM rate WHERE site > ''").fetchall()) if with_site else {}
    writer.writerow(csv_header() + ([_site_heading()] if with_site else []))
    count = 0
    for r in load_all():
        writer.writerow([
            "1" if r.active else "0", spreadsheet_safe(r.remarks), spreadsheet_safe(r.prefix), r.length,
            money.to_decimal_string(r.initial_cost, min_decimals=0),
            r.initial_time, money.to_decimal_string(r.rate, min_decimals=0), r.unit,
            format_time_of_day(r.start), format_time_of_day(r.end),
            ALL if r.all_extensions else spreadsheet_safe(" ".join(sorted(r.extensions))),
            r.call_type,
        ] + ([site_of.get(r.id, "")] if with_site else []))
        count += 1
    return count


def csv_header() -> List[str]:
    """A rate file's header in the current language: the column names in English (the
    documented format), the Rate page's headings in any other language."""
    if i18n.current() == i18n.DEFAULT_LOCALE:
        return list(CSV_COLUMNS)
    return [_(heading) for heading in CSV_HEADINGS]


def _site_heading() -> str:
    return SITE_COLUMN if i18n.current() == i18n.DEFAULT_LOCALE else _(SITE_HEADING)


def _header_columns() -> Dict[str, str]:
    """Every header name a rate file may use, in lower case, and its column: the English
    names and the headings in every language (a file exported in Spanish imports back
    on a box set to English)."""
    names = {column: column for column in CSV_COLUMNS}
    for locale in i18n.LOCALES:
        with i18n.using(locale):
            names.update((_(heading).strip().lower(), column)
                         for heading, column in zip(CSV_HEADINGS, CSV_COLUMNS))
            names[_(SITE_HEADING).strip().lower()] = SITE_COLUMN
    names[SITE_COLUMN] = SITE_COLUMN
    return names


def decode_deck(data: bytes) -> str:
    """A rate deck's bytes as text: UTF-8 (with or without Excel's BOM), else a one-line
    refusal.  Other encodings are not guessed: bytes that are not UTF-8 may be Latin-1
    or GBK, and a wrong guess would garble remarks silently."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RateError({"file": _("the file is not UTF-8 text (save it as CSV UTF-8)")},
                        line=line) from None


def parse_csv(text: str) -> List[Tuple[int, RateValues]]:
    """Every row validated before anything is written; the first bad row raises
    ``RateError`` with its line number."""
    # newline="": a line may end in LF, CRLF or a bare CR (Excel for Mac's "CSV (Macintosh)")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: List[Tuple[int, RateValues]] = []
    header = None
    for row in _csv_rows(reader):
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            names = _header_columns()
            header = [names.get(h.strip().lower(), h.strip().lower()) for h in row]
            missing = [c for c in ("prefix", "rate", "unit") if c not in header]
            unknown = [h for h in header if h not in CSV_COLUMNS and h != SITE_COLUMN]
            if missing or unknown:
                raise RateError({"header": _header_problem(missing, unknown)}, line=line)
            continue
        if len(row) != len(header):
            raise RateError({"row": _("{fields} fields, the header has {columns}").format(
                fields=len(row), columns=len(header))}, line=line)
        if len(rows) >= MAX_IMPORT_ROWS:
            raise RateError({"file": _("more than {most} rates").format(most=MAX_IMPORT_ROWS)}, line=line)
        if len(rows) % YIELD_ROWS == 0:
            time.sleep(0)
        form = dict(zip(header, row))
        for column in ("remarks", "prefix", "extensions"):  # text columns, as exported
            if column in form:
                form[column] = from_spreadsheet(form[column])
        try:
            checked: Dict[str, object] = dict(form)
            if "active" in form:
                checked["active"] = _file_flag(form["active"])
            rows.append((line, validate(checked)))
        except RateError as exc:
            raise RateError(exc.errors, line=line) from None
    if header is None:
        raise RateError({"file": _("the file is empty")})
    return rows


def _csv_rows(reader) -> Iterable[List[str]]:
    """The reader's rows; what the csv module cannot read (a cell longer than its field
    limit, a stray quote) is ``RateError`` with the line, not a crash."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RateError({"file": _("not a CSV file the import can read: {reason}").format(
                reason=str(exc)[:120])}, line=reader.line_num) from None


def _header_problem(missing: List[str], unknown: List[str]) -> str:
    shown = dict(zip(CSV_COLUMNS, csv_header()))
    parts = []
    if missing:
        parts.append(_("missing column(s) {columns}; ").format(
            columns=", ".join(shown[c] for c in missing)))
    if unknown:
        parts.append(_("unknown column(s) {columns}; ").format(columns=", ".join(unknown)))
    return "".join(parts) + _("expected: {columns}").format(columns=",".join(csv_header()))


_import_lock = threading.Lock()  # one import at a time in this process


@dataclass
class Deck:
    """A rate deck read and checked, ready to be put in force."""
    rows: List[Tuple[int, RateValues]]
    ext_ids: Dict[str, int]


def read_deck(text: str) -> Deck:
    """Every row checked, every extension it names known, or ``RateError`` (with the
    line); nothing is written."""
    parsed = parse_csv(text)
    return Deck(parsed, _import_extension_ids(parsed))


def import_csv(text: str, *, replace: bool = False,
               progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Import a rate deck: all rows or none.  ``replace`` takes the old deck out of force.
    ``progress(rows staged, rows)`` is called after each staging transaction."""
    return put_in_force(read_deck(text), replace=replace, progress=progress)


def put_in_force(deck: Deck, *, replace: bool = False,
                 progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Stage ``deck`` and put it in force (see the module doc); its number of rates."""
    with _import_lock:
        _delete_rows("deck > ?", (current_deck(),))  # rows of an import that never finished
        with staging_txn():
            number = max(sql_one("SELECT coalesce(max(deck), 0) FROM rate")[0],
                         sql_one(f"SELECT {_DECK_SETTING.format('rates_deck')}")[0]) + 1
        _stage(deck.rows, deck.ext_ids, number, progress)
        _swap_in(number, len(deck.rows), replace)
        if replace:
            _delete_rows("deck < ?", (number,))
    return len(deck.rows)


def _import_extension_ids(parsed: List[Tuple[int, RateValues]]) -> Dict[str, int]:
    """Extension ids of every number the deck names; the first unknown refuses it."""
    numbers = sorted({n for _line, values in parsed for n in values.extensions})
    found: Dict[str, int] = {}
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        found.update(Extension.select(Extension.number, Extension.id)
                     .where(Extension.number.in_(chunk) & pw.SQL(sites.number_scope())).tuples())
    for line, values in parsed:
        unknown = [n for n in values.extensions if n not in found]
        if unknown:
            raise RateError({"extensions": _unknown_extensions(unknown)}, line=line)
    return found


def _stage(parsed: List[Tuple[int, RateValues]], ext_ids: Dict[str, int], deck: int,
           progress: Optional[Callable[[int, int], None]]) -> None:
    """Write the deck's rows under ``deck``, out of force, in short transactions."""
    now = now_utc()
    for i in range(0, len(parsed), IMPORT_CHUNK):
        chunk = [values for _line, values in parsed[i:i + IMPORT_CHUNK]]
        with staging_txn():
            first = sql_one("SELECT coalesce(max(id), 0) + 1 FROM rate")[0]
            ids = range(first, first + len(chunk))
            sql_many("INSERT INTO rate (id, active, remarks, prefix, length, initial_cost, "
                     "initial_time, rate, unit, start_s, end_s, all_extensions, created_utc, "
                     "updated_utc, deck, call_type, site) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(rid, v.active, v.remarks, v.prefix, v.length, v.initial_cost,
                       v.initial_time, v.rate, v.unit, v.start_s, v.end_s, v.all_extensions,
                       now, now, deck, v.call_type, v.site) for rid, v in zip(ids, chunk)])
            sql_many("INSERT INTO rate_extension (rate_id, extension_id) VALUES (?, ?)",
                     [(rid, ext_ids[n]) for rid, v in zip(ids, chunk)
                      for n in dict.fromkeys(v.extensions)])
        if progress:
            progress(min(i + IMPORT_CHUNK, len(parsed)), len(parsed))


def _swap_in(deck: int, rows: int, replace: bool) -> None:
    """Put the staged deck in force in one short transaction, with its index built
    beforehand so that no call has to build it."""
    version = current_version()
    deck_from = deck if replace else sql_one(f"SELECT {_DECK_SETTING.format('rates_deck_from')}")[0]
    built = rating.RateIndex(_here("deck BETWEEN ? AND ?", (deck_from, deck)))
    key = _cache_key()
    locked = False
    try:
        with money_txn():
            staged = sql_one("SELECT count(*) FROM rate WHERE deck = ?", (deck,))[0]
            if staged != rows:
                raise RateError({"file": _("another rate import ran at the same time; nothing "
                                           "imported, try again")})
            if replace:  # the rates of other sites are not this file's to replace
                db.execute_sql(f"UPDATE rate SET deck = ? WHERE site > '' AND NOT "
                               f"({sites.rate_scope()}) AND {IN_FORCE_SQL}", (deck,))
            window = [("rates_deck", str(deck))] + ([("rates_deck_from", str(deck))]
                                                    if replace else [])
            sql_many("INSERT INTO setting (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value", window)
            unchanged = current_version() == version  # nothing else changed since ``built``
            _bump_version()
            new_version = current_version()
            # Taken before the commit (this thread holds the write queue, which is always
            # taken first), so a call that sees the new version finds its index built.
            _cache_lock.acquire()
            locked = True
        if unchanged:
            _cache[key] = (new_version, built)
    finally:
        if locked:
            _cache_lock.release()


def _delete_rows(where: str, params: tuple) -> None:
    """Delete rows out of force in short transactions (their assignments go with them)."""
    while True:
        with staging_txn():
            ids = [r[0] for r in db.execute_sql(
                f"SELECT id FROM rate WHERE {where} LIMIT {IMPORT_CHUNK}", params).fetchall()]
            if ids:
                marks = ", ".join("?" * len(ids))
                db.execute_sql(f"DELETE FROM rate_extension WHERE rate_id IN ({marks})", ids)
                db.execute_sql(f"DELETE FROM rate WHERE id IN ({marks})", ids)
        if len(ids) < IMPORT_CHUNK:
            return
