"""Call types (issue #15.3): the type of a rate (form, list, tester, CSV), the Call Log
and Statistics by type, and call barring at authorize (by extension and department)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import (
    accounts,
    barring,
    call_days,
    call_type_stats,
    calls,
    calltypes,
    i18n,
    rates,
    reports,
    settings,
)
from billing_addon.cells import from_spreadsheet
from billing_addon.store import Call, Department, Extension, Rate, db
from tests.helpers import amount, make_extension, make_rate
from tests.test_web_app import admin, billing, env  # noqa: F401 (fixtures)

T0 = 1795441378  # 2026-11-23 13:42:58 UTC


def ext(number):
    return Extension.get(Extension.number == number)


@pytest.fixture
def typed(db_path):
    """1001 and 1002 with $10; rates by type: 00... international, 13... mobile,
    8... local, 110 free (emergency), 9... other (a rate nobody typed)."""
    make_extension("1001", balance="10")
    make_extension("1002", balance="10")
    for prefix, call_type in (("00", "international"), ("13", "mobile"), ("8", "local"),
                              ("110", "free")):
        make_rate(prefix, rate="0.01", unit="1", call_type=call_type)
    make_rate("9", rate="0.01", unit="1")
    return db_path


def department(name, *numbers):
    dept = Department.create(name=name, created_utc=0, updated_utc=0)
    Extension.update(department=dept.id).where(Extension.number.in_(numbers)).execute()
    return dept


# --- rates ---------------------------------------------------------------------------

def test_a_rate_keeps_its_type_through_add_edit_and_the_index(db_path):
    rate = make_rate("13", call_type="mobile")
    assert Rate.get_by_id(rate.id).call_type == "mobile"
    assert rates.index().match("1001", "13912345678", settings.local(T0)).call_type == "mobile"
    rates.update(rate.id, rates.validate({"prefix": "13", "rate": "0.1", "unit": "60",
                                          "call_type": "premium", "all_extensions": True}))
    assert Rate.get_by_id(rate.id).call_type == "premium"
    assert rates.index().match("1001", "13912345678", settings.local(T0)).call_type == "premium"
    # a rate nobody typed is 'other'
    assert make_rate("9").call_type == "other"


def test_an_unknown_type_is_refused_with_a_message_and_nothing_saved(db_path):
    with pytest.raises(rates.RateError) as refused:
        rates.validate({"prefix": "13", "rate": "0.1", "unit": "60", "call_type": "cellular"})
    assert "call_type" in refused.value.errors and "'cellular'" in str(refused.value)
    assert Rate.select().count() == 0


CSV = """prefix,rate,unit,extensions,call_type
00,0.5,60,*,international
13,0.1,60,*,mobile
8,0.02,60,*,
9,0.01,60,*,other
"""


def test_csv_export_writes_the_type_and_import_reads_it_back(db_path, tmp_path):
    assert rates.import_csv(CSV) == 4
    assert [(r.prefix, r.call_type) for r in rates.load_all()] == [
        ("00", "international"), ("13", "mobile"), ("8", "other"), ("9", "other")]
    out = io.StringIO()
    rates.export_csv(out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["call_type"] for row in rows] == ["international", "mobile", "other", "other"]
    assert rates.import_csv(out.getvalue(), replace=True) == 4
    assert [r.call_type for r in rates.load_all()] == ["international", "mobile", "other", "other"]


def test_a_file_without_the_type_column_imports_as_other(db_path):
    assert rates.import_csv("prefix,rate,unit,extensions\n13,0.1,60,*\n") == 1
    assert [r.call_type for r in rates.load_all()] == ["other"]


def test_an_unknown_type_in_a_file_names_its_line_and_imports_nothing(db_path):
    make_rate("7")
    bad = CSV.replace("13,0.1,60,*,mobile", "13,0.1,60,*,cellphone")
    with pytest.raises(rates.RateError) as refused:
        rates.import_csv(bad)
    assert refused.value.line == 3 and "'cellphone'" in str(refused.value)
    assert str(refused.value).startswith("line 3: call_type: unknown call type")
    assert [r.prefix for r in rates.load_all()] == ["7"]


def test_the_type_column_has_a_heading_in_every_language(db_path):
    make_rate("13", call_type="mobile")
    for locale in i18n.LOCALES:
        with i18n.using(locale):
            header = rates.csv_header()
            assert len(set(header)) == len(rates.CSV_COLUMNS)
            out = io.StringIO()
            rates.export_csv(out)
            # a file exported in this language imports back, types and all
            assert rates.read_deck(out.getvalue()).rows[0][1].call_type == "mobile"


# --- barring at authorize ----------------------------------------------------------

def test_a_type_barred_for_the_extension_is_denied_and_nothing_reserved(typed):
    barring.bar_extensions(["1001"], ["international", "premium"])
    denied = calls.authorize("1001", "0049301234", T0, "u1")
    assert (denied.result, denied.reason, denied.reserved) == (calls.DENIED, "barred", 0)
    call = Call.get(Call.uniqueid == "u1")
    assert (call.status, call.reason, call.call_type, call.reserved) == (
        "denied", "barred", "international", 0)
    assert ext("1001").reserved == 0 and ext("1001").balance == amount("10")
    # a later settle of the denied call changes nothing
    assert calls.settle("u1", 30).outcome == "duplicate"
    assert ext("1001").balance == amount("10")
    # other types, and other extensions, still call
    assert calls.authorize("1001", "13912345678", T0, "u2").result == calls.ALLOWED
    assert calls.authorize("1002", "0049301234", T0, "u3").result == calls.ALLOWED
    assert not accounts.verify()


def test_a_type_barred_for_the_department_is_denied_for_its_members_only(typed):
    dept = department("Rooms", "1001")
    barring.bar_departments({dept.id: ["mobile"]})
    assert calls.authorize("1001", "13912345678", T0, "u1").reason == "barred"
    assert calls.authorize("1002", "13912345678", T0, "u2").result == calls.ALLOWED
    # the current membership counts: out of the department, allowed
    Extension.update(department=None).where(Extension.number == "1001").execute()
    assert calls.authorize("1001", "13912345678", T0, "u3").result == calls.ALLOWED


def test_free_emergency_calls_can_never_be_barred(typed):
    with pytest.raises(barring.BarringError, match="never be barred"):
        barring.bar_extensions(["1001"], ["international", "free"])
    dept = department("Rooms", "1001")
    with pytest.raises(barring.BarringError, match="never be barred"):
        barring.bar_departments({dept.id: ["free"]})
    assert ext("1001").barred_types == "" and Department.get_by_id(dept.id).barred_types == ""
    # barred from everything else: the emergency number still goes through
    barring.bar_extensions(["1001"], barring.BARRABLE)
    barring.bar_departments({dept.id: barring.BARRABLE})
    assert calls.authorize("1001", "110", T0, "u1").result == calls.ALLOWED
    assert calls.authorize("1001", "8123", T0, "u2").reason == "barred"


def test_bad_barring_input_is_refused_whole(typed):
    with pytest.raises(barring.BarringError, match="unknown call type 'cellular'"):
        barring.bar_extensions(["1001"], ["mobile", "cellular"])
    with pytest.raises(barring.BarringError):
        barring.bar_extensions(["1001", "4040"], ["mobile"])
    with pytest.raises(barring.BarringError, match="no department 99"):
        barring.bar_departments({99: ["mobile"]})
    assert ext("1001").barred_types == ""


def test_the_types_barred_anywhere_are_kept_so_the_others_read_nothing(typed):
    assert settings.snapshot().get(barring.IN_USE) is None
    barring.bar_extensions(["1001"], ["mobile"])
    dept = department("Rooms", "1002")
    barring.bar_departments({dept.id: ["premium", "international"]})
    assert settings.snapshot()[barring.IN_USE] == "mobile,international,premium"
    barring.bar_extensions(["1001"], [])
    barring.bar_departments({dept.id: ["international"]})
    assert settings.snapshot()[barring.IN_USE] == "international"
    assert calls.authorize("1001", "13912345678", T0, "u1").result == calls.ALLOWED
    assert calls.authorize("1002", "0049301234", T0, "u2").reason == "barred"


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(own=st.sets(st.sampled_from(barring.BARRABLE)),
       dept=st.sets(st.sampled_from(barring.BARRABLE)),
       dialed=st.sampled_from(["0049301234", "13912345678", "8123", "110", "9555"]))
def test_denied_exactly_when_the_type_is_barred_and_money_never_moves_for_it(typed, own, dept,
                                                                               dialed):
    """Random barring of the extension and its department: a call is denied 'barred'
    exactly when its rate's type is in either set, and a denial reserves nothing."""
    d = Department.get_or_none(Department.name == "D") or department("D", "1001")
    barring.bar_extensions(["1001"], own)
    barring.bar_departments({d.id: dept})
    call_type = rates.index().match("1001", dialed, settings.local(T0)).call_type
    before = ext("1001")
    uid = f"p{Call.select().count()}"
    auth = calls.authorize("1001", dialed, T0, uid)
    expected = call_type in own | dept
    assert (auth.reason == "barred") == expected
    assert auth.result == (calls.DENIED if expected else calls.ALLOWED)
    if expected:
        assert ext("1001").reserved == before.reserved
    calls.release(uid)
    assert not accounts.verify()


