"""The rate table: validation messages, CRUD, CSV import/export, the cached index."""

import csv
import datetime as dt
import io

import pytest

from billing_addon import rates
from billing_addon.cells import TEXT_MARK
from billing_addon.store import Rate

from .helpers import make_extension, make_rate

GOOD = {"prefix": "9", "length": "9", "initial_cost": "0.5", "initial_time": "60", "rate": "0.1",
        "unit": "60", "start": "08:00", "end": "18:00", "remarks": "City", "all_extensions": True}


@pytest.mark.parametrize("field, value, message", [
    ("prefix", "9a", "digits only"),
    ("prefix", "", "required"),
    ("prefix", "٩", "digits only"),          # a non-ASCII digit is not a dial digit
    ("length", "-1", "whole number"),
    ("length", "x", "whole number"),
    ("length", "33", "from 0 to 32"),
    ("unit", "0", "from 1 to"),
    ("initial_time", "1.5", "whole number"),
    ("rate", "-0.1", "negative"),
    ("initial_cost", "abc", "not a number"),
    ("start", "25:00", "time of day"),
    ("start", "8", "HH:MM"),
    ("end", "08:00", "must differ"),          # start == end
    ("remarks", "x" * 201, "200"),
])
def test_each_bad_field_gets_its_message(db_path, field, value, message):
    form = dict(GOOD, **{field: value})
    with pytest.raises(rates.RateError) as info:
        rates.validate(form)
    assert message in info.value.errors[field]


def test_several_errors_at_once(db_path):
    with pytest.raises(rates.RateError) as info:
        rates.validate(dict(GOOD, prefix="x", unit="0"))
    assert set(info.value.errors) == {"prefix", "unit"}


def test_length_shorter_than_prefix(db_path):
    with pytest.raises(rates.RateError, match="prefix"):
        rates.validate(dict(GOOD, prefix="0086", length="3"))


def test_all_day(db_path):
    values = rates.validate(dict(GOOD, start="00:00", end="24:00"))
    assert (values.start_s, values.end_s) == (0, 86400)


def test_unknown_extension_refused(db_path):
    with pytest.raises(rates.RateError, match="unknown extension"):
        rates.add(rates.validate(dict(GOOD, all_extensions=False, extensions="4040")))
    assert Rate.select().count() == 0


def test_index_follows_changes(db_path):
    make_extension("1001")
    row = make_rate("9", "9")
    noon = dt.time(12)
    assert rates.index().match("1001", "912345678", noon).id == row.id
    rates.set_active([row.id], False)
    assert rates.index().match("1001", "912345678", noon) is None
    rates.set_active([row.id], True)
    rates.update(row.id, rates.validate(dict(GOOD, prefix="8", all_extensions=True)))
    assert rates.index().match("1001", "812345678", dt.time(9)).id == row.id
    rates.delete([row.id])
    assert len(rates.index()) == 0


CSV = """active,remarks,prefix,length,initial_cost,initial_time,rate,unit,start,end,extensions,call_type
1,City,9,9,0,0,0.05,60,00:00,24:00,*,local
1,Mobile,9,12,0.1,30,0.15,30,08:00,20:00,1001 1002,mobile
0,Night,9,0,0,0,0.01,60,22:00,06:00,1001,other
"""


def test_csv_round_trip(db_path, tmp_path):
    make_extension("1001")
    make_extension("1002")
    assert rates.import_csv(CSV) == 3
    out = tmp_path / "deck.csv"
    with open(out, "w", newline="") as f:
        rates.export_csv(f)
    exported = out.read_text()
    # prefixes and extension lists are marked as text for spreadsheets (billing_addon.cells)
    assert exported.replace(TEXT_MARK, "") == CSV and exported.count(TEXT_MARK) == 3 + 2
    assert rates.import_csv(exported, replace=True) == 3
    assert Rate.select().count() == 3


