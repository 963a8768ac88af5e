"""LIVE on a real Asterisk 22 with the shipped dialplan, the box's store a central
PostgreSQL that is cut off mid-call (docs/scale-failures.md): a new call gets the fail
mode (closed: rejected, "unavailable"), the call in progress ends normally and its hangup
handler's settlement waits in the box's queue, and once the store is back that call is
charged exactly once, at its answered milliseconds rounded up, and ``verify`` is clean."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from billing_addon import config, settle_queue, store
from billing_addon.store import Call
from tests.helpers import make_extension, make_rate, wait_for
from tests.live.livepbx import PER_SECOND, Daemon, expected_cost, ledger_of
from tests.pbx_support import write_config
from tests.pg_link import Link, no_postgres
from tests.pg_server import throwaway_server

pytestmark = pytest.mark.skipif(bool(no_postgres()), reason=f"{no_postgres()}")


@pytest.fixture
def central(live, tmp_path):
    """The session's daemon swapped for one whose store is a fresh PostgreSQL database
    behind a relay the test can cut (``central.link``); the SQLite box back afterwards."""
    box_db = store.database_path()
    agi_port = config.load(live.daemon.ini).get("agi", "port")
    with tempfile.TemporaryDirectory() as pg_folder, throwaway_server(pg_folder) as server:
        url = server.create_database("live_central")
        link = Link(server.port)
        folder = tmp_path / "box"
        folder.mkdir()
        daemon = Daemon(folder, agi_port, live.asterisk.master_csv)
        daemon.ini = write_config(
            folder, agi={"port": str(agi_port)}, box={"board_root": str(folder / "root")},
            store={"url": url.replace(f":{server.port}/", f":{link.port}/")},
            cdr={"enabled": "no"}, daemon={"license_cache_seconds": "1", "shutdown_seconds": "10"},
            sync={"enabled": "no"})
        daemon.cli("init")
        daemon.board("activate")
        store.close_db()
        store.init_db(url)
        make_rate(**PER_SECOND)
        live.daemon.stop()
        daemon.start()
        live.daemon, session_daemon = daemon, live.daemon
        live.link, live.queue_file = link, folder / "data" / settle_queue.FILE_NAME
        try:
            yield live
        finally:
            daemon.stop()
            live.daemon = session_daemon
            link.close()
            store.close_db()
            store.init_db(box_db)


def queued(queue_file: Path) -> list:
    queue = settle_queue.SettleQueue(queue_file)
    try:
        return [q.request.uniqueid for q in queue.oldest(100)]
    finally:
        queue.close()


def test_the_store_lost_mid_call(central):
    live = central
    make_extension("2901", balance="5")
    talking = live.call("2901", "91000201", talk=3)
    live.wait_answered(talking)
    live.link.cut()  # the central database is gone while the call goes on
    refused = live.call("2901", "91000202", talk=1)
    live.wait_event(refused, "Newexten", 30, AppData="Billing: call denied: unavailable")
    assert "Dial" not in [app for app, _ in live.applications(refused)]
    live.wait_hangup(talking)
    assert live.settle_status(talking) == "SUCCESS"
    # the rejected call's hangup handler settles it too: 0 s, queued like any other
    assert wait_for(lambda: set(queued(live.queue_file)) == {talking.uid, refused.uid}, 30), \
        live.daemon.log_text()[-3000:]
    assert Call.get(Call.uniqueid == talking.uid).settled_utc is None  # nothing charged yet
    live.link.restore()
    call = live.settled(talking)
    seconds = math.ceil(live.answered_ms(talking) / 1000)
    assert (call.status, call.answered_s, call.cost) == (
        "charged", seconds, expected_cost(PER_SECOND, seconds))
    assert len(ledger_of(call)) == 1
    assert wait_for(lambda: queued(live.queue_file) == [], 30)
    never = Call.get_or_none(Call.uniqueid == refused.uid)  # recorded at 0 s, if at all
    assert never is None or (never.cost, never.answered_s, len(ledger_of(never))) == (0, 0, 0)
    live.verify()
