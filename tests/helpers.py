"""Small builders and waits shared by the tests."""

import time
from datetime import datetime, timedelta, timezone

from billing_addon import accounts, money, rates

BOX_T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def wait_for(predicate, timeout=20.0, step=0.05):
    """Poll ``predicate`` until it is true or ``timeout`` s passed; its last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_until(predicate, timeout=60.0, what="the condition"):
    """Poll ``predicate`` until it is true; fail the test if it is not within ``timeout`` s.
    For waits on the code under test, instead of a fixed sleep that a slow machine outlasts."""
    if not wait_for(predicate, timeout):
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")


def amount(text):
    return money.parse_amount(text, allow_negative=True)


def make_extension(number="1001", *, balance="0", credit="0", billing=True, name=None):
    accounts.ensure_extension(number, name if name is not None else f"Ext {number}")
    accounts.edit([number], billing_enabled=billing, credit=amount(credit))
    if amount(balance):
        accounts.recharge([number], amount(balance), "test")


def make_rate(prefix="9", length="0", rate="0.10", unit="60", **kw):
    form = {"prefix": prefix, "length": length, "rate": rate, "unit": unit,
            "all_extensions": kw.pop("all_extensions", True)}
    form.update(kw)
    return rates.add(rates.validate(form))


class BoxClock:
    """The box's clock and running time.  Moving ``now`` forward is the box running that
    long (its uptime moves with it); moving it back is the clock being set back, which
    the uptime does not see.  ``jump`` sets the clock without running time passing."""

    def __init__(self, now=BOX_T0):
        self._now = now
        self.up = 1000.0
        self.boot = "boot-1"

    @property
    def now(self):
        return self._now

    @now.setter
    def now(self, moment):
        if moment > self._now:
            self.up += (moment - self._now).total_seconds()
        self._now = moment

    def jump(self, moment):
        self._now = moment

    def __call__(self):
        return self._now

    def uptime(self):
        return self.up

    def boot_id(self):
        return self.boot

    def reboot(self, off):
        """The box is off for ``off`` (a timedelta), then boots: a new boot, uptime 30 s."""
        self._now += off + timedelta(seconds=30)
        self.up = 30.0
        self.boot = f"boot-{int(self.boot.split('-')[1]) + 1}"