@pytest.mark.parametrize("text, line, message", [
    (CSV.replace("1,Mobile,9,12", "1,Mobile,9x,12"), 3, "digits only"),
    (CSV.replace("0,Night,9,0,0,0,0.01,60", "0,Night,9,0,0,0,0.01,0"), 4, "billing unit"),
    (CSV + "1,Short,9\n", 5, "fields"),
    ("prefix,rate\n9,1\n", 1, "missing column"),
    ("", None, "empty"),
    ("nonsense;header\n", 1, "unknown column"),
    (CSV.replace("1001 1002", "1001 7777"), 3, "unknown extension"),
    # an active cell it does not know (a Spanish Excel's TRUE, a typo) is never "off"
    (CSV.replace("1,Mobile,9,12", "VERDADERO,Mobile,9,12"), 3, "use 1 or 0"),
    (CSV.replace("0,Night,9,0", "x,Night,9,0"), 4, "use 1 or 0"),
    # more than the csv module reads in one cell
    (CSV + '1,"' + "x" * 140_000 + '",9,0,0,0,0.01,60,,,*,other\n', 5,
     "not a CSV file the import can read"),
])
def test_malformed_csv_reports_line_and_imports_nothing(db_path, text, line, message):
    make_extension("1001")
    make_extension("1002")
    make_rate("7")
    with pytest.raises(rates.RateError) as info:
        rates.import_csv(text, replace=True)
    assert info.value.line == line
    assert message in str(info.value)
    assert [r.prefix for r in Rate.select()] == ["7"]  # the old deck is untouched


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_deck_imports_whatever_its_lines_end_with(db_path, ending):
    """LF, CRLF, or the bare CR of Excel for Mac's "CSV (Macintosh)"; an empty active
    cell is active, as a file without the column."""
    deck = ending.join(["active,prefix,rate,unit,extensions", "1,9,0.01,1,*", ",8,0.02,1,*",
                        "no,7,0.03,1,*"]) + ending
    assert rates.import_csv(deck, replace=True) == 3
    assert [(r.prefix, r.active) for r in Rate.select().order_by(Rate.prefix.desc())] == [
        ("9", True), ("8", True), ("7", False)]


@pytest.mark.parametrize("remarks", ["=HYPERLINK(\"http://x\",\"y\")", "+SUM(A1)", "-1 night",
                                     "@cmd", "'quoted already", "'=x", "plain"])
def test_remarks_a_spreadsheet_would_run_are_exported_inert_and_import_back_unchanged(
        db_path, tmp_path, remarks):
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "remarks": remarks,
                              "all_extensions": True}))
    out = io.StringIO()
    rates.export_csv(out)
    cell = next(csv.reader(io.StringIO(out.getvalue().splitlines()[1])))[1]
    assert cell[:1] not in ("=", "+", "-", "@")
    assert rates.import_csv(out.getvalue(), replace=True) == 1
    assert Rate.get().remarks == remarks


def test_a_prefix_may_start_with_plus_for_numbers_dialed_in_international_form(db_path):
    from billing_addon import calls

    make_extension("1001", balance="10")
    rates.add(rates.validate({"prefix": "+49", "rate": "0.20", "unit": "60",
                              "all_extensions": True}))
    auth = calls.authorize("1001", "+4930123456", 1795441378, "plus.1")
    assert auth.result == "ALLOWED" and auth.rate_id is not None
    for bad in ("4+9", "++49", "+", "+4a"):
        with pytest.raises(rates.RateError):
            rates.validate({"prefix": bad, "rate": "0.20", "unit": "60"})


def test_a_spreadsheet_keeps_exported_prefixes_and_extensions_as_typed(db_path, tmp_path):
    """LibreOffice opens the exported deck: `0049` and `+49` stay text as typed (not the
    numbers 49 and 49), and the export imports back unchanged."""
    from .spreadsheet import libreoffice_reads

    make_extension("0101")
    make_rate("0049", remarks="Germany")
    make_rate("+49", extensions=["0101"], all_extensions=False)
    path = tmp_path / "rates.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        rates.export_csv(out)
    ws = libreoffice_reads(path, tmp_path).active
    header = [c.value for c in ws[1]]
    prefix, extensions = header.index("prefix"), header.index("extensions")
    rows = list(ws.iter_rows(min_row=2))
    assert all(row[prefix].data_type == "s" for row in rows)
    assert sorted(row[prefix].value.replace(TEXT_MARK, "") for row in rows) == ["+49", "0049"]
    assert "0101" in [str(row[extensions].value).replace(TEXT_MARK, "") for row in rows]
    assert rates.import_csv(path.read_text(encoding="utf-8"), replace=True) == 2
    assert sorted((r.prefix, sorted(r.extensions)) for r in rates.load_all()) == [
        ("+49", ["0101"]), ("0049", [])]


# --- issue 13 item 14: a big import does not hold calls up -----------------------------


def test_a_big_import_never_holds_the_write_lock_long(db_path):
    """Calls authorized while a 20,000-row deck is imported wait milliseconds, not the
    import: it is staged in short transactions and put in force by one more."""
    import threading
    import time

    from billing_addon import calls

    make_extension("1001", balance="1000")
    make_rate("9", "0", rate="0.01", unit="1")
    deck = "prefix,length,rate,unit,extensions\n" + "".join(
        f"8{i:06d},0,0.02,60,*\n" for i in range(20_000))
    seen = []
    importer = threading.Thread(target=lambda: rates.import_csv(
        deck, progress=lambda done, total: seen.append(done)))
    waits = []
    importer.start()
    i = 0
    while importer.is_alive() and i < 100_000:
        t0 = time.perf_counter()
        calls.authorize("1001", "91234", None, f"c{i}")
        waits.append(time.perf_counter() - t0)
        calls.settle(f"c{i}", 1)
        i += 1
    importer.join()
    assert len(waits) > 20, "the import was over before calls were made"
    assert max(waits) < 1.0, f"an authorize waited {max(waits):.3f} s"  # was 5 s and more
    assert len(seen) > 10 and seen[-1] == 20_000  # progress was reported along the way
    assert len(rates.load_all()) == 20_001
    assert rates.index().match("1001", "80000123", dt.time(9)).rate == 200


