"""One box per site on a shared PostgreSQL (billing_addon/site_claim.py): a second box with
the same site name would release the first one's live reservations as stale (they were
made "in another boot"), so it refuses to start; a replacement box takes the site over."""

import pytest

from billing_addon import cli, config, daemon, site_claim, sites, store
from tests.helpers import logger_restored
from tests.pbx_support import write_config
from tests.test_store_postgres import pg_url, server  # noqa: F401 - fixtures: a real server

T0 = 1795441378


@pytest.fixture(autouse=True)
def boxes_by_data_area(monkeypatch, tmp_path):
    """Each test's boxes differ by their data areas (all run on this one machine)."""
    monkeypatch.setattr(site_claim, "MACHINE_ID", tmp_path / "no-machine-id")


def test_two_daemons_of_one_machine_are_one_box(monkeypatch, tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    monkeypatch.setattr(site_claim, "MACHINE_ID", machine)
    assert site_claim.box_id(tmp_path / "a") == site_claim.box_id(tmp_path / "b")
    assert not (tmp_path / "a" / site_claim.ID_FILE).exists()


def test_a_site_is_one_boxs_and_a_replacement_takes_it_over(pg_url, tmp_path):  # noqa: F811
    box_a, box_b = tmp_path / "a", tmp_path / "b"
    sites.set_current("lisbon")
    site_claim.claim(box_a, T0)
    site_claim.claim(box_a, T0 + 60)  # the same box again (a restart): still its own
    with pytest.raises(site_claim.SiteTaken, match="site 'lisbon' is billed by another box"):
        site_claim.claim(box_b, T0)
    sites.set_current("porto")
    site_claim.claim(box_b, T0)  # another site: no conflict
    sites.set_current("lisbon")
    site_claim.claim(box_b, T0, take_over=True)
    with pytest.raises(site_claim.SiteTaken):
        site_claim.claim(box_a, T0)
    assert site_claim.box_id(box_a) != site_claim.box_id(box_b)
    assert site_claim.box_id(box_a) == (box_a / site_claim.ID_FILE).read_text().strip()


def test_a_daemon_whose_site_is_another_boxs_refuses_to_start(pg_url, tmp_path):  # noqa: F811
    sites.set_current("lisbon")
    site_claim.claim(tmp_path / "other-box", T0)
    store.close_db()
    cfg = config.load(write_config(tmp_path, store={"site": "lisbon", "url": pg_url},
                                   cdr={"enabled": "no"}, sync={"enabled": "no"}))
    with logger_restored():
        box = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app)
        with pytest.raises(daemon.DaemonError, match="billed by another box"):
            box.start()
        box.stop()
    # its own site name free, the same box starts and keeps the site from then on
    cfg = config.load(write_config(tmp_path, store={"site": "faro", "url": pg_url},
                                   cdr={"enabled": "no"}, sync={"enabled": "no"}))
    with logger_restored():
        box = daemon.Daemon(cfg, billing_state=lambda: "active", web_app=daemon.placeholder_app)
        box.start()
        box.stop()
    store.init_db(pg_url)
    sites.set_current("faro")
    with pytest.raises(site_claim.SiteTaken):
        site_claim.claim(tmp_path / "other-box", T0)


def test_site_claim_from_the_command_line(pg_url, tmp_path, capsys):  # noqa: F811
    sites.set_current("lisbon")
    site_claim.claim(tmp_path / "old-box", T0)
    store.close_db()
    ini = write_config(tmp_path, store={"site": "lisbon", "url": pg_url})
    assert cli.main(["--config", str(ini), "site-claim"]) == 0
    assert "site 'lisbon' is this box's now" in capsys.readouterr().out
    store.init_db(pg_url)
    sites.set_current("lisbon")
    with pytest.raises(site_claim.SiteTaken):
        site_claim.claim(tmp_path / "old-box", T0)
    site_claim.claim(tmp_path / "data", T0)  # the box whose data area the config names


@pytest.mark.sqlite_only("a SQLite store is one box's by nature")
def test_a_sqlite_store_claims_nothing(db_path, tmp_path):
    sites.set_current("")
    site_claim.claim(tmp_path / "a", T0)
    site_claim.claim(tmp_path / "b", T0)
    assert not (tmp_path / "a" / site_claim.ID_FILE).exists()
