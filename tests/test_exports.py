"""The downloads of the Call Log and the Recharge History (web/exports.py): the zone named
on every time column, times as dates in the .xlsx, sheets that continue past Excel's row
limit, the .xlsx built in the background behind a progress page, CSV text that a
spreadsheet keeps as typed and never evaluates; read back by LibreOffice too."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import threading

import openpyxl
import pytest
import xlsxwriter
from billing_addon.web import auth, exports
from billing_addon.web.app import make_app
from billing_addon.web.export_jobs import ExportJobs

from billing_addon import accounts, calls, config, money, settings
from billing_addon.cells import TEXT_MARK, from_spreadsheet, spreadsheet_safe
from tests.helpers import wait_until
from tests.spreadsheet import libreoffice_reads
from tests.web_fakes import FakeActivation
from tests.webclient import Client

ADMIN_PW = "admin-secret-1"
T0 = 1714557600  # 2024-05-01 10:00 UTC: 12:00 in Berlin


@pytest.fixture
def app(db_path):
    app = make_app(config.load(None, {}), FakeActivation())
    auth.set_admin_password(ADMIN_PW)
    admin = Client(app)
    admin.login("admin", ADMIN_PW)
    admin.post("/admin/activation", {"activate": "1"}, check=303)
    return app


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
        assert cell.is_date and cell.number_format == exports.XLSX_TIME_FORMAT, path
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


def test_a_full_sheet_continues_on_a_new_sheet_with_the_header(tmp_path):
    path = str(tmp_path / "rows.xlsx")
    rows = [(dt.datetime(2024, 5, 1, 12, 0, i), str(1000 + i), 10000 * i) for i in range(7)]
    written = exports.write_xlsx(path, "Call Log", ["Time (UTC)", "Extension", "Cost"], iter(rows),
                                 money_columns=(2,), widths=(20, 10, 10), currency="USD",
                                 max_rows=4)  # a header and three rows a sheet
    assert written == 7
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Call Log", "Call Log (2)", "Call Log (3)"]
    seen = []
    for ws in book.worksheets:
        values = list(ws.iter_rows(values_only=True))
        assert values[0] == ("Time (UTC)", "Extension", "Cost")
        assert len(values) <= 4
        assert ws.auto_filter.ref == f"A1:C{len(values)}"
        seen += [v[1] for v in values[1:]]
    assert seen == [r[1] for r in rows]  # every row, in order


def test_a_cell_xlsxwriter_refuses_stops_the_export_instead_of_vanishing(tmp_path):
    too_wide = tuple(range(16385))  # one column past XlsxWriter's limit
    with pytest.raises(exports.XlsxError, match="column 16385"):
        exports.write_xlsx(str(tmp_path / "wide.xlsx"), "Call Log", ["a"], iter([too_wide]),
                           money_columns=(), widths=(), currency="USD")


# --- built in the background ------------------------------------------------------------


def test_xlsx_export_answers_at_once_with_a_progress_page(billing):
    """On the real route: a redirect to the progress page, not the file."""
    _calls_with(["912345678"])
    r = billing.get("/calls/export.xlsx", check=303)
    assert r.location.startswith("/exports/")
    assert billing.download_xlsx("/calls/export.xlsx").body[:2] == b"PK"


def test_progress_page_shows_the_count_then_the_download_to_its_owner_only(app, billing, tmp_path):
    jobs: ExportJobs = app.billing_ui.export_jobs
    now = [1000.0]
    jobs.clock = lambda: now[0]
    go = threading.Event()

    def build(job):  # a build that stops half way until the test lets it finish
        job.total, job.done = 10, 3
        assert go.wait(30)
        exports.write_xlsx(job.path, "Call Log", ["Extension"], iter([("1001",)]), (), (10,), "USD")
        job.done = 10

    folder = tmp_path / "exports"
    folder.mkdir()
    leftover = folder / "export-from-a-previous-run.xlsx"
    leftover.write_bytes(b"old")
    job = jobs.start(billing.username, "call-log.xlsx", str(folder), build)
    assert not leftover.exists()
    page = billing.get(f"/exports/{job.id}", check=200).text
    assert "Writing row 3 of 10" in page and '<meta http-equiv="refresh" content="1">' in page
    assert billing.get(f"/exports/{job.id}/file", check=303).location == f"/exports/{job.id}"
    assert jobs.start(billing.username, "again.xlsx", str(folder), build) is job  # one at a time
    other = _user(app)
    other.get(f"/exports/{job.id}", check=404)
    other.get(f"/exports/{job.id}/file", check=404)
    go.set()
    wait_until(lambda: not job.running, 30, "the build")
    page = billing.get(f"/exports/{job.id}", check=200).text
    assert 'id="export-ready"' in page and "refresh" not in page
    r = billing.get(f"/exports/{job.id}/file", check=200)
    assert r.header("Content-Disposition") == 'attachment; filename="call-log.xlsx"'
    assert openpyxl.load_workbook(io.BytesIO(r.body)).active["A2"].value == "1001"
    other.get(f"/exports/{job.id}/file", check=404)
    assert os.path.exists(job.path)
    now[0] += 31 * 60  # kept 30 minutes, then deleted
    billing.get(f"/exports/{job.id}", check=404)
    assert not os.path.exists(job.path)


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


def test_two_builds_at_once_on_the_box_and_a_failed_build_says_why(app, billing, tmp_path):
    jobs: ExportJobs = app.billing_ui.export_jobs
    go = threading.Event()

    def waits(job):
        assert go.wait(30)
        raise RuntimeError("disk full")

    others = [_user(app) for _ in range(2)]
    started = [jobs.start(user.username, "x.xlsx", str(tmp_path), waits) for user in others]
    r = billing.get("/calls/export.xlsx", check=503)
    assert "2 downloads are being built; try again when one is ready" in r.text
    go.set()
    wait_until(lambda: not any(job.running for job in started), 30, "the builds")
    page = others[0].get(f"/exports/{started[0].id}", check=200).text
    assert 'id="export-error"' in page and "disk full" in page and "refresh" not in page
    others[0].get(f"/exports/{started[0].id}/file", check=303)
    assert not os.path.exists(started[0].path)
    billing.download_xlsx("/calls/export.xlsx")  # room again
