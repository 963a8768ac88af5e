"""How a one-shot CDR import writes (issue 17 item 4): 500 calls a transaction, each
call that authorize never saw written once, rows of other apps not built; the charges
stay those of settling each call alone (tests/test_pbx_cdr.py)."""

import threading
from zoneinfo import ZoneInfo

import pytest

from billing_addon import accounts, calls, money, rates, store
from billing_addon import settings as billing_settings
from billing_addon.pbx import cdr
from billing_addon.store import Call, Extension, Ledger
from tests.helpers import wait_until
from tests.pbx_support import cdr_rows

T0 = 1795441378
ZONE = "Asia/Shanghai"


@pytest.fixture
def billing(db_path):
    billing_settings.put("timezone", ZONE)
    accounts.ensure_extension("1001", "Ext 1001")
    accounts.edit(["1001"], billing_enabled=True)
    accounts.recharge(["1001"], money.parse_amount("100000"), "test")
    rates.add(rates.validate({"prefix": "9", "rate": "0.01", "unit": "1", "all_extensions": True}))
    return db_path


def write_master(path, calls: int) -> list:
    seconds = [(7 * i) % 120 for i in range(calls)]
    with open(path, "w", encoding="utf-8") as fh:
        for i, answered in enumerate(seconds):
            fh.write(cdr_rows(f"{T0 + i}.{i}", "1001", "91234567", T0 + i, answered, ZoneInfo(ZONE),
                              seq=3 * i, disposition="ANSWERED" if answered else "NO ANSWER"))
    return seconds


@pytest.fixture
def statements():
    """Every SQL statement this thread's connection runs."""
    seen: list = []
    store.db.connection().set_trace_callback(seen.append)
    yield seen
    store.db.connection().set_trace_callback(None)


@pytest.mark.sqlite_only("counts the statements by SQLite's trace callback")
def test_an_import_settles_500_calls_a_transaction(billing, tmp_path, statements):
    seconds = write_master(tmp_path / "Master.csv", 2500)
    stats = cdr.import_file(str(tmp_path / "Master.csv"), settler=cdr.Settler(mark=None))
    assert (stats.lines, stats.billable, stats.charged, stats.errors) == (7500, 2500, 2500, 0)
    assert sum(1 for s in statements if s == "COMMIT") == 5  # 2,500 calls, 500 a transaction
    assert [c.cost for c in Call.select().order_by(Call.id)] == [s * 100 for s in seconds]
    assert accounts.verify() == []


@pytest.mark.sqlite_only("the write queue of this process: PostgreSQL's call path does not queue")
def test_an_import_lets_writers_waiting_behind_it_go_first(billing, tmp_path, monkeypatch):
    """Once a writer of this process (an authorization, a settlement) is found waiting
    behind a batch, the import commits every cdr.STEP rows and lets it in: a caller waits
    for a step, not for a batch.  Alone it keeps whole batches (the test above)."""
    seconds = write_master(tmp_path / "Master.csv", 3 * cdr.BATCH)
    seen: list = []  # the calls settled, as the other writer saw them each time it wrote
    stop = threading.Event()

    def other_writer():
        while not stop.is_set():
            with store.money_txn():
                seen.append(store.sql_one("SELECT count(*) FROM call "
                                          "WHERE settled_utc IS NOT NULL")[0])

    settle_many = calls.settle_many

    def settle_many_then_see_it_queued(requests):
        settled = settle_many(requests)
        wait_until(lambda: store._writer.wanted, 10, "the other writer queued behind the import")
        return settled

    monkeypatch.setattr(calls, "settle_many", settle_many_then_see_it_queued)
    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        stats = cdr.import_file(str(tmp_path / "Master.csv"), settler=cdr.Settler(mark=None))
    finally:
        stop.set()
        writer.join(10)
    assert stats.charged == len(seconds) and stats.errors == 0
    # the first batch whole (nobody was seen waiting before it), then a step at a time
    assert set(seen) - {0} == set(range(cdr.BATCH, len(seconds) + 1, cdr.STEP)), sorted(set(seen))
    assert [c.cost for c in Call.select().order_by(Call.id)] == [s * 100 for s in seconds]
    assert accounts.verify() == []


