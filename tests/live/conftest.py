"""The live tier (``make test-live``): a real Asterisk with the shipped dialplan, the
daemon started with ``billing-addon serve``, real calls on Local channels.

One Asterisk and one daemon for the session; each test uses extensions of its own and
leaves the daemon running and the settings at their defaults for the next one.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from billing_addon import settings, store
from billing_addon.store import Call
from tests.helpers import make_extension, make_rate, wait_for
from tests.live.asterisk import Asterisk, NoAsterisk, find, free_port
from tests.live.livepbx import PER_SECOND, PER_TWO_SECONDS, Daemon, Pbx

# -- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pbx(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    try:
        build = find(root / "build")
    except NoAsterisk as exc:
        pytest.exit(f"make test-live: {exc}", returncode=1)
    agi_port = free_port()
    asterisk = Asterisk(build, root / "asterisk", agi_port)
    asterisk.configure()
    ami = asterisk.start()
    (root / "daemon").mkdir()
    daemon = Daemon(root / "daemon", agi_port, asterisk.master_csv)
    daemon.cli("init")
    daemon.board("activate")
    store.init_db(Path(daemon.folder) / "data" / "billing.db")
    for rate in (PER_SECOND, PER_TWO_SECONDS, dict(prefix="966", rate="0.01", unit="1"),
                 dict(prefix="977", rate="0.01", unit="1")):
        make_rate(**rate)
    daemon.start()
    try:
        yield Pbx(asterisk, ami, daemon)
    finally:
        daemon.stop()
        ami.close()
        asterisk.stop()
        store.close_db()


@pytest.fixture
def live(pbx):
    """The session's PBX, with the daemon running and the defaults back after the test."""
    if not pbx.daemon.running:
        pbx.daemon.start()
    yield pbx
    if pbx.daemon.running:
        pbx.daemon.resume()  # a test that paused it and failed
    else:
        pbx.daemon.start()
    # calls a failed test left up must not run into the next test
    pbx.ami.action("Hangup", Channel="/^Local\\//")
    assert wait_for(lambda: not Call.select().where(Call.status == "in-progress").exists(), 60), \
        "calls still in progress after the test"
    for name in ("warn_seconds", "max_call_seconds", "unrated_policy", "expired_policy",
                 "low_balance_threshold"):
        settings.put(name, settings.OPTIONS[name].default)
    pbx.ami.set_global("BILLING_FAIL_MODE", "")
    for sound in ("LOCKED", "NOFUNDS", "NORATE", "BARRED", "INACTIVE", "UNAVAILABLE", "TOPUP",
                  "BALANCE", "CURRENCY", "CENTS", "MINUS"):
        pbx.ami.set_global(f"BILLING_SOUND_{sound}", "")


_numbers = itertools.count(2001)


@pytest.fixture
def extension():
    """A new billed extension for each call of the test: ``extension(balance="0.10")``."""
    def make(balance: str = "0", *, credit: str = "0", billing: bool = True) -> str:
        number = str(next(_numbers))
        make_extension(number, balance=balance, credit=credit, billing=billing)
        return number
    return make



@pytest.fixture
def expired_trial(pbx):
    """``expired_trial()`` counts 40 days of running time on the box's trial (billing
    'expired'); the trial starts again, fresh, after the test."""
    from dataclasses import replace

    from hwlicense.board import load_profile
    from hwlicense.trial import TrialStore

    trial = TrialStore(load_profile("demo", str(pbx.daemon.folder / "root")))
    used = []

    def expire():
        trial.save(replace(trial.load(), used=40 * 86400, ended=None))
        used.append(True)
        # the daemon reads the license state at most every second ([daemon] license_cache_seconds)
        time.sleep(1.5)

    yield expire
    if used:
        trial.save(replace(trial.load(), used=0, ended=None))
        time.sleep(1.5)
