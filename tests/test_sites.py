"""Sites (issue #16 item 3, its data side): several boxes on one store, as two "boxes"
taking turns on one real SQLite file (``sites.set_current`` switches the box).

A SQLite box is one site, so its file keeps UNIQUE(number) and UNIQUE(uniqueid); the
``shared`` fixture gives the file the per-site keys that PostgreSQL's migration 0016
makes (UNIQUE(site, number), UNIQUE(site, uniqueid)), so that 1001 at two hotels and
colliding uniqueids can be tried here."""

import contextlib
import io
import os
import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from billing_addon import (
    accounts,
    calls,
    config,
    pin_accounts,
    rates,
    reports,
    sites,
    store,
)
from billing_addon.cells import from_spreadsheet
from billing_addon.pbx import sync
from billing_addon.store import Call, Extension, Ledger

from .helpers import amount, cli_runner, dump_database, make_extension, make_rate

T0 = 1_714_564_800  # 2024-05-01 12:00 UTC


@contextlib.contextmanager
def at_site(name):
    """Run the block as the box of site ``name``."""
    before = sites.current()
    sites.set_current(name)
    try:
        yield
    finally:
        sites.set_current(before)


def _per_site_keys(path):
    """Rebuild the extension and call tables of the SQLite file with PostgreSQL's keys
    (UNIQUE(site, number), UNIQUE(site, uniqueid)), everything else as it was.  On
    PostgreSQL (``make test-postgres``) migration 0016 made them already."""
    if os.environ.get("BILLING_TEST_STORE") == "postgresql":
        return
    store.close_db()
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA foreign_keys = OFF")
    con.execute("PRAGMA legacy_alter_table = ON")  # other tables keep naming the table
    con.execute("BEGIN")
    for table, column in (("extension", "number"), ("call", "uniqueid")):
        (create,) = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                (table,)).fetchone()
        others = [r[0] for r in con.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') "
            "AND sql IS NOT NULL", (table,))]
        create, found = re.subn(rf"(\b{column}\s+TEXT NOT NULL) UNIQUE", r"\1", create)
        assert found == 1, create
        create = create.replace(f"CREATE TABLE {table} (", f"CREATE TABLE {table}_new (", 1)
        create = create[:create.rindex(")")] + f", UNIQUE (site, {column}))"
        con.execute(create)
        con.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        for sql in others:
            con.execute(sql)
    con.execute("COMMIT")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    store.init_db(path)


@pytest.fixture
def shared(db_path):
    """One store for the boxes of sites 'alpha' and 'beta'; a shared rate of 0.01 a
    second for numbers starting with 9."""
    _per_site_keys(db_path)
    make_rate("9", rate="0.01", unit="1")
    yield db_path
    sites.set_current("")


def ext(number, site):
    return Extension.get((Extension.number == number) & (Extension.site == site))


# --- site names and the conditions --------------------------------------------------------


@pytest.mark.parametrize("value, message", [
    ("hotel a", "a site name is 1 to 40 letters"),  # a space
    ("o'brien", "a site name is 1 to 40 letters"),  # a quote: written into SQL as a literal
    ("-x", "starting with a letter or digit"),
    ("x" * 41, "a site name is 1 to 40 letters"),
])
def test_a_bad_site_name_is_refused_with_one_line(tmp_path, value, message):
    ini = tmp_path / "billing.ini"
    ini.write_text(f"[store]\nsite = {value}\n")
    with pytest.raises(config.ConfigError) as refused:
        config.load(str(ini))
    assert message in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(ValueError):
        sites.set_current(value)
    assert sites.current() == ""


def test_a_box_on_its_own_selects_what_it_always_did(db_path):
    """Empty site: every row has site '', and each condition selects all of them."""
    make_extension("1001", balance="5")
    pin_accounts.create("5001", "482913")
    make_rate("9", rate="0.01", unit="1")
    calls.authorize("1001", "912345", T0, "u1")
    assert {e.site for e in Extension.select()} == {""} and Call.get().site == ""
    for condition in (sites.number_scope(), sites.call_scope(), sites.rate_scope()):
        assert condition == "site = ''"
    assert sites.in_store() == []
    assert len(rates.index()) == 1