# --- statistics and the call log by type -------------------------------------------

def _call(uid, number, dialed, seconds, at=T0):
    assert calls.authorize(number, dialed, at, uid).result == calls.ALLOWED
    return calls.settle(uid, seconds, "ANSWER", at + 60)


@pytest.fixture
def called(typed):
    """Five settled calls: 2 international (one unanswered), 1 mobile, 1 local, and one
    of 1002's to a number no rate matches (unrated, allowed by the default policy)."""
    _call("i1", "1001", "0049301234", 60)
    _call("i2", "1001", "0049301235", 0)
    _call("m1", "1001", "13912345678", 30)
    _call("l1", "1002", "8123", 10, at=T0 + 86400)
    assert calls.authorize("1002", "5555", T0, "n1").result == calls.UNBILLED
    calls.settle("n1", 5, "ANSWER", T0 + 60)
    return typed


def _by_type(rows):
    return {r.call_type: (r.calls, r.answered_calls, r.answered_s, r.cost) for r in rows}


def test_statistics_by_type_count_every_settled_call_once(called):
    cent = amount("0.01")
    assert _by_type(call_type_stats.by_type()) == {
        "international": (2, 1, 60, 60 * cent), "mobile": (1, 1, 30, 30 * cent),
        "local": (1, 1, 10, 10 * cent), "": (1, 1, 5, 0)}
    assert [r.call_type for r in call_type_stats.by_type()] == ["local", "mobile",
                                                                 "international", ""]
    assert _by_type(call_type_stats.by_type([ext("1002").id])) == {
        "local": (1, 1, 10, 10 * cent), "": (1, 1, 5, 0)}
    rows, total = reports.statistics("day", call_type="international")
    assert [(r.period, r.calls, r.cost) for r in rows] == [("2026-11-23", 2, 60 * cent)]
    rows, total = reports.statistics("month", ext("1002").id, call_type="local")
    assert (total.calls, total.answered_s) == (1, 10)
    # the split adds up to the day totals Statistics show without a type
    assert sum(r.calls for r in call_type_stats.by_type()) == reports.statistics()[1].calls


