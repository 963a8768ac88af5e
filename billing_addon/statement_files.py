"""The downloadable files of a statement: ``to_pdf`` (A4) and ``to_xlsx``, both made from
the stored statement snapshot alone (never recomputed; see the snapshot's fields in
docs/formats.md).  Times are shown in the snapshot's zone, money with
``money.format_amount`` (PDF) or as numbers in the currency's format (xlsx).

The PDF is drawn with ReportLab's canvas (Debian bookworm ships it as python3-reportlab)
in its built-in Helvetica, which needs no font file but covers only the Windows-1252
letters: any other character prints as "?".  Chinese will need a CJK TrueType font
embedded (e.g. Debian's fonts-wqy-microhei, registered with ``pdfmetrics.registerFont``)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any, Dict, List, Sequence, Tuple
from zoneinfo import ZoneInfo

from billing_addon import money
from billing_addon.cells import XLSX_TIME_FORMAT, money_number, xlsx_money_format

KIND_LABELS = {"recharge": "Recharge", "adjust": "Adjustment", "payment": "Payment",
               "deposit": "Deposit"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# A4 in points, margins, and the rows of a table
PAGE_W, PAGE_H = 595.28, 841.89
MARGIN = 50.0
LINE = 13.0
FONT, BOLD, SIZE = "Helvetica", "Helvetica-Bold", 9
CALL_COLUMNS = (("Time", 0, "l"), ("Number", 110, "l"), ("Duration", 330, "r"),
                ("Cost", 495.28 - MARGIN, "r"))
ENTRY_COLUMNS = (("Time", 0, "l"), ("Kind", 110, "l"), ("Note", 185, "l"),
                 ("Amount", 495.28 - MARGIN, "r"))


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
    return KIND_LABELS.get(kind, kind.capitalize())


def duration(seconds: int) -> str:
    """Seconds as h:mm:ss (0:01:05)."""
    minutes, secs = divmod(max(0, seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _local(ts: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, zone).replace(tzinfo=None)


def _summary(snap: Dict[str, Any]) -> List[Tuple[str, str]]:
    zone = ZoneInfo(snap["zone"])
    period = snap["period"]
    return [
        ("Statement", snap["number"]),
        ("Issued", f"{_local(snap['issued_utc'], zone):{TIME_FORMAT}} ({snap['zone_label']})"),
        ("Guest", snap["guest"]),
        ("Extension", f"{snap['extension']['number']} {snap['extension']['name']}".strip()),
        ("Period", f"{_local(period['from_utc'], zone):{TIME_FORMAT}} to "
                   f"{_local(period['to_utc'], zone):{TIME_FORMAT}}"),
    ]


def _totals(snap: Dict[str, Any]) -> List[Tuple[str, int]]:
    """(label, money) of the totals block, opening to closing balance."""
    t = snap["totals"]
    return [("Opening balance", snap["opening_balance"]), ("Recharges", t["recharges"]),
            ("Adjustments", t["adjustments"]), ("Payments", t["payments"]),
            ("Call cost", -t["call_cost"]), ("Closing balance", snap["closing_balance"])]


def in_progress_notice(count: int) -> str:
    return (f"{count} call{'s' if count != 1 else ''} still in progress: not on this "
            "statement; they are charged when they end.")


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
            self.pages[-1].append((BOLD, align, MARGIN + x, self.y, title))
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
    """``text`` in the fonts' letters (Windows-1252: others become "?"), cut to ``width``."""
    text = text.encode("cp1252", "replace").decode("cp1252")
    if len(text) * size <= width or _width(text, font, size) <= width:
        return text
    while text and _width(text + "\u2026", font, size) > width:
        text = text[:-1]
    return text + "\u2026"


def to_pdf(snap: Dict[str, Any]) -> bytes:
    """The statement as an A4 PDF (``SnapshotError`` for a snapshot of another shape)."""
    check_snapshot(snap)
    from reportlab import rl_config
    from reportlab.pdfgen import canvas

    rl_config.useA85 = 0  # binary compressed streams: ASCII85 text cost a fifth of the time

    cur = snap["currency"]
    zone = ZoneInfo(snap["zone"])
    width = PAGE_W - 2 * MARGIN
    p = _Pages()
    p.line(1.2)
    p.text(0, _fit(snap["hotel"]["name"], width, BOLD, 14), BOLD, size=14)
    for part in snap["hotel"]["address"].splitlines() or [""]:
        p.line()
        p.text(0, _fit(part, width, FONT, SIZE))
    p.line(1.5)
    for label, value in _summary(snap):
        p.line()
        p.text(0, label, BOLD)
        p.text(80, _fit(value, width - 80, FONT, SIZE))
    p.line()
    p.text(0, "Opening balance", BOLD)
    p.text(80, money.format_amount(snap["opening_balance"], cur))
    if snap["in_progress"] > 0:
        p.line(1.5)
        p.text(0, _fit(in_progress_notice(snap["in_progress"]), width, BOLD, SIZE), BOLD)

    p.line(2)
    p.text(0, f"Calls ({len(snap['calls'])})", BOLD, size=11)
    p.line(0.5)
    p.table(CALL_COLUMNS)
    number_w = CALL_COLUMNS[2][1] - CALL_COLUMNS[1][1] - 60
    for call in snap["calls"]:
        p.row((f"{_local(call['started_utc'], zone):{TIME_FORMAT}}",
               _fit(call["dialed"], number_w, FONT, SIZE), duration(call["answered_s"]),
               money.format_amount(call["cost"], cur)))
    p.end_table()

    p.line(2)
    p.text(0, "Recharges, adjustments and payments", BOLD, size=11)
    p.line(0.5)
    p.table(ENTRY_COLUMNS)
    note_w = ENTRY_COLUMNS[3][1] - ENTRY_COLUMNS[2][1] - 80
    for entry in snap["entries"]:
        p.row((f"{_local(entry['at_utc'], zone):{TIME_FORMAT}}", kind_label(entry["kind"]),
               _fit(entry["note"], note_w, FONT, SIZE), money.format_amount(entry["amount"], cur)))
    if not snap["entries"]:
        p.row(("none",))
    p.end_table()

    p.line(2)
    p.room(9)  # the totals stay together
    p.text(0, "Totals", BOLD, size=11)
    p.line()
    p.text(0, "Calls")
    p.text(width, str(snap["totals"]["calls"]), align="r")
    for label, amount in _totals(snap):
        p.line()
        font = BOLD if label == "Closing balance" else FONT
        p.text(0, label, font)
        p.text(width, money.format_amount(amount, cur), font, align="r")

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    c.setTitle(f"Statement {snap['number']}")
    total = len(p.pages)
    for number, steps in enumerate(p.pages, 1):
        _draw_page(c, steps, f"Statement {snap['number']}", f"Page {number} of {total}")
        c.showPage()
    c.save()
    return out.getvalue()