# --- extensions and calls per site ----------------------------------------------------------


def test_1001_at_two_sites_is_two_extensions_each_charged_for_its_own_calls(shared):
    with at_site("alpha"):
        make_extension("1001", balance="10")
    with at_site("beta"):
        make_extension("1001", balance="20")
    assert Extension.select().where(Extension.number == "1001").count() == 2
    # the two boxes' Asterisks gave their calls the same uniqueid
    with at_site("alpha"):
        a = calls.authorize("1001", "912345", T0, "1714564800.1")
    with at_site("beta"):
        b = calls.authorize("1001", "912345", T0, "1714564800.1")
        assert calls.settle("1714564800.1", 100).cost == amount("1.00")
        assert calls.settle("1714564800.1", 100).outcome == "duplicate"
    with at_site("alpha"):
        assert calls.settle("1714564800.1", 30).cost == amount("0.30")
        assert accounts.get_extension("1001").balance == amount("9.70")
    assert (a.result, b.result) == (calls.ALLOWED, calls.ALLOWED)
    assert ext("1001", "alpha").balance == amount("9.70")
    assert ext("1001", "beta").balance == amount("20") - amount("1.00")
    assert {(c.site, c.extension.site, c.cost) for c in Call.select()} == {
        ("alpha", "alpha", amount("0.30")), ("beta", "beta", amount("1.00"))}
    assert not accounts.verify()


def test_a_first_call_makes_the_extension_at_the_boxs_site(shared):
    with at_site("beta"):
        calls.authorize("2002", "912345", T0, "u1")
        assert accounts.get_extension("2002").site == "beta"
    with at_site("alpha"):
        with pytest.raises(accounts.AccountError, match="unknown extension '2002'"):
            accounts.get_extension("2002")


def test_release_and_stale_reservations_touch_only_this_boxs_calls(shared):
    for site in ("alpha", "beta"):
        with at_site(site):
            make_extension("1001", balance="10")
            calls.authorize("1001", "912345", T0, "u1")
    with at_site("alpha"):
        assert calls.release("u1") is True
        # beta's call is in progress on another box (another boot): not this box's to free
        assert calls.release_stale(T0 + 10 ** 6) == 0
    assert ext("1001", "alpha").reserved == 0 and ext("1001", "beta").reserved > 0
    assert not accounts.verify()


def test_pbx_sync_marks_missing_only_this_sites_extensions(shared, tmp_path):
    conf = tmp_path / "pjsip.conf"
    conf.write_text("[1001]\ntype=endpoint\ncallerid=\"Room 1\" <1001>\n\n"
                    "[1002]\ntype=endpoint\n")
    for site in ("alpha", "beta"):
        with at_site(site):
            sync.sync([str(conf)])
    conf.write_text("[1001]\ntype=endpoint\n")
    with at_site("alpha"):
        result = sync.sync([str(conf)])
    assert result.missing == ["1002"]
    assert ext("1002", "alpha").missing and not ext("1002", "beta").missing


# --- accounts: the site's or group-wide -------------------------------------------------------


def test_a_group_wide_account_pays_for_calls_from_every_site(shared):
    with at_site("alpha"):
        pin_accounts.create("5001", "482913", all_sites=True)
        accounts.recharge(["5001"], amount("10"), "test")
    for site, seconds in (("alpha", 100), ("beta", 200)):
        with at_site(site):
            make_extension("101")
            accounts.edit(["101"], account_billing=True)
            auth = calls.authorize("101", "912345", T0, f"{site}-1", account="5001", pin="482913")
            assert auth.result == calls.ALLOWED
            calls.settle(f"{site}-1", seconds)
    with at_site("beta"):
        assert accounts.get_extension("5001").balance == amount("7.00")
    account = ext("5001", "")
    assert (account.kind, account.balance, account.reserved) == ("account", amount("7.00"), 0)
    assert sorted((c.site, c.cost) for c in Call.select().where(Call.extension == account.id)) == [
        ("alpha", amount("1.00")), ("beta", amount("2.00"))]
    assert not accounts.verify()


