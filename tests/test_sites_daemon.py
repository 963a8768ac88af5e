"""The daemon as the box of a site (issue #16 item 3): ``[store] site`` is this box's
site from its start, so the PBX sync makes its extensions there and the FastAGI call
path bills them and records the calls there."""

import pytest

from billing_addon import config, daemon, settings, sites, store
from billing_addon.store import Call, Extension
from tests.helpers import fund_1001, logger_restored, wait_for
from tests.pbx_support import env_bytes, replay, write_config


@pytest.fixture
def lisbon(tmp_path):
    (tmp_path / "pjsip.conf").write_text("[1001]\ntype=endpoint\ncallerid=\"Front\" <1001>\n")
    cfg = config.load(write_config(tmp_path, store={"site": "lisbon"}, cdr={"enabled": "no"}))
    with logger_restored():
        d = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app)
        d.start()
        try:
            yield d
        finally:
            d.stop()
            store.close_db()


def test_a_daemon_bills_at_its_configured_site(lisbon):
    assert sites.current() == "lisbon"
    assert wait_for(lambda: Extension.get_or_none(Extension.number == "1001") is not None)
    settings.put("warn_seconds", "0")
    settings.put("max_call_seconds", "60")
    fund_1001(("1", "9"))
    got = replay(lisbon.agi.address, env_bytes("a-limit-cut-authorize"))
    assert got.variables == {"BILLING_RESULT": "ALLOWED", "BILLING_LIMIT_MS": "60000"}
    assert [(e.number, e.site, e.source) for e in Extension.select()] == [("1001", "lisbon", "pbx")]
    assert [(c.site, c.extension.number, c.status) for c in Call.select()] == [
        ("lisbon", "1001", "in-progress")]
