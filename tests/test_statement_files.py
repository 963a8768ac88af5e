"""The statement's files read back by real readers: the PDF with poppler's pdftotext, the
.xlsx with openpyxl and with LibreOffice (tests/spreadsheet.py); every figure in them
must be the snapshot's."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_addon import money, statement_files
from billing_addon.statement_files import SnapshotError, duration, kind_label, to_pdf, to_xlsx

from .spreadsheet import libreoffice_reads

START = 1704067200  # 2024-01-01 00:00 UTC
ROW = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(\S+) +(\d+:\d\d:\d\d) +(\S+)$")


def make_snapshot(calls, entries, *, opening=0, currency="EUR", zone="Europe/Berlin",
                  in_progress=0):
    """A consistent snapshot: totals and closing balance from its calls and entries."""
    def total(*kinds):
        return sum(e["amount"] for e in entries if e["kind"] in kinds)

    totals = {"calls": len(calls), "call_cost": sum(c["cost"] for c in calls),
              "recharges": total("recharge", "deposit"), "adjustments": total("adjust"),
              "payments": total("payment")}
    closing = (opening + totals["recharges"] + totals["adjustments"] + totals["payments"]
               - totals["call_cost"])
    return {"number": "S-000123", "issued_utc": START + 40 * 86400, "zone": zone,
            "zone_label": zone, "currency": currency,
            "hotel": {"name": "Hotel Sonnenhof", "address": "Hauptstrasse 1\n10115 Berlin"},
            "extension": {"number": "101", "name": "Room 101"}, "guest": "Anna Schmidt",
            "period": {"from_utc": START, "to_utc": START + 40 * 86400},
            "opening_balance": opening, "closing_balance": closing, "calls": calls,
            "entries": entries, "totals": totals, "in_progress": in_progress}


def sample(count=120, in_progress=0):
    calls = [{"started_utc": START + i * 3671, "dialed": f"0049301234{i:04d}",
              "answered_s": (i * 37) % 4000, "cost": (i * 7919) % 250000, "status": "charged"}
             for i in range(count)]
    entries = [{"at_utc": START + 10, "kind": "recharge", "amount": 2_000_000, "note": "cash"},
               {"at_utc": START + 86400, "kind": "adjust", "amount": -15_000,
                "note": "+44 refund of a dropped call"},
               {"at_utc": START + 2 * 86400, "kind": "payment", "amount": 500_000,
                "note": "card at checkout"}]
    return make_snapshot(calls, entries, opening=12_345, in_progress=in_progress)


def pdf_text(data: bytes, work: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            raise RuntimeError("no pdftotext: run `make setup` (poppler-utils)")
        pytest.skip("no pdftotext (poppler-utils)")
    path = work / "statement.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
                          check=True, capture_output=True, text=True, timeout=60).stdout


def local(ts, zone):
    return dt.datetime.fromtimestamp(ts, ZoneInfo(zone)).replace(tzinfo=None)


def call_rows(text: str):
    return [m.groups() for line in text.splitlines() if (m := ROW.match(line.strip()))
            and not m.group(2)[:1].isalpha()]


def labelled(text: str, label: str) -> str:
    """The last figure on the last line that starts with ``label``."""
    lines = [line for line in text.splitlines() if line.strip().startswith(label)]
    assert lines, (label, text[-2000:])
    return lines[-1].split()[-1]


def expected_rows(snap):
    cur, zone = snap["currency"], snap["zone"]
    return [(f"{local(c['started_utc'], zone):%Y-%m-%d %H:%M:%S}", c["dialed"],
             duration(c["answered_s"]), money.format_amount(c["cost"], cur))
            for c in snap["calls"]]


ENTRY = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(Recharge|Adjustment|Payment|Deposit)\b"
                   r".* (\S+)$")


def check_pdf_figures(snap, text):
    cur = snap["currency"]
    assert call_rows(text) == expected_rows(snap)
    entries = [m.groups() for line in text.splitlines() if (m := ENTRY.match(line.strip()))]
    assert entries == [(f"{local(e['at_utc'], snap['zone']):%Y-%m-%d %H:%M:%S}",
                        kind_label(e["kind"]), money.format_amount(e["amount"], cur))
                       for e in snap["entries"]]
    t = snap["totals"]
    assert labelled(text, "Calls ") == str(t["calls"])
    for label, units in (("Opening balance", snap["opening_balance"]),
                         ("Recharges ", t["recharges"]), ("Adjustments", t["adjustments"]),
                         ("Payments", t["payments"]), ("Call cost", -t["call_cost"]),
                         ("Closing balance", snap["closing_balance"])):
        assert labelled(text, label) == money.format_amount(units, cur), label


def test_pdf_reads_back_with_every_total_header_and_page_number(tmp_path):
    snap = sample(120)
    text = pdf_text(to_pdf(snap), tmp_path)
    for needle in ("Hotel Sonnenhof", "Hauptstrasse 1", "10115 Berlin", "S-000123",
                   "Anna Schmidt", "101 Room 101", "2024-01-01 01:00:00 to 2024-02-10 01:00:00"):
        assert needle in text
    check_pdf_figures(snap, text)
    assert "€200,00" in text and "-€1,50" in text and "+44 refund of a dropped call" in text
    pages = [page for page in text.split("\f") if page.strip()]
    assert len(pages) >= 3
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
    # every page that carries call rows starts its table with the header again
    for page in pages:
        if call_rows(page):
            first = [line.split() for line in page.splitlines() if line.strip()]
            header = next(i for i, words in enumerate(first) if words[:1] == ["Time"])
            assert first[header] == ["Time", "Number", "Duration", "Cost"]
            assert all(not ROW.match(" ".join(words)) for words in first[:header])
    assert "in progress" not in text


def test_pdf_says_calls_are_in_progress(tmp_path):
    text = pdf_text(to_pdf(sample(3, in_progress=2)), tmp_path)
    assert "2 calls still in progress" in text


def test_a_guests_name_beyond_helvetica_is_drawn_in_the_cjk_font(tmp_path):
    snap = sample(2)
    snap["guest"] = "Wang 王芳"
    text = pdf_text(to_pdf(snap), tmp_path)
    assert "Wang 王芳" in text and "Opening balance" in text  # English labels, Chinese name


def test_a_chinese_statement_pdf_embeds_the_cjk_font(tmp_path):
    snap = sample(3, in_progress=2)
    data = to_pdf(snap, "zh_CN")
    text = pdf_text(data, tmp_path)
    for label in ("账单", "期初余额", "期末余额", "通话 (3)", "充值、调整和付款", "第 1 页，共 1 页",
                  "2 个通话仍在进行中"):
        assert label in text, label
    assert "€1.2345" in text and "€200.00" in text  # the opening balance, the recharge
    assert "2024年1月1日 01:00:10" in text  # Berlin's time of the recharge, as zh_CN writes it
    if statement_files.CJK_FONT_FILES[0].is_file():
        assert b"/FontFile2" in data  # a TrueType subset embedded, not a reference


def test_without_the_font_file_a_chinese_pdf_uses_the_built_in_cid_font(tmp_path):
    statement_files.cjk_font.cache_clear()
    try:
        name = statement_files.cjk_font((tmp_path / "no-such-font.ttc",))
        assert name == "STSong-Light"
    finally:
        statement_files.cjk_font.cache_clear()


def test_a_spanish_statement_pdf_has_decimal_commas(tmp_path):
    text = pdf_text(to_pdf(sample(3), "es"), tmp_path)
    for label in ("Estado de cuenta", "Saldo inicial", "Saldo final", "Página 1 de 1"):
        assert label in text, label
    assert "1,2345 €" in text and "200,00 €" in text
    assert "1 ene 2024, 1:00:10" in text


def test_the_statement_xlsx_in_spanish(tmp_path):
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(sample(2), "es")))
    assert book.sheetnames == ["Resumen", "Llamadas", "Movimientos"]
    assert [c.value for c in book["Llamadas"][1]][:2] == ["Hora (Europe/Berlin)", "Número"]
    summary = {r[0].value: r[1].value for r in book["Resumen"].iter_rows() if r[0].value}
    assert summary["Saldo inicial"] == pytest.approx(1.2345)


def check_xlsx_figures(snap, book):
    cur_zone = snap["zone"]
    calls = book["Calls"]
    assert [c.value for c in calls[1]] == [f"Time ({cur_zone})", "Number", "Duration (s)",
                                           "Cost", "Status"]
    rows = list(calls.iter_rows(min_row=2))
    assert len(rows) == len(snap["calls"])
    for row, call in zip(rows, snap["calls"]):
        when, number, secs, cost, status = row
        assert when.is_date and when.value == local(call["started_utc"], cur_zone)
        assert number.data_type == "s" and number.value == call["dialed"]
        assert secs.data_type == "n" and secs.value == call["answered_s"]
        assert cost.data_type == "n"
        assert Decimal(str(cost.value)) == Decimal(call["cost"]).scaleb(-4)
        assert status.value == call["status"]
    entries = list(book["Entries"].iter_rows(min_row=2))
    assert len(entries) == len(snap["entries"])
    for row, entry in zip(entries, snap["entries"]):
        assert row[0].is_date and row[0].value == local(entry["at_utc"], cur_zone)
        assert Decimal(str(row[2].value)) == Decimal(entry["amount"]).scaleb(-4)
        assert row[3].data_type == "s" and row[3].value == entry["note"]
    summary = {r[0].value: r[1] for r in book["Summary"].iter_rows() if r[0].value}
    t = snap["totals"]
    assert summary["Statement"].value == snap["number"]
    assert summary["Calls"].value == t["calls"]
    for label, units in (("Opening balance", snap["opening_balance"]),
                         ("Recharges", t["recharges"]), ("Adjustments", t["adjustments"]),
                         ("Payments", t["payments"]), ("Call cost", -t["call_cost"]),
                         ("Closing balance", snap["closing_balance"])):
        cell = summary[label]
        assert cell.data_type == "n" and Decimal(str(cell.value)) == Decimal(units).scaleb(-4)
        assert money.currency_symbol(snap["currency"]) in cell.number_format


def test_xlsx_types_and_totals_in_openpyxl_and_libreoffice(tmp_path):
    snap = sample(50, in_progress=1)
    snap["calls"][0]["dialed"] = "+4930123456"
    snap["calls"][1]["dialed"] = "=1+1"
    snap = make_snapshot(snap["calls"], snap["entries"], opening=12_345, in_progress=1)
    path = tmp_path / "statement.xlsx"
    path.write_bytes(to_xlsx(snap))
    mine = openpyxl.load_workbook(path)
    check_xlsx_figures(snap, mine)
    assert mine["Calls"]["B2"].value == "+4930123456" and mine["Calls"]["B3"].value == "=1+1"
    assert mine["Calls"]["D2"].number_format.startswith('"€"')
    assert any("1 call still in progress" in str(r[0].value)
               for r in mine["Summary"].iter_rows())
    check_xlsx_figures(snap, libreoffice_reads(path, tmp_path))


ZONES = ("UTC", "Europe/Berlin", "Asia/Shanghai", "America/New_York")
dialed = st.text("0123456789+*#", min_size=1, max_size=20)
a_call = st.fixed_dictionaries({
    "started_utc": st.integers(START, START + 3 * 365 * 86400), "dialed": dialed,
    "answered_s": st.integers(0, 20000), "cost": st.integers(0, 10**9),
    "status": st.sampled_from(["charged", "free"])})
an_entry = st.fixed_dictionaries({
    "at_utc": st.integers(START, START + 3 * 365 * 86400),
    "kind": st.sampled_from(["recharge", "adjust", "payment", "deposit"]),
    "amount": st.integers(-10**9, 10**9), "note": st.text("abc XYZ-+0123.", max_size=30)})


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(a_call, max_size=70), entries=st.lists(an_entry, max_size=6),
       opening=st.integers(-10**8, 10**9), currency=st.sampled_from(sorted(money.CURRENCIES)),
       zone=st.sampled_from(ZONES), in_progress=st.integers(0, 3))
def test_every_figure_in_both_files_is_the_snapshots(tmp_path, calls, entries, opening,
                                                     currency, zone, in_progress):
    snap = make_snapshot(calls, entries, opening=opening, currency=currency, zone=zone,
                         in_progress=in_progress)
    check_pdf_figures(snap, pdf_text(to_pdf(snap), tmp_path))
    path = tmp_path / "statement.xlsx"
    path.write_bytes(to_xlsx(snap))
    check_xlsx_figures(snap, openpyxl.load_workbook(path))


@pytest.mark.parametrize("spoil, message", [
    (lambda s: s.pop("totals"), "snapshot.totals is missing"),
    (lambda s: s["calls"][1].update(cost=1.5), "snapshot.calls[1].cost is not int: 1.5"),
    (lambda s: s["hotel"].pop("address"), "snapshot.hotel.address is missing"),
    (lambda s: s.update(zone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
])
def test_a_snapshot_of_another_shape_is_refused_in_one_line(spoil, message):
    for make in (to_pdf, to_xlsx):
        snap = sample(3)
        spoil(snap)
        with pytest.raises(SnapshotError) as caught:
            make(snap)
        assert message in str(caught.value) and "\n" not in str(caught.value)