def test_a_sites_account_is_unknown_at_another_site(shared):
    with at_site("alpha"):
        pin_accounts.create("5001", "482913")
        assert pin_accounts.get_account("5001").site == "alpha"
    with at_site("beta"):
        make_extension("101")
        accounts.edit(["101"], account_billing=True)
        auth = calls.authorize("101", "912345", T0, "u1", account="5001", pin="482913")
        assert (auth.result, auth.reason) == (calls.DENIED, calls.BAD_PIN)
        with pytest.raises(accounts.AccountError, match="unknown account"):
            pin_accounts.get_account("5001")


@pytest.mark.parametrize("site, number, all_sites, message", [
    # an account of alpha cannot take the number of one of alpha's extensions
    ("alpha", "1001", False, "1001 is an extension's number"),
    # a group-wide account cannot take a number that any site's extension has
    ("alpha", "2002", True, "2002 is the number of an extension at site beta"),
    # nor another account's, group-wide or of the site
    ("beta", "5000", False, "account 5000 exists already"),
    ("alpha", "6000", True, "account 6000 exists already"),
])
def test_a_number_stays_unambiguous_within_a_site(shared, site, number, all_sites, message):
    with at_site("alpha"):
        make_extension("1001")
        pin_accounts.create("5000", "111111", all_sites=True)
    with at_site("beta"):
        make_extension("2002")
        pin_accounts.create("6000", "222222")
    before = dump_database(shared)
    with at_site(site), pytest.raises(accounts.AccountError, match=re.escape(message)):
        pin_accounts.create(number, "333333", all_sites=all_sites)
    assert dump_database(shared) == before


def test_an_extension_cannot_take_a_group_wide_accounts_number(shared):
    with at_site("alpha"):
        pin_accounts.create("5000", "111111", all_sites=True)
    before = dump_database(shared)
    with at_site("beta"):
        with pytest.raises(accounts.AccountError, match="5000 is an account's number"):
            accounts.ensure_extension("5000", source="pbx")
        auth = calls.authorize("5000", "912345", T0, "u1")  # a PBX phone numbered 5000
        assert (auth.result, auth.reason) == (calls.DENIED, calls.ACCOUNT_CALLER)
    assert dump_database(shared) == before


def test_a_sites_account_may_share_a_number_with_another_sites_extension(shared):
    with at_site("beta"):
        make_extension("7000")
    with at_site("alpha"):
        pin_accounts.create("7000", "444444")
        # but it cannot become group-wide: beta's 7000 would be ambiguous
        before = dump_database(shared)
        with pytest.raises(accounts.AccountError, match="extension at site beta"):
            pin_accounts.set_all_sites("7000", True)
        assert dump_database(shared) == before
        pin_accounts.create("7001", "555555")
        pin_accounts.set_all_sites("7001", True)
    assert ext("7001", "").kind == "account"


# --- rates: shared or the site's ------------------------------------------------------------


def test_a_sites_rate_replaces_the_shared_one_with_the_same_prefix_length_and_time(shared):
    with at_site("alpha"):
        make_rate("9", rate="0.005", unit="1", site="alpha")  # cheaper at alpha
        make_rate("8", rate="0.02", unit="1", site="alpha", start="20:00", end="08:00")
        make_extension("1001", balance="10")
        assert calls.authorize("1001", "912345", T0, "a1").result == calls.ALLOWED
        assert calls.settle("a1", 100).cost == amount("0.50")
        assert len(rates.index()) == 2
    with at_site("beta"):
        make_extension("1001", balance="10")
        calls.authorize("1001", "912345", T0, "b1")
        assert calls.settle("b1", 100).cost == amount("1.00")
        assert len(rates.index()) == 1  # alpha's rates are not beta's
        # the rates list of a box: the shared ones and its own
        assert {r.prefix for r in rates.load_all()} == {"9"}
    assert not accounts.verify()


