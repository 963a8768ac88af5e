"""Master.csv: parsing the recorded files, the billable-row rule, one-shot import, and
the follower (growth, partial lines, rotation, truncation, restarts, bad lines)."""

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_addon import accounts, calls, money, rates
from billing_addon import settings as billing_settings
from billing_addon.pbx import cdr
from billing_addon.pbx.cdrfollow import CdrFollower
from billing_addon.store import Call, Extension, Ledger
from tests.pbx_support import FIXTURES

CDR = FIXTURES / "cdr"


def recorded():
    """The fixtures were recorded with a dialplan that sets no CDR mark: bill every
    caller Dial row of a billing-enabled extension, as the ``mark =`` setting does."""
    return cdr.Settler(mark=None)
INDEX = json.loads((FIXTURES / "index.json").read_text(encoding="utf-8"))
RATE = money.parse_amount("0.01")  # per second
# billsec of every billable row in Master-21col.csv: a b c d g i j j k l
TOTAL_21 = 5 + 20 + 0 + 0 + 3 + 3 + 5 + 5 + 6 + 20


def rows_of(path):
    stats = cdr.Stats()
    return list(cdr.billable_rows(cdr.read_lines(str(path)), stats)), stats


@pytest.fixture
def billing(db_path):
    billing_settings.put("timezone", "Asia/Shanghai")
    accounts.ensure_extension("1001", "Ext 1001")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("100"), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))
    return db_path


def balance():
    return Extension.get(Extension.number == "1001").balance


def charged_calls():
    return Ledger.select().where(Ledger.kind == "call").count()


# --- parsing ------------------------------------------------------------------------

def test_billable_rows_are_the_ones_the_readme_names():
    rows, stats = rows_of(CDR / "Master-21col.csv")
    assert stats.errors == 0 and stats.lines == 50
    expected = {}
    for scenario in INDEX["scenarios"]:
        for call in scenario["calls"]:
            if call["billable_cdr_row"] and scenario["name"] != "n-cdr18-answered":
                expected[call["uniqueid"]] = call["billable_cdr_row"]["billsec"]
    assert {r.uniqueid: r.billsec for r in rows} == expected
    # denied, failed and server-down calls (e, f, f2, h, m) have no billable row
    assert all(r.lastapp == "Dial" and r.channel.endswith(";2") for r in rows)


def test_18_column_file():
    rows, stats = rows_of(CDR / "Master-18col.csv")
    assert stats.errors == 0
    assert [(r.uniqueid, r.billsec, r.dial_status, r.linkedid) for r in rows] == [
        ("1795441534.101", 5, "ANSWER", "")]


def test_quoted_fields_and_empty_answer():
    line = (CDR / "by-scenario" / "c-busy.csv").read_text(encoding="utf-8").splitlines()[1]
    row = cdr.parse_line(line)
    assert row.lastapp == "Dial" and row.disposition == "BUSY" and row.dial_status == "BUSY"
    first = cdr.parse_line((CDR / "Master-21col.csv").read_text(encoding="utf-8").splitlines()[0])
    assert first.src == "1001" and first.uniqueid == "1795441378.3"


def test_local_time_is_the_box_zone():
    from zoneinfo import ZoneInfo

    # README: uniqueid 1795441378.1 = 13:42:58 UTC; its CDR start is 21:42:58 in Shanghai
    assert cdr.local_to_utc("2026-11-23 21:42:58", ZoneInfo("Asia/Shanghai")) == 1795441378


@pytest.mark.parametrize("line, message", [
    ('"1001","1001","91234567"', "3 columns"),                       # too few columns
    ("", "0 columns"),
    ("garbage without commas", "1 columns"),
    ('"1001","1001",' + ",".join(['"x"'] * 10) + ',x,y' + ',"a"' * 7, "not numbers"),
    ('"unterminated,' + "," * 20, "not CSV"),                           # open quote
])
def test_bad_lines(line, message):
    with pytest.raises(cdr.CdrError, match=message):
        cdr.parse_line(line)


# --- one-shot import ----------------------------------------------------------------

