"""Calling plans cost a call nothing when no plan can apply (issue #15, speed): the
``calling_plans`` setting (plans.IN_USE) names the call types some assigned plan covers,
and the call path looks for a pool only for those."""

import pytest

from billing_addon import accounts, calls, plans, rates, store
from billing_addon.store import Call, Department, Extension

from .helpers import amount, make_extension, make_rate

T0 = 1795441378  # 2026-11-23 13:42:58 UTC


def in_use():
    row = store.sql_one("SELECT value FROM setting WHERE key = ?", (plans.IN_USE,))
    return row[0] if row else None


def set_type(call_type, prefix="9"):
    with store.money_txn():
        store.Rate.update(call_type=call_type).where(store.Rate.prefix == prefix).execute()
        rates._bump_version()


@pytest.fixture
def box(db_path):
    """1001 and 1002 with $1.00; 9... is national at $0.10 a minute."""
    make_extension("1001", balance="1")
    make_extension("1002", balance="1")
    make_rate("9", "0", rate="0.10", unit="60")
    set_type("national")


class Statements:
    """The statements the connection runs (triggers show as '-- TRIGGER name')."""

    def __enter__(self):
        self.run = []
        if store.postgres():  # every statement of the add-on passes execute_sql there
            execute = store.db.execute_sql

            def recorded(sql, params=None, commit=None):
                self.run.append(sql)
                return execute(sql, params)

            store.db.execute_sql = recorded
        else:
            store.db.connection().set_trace_callback(self.run.append)
        return self

    def __exit__(self, *exc):
        if store.postgres():
            del store.db.execute_sql
        else:
            store.db.connection().set_trace_callback(None)

    def reading(self, table):
        return [s for s in self.run if table in s and not s.startswith("--")]


def test_the_setting_names_the_types_of_the_plans_assigned(box):
    assert in_use() == ""  # a new box (migration 0014)
    own = plans.create("Own", plans.parse_allowance({"mobile": "5", "national": "5"}))
    assert in_use() == ""  # assigned to nobody yet
    plans.assign(own, ["1001"])
    assert in_use() == "national,mobile"
    plans.update(own, "Own", plans.parse_allowance({"local": "1"}))
    assert in_use() == "local"
    dep = Department.create(name="Sales", created_utc=T0, updated_utc=T0)
    shared = plans.create("Shared", plans.parse_allowance({"international": "9"}))
    plans.assign(shared, department_ids=[dep.id])
    assert in_use() == "local,international"
    plans.assign(None, ["1001"])
    assert in_use() == "international"
    plans.assign(None, department_ids=[dep.id])
    assert in_use() == ""
    plans.delete(own)
    plans.assign(shared, ["1002"])
    plans.update(shared, "Shared", {})  # no free seconds at all
    assert in_use() == ""


def test_a_box_without_plans_reads_no_plan_table_on_the_call_path(box):
    with Statements() as seen:
        assert calls.authorize("1001", "912345", T0, "a").result == calls.ALLOWED
        calls.settle("a", 100)
        calls.settle("cdr", 100, number="1001", dialed="912345", started=T0, source="cdr")
    assert seen.reading("plan_allowance") == seen.reading("plan_usage") == []
    # the calls' held seconds come with the calls, not from a statement of their own
    assert [s for s in seen.reading("plan_call") if "LEFT JOIN plan_call" not in s] == []
    assert [c.cost for c in Call.select().order_by(Call.id)] == [amount("0.20")] * 2


def test_a_plan_of_another_type_costs_a_call_nothing(box):
    plans.assign(plans.create("Mobile", plans.parse_allowance({"mobile": "5"})), ["1001"])
    with Statements() as seen:
        calls.authorize("1001", "912345", T0, "a")  # national
        calls.settle("a", 100)
    assert seen.reading("plan_allowance") == []
    assert Call.get(Call.uniqueid == "a").free_s == 0


def test_the_plan_steps_still_run_for_a_covered_type(box):
    plans.assign(plans.create("Basic", plans.parse_allowance({"national": "5"})), ["1001"])
    with Statements() as seen:
        calls.authorize("1001", "912345", T0, "a")
        calls.settle("a", 100)
        calls.settle("cdr", 250, number="1001", dialed="912345", started=T0, source="cdr")
    assert seen.reading("plan_allowance")
    assert [(c.free_s, c.cost) for c in Call.select().order_by(Call.id)] == [(100, 0), (200, amount("0.10"))]
    assert accounts.verify() == []


def test_without_the_setting_every_type_may_have_a_plan(box):
    """A file whose setting is missing (never fewer types than needed): plans apply."""
    plans.assign(plans.create("Basic", plans.parse_allowance({"national": "5"})), ["1001"])
    store.sql("DELETE FROM setting WHERE key = ?", (plans.IN_USE,))
    calls.authorize("1001", "912345", T0, "a")
    calls.settle("a", 100)
    assert Call.get(Call.uniqueid == "a").free_s == 100
    assert Extension.get(Extension.number == "1001").reserved == 0
