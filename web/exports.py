"""Downloads: the Recharge History and the Call Log as .xlsx or CSV (``export``), and the
pieces under it: the CSV stream (UTF-8 with BOM, text cells kept as typed), the .xlsx
writer (constant memory, money cells as numbers, times as dates, a new sheet when one
is full), built in the background behind a progress page (``export_jobs``), its scratch
folder, and the ``Content-Disposition`` of any download.

Times are the box's local time, naive (what a spreadsheet shows), and every time
column's header names the zone, e.g. ``Start Time (Europe/Berlin)``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence

import bottle

from billing_addon import money, settings, store
from billing_addon.cells import XLSX_TIME_FORMAT, money_number, spreadsheet_safe, xlsx_money_format
from billing_addon.i18n import _

from . import auth
from .core import Route, WebCore
from .export_jobs import ExportsBusy, Job

# Rows of one sheet, its header included: Excel's limit, which XlsxWriter enforces by
# refusing (returning -1 for) any cell below it; the rows after it go on a new sheet.
XLSX_MAX_ROWS = 1_048_576
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PROGRESS_EVERY = 1000  # rows between two updates of the progress page's count


class XlsxError(RuntimeError):
    """XlsxWriter refused a cell (it would have been dropped from the file)."""


def export(ui: WebCore, kind: str, stem: str, sheet: str, headers: Sequence[str],
           rows: Iterable[tuple], count: Callable[[], int], money_columns: Sequence[int],
           text_columns: Sequence[int], widths: Sequence[int]):
    """A download of ``rows`` (``count()`` of them), named ``stem`` and the time: a CSV
    stream (``kind`` "csv"), or an .xlsx built in the background (a redirect to its
    progress page)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if kind == "csv":
        attachment(f"{stem}-{stamp}.csv", "text/csv; charset=utf-8")
        return csv_stream(headers, rows, money_columns, text_columns)
    currency = settings.get("currency")

    def build(job: Job) -> None:
        job.total = count()
        write_xlsx(job.path, sheet, headers, rows, money_columns, widths, currency,
                   progress=lambda done: setattr(job, "done", done))

    session = ui.session()
    owner = session.username if session else ""
    try:
        job = ui.export_jobs.start(owner, f"{stem}-{stamp}.xlsx", export_dir(), build)
    except ExportsBusy as exc:
        raise ui.error_page(503, str(exc), _("Busy")) from None
    bottle.redirect(f"/exports/{job.id}", 303)


def progress_page(ui: WebCore, job_id: str):
    """How far the build is (the page reloads itself every second), then its download."""
    job = _own_job(ui, job_id)
    return ui.render("export_progress.tpl", title=_("Download"), job=job,
                     refresh=1 if job.running else 0)


def download(ui: WebCore, job_id: str):
    job = _own_job(ui, job_id)
    if not job.ready:
        bottle.redirect(f"/exports/{job.id}", 303)
    try:
        handle = open(job.path, "rb")
    except FileNotFoundError:
        raise ui.error_page(404, _("This download was cleaned up; export it again.")) from None
    attachment(job.filename, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    bottle.response.content_length = os.fstat(handle.fileno()).st_size
    return handle


def _own_job(ui: WebCore, job_id: str) -> Job:
    session = ui.session()
    job = ui.export_jobs.get(job_id, session.username if session else "")
    if job is None:
        raise ui.error_page(404, _("There is no such download (they are kept for 30 minutes)."))
    return job


def attachment(filename: str, content_type: str) -> None:
    bottle.response.content_type = content_type
    bottle.response.set_header("Content-Disposition", f'attachment; filename="{filename}"')


def local_time(ts: int, zone) -> dt.datetime:
    """A stored UTC time as the box's wall-clock time (naive: what a spreadsheet shows)."""
    return dt.datetime.fromtimestamp(ts, zone).replace(tzinfo=None)


def time_header(label: str, zone) -> str:
    """The header of a time column, naming the box's zone: ``Time (Europe/Berlin)``."""
    return f"{label} ({getattr(zone, 'key', None) or zone})"


def export_dir() -> str:
    """Scratch folder for xlsx files being built: next to the database (flash), not /tmp
    (often RAM on the box)."""
    base = Path(store.database_path()).parent if store.db.database else Path(tempfile.gettempdir())
    path = base / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


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


units_to_decimal = money_number


def write_xlsx(path: str, sheet: str, headers: Sequence[str], rows: Iterable[tuple],
               money_columns: Sequence[int], widths: Sequence[int], currency: str, *,
               max_rows: int = XLSX_MAX_ROWS,
               progress: Optional[Callable[[int], None]] = None) -> int:
    """Write ``rows`` into the .xlsx ``path`` (XlsxWriter, constant_memory: one row in
    memory at a time) and return how many were written.  Money cells are numbers in the
    currency's format, datetimes are dates, other text is text (never a formula).  A
    sheet holds ``max_rows`` rows with its header; the rows after go on a next sheet,
    "``sheet`` (2)" and so on, each with the header.  ``progress(rows written)`` is
    called every ``PROGRESS_EVERY`` rows."""
    import xlsxwriter

    folder = os.path.dirname(path) or "."
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "tmpdir": folder})
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1})
    money_fmt = book.add_format({"num_format": xlsx_money_format(currency)})
    time_fmt = book.add_format({"num_format": XLSX_TIME_FORMAT})
    money_set = set(money_columns)
    sheets = 0

    def new_sheet():
        nonlocal sheets
        sheets += 1
        ws = book.add_worksheet(sheet[:31] if sheets == 1 else f"{sheet[:24]} ({sheets})")
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)
        ws.freeze_panes(1, 0)
        for col, title in enumerate(headers):
            ws.write_string(0, col, title, bold)
        return ws

    def finish(ws, last_row: int) -> None:
        if last_row:
            ws.autofilter(0, 0, last_row, len(headers) - 1)

    ws = new_sheet()
    r = written = 0
    try:
        for row in rows:
            if r == max_rows - 1:  # this sheet is full
                finish(ws, r)
                ws, r = new_sheet(), 0
            r += 1
            for col, value in enumerate(row):
                if col in money_set:
                    status = ws.write_number(r, col, units_to_decimal(value), money_fmt)
                elif isinstance(value, dt.datetime):
                    status = ws.write_datetime(r, col, value, time_fmt)
                elif isinstance(value, int) and not isinstance(value, bool):
                    status = ws.write_number(r, col, value)
                else:
                    status = ws.write_string(r, col, str(value))
                if status < 0:
                    raise XlsxError(f"XlsxWriter refused row {r + 1}, column {col + 1} "
                                    f"of sheet {ws.name} (code {status})")
            written += 1
            if progress is not None and written % PROGRESS_EVERY == 0:
                progress(written)
        finish(ws, r)
    finally:
        book.close()
    if progress is not None:
        progress(written)
    return written


ROUTES: List[Route] = [
    ("/exports/<job_id:re:[A-Za-z0-9_-]{1,64}>", "GET", auth.BILLING, progress_page),
    ("/exports/<job_id:re:[A-Za-z0-9_-]{1,64}>/file", "GET", auth.BILLING, download),
]