def _draw_page(c, steps: List[tuple], foot_left: str, foot_right: str) -> None:
    """One page: one text object, the font set only when it changes, and each run of
    table rows drawn a column at a time, its left-aligned columns as lines of one block
    (``textLine``: no position or width per cell).  Cell by cell with ``drawString``
    10,000 calls took three times as long."""
    t = c.beginText()
    t.setLeading(LINE)
    current: List[Any] = [None]

    def font(name: str, size: int) -> None:
        if current[0] != (name, size):
            t.setFont(name, size, LINE)
            current[0] = (name, size)

    def put(name: str, size: int, align: str, x: float, y: float, text: str) -> None:
        font(name, size)
        t.setTextOrigin(x - _width(text, name, size) if align == "r" else x, y)
        t.textOut(text)

    run: List[tuple] = []

    def flush() -> None:
        if not run:
            return
        font(FONT, SIZE)
        columns, top = run[0][1], run[0][2]
        for i, (_, x, align) in enumerate(columns):
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
    put(FONT, 8, "l", MARGIN, MARGIN - 20, _fit(foot_left, 300, FONT, 8))
    put(FONT, 8, "r", PAGE_W - MARGIN, MARGIN - 20, foot_right)
    c.drawText(t)


# --------------------------------------------------------------------------- xlsx

def to_xlsx(snap: Dict[str, Any]) -> bytes:
    """The statement as an .xlsx: a Summary sheet (the statement, its totals, the
    in-progress notice), then Calls and Entries, each a table with a frozen header
    (``SnapshotError`` for a snapshot of another shape)."""
    check_snapshot(snap)
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

    ws = book.add_worksheet("Summary")
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
    ws.write_string(row, 0, "Currency", bold)
    ws.write_string(row, 1, snap["currency"])
    row += 1
    ws.write_string(row, 0, "Calls", bold)
    ws.write_number(row, 1, snap["totals"]["calls"])
    for label, amount in _totals(snap):
        row += 1
        ws.write_string(row, 0, label, bold)
        ws.write_number(row, 1, money_number(amount),
                        cash_bold if label == "Closing balance" else cash)
    row += 1
    ws.write_string(row, 0, "Calls in progress", bold)
    ws.write_number(row, 1, snap["in_progress"])
    if snap["in_progress"] > 0:
        row += 1
        ws.write_string(row, 0, in_progress_notice(snap["in_progress"]), bold)

    ws = _table(book, "Calls", head, (f"Time ({zone_name})", 20), ("Number", 22),
                ("Duration (s)", 12), ("Cost", 14), ("Status", 12))
    for r, call in enumerate(snap["calls"], 1):
        ws.write_datetime(r, 0, _local(call["started_utc"], zone), when)
        ws.write_string(r, 1, call["dialed"])
        ws.write_number(r, 2, call["answered_s"])
        ws.write_number(r, 3, money_number(call["cost"]), cash)
        ws.write_string(r, 4, call["status"])
    if snap["calls"]:
        ws.autofilter(0, 0, len(snap["calls"]), 4)

    ws = _table(book, "Entries", head, (f"Time ({zone_name})", 20), ("Kind", 14),
                ("Amount", 14), ("Note", 40))
    for r, entry in enumerate(snap["entries"], 1):
        ws.write_datetime(r, 0, _local(entry["at_utc"], zone), when)
        ws.write_string(r, 1, kind_label(entry["kind"]))
        ws.write_number(r, 2, money_number(entry["amount"]), cash)
        ws.write_string(r, 3, entry["note"])
    book.close()
    return out.getvalue()


def _table(book, name: str, head, *columns: Tuple[str, int]):
    ws = book.add_worksheet(name)
    ws.freeze_panes(1, 0)
    for col, (title, width) in enumerate(columns):
        ws.set_column(col, col, width)
        ws.write_string(0, col, title, head)
    return ws