def test_a_zone_change_rebuilds_the_type_totals_from_the_calls(called):
    before = _by_type(call_type_stats.by_type())
    with db.atomic():
        call_days.rebuild(settings.zone())
    assert _by_type(call_type_stats.by_type()) == before
    db.execute_sql("DELETE FROM call_daily")  # the triggers empty the totals too
    assert call_type_stats.by_type() == []
    with db.atomic():
        call_days.rebuild(settings.zone())
    assert _by_type(call_type_stats.by_type()) == before


def test_the_call_log_filters_by_type(called):
    page = reports.calls_page(call_type="international")
    assert sorted(c.dialed for c in page.rows) == ["0049301234", "0049301235"]
    assert {c.call_type for c in page.rows} == {"international"}
    assert [c.dialed for c in reports.iter_calls(call_type="local")] == ["8123"]
    assert len(reports.calls_page().rows) == 5


# --- web ---------------------------------------------------------------------------

def test_rate_form_list_and_tester_show_the_type(billing):  # noqa: F811
    form = {"prefix": "00", "rate": "0.5", "unit": "60", "all_extensions": "1",
            "active": "1", "call_type": "international", "start": "00:00", "end": "24:00"}
    billing.post("/rates/add", form, check=303)
    rate = Rate.get(Rate.prefix == "00")
    assert rate.call_type == "international"
    page = billing.get(f"/rates/{rate.id}/edit", check=200).text
    assert '<option value="international" selected>' in page
    billing.post("/rates/add", dict(form, prefix="13", call_type="mobile"), check=303)
    listed = billing.get("/rates?type=mobile", check=200).text
    assert f'data-rate="{rate.id}"' not in listed and "Mobile" in listed
    assert f'data-rate="{rate.id}"' in billing.get("/rates", check=200).text
    bad = billing.post("/rates/add", dict(form, prefix="14", call_type="cellular"), check=400)
    assert "unknown call type" in bad.text and not Rate.select().where(Rate.prefix == "14").exists()
    tested = billing.get("/rates/test?extension=1001&dialed=0012345", check=200).text
    assert 'id="test-type">Call type: International.' in tested


