"""Downloads: the Recharge History and the Call Log as .xlsx or CSV (``export``), both
streamed from the first row: the CSV stream (UTF-8 with BOM, text cells kept as typed),
the .xlsx written as it is sent (``xlsx_stream``: money cells as numbers, times as
dates, a new sheet when one is full), and the ``Content-Disposition`` of any download.

Times are the box's local time, naive (what a spreadsheet shows), and every time
column's header names the zone, e.g. ``Start Time (Europe/Berlin)``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from typing import Any, Iterable, Iterator, List, Sequence

import bottle

from billing_addon import i18n, money, settings
from billing_addon.cells import spreadsheet_safe

from .core import WebCore
from .xlsx_stream import XLSX_MAX_ROWS, XlsxError, xlsx_stream

__all__ = ["XLSX_MAX_ROWS", "XlsxError", "export", "attachment", "local_time", "time_header",
           "csv_stream"]

log = logging.getLogger(__name__)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export(ui: WebCore, kind: str, stem: str, sheet: str, headers: Sequence[str],
           rows: Iterable[tuple], money_columns: Sequence[int], text_columns: Sequence[int],
           widths: Sequence[int]):
    """A download of ``rows``, named ``stem`` and the time, sent as it is written: CSV
    (``kind`` "csv") or .xlsx."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    locale = i18n.current()
    if kind == "csv":
        attachment(f"{stem}-{stamp}.csv", "text/csv; charset=utf-8")
        return _in_locale(csv_stream(headers, rows, money_columns, text_columns), locale)
    attachment(f"{stem}-{stamp}.xlsx", XLSX_TYPE)
    return _in_locale(_logged(xlsx_stream(sheet, headers, rows, money_columns, widths,
                                          settings.get("currency")), f"{stem}.xlsx"), locale)


def _in_locale(chunks: Iterator[Any], locale: str) -> Iterator[Any]:
    """``chunks`` made in ``locale``: the server sends them after the handler returned,
    when the request's language is no longer set (a row's note, say, is translated as it
    is read)."""
    while True:
        with i18n.using(locale):
            try:
                chunk = next(chunks)
            except StopIteration:
                return
        yield chunk


def _logged(chunks: Iterator[bytes], what: str) -> Iterator[bytes]:
    """``chunks``, with a failure logged: the answer has started, so the download can
    only break off (the browser reports it failed; the file never arrives short)."""
    try:
        yield from chunks
    except Exception:
        log.exception("export %s broke off", what)
        raise


def attachment(filename: str, content_type: str) -> None:
    bottle.response.content_type = content_type
    bottle.response.set_header("Content-Disposition", f'attachment; filename="{filename}"')


def local_time(ts: int, zone) -> dt.datetime:
    """A stored UTC time as the box's wall-clock time (naive: what a spreadsheet shows)."""
    return dt.datetime.fromtimestamp(ts, zone).replace(tzinfo=None)


def time_header(label: str, zone) -> str:
    """The header of a time column, naming the box's zone: ``Time (Europe/Berlin)``."""
    return f"{label} ({getattr(zone, 'key', None) or zone})"


def csv_stream(headers: Sequence[str], rows: Iterable[tuple], money_columns: Sequence[int],
               text_columns: Sequence[int]) -> Iterator[bytes]:
    """CSV as UTF-8 (with BOM for Excel): the header at once, then a few hundred rows at
    a time.  Text columns go through ``spreadsheet_safe``, times as local wall-clock
    time (which a spreadsheet reads as a date and time)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers)
    yield buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    count = 0
    for row in rows:
        cells: List[Any] = [value.strftime(TIME_FORMAT) if isinstance(value, dt.datetime)
                            else value for value in row]
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