@pytest.mark.sqlite_only("counts the statements by SQLite's trace callback")
def test_once_nobody_waits_the_steps_grow_back_to_whole_batches(billing, tmp_path, statements):
    """A Settler that last found writers waiting settles in small steps, but commits
    only once a batch while nobody waits, and its steps double back to a whole batch."""
    seconds = write_master(tmp_path / "Master.csv", 2 * cdr.BATCH)
    settler = cdr.Settler(mark=None)
    settler.step = cdr.STEP
    stats = cdr.import_file(str(tmp_path / "Master.csv"), settler=settler)
    assert stats.charged == len(seconds)
    assert sum(1 for s in statements if s == "COMMIT") == 2 and settler.step == cdr.BATCH
    assert accounts.verify() == []


def test_a_batch_that_fails_in_a_later_step_counts_nothing_of_it(billing, tmp_path,
                                                                  monkeypatch):
    """A batch settled in steps (as after the follower found a writer waiting) whose
    later step fails: the transaction is rolled back, and so are its counts; settled
    again (the follower tries the batch again), every call is counted once."""
    seconds = write_master(tmp_path / "Master.csv", cdr.BATCH)
    stats = cdr.Stats()
    rows = list(cdr.billable_rows(cdr.read_lines(str(tmp_path / "Master.csv")), stats))
    settler = cdr.Settler(mark=None)
    settler.step = cdr.STEP
    real, failing_uid = calls.settle_many, rows[4 * cdr.STEP].uniqueid

    def fails_at_a_later_step(requests):
        if any(request.uniqueid == failing_uid for request in requests):
            raise OSError("disk I/O error")
        return real(requests)

    monkeypatch.setattr(calls, "settle_many", fails_at_a_later_step)
    saved: list = []
    with pytest.raises(OSError):
        settler.settle(rows, stats, on_commit=lambda: saved.append(1))
    assert (stats.charged, stats.not_billed, Call.select().count(), saved) == (0, 0, 0, [])
    monkeypatch.setattr(calls, "settle_many", real)
    settler.settle(rows, stats, on_commit=lambda: saved.append(1))
    assert (stats.charged, stats.already, saved) == (len(seconds), 0, [1])
    assert [c.cost for c in Call.select().order_by(Call.id)] == [s * 100 for s in seconds]
    assert accounts.verify() == []


@pytest.mark.sqlite_only("counts the statements by SQLite's trace callback")
def test_a_call_authorize_never_saw_is_written_once(billing, tmp_path, statements):
    seconds = write_master(tmp_path / "Master.csv", 30)
    cdr.import_file(str(tmp_path / "Master.csv"), settler=cdr.Settler(mark=None))
    assert not [s for s in statements if s.startswith("UPDATE call ")]
    calls = list(Call.select().order_by(Call.id))
    assert [(c.status, c.answered_s, c.cost, c.source) for c in calls] == [
        ("charged", s, s * 100, "cdr") for s in seconds]
    assert all(c.settled_utc and c.dial_status in ("ANSWER", "NOANSWER") for c in calls)
    assert Ledger.select().where(Ledger.kind == "call").count() == sum(1 for s in seconds if s)
    start = money.parse_amount("100000")
    assert Extension.get(Extension.number == "1001").balance == start - sum(s * 100 for s in seconds)


def _dial_row(uniqueid, start, billsec=60):
    """One marked Dial row (21 columns) of a call authorize never saw, started ``start``."""
    return (f'"1001","1001","91234567","from-internal","""x"" <1001>","PJSIP/201-00000001",'
            f'"PJSIP/trunk-00000002","Dial","PJSIP/91234567@trunk,30","{start}",'
            f'"{start}","{start}",62,{billsec},"ANSWERED","DOCUMENTATION",'
            f'"{uniqueid}","billing","","{uniqueid}",1\n')