def test_the_call_log_page_and_its_export_carry_the_type(billing):  # noqa: F811
    make_rate("13", rate="0.01", unit="1", call_type="mobile")
    make_rate("8", rate="0.01", unit="1", call_type="local")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], amount("5"), "t")
    _call("m1", "1001", "13912345678", 30)
    _call("l1", "1001", "8123", 10)
    page = billing.get("/calls?type=mobile", check=200).text
    assert "13912345678" in page and "8123" not in page and ">Mobile</td>" in page
    assert '<option value="mobile" selected>' in page
    assert "export.csv?from=&amp;to=&amp;q=&amp;dept=&amp;type=mobile" in page
    exported = billing.get("/calls/export.csv?type=local", check=200).text.lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][-2] == "Call Type" and [r[-2] for r in rows[1:]] == ["local"]
    assert "unknown call type 'x'" in html.unescape(billing.get("/calls?type=x", check=400).text)
    billing.get("/calls/export.csv?type=x", check=400)


def test_statistics_page_splits_and_filters_by_type(billing):  # noqa: F811
    make_rate("13", rate="0.01", unit="1", call_type="mobile")
    make_rate("00", rate="0.01", unit="1", call_type="international")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], amount("5"), "t")
    _call("m1", "1001", "13912345678", 30)
    _call("i1", "1001", "0049301234", 60)
    day = settings.local(T0).date().isoformat()
    page = billing.get(f"/statistics?from={day}&to={day}", check=200).text
    assert 'data-type="mobile"' in page and 'data-type="international"' in page
    only = billing.get(f"/statistics?from={day}&to={day}&type=mobile", check=200).text
    assert '<span class="card-value" id="total-calls">1</span>' in only
    assert "type=mobile" in only  # the link to the same range in the Call Log
    assert "unknown call type" in billing.get("/statistics?type=cellular", check=400).text