@pytest.mark.parametrize("value", ["beta", "x y"])
def test_a_rate_of_another_site_is_refused(shared, value):
    with at_site("alpha"):
        with pytest.raises(rates.RateError, match="a rate is this site's"):
            rates.validate({"prefix": "9", "rate": "0.1", "unit": "60", "site": value})


def test_the_rate_file_has_a_site_column_at_a_box_with_a_site(shared):
    with at_site("beta"):
        make_rate("7", rate="0.03", unit="60", site="beta")
    with at_site("alpha"):
        rates.import_csv("prefix,rate,unit,site\n5,0.02,60,alpha\n6,0.04,60,\n")
        out = io.StringIO()
        rates.export_csv(out)
        lines = out.getvalue().splitlines()
        assert lines[0].endswith(",call_type,site")
        assert sorted(from_spreadsheet(line.split(",")[2]) + ":" + line.split(",")[-1]
                      for line in lines[1:]) == ["5:alpha", "6:", "9:"]
        # a replace takes this box's rates (the shared and alpha's) out; beta's stay
        rates.import_csv("prefix,rate,unit,site\n4,0.02,60,alpha\n", replace=True)
        assert [r.prefix for r in rates.load_all()] == ["4"]
    with at_site("beta"):
        assert [r.prefix for r in rates.load_all()] == ["7"]
    with at_site(""):  # a box on its own reads and writes the file it always did
        out = io.StringIO()
        rates.export_csv(out)
        assert out.getvalue().splitlines()[0].endswith(",extensions,call_type")


# --- reports by site --------------------------------------------------------------------------


def _calls_at_two_sites():
    with at_site("alpha"):
        pin_accounts.create("5001", "482913", all_sites=True)
        accounts.recharge(["5001"], amount("10"), "test")
    for site, seconds in (("alpha", (10, 20)), ("beta", (30,))):
        with at_site(site):
            make_extension("1001", balance="10")
            make_extension("101")
            accounts.edit(["101"], account_billing=True)
            for i, s in enumerate(seconds):
                calls.authorize("1001", "912345", T0 + i, f"{site}-{i}")
                calls.settle(f"{site}-{i}", s)
            calls.authorize("101", "912345", T0, f"{site}-acc", account="5001", pin="482913")
            calls.settle(f"{site}-acc", 5)


def test_reports_filtered_by_site_add_up_to_the_whole(shared):
    _calls_at_two_sites()
    assert sites.in_store() == ["alpha", "beta"]

    def cost(rows):
        return sum(r.cost for r in rows)

    every = list(reports.iter_calls())
    by_site = {s: list(reports.iter_calls(site=s)) for s in ("alpha", "beta")}
    assert len(every) == 5 and cost(every) == amount("0.70")
    assert cost(by_site["alpha"]) == amount("0.35") and cost(by_site["beta"]) == amount("0.35")
    assert sorted(c.id for rows in by_site.values() for c in rows) == sorted(c.id for c in every)
    assert reports.calls_page(site="beta").rows == by_site["beta"]
    # recharges and statistics by the payer's site: group-wide accounts are a site of their own
    recharges = {s: list(reports.iter_recharges(site=s)) for s in ("alpha", "beta", "")}
    assert [len(recharges[s]) for s in ("alpha", "beta", "")] == [1, 1, 1]
    assert sum(len(r) for r in recharges.values()) == len(list(reports.iter_recharges()))
    totals = {s: reports.statistics("day", site=s)[1] for s in ("alpha", "beta", "")}
    whole = reports.statistics("day")[1]
    assert sum(t.cost for t in totals.values()) == whole.cost == amount("0.70")
    assert sum(t.calls for t in totals.values()) == whole.calls == 5
    assert totals[""].cost == amount("0.10")
    # the Extensions list: what this box acts on, unless a site is chosen
    with at_site("beta"):
        assert [e.site for e in reports.extensions_page().rows] == ["beta", "beta"]
        assert [e.site for e in reports.extensions_page(kind="account").rows] == [""]
        assert {e.site for e in reports.extensions_page(site="alpha").rows} == {"alpha"}