def test_import_charges_each_call_once_even_when_replayed(billing):
    before = balance()
    first = cdr.import_file(str(CDR / "Master-21col.csv"), settler=recorded())
    assert (first.billable, first.charged, first.errors) == (10, 10, 0)
    assert before - balance() == TOTAL_21 * RATE
    again = cdr.import_file(str(CDR / "Master-21col.csv"), settler=recorded())
    assert (again.charged, again.already) == (0, 10)
    assert before - balance() == TOTAL_21 * RATE
    assert charged_calls() == 8  # the two unanswered calls cost nothing: no ledger entry
    call = Call.get(Call.uniqueid == "1795441378.1")
    assert (call.source, call.answered_s, call.started_utc, call.dialed) == (
        "cdr", 5, 1795441378, "91234567")
    assert accounts.verify() == []


def test_import_for_a_period(billing):
    # calls a and b started 21:42:58 and 21:43:09 local
    stats = cdr.import_file(str(CDR / "Master-21col.csv"), settler=recorded(), since="2026-11-23 21:42:00",
                            until="2026-11-23 21:43:30")
    assert (stats.charged, stats.outside) == (2, 8)
    assert balance() == money.parse_amount("100") - 25 * RATE


def test_extension_not_billed_is_not_charged_but_appears(db_path):
    stats = cdr.import_file(str(CDR / "Master-18col.csv"), settler=recorded())
    assert stats.not_billed == 1 and Call.select().count() == 0
    assert Extension.get(Extension.number == "1001").source == "dialed"


def test_file_truncated_mid_line_and_bad_rows_are_reported(billing, tmp_path):
    good = (CDR / "by-scenario" / "a-limit-cut.csv").read_bytes()
    b_rows = (CDR / "by-scenario" / "b-ends-before-limit.csv").read_bytes()
    path = tmp_path / "Master.csv"
    path.write_bytes(b'"1001","1001"\n' + b"\x00\xff garbage\n" + good + b_rows[:57])
    stats = cdr.import_file(str(path), settler=recorded())
    assert stats.charged == 1 and stats.errors == 3
    assert any("no LF" in p for p in stats.problems)


# --- the follower -------------------------------------------------------------------

def scenario_bytes(name):
    return (CDR / "by-scenario" / f"{name}.csv").read_bytes()


def append(path, data):
    with open(path, "ab") as fh:
        fh.write(data)


