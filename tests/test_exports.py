"""The downloads of the Call Log and the Recharge History (web/exports.py): the zone named
on every time column, times as dates in the .xlsx, sheets that continue past Excel's row
limit, both files streamed from the first row with no read held open while they are
sent, CSV text that a spreadsheet keeps as typed and never evaluates; read back by
LibreOffice too."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3

import openpyxl
import pytest
import xlsxwriter
from billing_addon.web import auth, exports
from billing_addon.web.xlsx_stream import xlsx_stream

from billing_addon import accounts, calls, money, reports, settings, store
from billing_addon.cells import TEXT_MARK, XLSX_TIME_FORMAT, from_spreadsheet, spreadsheet_safe
from tests.spreadsheet import libreoffice_reads
from tests.webclient import Client, activated_app

ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC: 12:00 in Berlin


@pytest.fixture
def app(db_path):
    return activated_app(admin_password=ADMIN_PW)


def _user(app) -> Client:
    user, password = auth.create_billing_user("billing-pass-1")
    client = Client(app)
    client.login(user.username, password)
    client.username = user.username
    return client


@pytest.fixture
def billing(app):
    return _user(app)


# the texts a spreadsheet would turn into something else, and two it keeps as they are
TRICKY = [
    "+4930123456",  # a number: 4930123456
    "0049301234567",  # a number without its zeros
    "1001",  # a number
    "=HYPERLINK(\"http://x\",\"y\")",  # a formula
    "-1 night",  # a formula
    "@cmd",  # a formula
    "TRUE",  # a boolean
    "Jan 5",  # a date
    "1/2",  # a date
    "12:30",  # a time
    "50%",  # a percentage
    "'quoted",  # older exports' guard character
    "Room 1",
    "plain",  # kept as it is
    "Müller",  # kept as it is
]


def _calls_with(dialed_numbers, name="Room 1"):
    accounts.ensure_extension("1001", name)
    accounts.edit(["1001"], billing_enabled=True, name=name)
    accounts.recharge(["1001"], money.parse_amount("20"), "test")
    for i, dialed in enumerate(dialed_numbers):
        calls.settle(f"x{i}", 30, "ANSWER", number="1001", dialed=dialed, started=T0 + i * 60,
                     source="cdr")


# --- the zone, and times as dates -------------------------------------------------------


def test_every_export_names_the_zone_and_the_xlsx_has_dates(billing):
    _calls_with(["912345678"])  # started 10:00 UTC, recharged now
    settings.put("timezone", "Europe/Berlin")
    now_berlin = dt.datetime.now(settings.zone()).replace(tzinfo=None)
    for path, label, local in (("/calls", "Start Time", dt.datetime(2024, 5, 1, 12, 0)),
                               ("/recharges", "Time", now_berlin)):
        sheet = openpyxl.load_workbook(io.BytesIO(billing.download_xlsx(path + "/export.xlsx").body)).active
        assert sheet["A1"].value == f"{label} (Europe/Berlin)"
        cell = sheet["A2"]
        assert cell.is_date and cell.number_format == XLSX_TIME_FORMAT, path
        assert abs(cell.value - local) < dt.timedelta(minutes=2), path
        lines = list(csv.reader(io.StringIO(billing.get(path + "/export.csv").text.lstrip("\ufeff"))))
        assert lines[0][0] == f"{label} (Europe/Berlin)"
        assert dt.datetime.strptime(lines[1][0], "%Y-%m-%d %H:%M:%S") == cell.value


# --- sheets past the row limit ----------------------------------------------------------


def test_the_row_limit_is_xlsxwriters(tmp_path):
    """The constant is the one XlsxWriter enforces: the last row takes a cell, the next
    is refused (-1, which XlsxWriter returns instead of raising)."""
    book = xlsxwriter.Workbook(str(tmp_path / "limit.xlsx"), {"constant_memory": True})
    ws = book.add_worksheet()
    assert ws.xls_rowmax == exports.XLSX_MAX_ROWS
    assert ws.write_number(exports.XLSX_MAX_ROWS - 1, 0, 1) == 0
    assert ws.write_number(exports.XLSX_MAX_ROWS, 0, 1) == -1
    book.close()


def _xlsx(tmp_path, rows, headers=("Time (UTC)", "Extension", "Cost"), **kw):
    path = tmp_path / "rows.xlsx"
    path.write_bytes(b"".join(xlsx_stream("Call Log", headers, iter(rows), (2,), (20, 10, 10),
                                          "USD", **kw)))
    return path


def test_a_full_sheet_continues_on_a_new_sheet_with_the_header(tmp_path):
    rows = [(dt.datetime(2024, 5, 1, 12, 0, i), str(1000 + i), 10000 * i) for i in range(7)]
    path = _xlsx(tmp_path, rows, max_rows=4)  # a header and three rows a sheet
    # LibreOffice's headless conversion keeps no view settings (nor XlsxWriter's): frozen
    # panes are checked in the file itself
    assert all(ws.freeze_panes == "A2" for ws in openpyxl.load_workbook(path).worksheets)
    for book in (openpyxl.load_workbook(path), libreoffice_reads(path, tmp_path)):
        assert book.sheetnames == ["Call Log", "Call Log (2)", "Call Log (3)"]
        seen = []
        for ws in book.worksheets:
            values = list(ws.iter_rows(values_only=True))
            assert values[0] == ("Time (UTC)", "Extension", "Cost")
            assert len(values) <= 4
            assert ws.auto_filter.ref == f"A1:C{len(values)}"
            seen += [v[:3] for v in values[1:]]
        # every row, in order, times as dates and money as exact numbers
        assert seen == [(r[0], r[1], r[2] // 10000) for r in rows]


@pytest.mark.parametrize("row, message", [
    (tuple(range(16385)), "16385 cells"),  # past the header's columns (and Excel's 16,384)
    (("x" * 32768, "", 0), "32768 characters"),  # past what a cell holds
    ((float("nan"), "", 0), "not a number"),
])
def test_a_cell_a_spreadsheet_refuses_stops_the_export_instead_of_vanishing(tmp_path, row, message):
    with pytest.raises(exports.XlsxError, match=message):
        _xlsx(tmp_path, [row])


# --- streamed -----------------------------------------------------------------------------


def test_the_xlsx_starts_before_the_first_row_is_read():
    """The zip's first bytes are handed out before any row is read: a download of
    200,000 calls starts at once instead of after the whole file is built."""
    read = []

    def rows():
        for i in range(2000):
            read.append(i)
            yield (dt.datetime(2024, 5, 1), "1001", i)

    chunks = xlsx_stream("Call Log", ["Time", "Extension", "Cost"], rows(), (2,), (), "USD")
    assert next(chunks)[:4] == b"PK\x03\x04" and read == []
    assert len(b"".join(chunks)) > 0 and len(read) == 2000


def test_xlsx_export_is_the_answer_itself(billing):
    _calls_with(["912345678"])
    r = billing.get("/calls/export.xlsx", check=200)
    assert r.header("Content-Disposition").startswith('attachment; filename="call-log-')
    assert openpyxl.load_workbook(io.BytesIO(r.body)).active["B2"].value == "1001"
    billing.get("/exports/abc", check=404)  # no progress pages any more


def test_an_export_holds_no_read_open_between_its_chunks(db_path, monkeypatch):
    """Each chunk is a read of its own: while the export waits for a slow client, a
    checkpoint can empty the WAL (an open read would leave it busy), and chunks that
    end inside a run of equal times still give every call once, newest first."""
    monkeypatch.setattr(reports, "EXPORT_CHUNK", 2)
    accounts.ensure_extension("1001", "Front")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("100"), "test")
    for i in range(7):
        calls.authorize("1001", "912345678", at=T0 + i // 3, uniqueid=f"k{i}")
    rows = reports.iter_calls()
    first = next(rows)
    other = sqlite3.connect(str(db_path))
    try:
        busy, _log, _done = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    assert busy == 0
    ids = [first.id] + [r.id for r in rows]
    expected = store.db.execute_sql("SELECT id FROM call ORDER BY started_utc DESC, id DESC").fetchall()
    assert ids == [r[0] for r in expected] and len(ids) == 7


# --- CSV text as typed, never a formula -------------------------------------------------


@pytest.mark.parametrize("text", TRICKY)
def test_csv_text_is_marked_exactly_when_a_spreadsheet_would_change_it(text):
    cell = spreadsheet_safe(text)
    assert from_spreadsheet(cell) == text
    assert cell == text if text in ("plain", "Müller") else cell == TEXT_MARK + text
    assert cell[:1] not in ("=", "+", "-", "@", "'")


def test_csv_export_keeps_dialed_numbers_and_names_as_typed(billing):
    _calls_with(["+4930123456", "0049301234567"], name="=HYPERLINK(\"http://x\",\"y\")")
    lines = list(csv.reader(io.StringIO(billing.get("/calls/export.csv").text.lstrip("\ufeff"))))
    dialed = [line[3] for line in lines[1:]]
    assert dialed == [TEXT_MARK + "0049301234567", TEXT_MARK + "+4930123456"]  # newest first
    assert {line[2] for line in lines[1:]} == {TEXT_MARK + "=HYPERLINK(\"http://x\",\"y\")"}
    assert not any(cell.startswith("'") for line in lines for cell in line)


# --- read back by LibreOffice -----------------------------------------------------------


def _cells(book):
    return [cell for ws in book.worksheets for row in ws.iter_rows() for cell in row]


def test_libreoffice_opens_the_csv_with_text_as_typed_and_no_formula(billing, tmp_path):
    """Each tricky text as a user name, dialed numbers as the PBX gives them."""
    dialed = ["+4930123456", "0049301234567", "1001", "*21#", "912345678"]
    for i, name in enumerate(TRICKY):
        number = str(2000 + i)
        accounts.ensure_extension(number, "")
        accounts.edit([number], billing_enabled=True, name=name)
        calls.settle(f"t{i}", 30, "ANSWER", number=number, dialed=dialed[i % len(dialed)],
                     started=T0 + i * 60, source="cdr")
    settings.put("timezone", "Asia/Shanghai")
    path = tmp_path / "calls.csv"
    path.write_bytes(billing.get("/calls/export.csv").body)
    book = libreoffice_reads(path, tmp_path)
    assert not [c.coordinate for c in _cells(book) if c.data_type == "f"]  # nothing evaluated
    ws = book.active
    assert ws["A1"].value == "Start Time (Asia/Shanghai)"
    shown = []  # (extension, user name, dialed) as the cells show them
    for row in ws.iter_rows(min_row=2):
        assert row[0].is_date and row[0].value.date() == dt.date(2024, 5, 1)
        assert row[6].data_type == "n"  # the cost, a number
        assert all(cell.data_type == "s" for cell in row[1:4])
        shown.append(tuple(cell.value.replace(TEXT_MARK, "") for cell in row[1:4]))
    assert sorted(shown) == sorted((str(2000 + i), name, dialed[i % len(dialed)])
                                   for i, name in enumerate(TRICKY))


def test_libreoffice_opens_the_xlsx_with_dates_numbers_and_text(billing, tmp_path):
    _calls_with(["+4930123456"])
    path = tmp_path / "calls.xlsx"
    path.write_bytes(billing.download_xlsx("/calls/export.xlsx").body)
    ws = libreoffice_reads(path, tmp_path).active
    assert ws["A1"].value == "Start Time (UTC)"
    assert ws["A2"].is_date and ws["A2"].value == dt.datetime(2024, 5, 1, 10, 0)
    assert (ws["B2"].data_type, ws["B2"].value) == ("s", "1001")
    assert (ws["D2"].data_type, ws["D2"].value) == ("s", "+4930123456")
    assert ws["G2"].data_type == "n"