# --- property: a call never charges another site's extension ---------------------------------

call_plan = st.lists(st.tuples(st.sampled_from(["alpha", "beta"]),
                               st.sampled_from(["1001", "1002"]),
                               st.integers(min_value=0, max_value=600)),
                     min_size=1, max_size=25)


@hyp_settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=call_plan)
def test_random_calls_across_two_sites_never_charge_the_other_sites_extension(shared, plan):
    Ledger.delete().where(Ledger.kind == "call").execute()
    store.db.execute_sql("DELETE FROM call_daily")
    store.db.execute_sql("DELETE FROM call_day_total")
    Call.delete().execute()
    store.db.execute_sql("UPDATE extension SET balance = 0, reserved = 0, total_recharges = 0")
    Ledger.delete().execute()
    for site in ("alpha", "beta"):
        with at_site(site):
            for number in ("1001", "1002"):
                make_extension(number)
                accounts.edit([number], credit=amount("1000"))
    expected = {}
    for i, (site, number, seconds) in enumerate(plan):
        with at_site(site):
            uid = f"1714564800.{i % 3}"  # the boxes' uniqueids collide, and repeat per site
            if calls.authorize(number, "912345", T0 + i, uid).result != calls.ALLOWED:
                continue  # the same uniqueid asked again by another number: not this call
            settled = calls.settle(uid, seconds)
            if settled.outcome == "charged":
                expected[(site, number)] = expected.get((site, number), 0) + settled.cost
    for site in ("alpha", "beta"):
        for number in ("1001", "1002"):
            assert -ext(number, site).balance == expected.get((site, number), 0)
    for call in Call.select():
        assert call.site == call.extension.site
    assert not accounts.verify()


def test_low_balance_alerts_and_counts_are_each_boxs_own(shared):
    from billing_addon import lowbalance, settings

    settings.put("low_balance_threshold", "5")
    for site in ("alpha", "beta"):
        with at_site(site):
            make_extension(f"{'1' if site == 'alpha' else '2'}001", balance="1")
    with at_site("alpha"):
        assert lowbalance.low_count() == 1
        assert lowbalance.queue_alerts(T0) == 1
    assert ext("1001", "alpha").low_alerted_utc == T0 and ext("2001", "beta").low_alerted_utc is None


def test_the_cli_works_at_the_configured_site(tmp_path, capsys, monkeypatch):
    ini = tmp_path / "b.ini"
    ini.write_text(f"[box]\ndatabase = {tmp_path / 'b.db'}\n[store]\nsite = lisbon\n")

    run = cli_runner(ini, capsys, monkeypatch)

    try:
        assert run("init")[0] == 0
        assert run("ext", "add", "101")[0] == 0
        assert run("account", "add", "5001", "--all-sites", stdin="482913\n")[0] == 0
        assert run("account", "add", "5002", stdin="482914\n")[0] == 0
        assert {(e.number, e.site) for e in Extension.select()} == {
            ("101", "lisbon"), ("5001", ""), ("5002", "lisbon")}
    finally:
        store.close_db()
        sites.set_current("")


@pytest.mark.skipif(os.environ.get("BILLING_TEST_STORE") == "postgresql",
                    reason="PostgreSQL's keys are per site")
def test_a_sqlite_file_holds_one_site(db_path):
    """Without PostgreSQL's per-site keys a number is the file's: a box whose site name
    was changed on an old file gets a clear refusal, not a crash, and nothing changes."""
    make_extension("1001", balance="5")
    before = dump_database(db_path)
    with at_site("lisbon"):
        with pytest.raises(accounts.AccountError, match="1001 is another site's in this database"):
            accounts.ensure_extension("1001")
        with pytest.raises(accounts.AccountError, match="another site's"):
            calls.authorize("1001", "912345", T0, "u1")
    assert dump_database(db_path) == before