def test_follows_growth_and_waits_for_partial_lines(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(b"")
    follower = CdrFollower(str(path), settler=recorded())
    follower.poll()
    data = scenario_bytes("a-limit-cut")
    append(path, data[:100])  # Asterisk is in the middle of writing a row
    follower.poll()
    assert follower.offset == 0
    append(path, data[100:])
    follower.poll()
    assert follower.stats.charged == 1 and follower.offset == len(data)
    append(path, scenario_bytes("b-ends-before-limit"))
    follower.poll()
    assert follower.stats.charged == 2 and follower.stats.errors == 0


def test_starts_at_the_end_without_saved_state(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    follower = CdrFollower(str(path), start="end", settler=recorded())
    follower.poll()
    assert follower.stats.charged == 0
    append(path, scenario_bytes("k-limit-with-warning"))
    follower.poll()
    assert follower.stats.charged == 1


def test_rotation_finishes_the_old_file_first(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    follower = CdrFollower(str(path), start="beginning", settler=recorded())
    follower.poll()
    append(path, scenario_bytes("b-ends-before-limit"))  # written before the rotation
    os.rename(path, tmp_path / "Master.csv.1")
    path.write_bytes(scenario_bytes("g-invalid-command"))  # the new file
    follower.poll()
    assert follower.stats.charged == 3
    append(path, scenario_bytes("i-reply-formats"))
    follower.poll()
    assert follower.stats.charged == 4 and follower.stats.errors == 0
    assert accounts.verify() == []


def test_rotated_file_with_a_truncated_last_line(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    follower = CdrFollower(str(path), start="beginning", settler=recorded())
    follower.poll()
    append(path, scenario_bytes("b-ends-before-limit")[:80])  # cut off mid-line
    os.rename(path, tmp_path / "Master.csv.1")
    path.write_bytes(scenario_bytes("k-limit-with-warning"))
    follower.poll()
    assert follower.stats.charged == 2 and follower.stats.errors == 1


def test_copytruncate_is_read_from_the_start(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut") + scenario_bytes("b-ends-before-limit"))
    follower = CdrFollower(str(path), start="beginning", settler=recorded())
    follower.poll()
    assert follower.stats.charged == 2
    with open(path, "r+b") as fh:  # logrotate copytruncate, then Asterisk writes on
        fh.truncate(0)
    append(path, scenario_bytes("k-limit-with-warning"))
    follower.poll()
    assert follower.stats.charged == 3
    # shorter than before, but a longer file after a truncation is noticed too
    append(path, scenario_bytes("i-reply-formats") * 1)
    follower.poll()
    assert follower.stats.charged == 4


def test_truncated_then_regrown_past_the_offset(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    follower = CdrFollower(str(path), start="beginning", settler=recorded())
    follower.poll()
    with open(path, "r+b") as fh:
        fh.truncate(0)
    append(path, scenario_bytes("b-ends-before-limit") + scenario_bytes("k-limit-with-warning"))
    follower.poll()  # the file is longer than the old offset: the fingerprint tells
    assert follower.stats.charged == 3


def test_restart_resumes_at_the_saved_position(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    first = CdrFollower(str(path), start="beginning", settler=recorded())
    first.poll()
    first.close()
    append(path, scenario_bytes("b-ends-before-limit"))
    second = CdrFollower(str(path), start="beginning", settler=recorded())
    second.poll()
    assert (second.stats.charged, second.stats.already) == (1, 0)  # a was not read again
    assert second.stats.lines == 4


def test_rotated_while_stopped(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(scenario_bytes("a-limit-cut"))
    first = CdrFollower(str(path), start="beginning", settler=recorded())
    first.poll()
    first.close()
    append(path, scenario_bytes("b-ends-before-limit"))
    os.rename(path, tmp_path / "Master.csv.1")
    path.write_bytes(scenario_bytes("k-limit-with-warning"))
    second = CdrFollower(str(path), settler=recorded())
    second.poll()
    assert (second.stats.charged, second.stats.already) == (2, 0)
    assert charged_calls() == 3 and accounts.verify() == []


def test_bad_lines_do_not_stop_the_follower(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(b"")
    follower = CdrFollower(str(path), settler=recorded())
    follower.poll()
    append(path, b'"too","few","columns"\n' + b'"1001","1001",,,,' + b"\n")
    append(path, scenario_bytes("a-limit-cut")[:50])  # Asterisk died mid-row ...
    append(path, scenario_bytes("b-ends-before-limit"))  # ... and wrote on after restart
    follower.poll()
    assert follower.stats.errors == 3 and follower.stats.charged == 0 + 1
    assert follower.offset == path.stat().st_size


def test_a_never_ending_line_is_skipped(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_bytes(b"")
    follower = CdrFollower(str(path), settler=recorded())
    follower.poll()
    append(path, b"x" * 20000)
    follower.poll()
    append(path, b"\n" + scenario_bytes("a-limit-cut"))
    follower.poll()
    assert follower.stats.charged == 1 and follower.stats.errors >= 1


# --- which rows may bill a call that authorize never saw (the review's findings) ------

def _row(uniqueid, src, dst, userfield="", channel="PJSIP/201-00000001"):
    return (f'"{src}","{src}","{dst}","from-internal","""x"" <{src}>","{channel}",'
            f'"PJSIP/trunk-00000002","Dial","PJSIP/{dst}@trunk,30","2026-11-23 21:42:58",'
            f'"2026-11-23 21:43:00","2026-11-23 21:44:00",62,60,"ANSWERED","DOCUMENTATION",'
            f'"{uniqueid}","{userfield}","","{uniqueid}",1\n')


def test_unmarked_rows_of_unknown_calls_are_not_billed(billing, tmp_path):
    """Inbound, internal and a phone's own Dial row through a Local channel carry no
    mark: they neither bill nor create extensions.  The marked row of a fail-open call
    bills; a known call settles from its row with or without the mark."""
    before = balance()
    calls.authorize("1001", "93334444", 1795441378, "known.1")
    path = tmp_path / "Master.csv"
    path.write_text(_row("in.1", "13800138000", "1001")         # inbound from a trunk
                    + _row("int.1", "1001", "91112222")         # no mark: not ours
                    + _row("known.1", "1001", "93334444")       # authorized: settles
                    + _row("open.1", "1001", "95556666", cdr.BILLING_MARK))  # fail-open
    stats = cdr.import_file(str(path))
    assert (stats.charged, stats.not_billed) == (2, 2)
    assert not Extension.select().where(Extension.number == "13800138000").exists()
    assert {c.uniqueid for c in Call.select()} == {"known.1", "open.1"}
    assert before - balance() == 2 * 60 * RATE
    assert accounts.verify() == []


def test_marked_rows_are_not_billed_while_billing_is_off(billing, tmp_path):
    path = tmp_path / "Master.csv"
    path.write_text(_row("open.2", "1001", "95556666", cdr.BILLING_MARK))
    stats = cdr.import_file(str(path), settler=cdr.Settler(billing_state=lambda: "deactivated"))
    assert stats.charged == 0 and Call.select().count() == 0


def _settle_env(*args):
    """Just what ``handlers.settle`` reads: the env of a hangup-handler settle."""
    env = {"agi_uniqueid": args[2]}
    env.update({f"agi_arg_{i + 1}": a for i, a in enumerate(args)})
    return env


def test_agi_settle_of_a_call_never_authorized_follows_the_billing_state(billing):
    from billing_addon.pbx import agi, handlers

    args = ("60", "ANSWER", "1795441378.9", "60", "1001", "93334444")
    settle = handlers.settle(_settle_env(*args), lambda: "deactivated")
    assert agi.run_inline(settle).outcome == "unknown"
    assert Call.select().count() == 0
    assert agi.run_inline(handlers.settle(_settle_env(*args), lambda: "active")).outcome == "charged"
    assert balance() == money.parse_amount("100") - 60 * RATE


# --- parsing many lines at once ------------------------------------------------------

_DAMAGED = [
    _row("d.1", "1001", "91112222").rstrip("\n").replace('"Dial"', '"Dial', 1),  # open quote
    "1,2,3",                                                       # too few columns
    '"x"y,' * 20,                                                  # bad quoting
    _row("d.2", "1001", "9", channel="a\rb").rstrip("\n"),         # CR inside a line
    "",
    "   ",
]


def _per_line(lines):
    out = []
    for where, line in lines:
        if not line.strip():
            out.append((where, None))
            continue
        try:
            out.append((where, cdr.parse_line(line)))
        except cdr.CdrError as exc:
            out.append((where, str(exc)))
    return out


@pytest.mark.parametrize("damaged", _DAMAGED)
def test_a_damaged_line_in_a_chunk_keeps_its_neighbours(damaged):
    """One reader for a whole chunk must give each line the verdict it gets alone: an
    open quote must not swallow the next (billable) line."""
    good = [_row(f"g.{n}", "1001", "91112222").rstrip("\n") for n in range(3)]
    lines = [(f"line {n}", text) for n, text in enumerate([good[0], damaged, good[1], good[2]])]
    got = [(w, str(p) if isinstance(p, cdr.CdrError) else p) for w, p in cdr._parse_chunk(lines)]
    assert got == _per_line(lines)
    assert [p.uniqueid for _, p in got if isinstance(p, cdr.CdrRow)][-2:] == ["g.1", "g.2"]


@given(st.lists(st.sampled_from([_row("p.1", "1001", "91112222").rstrip("\n")] + _DAMAGED),
                max_size=30))
@settings(max_examples=60, deadline=None)
def test_chunk_parsing_equals_line_by_line(texts):
    lines = [(f"line {n}", text) for n, text in enumerate(texts)]
    got = [(w, str(p) if isinstance(p, cdr.CdrError) else p) for w, p in cdr._parse_chunk(lines)]
    assert got == _per_line(lines)
