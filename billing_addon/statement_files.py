"""The downloadable files of a statement: ``to_pdf`` (A4) and ``to_xlsx``, both made from
the stored statement snapshot alone (never recomputed; see the snapshot's fields in
docs/formats.md), in the language of the user who asks for them (``locale``: labels,
dates and money as ``localefmt`` writes them; the snapshot itself is language-neutral
data, so the same statement re-opened by a Spanish user reads in Spanish).  Times are
shown in the snapshot's zone; the xlsx has money as numbers in the currency's format.

The PDF is drawn with ReportLab's canvas (Debian bookworm ships it as python3-reportlab)
in its built-in Helvetica, which needs no font file but covers only the Windows-1252
letters.  A Chinese statement, or one whose text (a guest's name) has other letters, is
drawn in Debian's fonts-wqy-microhei, embedded as a subset; on a box without that file,
in ReportLab's built-in CID font STSong-Light (not embedded: the PDF reader supplies it)."""

from __future__ import annotations

import datetime as dt
import functools
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

from billing_addon import i18n, localefmt
from billing_addon.cells import XLSX_TIME_FORMAT, money_number, xlsx_money_format
from billing_addon.i18n import N_, _, ngettext

KIND_LABELS = {"recharge": N_("Recharge"), "adjust": N_("Adjustment"), "payment": N_("Payment"),
               "deposit": N_("Deposit")}
# the notes check-in and check-out write with a deposit and a payment (stays.py): stored in
# English, shown in the reader's language; every other note is what a user typed, as typed
DEPOSIT_NOTE = N_("deposit: {guest}")
PAYMENT_NOTE = N_("paid at check-out: {guest}")
_STAY_NOTES = {"recharge": DEPOSIT_NOTE, "payment": PAYMENT_NOTE}
# TrueType CJK fonts (ReportLab cannot embed the CFF outlines of Noto CJK), the first found
CJK_FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
                  Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"))
CJK_FALLBACK = "STSong-Light"

# A4 in points, margins, and the rows of a table
PAGE_W, PAGE_H = 595.28, 841.89
MARGIN = 50.0
LINE = 13.0
FONT, BOLD, SIZE = "Helvetica", "Helvetica-Bold", 9
CALL_COLUMNS = ((N_("Time"), 0, "l"), (N_("Number"), 110, "l"), (N_("Duration"), 330, "r"),
                (N_("Cost"), 495.28 - MARGIN, "r"))
ENTRY_COLUMNS = ((N_("Time"), 0, "l"), (N_("Kind"), 110, "l"), (N_("Note"), 185, "l"),
                 (N_("Amount"), 495.28 - MARGIN, "r"))


# The snapshot's shape (see the statement's contract): field -> type, or the shape of
# each item of a list / of a nested dict.
_SHAPE: Dict[str, Any] = {
    "number": str, "issued_utc": int, "zone": str, "zone_label": str, "currency": str,
    "hotel": {"name": str, "address": str}, "extension": {"number": str, "name": str},
    "guest": str, "period": {"from_utc": int, "to_utc": int},
    "opening_balance": int, "closing_balance": int,
    "calls": [{"started_utc": int, "dialed": str, "answered_s": int, "cost": int,
               "status": str}],
    "entries": [{"at_utc": int, "kind": str, "amount": int, "note": str}],
    "totals": {"calls": int, "call_cost": int, "recharges": int, "adjustments": int,
               "payments": int},
    "in_progress": int,
}


class SnapshotError(ValueError):
    """A statement snapshot that is not of the statement's shape; the message says where."""


def check_snapshot(snap: Any) -> None:
    """Raise ``SnapshotError`` naming the first field that is missing or of a wrong type
    (money and times must be ints, never floats), or an unknown zone."""
    _check(snap, _SHAPE, "snapshot")
    try:
        ZoneInfo(snap["zone"])
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise SnapshotError(f"statement snapshot: unknown time zone {snap['zone']!r}") from None