def test_an_import_refused_halfway_changes_nothing(db_path):
    make_extension("1001")
    make_rate("9", "0")
    deck = "prefix,rate,unit,extensions\n" + "8,0.01,60,1001\n" * 1000 + "7,0.01,60,4040\n"
    with pytest.raises(rates.RateError, match="line 1002.*unknown extension"):
        rates.import_csv(deck, replace=True)
    assert [r.prefix for r in rates.load_all()] == ["9"] and Rate.select().count() == 1


# --- issue 13 item 6: rates that never apply, and 23:59 ---------------------------------


def _r(id, prefix="9", length=0, start=0, end=86400, exts=None, active=True):
    from billing_addon import rating

    return rating.Rate(id=id, prefix=prefix, length=length, start=start, end=end,
                       extensions=frozenset(exts or ()), all_extensions=exts is None,
                       active=active)


@pytest.mark.parametrize("deck, never", [
    ([_r(1), _r(2)], {2: 1}),                              # a duplicate: the older wins
    ([_r(1, length=9), _r(2, length=12)], {}),             # other lengths both apply
    ([_r(1), _r(2, start=3600, end=7200)], {}),            # a shorter block wins its hours
    ([_r(1, exts=["1001"]), _r(2)], {}),                   # all extensions: the others'
    ([_r(1), _r(2, exts=["1001"])], {}),                   # by name beats all
    ([_r(1, exts=["1001", "1002"]), _r(2, exts=["1001"])], {2: 1}),  # a subset by name
    ([_r(1, exts=["1001"]), _r(2, exts=["1001", "1002"])], {}),      # 1002 only has 2
    ([_r(1, active=False), _r(2)], {}),                    # an inactive one wins nothing
    ([_r(1), _r(2), _r(3)], {2: 1, 3: 1}),
    ([_r(1, prefix="9"), _r(2, prefix="90")], {}),
])
def test_shadowed(deck, never):
    assert rates.shadowed(deck) == never


def test_every_shadowed_rate_really_never_matches():
    """The rule agrees with matching itself, over every second of a day's blocks."""
    import itertools

    from billing_addon import rating

    deck = [_r(i, length=ln, start=s, end=e, exts=x) for i, (ln, (s, e), x) in enumerate(
        itertools.product((0, 5), ((0, 86400), (3600, 7200)), (None, ["1001"], ["1001", "1002"])),
        start=1)]
    deck += [_r(100 + r.id, length=r.length, start=r.start, end=r.end,
                exts=None if r.all_extensions else sorted(r.extensions)) for r in deck]
    never = rates.shadowed(deck)
    index = rating.RateIndex(deck)
    chosen = {index.match(ext, "91234", sod).id for ext in ("1001", "1002", "1003")
              for sod in (0, 3600, 5000, 86399)}
    assert not set(never) & chosen  # what is said never to apply is never chosen
    assert {r.id for r in deck if r.id >= 100} <= set(never)  # and every copy is said so


def test_save_warns_of_a_duplicate_and_of_2359(db_path):
    first = make_rate("9", "9")
    values = rates.validate(dict(GOOD, start="00:00", end="23:59", length="9", prefix="9"))
    assert rates.warnings(values) == [
        "it ends at 23:59, so calls started from 23:59:00 to 23:59:59 get no rate (the end is "
        "exclusive): use 24:00 to end at midnight"]
    second = make_rate("9", "9")
    assert rates.save_warnings(second.id, rates.validate(
        {"prefix": "9", "length": "9", "rate": "1", "unit": "60", "all_extensions": True})) == [
        f"it never applies: rate {first.id} has the same prefix, number length, time and "
        "extensions and is older"]
    assert rates.never_apply() == {second.id: first.id}
    rates.import_csv("prefix,length,rate,unit,end,extensions\n9,9,1,60,24:00,*\n8,0,1,60,23:59,*\n")
    assert rates.import_warnings() == [
        "1 rate(s) end at 23:59, leaving 23:59:00-23:59:59 without a rate (use 24:00)",
        "2 rate(s) never apply: an older rate has the same prefix, number length, time and "
        "extensions (marked in the Rates list)"]