def test_barred_types_on_the_edit_and_bulk_edit_forms(billing):  # noqa: F811
    base = {"n": "1001", "name": "Room 1", "credit": "0", "status": "unlocked",
            "payment_type": "prepaid", "low_threshold": ""}
    billing.post("/extensions/edit", dict(base, barred=["international", "premium"]), check=303)
    assert ext("1001").barred_types == "international,premium"
    page = billing.get("/extensions/edit?n=1001", check=200).text
    assert 'id="barred-international" checked' in page and 'id="barred-mobile" >' in page
    refused = billing.post("/extensions/edit", dict(base, name="Changed", barred=["free"]),
                           check=400)
    assert "never be barred" in refused.text
    assert (ext("1001").name, ext("1001").barred_types) == ("Room 1", "international,premium")
    # bulk: only when "set_barred" is ticked, and that alone is a change
    billing.post("/extensions/bulk-edit", {"n": ["1001", "1002"], "set_barred": "1",
                                           "barred": ["mobile"]}, check=303)
    assert [ext(n).barred_types for n in ("1001", "1002")] == ["mobile", "mobile"]
    billing.post("/extensions/bulk-edit", {"n": ["1001"], "set_credit": "1", "credit": "1",
                                           "barred": ["local"]}, check=303)
    assert ext("1001").barred_types == "mobile"
    refused = billing.post("/extensions/bulk-edit", {"n": ["1002"], "set_barred": "1",
                                                     "barred": ["free"]}, check=400)
    assert "never be barred" in refused.text and ext("1002").barred_types == "mobile"


def test_the_call_barring_page_sets_each_departments_types(billing):  # noqa: F811
    assert 'id="no-departments"' in billing.get("/barring", check=200).text
    rooms, staff = department("Rooms", "1001"), department("Staff", "1002")
    page = billing.get("/barring", check=200).text
    assert f'name="barred_{rooms.id}" value="international"' in page
    assert 'value="free"' not in page  # never offered
    billing.post("/barring", [(f"barred_{rooms.id}", "international"),
                              (f"barred_{rooms.id}", "premium")], check=303)
    assert Department.get_by_id(rooms.id).barred_types == "international,premium"
    assert Department.get_by_id(staff.id).barred_types == ""
    refused = billing.post("/barring", [(f"barred_{staff.id}", "free")], check=400)
    assert "never be barred" in refused.text
    assert Department.get_by_id(rooms.id).barred_types == "international,premium"
    assert "/barring" in billing.get("/rates", check=200).text


def test_every_type_has_a_label():
    assert set(calltypes.LABELS) == set(calltypes.CALL_TYPES)
    assert calltypes.label("") == "no rate"


def test_the_statistics_download_has_a_row_per_period_and_type(billing):  # noqa: F811
    make_rate("13", rate="0.01", unit="1", call_type="mobile")
    make_rate("00", rate="0.01", unit="1", call_type="international")
    accounts.edit(["1001", "1002"], billing_enabled=True)
    accounts.recharge(["1001", "1002"], amount("5"), "t")
    _call("m1", "1001", "13912345678", 30)
    _call("i1", "1001", "0049301234", 60)
    _call("i2", "1002", "0049301235", 6, at=T0 + 86400)
    day = settings.local(T0).date()
    span = f"from={day.isoformat()}&to={day.replace(day=28).isoformat()}"
    page = billing.get(f"/statistics?{span}", check=200).text
    assert f'href="/statistics/export.csv?by=day&amp;{span.replace("&", "&amp;")}"' in page

    def download(query):
        text = billing.get(f"/statistics/export.csv?{query}", check=200).text.lstrip("\ufeff")
        return [[from_spreadsheet(cell) for cell in row] for row in csv.reader(io.StringIO(text))]

    rows = download(f"by=month&{span}")
    assert rows[0] == ["Month", "Call Type", "Calls", "Answered", "Duration (s)", "Cost (USD)"]
    assert rows[1:] == [["2026-11", "mobile", "1", "1", "30", "0.30"],
                        ["2026-11", "international", "2", "2", "66", "0.66"]]
    assert download(f"by=day&{span}&extension=1002&type=international")[1:] == [
        [(day + dt.timedelta(days=1)).isoformat(), "international", "1", "1", "6", "0.06"]]
    book = billing.download_xlsx(f"/statistics/export.xlsx?by=year&{span}")
    assert book.status == 200
    billing.get("/statistics/export.csv?type=cellular", check=400)
    billing.get("/statistics/export.csv?extension=4040", check=400)