def _check(value: Any, shape: Any, where: str) -> None:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise SnapshotError(f"statement snapshot: {where} is not an object")
        for key, inner in shape.items():
            if key not in value:
                raise SnapshotError(f"statement snapshot: {where}.{key} is missing")
            _check(value[key], inner, f"{where}.{key}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise SnapshotError(f"statement snapshot: {where} is not a list")
        for i, item in enumerate(value):
            _check(item, shape[0], f"{where}[{i}]")
    elif not isinstance(value, shape) or isinstance(value, bool):
        raise SnapshotError(f"statement snapshot: {where} is not {shape.__name__}: {value!r}"[:200])


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind.capitalize()


def entry_note(entry: Dict[str, Any]) -> str:
    note, written = entry["note"], _STAY_NOTES.get(entry["kind"], "")
    prefix = written.split("{")[0]
    if written and note.startswith(prefix):
        return _(written).format(guest=note[len(prefix):])
    return note


def duration(seconds: int) -> str:
    """Seconds as h:mm:ss (0:01:05)."""
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _local(ts: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone).replace(tzinfo=None)


def _when(ts: int, zone: ZoneInfo) -> str:
    return localefmt.datetime(localefmt.from_epoch(ts), zone)


def _summary(snap: Dict[str, Any]) -> List[Tuple[str, str]]:
    zone = ZoneInfo(snap["zone"])
    period = snap["period"]
    return [
        (_("Statement"), snap["number"]),
        (_("Issued"), f"{_when(snap['issued_utc'], zone)} ({snap['zone_label']})"),
        (_("Guest"), snap["guest"]),
        (_("Extension"), f"{snap['extension']['number']} {snap['extension']['name']}".strip()),
        (_("Period"), _("{start} to {end}").format(start=_when(period["from_utc"], zone),
                                                    end=_when(period["to_utc"], zone))),
    ]


def _totals(snap: Dict[str, Any]) -> List[Tuple[str, int, bool]]:
    """(label, money, bold) of the totals block, opening to closing balance."""
    t = snap["totals"]
    return [(_("Opening balance"), snap["opening_balance"], False),
            (_("Recharges"), t["recharges"], False), (_("Adjustments"), t["adjustments"], False),
            (_("Payments"), t["payments"], False), (_("Call cost"), -t["call_cost"], False),
            (_("Closing balance"), snap["closing_balance"], True)]


def in_progress_notice(count: int) -> str:
    return ngettext("{count} call still in progress: not on this statement; they are charged "
                    "when they end.", "{count} calls still in progress: not on this statement; "
                    "they are charged when they end.", count).format(count=count)


# ---------------------------------------------------------------------------- PDF

class _Pages:
    """The PDF laid out first as pages of drawing steps, so that every page's footer can
    say "page N of M"; ``header`` is the table header repeated on each new page."""

    def __init__(self) -> None:
        self.pages: List[List[tuple]] = []
        self.header: Sequence[tuple] = ()
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        self.pages.append([])
        self.y = PAGE_H - MARGIN
        if self.header:
            self._header_row()

    def _header_row(self) -> None:
        self.y -= LINE
        for title, x, align in self.header:
            self.pages[-1].append((BOLD, align, MARGIN + x, self.y, _(title)))
        self.pages[-1].append(("rule", self.y - 3))

    def room(self, lines: float) -> None:
        if self.y - lines * LINE < MARGIN + 2 * LINE:
            self._new_page()

    def text(self, x: float, text: str, font: str = FONT, align: str = "l",
             size: int = SIZE) -> None:
        self.pages[-1].append((font, align, MARGIN + x, self.y, text, size))

    def line(self, count: float = 1) -> None:
        self.room(count)
        self.y -= count * LINE

    def table(self, columns: Sequence[tuple]) -> None:
        self.header = columns
        self.room(2)
        self._header_row()

    def row(self, cells: Sequence[str]) -> None:
        self.line()
        self.pages[-1].append(("row", self.header, self.y, cells))

    def end_table(self) -> None:
        self.header = ()


_CHAR_WIDTHS: Dict[Tuple[str, str], float] = {}


def _width(text: str, font: str, size: float) -> float:
    """``stringWidth`` from a cache of each letter's width: ReportLab's own, measured per
    call, was a third of the time of a 10,000-call PDF."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    total = 0.0
    for ch in text:
        w = _CHAR_WIDTHS.get((font, ch))
        if w is None:
            w = _CHAR_WIDTHS[(font, ch)] = stringWidth(ch, font, 1000)
        total += w
    return total * size / 1000


def _fit(text: str, width: float, font: str, size: int) -> str:
    """``text`` in the fonts' letters (Helvetica's Windows-1252: others become "?"), cut
    to ``width``."""
    if font in (FONT, BOLD):
        text = text.encode("cp1252", "replace").decode("cp1252")
    if len(text) * size <= width or _width(text, font, size) <= width:
        return text
    while text and _width(text + "\u2026", font, size) > width:
        text = text[:-1]
    return text + "\u2026"


@functools.lru_cache(maxsize=4)
def cjk_font(files: Tuple[Path, ...] = CJK_FONT_FILES) -> str:
    """The name of the CJK font, registered with ReportLab once: the first of ``files``
    found (embedded as a subset), else the built-in CID font ``CJK_FALLBACK``."""
    from reportlab.pdfbase import pdfmetrics

    for path in files:
        if path.is_file():
            from reportlab.pdfbase.ttfonts import TTFont

            name = "CJK-" + path.stem
            # a .ttc holds several faces: the first is the regular one
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
            return name
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FALLBACK))
    return CJK_FALLBACK


def _needs_cjk(snap: Dict[str, Any]) -> bool:
    """Chinese, or any text of the statement that Helvetica cannot print."""
    texts = [snap["hotel"]["name"], snap["hotel"]["address"], snap["guest"],
             snap["extension"]["name"], *(entry_note(e) for e in snap["entries"])]
    try:
        "".join(texts).encode("cp1252")
    except UnicodeEncodeError:
        return True
    return i18n.current() == "zh_CN"


def to_pdf(snap: Dict[str, Any], locale: Optional[str] = None) -> bytes:
    """The statement as an A4 PDF in ``locale`` (default: the current one;
    ``SnapshotError`` for a snapshot of another shape)."""
    check_snapshot(snap)
    with i18n.using(locale or i18n.current()):
        return _pdf(snap)


def _pdf(snap: Dict[str, Any]) -> bytes:
    from reportlab import rl_config
    from reportlab.pdfgen import canvas

    rl_config.useA85 = 0  # binary compressed streams: ASCII85 text cost a fifth of the time

    cur = snap["currency"]
    zone = ZoneInfo(snap["zone"])
    width = PAGE_W - 2 * MARGIN
    cjk = cjk_font() if _needs_cjk(snap) else ""
    faces = {FONT: cjk or FONT, BOLD: cjk or BOLD}
    p = _Pages()
    p.line(1.2)
    p.text(0, _fit(snap["hotel"]["name"], width, faces[BOLD], 14), BOLD, size=14)
    for part in snap["hotel"]["address"].splitlines() or [""]:
        p.line()
        p.text(0, _fit(part, width, faces[FONT], SIZE))
    p.line(1.5)
    for label, value in _summary(snap):
        p.line()
        p.text(0, label, BOLD)
        p.text(80, _fit(value, width - 80, faces[FONT], SIZE))
    p.line()
    p.text(0, _("Opening balance"), BOLD)
    p.text(80, localefmt.amount(snap["opening_balance"], cur))
    if snap["in_progress"] > 0:
        p.line(1.5)
        p.text(0, _fit(in_progress_notice(snap["in_progress"]), width, faces[BOLD], SIZE), BOLD)

    p.line(2)
    p.text(0, _("Calls ({count})").format(count=localefmt.number(len(snap["calls"]))), BOLD,
           size=11)
    p.line(0.5)
    p.table(CALL_COLUMNS)
    number_w = CALL_COLUMNS[2][1] - CALL_COLUMNS[1][1] - 60
    for call in snap["calls"]:
        p.row((_when(call["started_utc"], zone),
               _fit(call["dialed"], number_w, faces[FONT], SIZE), duration(call["answered_s"]),
               localefmt.amount(call["cost"], cur)))
    p.end_table()

    p.line(2)
    p.text(0, _("Recharges, adjustments and payments"), BOLD, size=11)
    p.line(0.5)
    p.table(ENTRY_COLUMNS)
    note_w = ENTRY_COLUMNS[3][1] - ENTRY_COLUMNS[2][1] - 80
    for entry in snap["entries"]:
        p.row((_when(entry["at_utc"], zone), kind_label(entry["kind"]),
               _fit(entry_note(entry), note_w, faces[FONT], SIZE),
               localefmt.amount(entry["amount"], cur)))
    if not snap["entries"]:
        p.row((_("none"),))
    p.end_table()

    p.line(2)
    p.room(9)  # the totals stay together
    p.text(0, _("Totals"), BOLD, size=11)
    p.line()
    p.text(0, _("Calls"))
    p.text(width, localefmt.number(snap["totals"]["calls"]), align="r")
    for label, amount, bold in _totals(snap):
        p.line()
        font = BOLD if bold else FONT
        p.text(0, label, font)
        p.text(width, localefmt.amount(amount, cur), font, align="r")

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    title = _("Statement {number}").format(number=snap["number"])
    c.setTitle(title)
    total = len(p.pages)
    for number, steps in enumerate(p.pages, 1):
        _draw_page(c, steps, title, _("Page {number} of {total}").format(number=number, total=total),
                   faces)
        c.showPage()
    c.save()
    return out.getvalue()


def _draw_page(c, steps: List[tuple], foot_left: str, foot_right: str,
               faces: Dict[str, str]) -> None:
    """One page: one text object, the font set only when it changes, and each run of
    table rows drawn a column at a time, its left-aligned columns as lines of one block
    (``textLine``: no position or width per cell).  Cell by cell with ``drawString``
    10,000 calls took three times as long."""
    t = c.beginText()
    t.setLeading(LINE)
    current: List[Any] = [None]

    def font(name: str, size: int) -> None:
        name = faces.get(name, name)  # Helvetica's names stand for the CJK font's
        if current[0] != (name, size):
            t.setFont(name, size, LINE)
            current[0] = (name, size)

    def put(name: str, size: int, align: str, x: float, y: float, text: str) -> None:
        font(name, size)
        face = faces.get(name, name)
        t.setTextOrigin(x - _width(text, face, size) if align == "r" else x, y)
        t.textOut(text)

    run: List[tuple] = []

    def flush() -> None:
        if not run:
            return
        font(FONT, SIZE)
        columns, top = run[0][1], run[0][2]
        for i, (_title, x, align) in enumerate(columns):
            cells = [r[3][i] if i < len(r[3]) else "" for r in run]
            if align == "r":
                for k, cell in enumerate(cells):
                    if cell:
                        put(FONT, SIZE, "r", MARGIN + x, top - k * LINE, cell)
            else:
                t.setTextOrigin(MARGIN + x, top)
                for cell in cells:
                    t.textLine(cell)
        run.clear()

    for step in steps:
        if step[0] == "row":
            if run and (step[1] is not run[-1][1] or step[2] != run[-1][2] - LINE):
                flush()
            run.append(step)
            continue
        flush()
        if step[0] == "rule":
            c.setLineWidth(0.5)
            c.line(MARGIN, step[1], PAGE_W - MARGIN, step[1])
        else:
            name, align, x, y, text = step[:5]
            put(name, step[5] if len(step) > 5 else SIZE, align, x, y, text)
    flush()
    put(FONT, 8, "l", MARGIN, MARGIN - 20, _fit(foot_left, 300, faces[FONT], 8))
    put(FONT, 8, "r", PAGE_W - MARGIN, MARGIN - 20, foot_right)
    c.drawText(t)


# --------------------------------------------------------------------------- xlsx

def to_xlsx(snap: Dict[str, Any], locale: Optional[str] = None) -> bytes:
    """The statement as an .xlsx in ``locale`` (default: the current one): a Summary
    sheet (the statement, its totals, the in-progress notice), then Calls and Entries,
    each a table with a frozen header (``SnapshotError`` for a snapshot of another shape)."""
    check_snapshot(snap)
    with i18n.using(locale or i18n.current()):
        return _xlsx(snap)


def _xlsx(snap: Dict[str, Any]) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    bold = book.add_format({"bold": True})
    head = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
    cash = book.add_format({"num_format": xlsx_money_format(snap["currency"])})
    cash_bold = book.add_format({"num_format": xlsx_money_format(snap["currency"]), "bold": True})
    when = book.add_format({"num_format": XLSX_TIME_FORMAT})
    zone = ZoneInfo(snap["zone"])
    zone_name = snap["zone"]

    ws = book.add_worksheet(_("Summary"))
    ws.set_column(0, 0, 20)
    ws.set_column(1, 1, 44)
    row = 0
    ws.write_string(row, 0, snap["hotel"]["name"], bold)
    for part in snap["hotel"]["address"].splitlines():
        row += 1
        ws.write_string(row, 0, part)
    row += 1
    for label, value in _summary(snap):
        row += 1
        ws.write_string(row, 0, label, bold)
        ws.write_string(row, 1, value)
    row += 1
    ws.write_string(row, 0, _("Currency"), bold)
    ws.write_string(row, 1, snap["currency"])
    row += 1
    ws.write_string(row, 0, _("Calls"), bold)
    ws.write_number(row, 1, snap["totals"]["calls"])
    for label, amount, strong in _totals(snap):
        row += 1
        ws.write_string(row, 0, label, bold)
        ws.write_number(row, 1, money_number(amount), cash_bold if strong else cash)
    row += 1
    ws.write_string(row, 0, _("Calls in progress"), bold)
    ws.write_number(row, 1, snap["in_progress"])
    if snap["in_progress"] > 0:
        row += 1
        ws.write_string(row, 0, in_progress_notice(snap["in_progress"]), bold)

    time_title = _("Time ({zone})").format(zone=zone_name)
    ws = _table(book, _("Calls"), head, (time_title, 20), (_("Number"), 22),
                (_("Duration (s)"), 12), (_("Cost"), 14), (_("Status"), 12))
    for r, call in enumerate(snap["calls"], 1):
        ws.write_datetime(r, 0, _local(call["started_utc"], zone), when)
        ws.write_string(r, 1, call["dialed"])
        ws.write_number(r, 2, call["answered_s"])
        ws.write_number(r, 3, money_number(call["cost"]), cash)
        ws.write_string(r, 4, call["status"])
    if snap["calls"]:
        ws.autofilter(0, 0, len(snap["calls"]), 4)

    ws = _table(book, _("Entries"), head, (time_title, 20), (_("Kind"), 14),
                (_("Amount"), 14), (_("Note"), 40))
    for r, entry in enumerate(snap["entries"], 1):
        ws.write_datetime(r, 0, _local(entry["at_utc"], zone), when)
        ws.write_string(r, 1, kind_label(entry["kind"]))
        ws.write_number(r, 2, money_number(entry["amount"]), cash)
        ws.write_string(r, 3, entry_note(entry))
    book.close()
    return out.getvalue()


def _table(book, name: str, head, *columns: Tuple[str, int]):
    ws = book.add_worksheet(name)
    ws.freeze_panes(1, 0)
    for col, (title, width) in enumerate(columns):
        ws.set_column(col, col, width)
        ws.write_string(0, col, title, head)
    return ws