# a start no datetime can hold in the box's zone: year 10000 in UTC west of it, year 0
# east of it; the row is refused alone and the rest of the file is charged
EDGE_OF_THE_CALENDAR = [("America/New_York", "9999-12-31 23:59:59"),
                        ("Asia/Shanghai", "0001-01-01 00:00:00")]


@pytest.mark.parametrize("zone, start", EDGE_OF_THE_CALENDAR)
def test_a_row_dated_at_the_calendars_edge_is_refused_alone(billing, tmp_path, zone, start):
    billing_settings.put("timezone", zone)
    path = tmp_path / "Master.csv"
    path.write_text(_dial_row("1795441378.1", start) + _dial_row("1795441379.2", "2026-11-23 21:42:58"))
    stats = cdr.import_file(str(path))
    assert (stats.errors, stats.charged) == (1, 1)
    [problem] = stats.problems
    assert problem.startswith("call 1795441378.1: call start") and "between 1970 and 2100" in problem
    assert Ledger.select().where(Ledger.kind == "call").count() == 1
    assert accounts.verify() == []


@pytest.mark.parametrize("zone, start", EDGE_OF_THE_CALENDAR)
def test_the_follower_goes_past_a_row_at_the_calendars_edge(billing, tmp_path, zone, start):
    """Before, the row failed its whole batch on every poll: the saved position never
    moved, and no later call was charged from the CDR."""
    from billing_addon.pbx.cdrfollow import CdrFollower

    billing_settings.put("timezone", zone)
    path = tmp_path / "Master.csv"
    path.write_bytes(b"")
    follower = CdrFollower(str(path))
    follower.poll()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(_dial_row("1795441378.1", start) + _dial_row("1795441379.2", "2026-11-23 21:42:58"))
    follower.poll()
    assert Ledger.select().where(Ledger.kind == "call").count() == 1
    assert follower.offset == path.stat().st_size


def test_an_import_of_a_file_that_cannot_be_read_says_so(billing, tmp_path):
    with pytest.raises(IsADirectoryError):
        cdr.import_file(str(tmp_path), settler=cdr.Settler(mark=None))
    assert Call.select().count() == 0


def test_local_times_minute_by_minute_match_the_direct_conversion():
    zone = ZoneInfo("Europe/Berlin")  # 2026-03-29 02:00 does not exist, 2026-10-25 02:xx twice
    for text in ("2026-03-29 01:59:59", "2026-03-29 03:00:00", "2026-10-25 02:30:15",
                 "2026-10-25 03:00:00", "2026-11-23 21:42:58"):
        import datetime as dt

        direct = int(dt.datetime.fromisoformat(text).replace(tzinfo=zone).timestamp())
        assert cdr.local_to_utc(text, zone) == direct, text
    for bad in ("2026-11-23 21:42:60", "2026-11-23 21:42:5x", "2026-11-23T21:42:58",
                "2026-11-23 21:42", "2026-13-23 21:42:58", "2026-11-23 21:42:٥٨"):
        assert cdr.local_to_utc(bad, zone) is None, bad


def test_rows_that_are_not_dial_rows_are_checked_but_not_built():
    """billable_rows parses with dial_only: a good row of another app gives None (it
    could never bill), a damaged one its error, as parsed alone."""
    dial, ret, orig = cdr_rows("1.1", "1001", "91234567", T0, 5, ZoneInfo(ZONE)).splitlines()
    bad_wait = orig.replace(',"30",', ',"30x",').replace(f',{orig.split(",")[12]},', ',-1,', 1)
    lines = [(f"line {n}", text) for n, text in enumerate([dial, ret, orig, "", "1,2,3", bad_wait])]
    got = cdr._parse_chunk(lines, dial_only=True)
    assert [w for w, _ in got] == [w for w, _ in lines]
    assert got[0][1] == cdr.parse_line(dial)
    assert [p for _, p in got[1:4]] == [None, None, None]
    assert [str(p) for _, p in got[4:]] == ["3 columns (expected 18 or 21: loguniqueid=yes, "
                                            "loguserfield=yes)", "negative duration or billsec"]
