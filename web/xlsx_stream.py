"""An .xlsx written as it is sent: the workbook's parts go into a zip that is handed out
a chunk at a time, so the first bytes leave before the second row is read.

A zip written to a stream that cannot seek puts each entry's sizes and CRC after its
data (a data descriptor, which ``zipfile`` does by itself); spreadsheet programs read
such files.  The rows go first, one sheet part each; the parts that must know how many
sheets there are (workbook, content types) come last, which a zip allows: readers go by
its central directory, written at the very end.

What the file holds is what the XlsxWriter export held: a bold header row, frozen, with
an autofilter; text as inline strings (never a formula); money cells as exact decimal
numbers in the currency's format; datetimes as dates; a sheet holds ``max_rows`` rows
with its header and the rows after go on "``sheet`` (2)" and so on, each with the
header.  A cell Excel would refuse raises ``XlsxError`` (the download then breaks off
instead of arriving without the cell)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import zipfile
from typing import Iterable, Iterator, List, Sequence, cast
from xml.sax.saxutils import escape

from billing_addon import money
from billing_addon.cells import XLSX_TIME_FORMAT, xlsx_money_format

XLSX_MAX_ROWS = 1_048_576  # rows of a sheet, its header included (Excel's limit)
MAX_COLUMNS = 16_384
MAX_TEXT = 32_767  # characters of a cell
ROWS_PER_CHUNK = 500  # rows between two hand-outs of what the zip has written
COMPRESS_LEVEL = 1  # the default (6): the export ~1.2x slower, the file 1.3x smaller

_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of a spreadsheet's date serial numbers
# XML 1.0 cannot hold these control characters; Excel writes them as _xHHHH_
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
# cell styles (cellXfs): 0 plain, 1 header, 2 money, 3 date and time
_HEADER, _MONEY, _TIME = 1, 2, 3


class XlsxError(RuntimeError):
    """A cell a spreadsheet would refuse (too long, too many columns, not a number)."""


class _Chunks:
    """What the zip writes, kept until handed out; it has no ``tell``, so ``zipfile``
    writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self.parts: List[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def column_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def date_serial(value: dt.datetime) -> str:
    """A naive datetime as a spreadsheet's date number (days since 1899-12-30).

    >>> date_serial(dt.datetime(2024, 1, 1, 12, 0))
    '45292.5'
    """
    delta = value - _EPOCH
    return repr(delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400)


def _text(value: str, where: str) -> str:
    """Text as XML, refused when longer than a cell holds (``where`` says which cell)."""
    if len(value) > MAX_TEXT:
        raise XlsxError(f"{where}: text of {len(value)} characters (a cell holds {MAX_TEXT})")
    return _escaped(value)


@functools.lru_cache(maxsize=8192)
def _escaped(value: str) -> str:
    """Text as XML; cached, since names, numbers, rates and statuses repeat."""
    value = escape(value)
    if _CONTROL.search(value):
        value = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    return value


def _sheet_start(headers: Sequence[str], widths: Sequence[int]) -> str:
    cols = "".join(f'<col min="{i + 1}" max="{i + 1}" width="{w + 0.7109375}" customWidth="1"/>'
                   for i, w in enumerate(widths))
    cells = "".join(f'<c r="{column_letters(i)}1" s="{_HEADER}" t="inlineStr"><is><t xml:space="preserve">'
                    f'{_text(str(h), "header")}</t></is></c>' for i, h in enumerate(headers))
    return (f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews>'
            '<sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
            'state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/>{"<cols>" + cols + "</cols>" if cols else ""}'
            f'<sheetData><row r="1">{cells}</row>')


def _sheet_end(columns: int, last_row: int) -> str:
    end = "</sheetData>"
    if last_row > 1:
        end += f'<autoFilter ref="A1:{column_letters(columns - 1)}{last_row}"/>'
    return end + "</worksheet>"


class _RowWriter:
    """Rows as sheet XML.  Each cell's type is looked at: a column may hold a number in
    one row and an empty text in the next (a call never answered)."""

    def __init__(self, columns: int, money_columns: Sequence[int]) -> None:
        if columns > MAX_COLUMNS:
            raise XlsxError(f"{columns} columns (a sheet holds {MAX_COLUMNS})")
        self.letters = [column_letters(i) for i in range(columns)]
        self.money = set(money_columns)

    def row(self, r: int, values: Sequence[object], sheet: str) -> str:
        if len(values) > len(self.letters):
            raise XlsxError(f"row {r} of sheet {sheet}: {len(values)} cells, the header has "
                            f"{len(self.letters)}")
        out = [f'<row r="{r}">']
        for col, value in enumerate(values):
            ref = f"{self.letters[col]}{r}"
            if col in self.money:
                number = money.to_decimal_string(cast(int, value))
                out.append(f'<c r="{ref}" s="{_MONEY}"><v>{number}</v></c>')
            elif isinstance(value, dt.datetime):
                out.append(f'<c r="{ref}" s="{_TIME}"><v>{date_serial(value)}</v></c>')
            elif isinstance(value, int) and not isinstance(value, bool):
                out.append(f'<c r="{ref}"><v>{value}</v></c>')
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise XlsxError(f"row {r}, column {col + 1} of sheet {sheet}: {value} is not a number")
                out.append(f'<c r="{ref}"><v>{value!r}</v></c>')
            else:
                text = str(value)
                # (the place is spelt out only for a text too long: not once per cell)
                text = _escaped(text) if len(text) <= MAX_TEXT else \
                    _text(text, f"row {r}, column {col + 1} of sheet {sheet}")
                if text:
                    out.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>')
        out.append("</row>")
        return "".join(out)


def sheet_name(sheet: str, number: int) -> str:
    """The name of the ``number``-th sheet (from 1): ``sheet``, then ``sheet (2)``..."""
    return sheet[:31] if number == 1 else f"{sheet[:24]} ({number})"


def xlsx_stream(sheet: str, headers: Sequence[str], rows: Iterable[Sequence[object]],
                money_columns: Sequence[int], widths: Sequence[int], currency: str, *,
                max_rows: int = XLSX_MAX_ROWS) -> Iterator[bytes]:
    """The .xlsx of ``rows``, as the bytes to send, a few hundred rows at a time."""
    out = _Chunks()
    book = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    writer = _RowWriter(len(headers), money_columns)
    start = _sheet_start(headers, widths).encode("utf-8")
    names = [sheet_name(sheet, 1)]
    last_rows: List[int] = []
    part = book.open("xl/worksheets/sheet1.xml", "w")
    part.write(start)
    yield out.take()
    r = 1
    batch: List[str] = []
    for values in rows:
        if r == max_rows:  # this sheet is full
            part.write("".join(batch).encode("utf-8"))
            batch.clear()
            part.write(_sheet_end(len(headers), r).encode("utf-8"))
            part.close()
            last_rows.append(r)
            names.append(sheet_name(sheet, len(names) + 1))
            part = book.open(f"xl/worksheets/sheet{len(names)}.xml", "w")
            part.write(start)
            r = 1
        r += 1
        batch.append(writer.row(r, values, names[-1]))
        if len(batch) == ROWS_PER_CHUNK:
            part.write("".join(batch).encode("utf-8"))
            batch.clear()
            chunk = out.take()
            if chunk:
                yield chunk
    part.write(("".join(batch) + _sheet_end(len(headers), r)).encode("utf-8"))
    part.close()
    last_rows.append(r)
    for name, text in _book_parts(names, last_rows, len(headers), currency):
        book.writestr(name, text)
    book.close()
    yield out.take()


def _book_parts(names: Sequence[str], last_rows: Sequence[int], columns: int,
                currency: str) -> List[tuple]:
    sheets = "".join(f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                     for i, n in enumerate(names))
    last = column_letters(columns - 1)
    # the autofilter's range, which Excel and LibreOffice take from here
    filters = "".join(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                      f"'{escape(n.replace(chr(39), chr(39) * 2))}'!$A$1:${last}${rows}</definedName>"
                      for i, (n, rows) in enumerate(zip(names, last_rows)) if rows > 1)
    defined = f"<definedNames>{filters}</definedNames>" if filters else ""
    workbook = (f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/>'
                f"</bookViews><sheets>{sheets}</sheets>{defined}"
                "</workbook>")
    rels = "".join(f'<Relationship Id="rId{i + 1}" Type="{_REL}/worksheet" '
                   f'Target="worksheets/sheet{i + 1}.xml"/>' for i in range(len(names)))
    n = len(names)
    workbook_rels = (f'{_HEAD}<Relationships xmlns="{_PKG_REL}">{rels}<Relationship Id="rId{n + 1}" '
                     f'Type="{_REL}/styles" Target="styles.xml"/></Relationships>')
    sheet_types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(n))
    content_types = (
        f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        f'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{sheet_types}</Types>')
    package_rels = (f'{_HEAD}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
                    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    return [("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", workbook_rels),
            ("xl/styles.xml", _styles(currency)), ("[Content_Types].xml", content_types),
            ("_rels/.rels", package_rels)]


def _styles(currency: str) -> str:
    money_format = escape(xlsx_money_format(currency), {'"': "&quot;"})
    return (
        f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
        f'<numFmts count="2"><numFmt numFmtId="164" formatCode="{money_format}"/>'
        f'<numFmt numFmtId="165" formatCode="{XLSX_TIME_FORMAT}"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill>'
        '<fill><patternFill patternType="solid"><fgColor rgb="FFE8EEF4"/><bgColor indexed="64"/>'
        "</patternFill></fill></fills>"
        '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>'
        '<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom>'
        "<diagonal/></border></borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" '
        'applyBorder="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>")
