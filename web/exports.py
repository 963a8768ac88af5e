"""Downloads: the Recharge History and the Call Log as .xlsx or CSV (``export``), and the
pieces under it: the CSV stream (UTF-8 with BOM, formula guard on text cells), the .xlsx
writer (constant memory, money cells as numbers), its scratch folder, and the
``Content-Disposition`` of any download."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import bottle

from billing_addon import money, settings, store
from billing_addon.cells import spreadsheet_safe


def export(kind: str, stem: str, sheet: str, headers: Sequence[str], rows: Iterable[tuple],
           money_columns: Sequence[int], text_columns: Sequence[int], widths: Sequence[int]):
    """The response body of a download of ``rows``: a CSV stream (``kind`` "csv") or an
    open .xlsx file, named ``stem`` and the time."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if kind == "csv":
        attachment(f"{stem}-{stamp}.csv", "text/csv; charset=utf-8")
        return csv_stream(headers, rows, money_columns, text_columns)
    attachment(f"{stem}-{stamp}.xlsx",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    handle = write_xlsx(export_dir(), sheet, headers, rows, money_columns, widths,
                        settings.get("currency"))
    bottle.response.content_length = os.fstat(handle.fileno()).st_size
    return handle


def attachment(filename: str, content_type: str) -> None:
    bottle.response.content_type = content_type
    bottle.response.set_header("Content-Disposition", f'attachment; filename="{filename}"')


def local_text(ts: int, zone) -> str:
    return dt.datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M:%S")


def export_dir() -> str:
    """Scratch folder for xlsx files being built: next to the database (flash), not /tmp
    (often RAM on the box)."""
    base = Path(store.database_path()).parent if store.db.database else Path(tempfile.gettempdir())
    path = base / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def csv_stream(headers: Sequence[str], rows: Iterable[tuple], money_columns: Sequence[int],
               text_columns: Sequence[int]) -> Iterator[bytes]:
    """CSV as UTF-8 (with BOM for Excel), produced a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers)
    count = 0
    for row in rows:
        cells = list(row)
        for i in money_columns:
            cells[i] = money.to_decimal_string(cells[i])
        for i in text_columns:
            cells[i] = spreadsheet_safe(cells[i])
        writer.writerow(cells)
        count += 1
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def units_to_decimal(units: int) -> Decimal:
    return Decimal(units).scaleb(-money.SCALE)


def write_xlsx(folder: str, sheet: str, headers: Sequence[str], rows: Iterable[tuple],
               money_columns: Sequence[int], widths: Sequence[int], currency: str):
    """Write rows into an .xlsx (XlsxWriter, constant_memory: one row in memory at a
    time) and return it open for reading; the file is already unlinked."""
    import xlsxwriter

    fd, path = tempfile.mkstemp(suffix=".xlsx", dir=folder)
    os.close(fd)
    try:
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": folder})
        ws = book.add_worksheet(sheet[:31])
        bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
        symbol = money.currency_symbol(currency).replace('"', "")
        money_fmt = book.add_format({"num_format": f'"{symbol}"#,##0.00##;-"{symbol}"#,##0.00##'})
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        ws.freeze_panes(1, 0)
        for col, name in enumerate(headers):
            ws.write_string(0, col, name, bold)
        money_set = set(money_columns)
        r = 0
        for r, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if col in money_set:
                    ws.write_number(r, col, units_to_decimal(value), money_fmt)
                elif isinstance(value, int) and not isinstance(value, bool):
                    ws.write_number(r, col, value)
                else:
                    ws.write_string(r, col, str(value))
        if r:
            ws.autofilter(0, 0, r, len(headers) - 1)
        book.close()
        handle = open(path, "rb")
    finally:
        os.unlink(path)
    return handle
