"""Activation state on the box: the Activate Billing switch, trial, license, sign-in gate.

Where things live (areas of the board profile):
  data/activation.rec  the switch (a factory reset turns billing off)
  */trial.rec          the trial's running time, bound to the device, in nvram, persist
                       and data (``trial``)
  persist/license.lic  the uploaded license, byte for byte
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from hwlicense.billing_ac import make_billing_ac
from hwlicense.board import BoardProfile
from hwlicense.identity import Identity, IdentityError, read_identity
from hwlicense.keys import KeySource, load_trusted
from hwlicense.product import PRODUCT
from hwlicense.results import Code
from hwlicense.runtime import BootId, Uptime
from hwlicense.storage import (
    DamagedRecord,
    atomic_write,
    read_bytes,
    read_record,
    write_record,
)
from hwlicense.textformat import MAX_SIZE
from hwlicense.timefmt import UTC, utcnow
from hwlicense.trial import TRIAL_DAYS, Trial, TrialStore, clock_behind
from hwlicense.verify import Expected, VerifyResult, verify_license
from hwlicense.verify_child import verify_isolated

ACTIVE, DEACTIVATED, EXPIRED = "active", "deactivated", "expired"
LICENSE_NAME = "license.lic"
SWITCH_NAME = "activation.rec"

Clock = Callable[[], datetime]
# When billing was first used on this box (the add-on's oldest billed call), None if never:
# a trace that a trial ran, for a box whose trial records are all gone.
EarliestUse = Callable[[], "datetime | None"]
# A box without a backed-up RTC boots in 1970 until NTP answers; a trial started then
# would be over at once.  No trial starts before this moment.
EARLIEST_PLAUSIBLE = datetime(2024, 1, 1, tzinfo=UTC)
CLOCK_NOT_SET = "the system clock is not set; set the time (NTP) and activate again"
# billing.ac's addon-version when the caller does not say which add-on version runs
UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True)
class Status:
    """What Addons -> Billing -> Settings shows, plus a state for scripts."""

    activated: bool
    first_activation: datetime | None
    expiration: datetime | None  # None when licensed ("Never Expires") or never activated
    licensed: bool
    days_left: int | None  # None when licensed or never activated
    state: str  # 'active' | 'deactivated' | 'expired'
    license_uploaded: bool = False  # a license file is stored (valid or not)
    license_id: str | None = None
    license_problem: str | None = None  # why a stored license does not count
    trial_problem: str | None = None  # e.g. the trial record is damaged
    clock_warning: str | None = None  # the clock is far behind a time already seen
    trial_used_seconds: int | None = None  # running time the trial has counted (None: no trial)


class Activation:
    """Activation, trial and license of one board (a profile, maybe rooted for tests)."""

    def __init__(
        self,
        profile: BoardProfile,
        clock: Clock | None = None,
        trusted_keys: Iterable[KeySource] | None = None,
        check_in_child: bool = False,
        addon_version: str = UNKNOWN_VERSION,
        uptime: Uptime | None = None,
        boot_id: BootId | None = None,
        earliest_use: EarliestUse | None = None,
    ):
        """``check_in_child``: check license signatures in a child process (see
        ``verify_child``), for a long-running process that should not load cryptography.
        ``addon_version``: the version of the add-on, written into billing.ac (hwlicense
        does not import the add-on, so its caller says).  ``uptime``, ``boot_id``: the
        running-time sources the trial counts (default: the board's, ``runtime``).
        ``earliest_use``: when billing was first used on this box (None: never), asked
        when no trial record exists: history refuses a new trial."""
        self.profile = profile
        self.addon_version = addon_version
        self.clock: Clock = clock or utcnow
        self.trusted_extra = list(trusted_keys or ())
        self.check_in_child = check_in_child
        self.earliest_use = earliest_use
        self.trial = TrialStore(profile, self.identity, uptime, boot_id)
        self._identity: Identity | None = None
        self._license_cache: tuple[object, VerifyResult] | None = None

    # -- paths -------------------------------------------------------------------------
    @property
    def license_path(self):
        return self.profile.area("persist") / LICENSE_NAME

    @property
    def switch_path(self):
        return self.profile.area("data") / SWITCH_NAME

    # -- identity and license ----------------------------------------------------------
    def identity(self) -> Identity:
        """This device's identity, read once per Activation (a modem is slow to ask), and
        again while fewer sources than the board's ``match`` could be read (a NIC or modem
        that comes up after the add-on started must not leave it unlicensed until a
        restart)."""
        if self._identity is None or len(self._identity.components) < self.profile.match:
            self._identity = read_identity(self.profile)
        return self._identity

    def env_keys(self) -> bool:
        """Whether the test keys named in the environment (TRUSTED_KEYS_ENV) count here:
        on test and VM boards (the qemu harness), never on an appliance, where one line
        in the service's environment would let root forge a license."""
        return self.profile.assurance != "appliance"

    def trusted(self):
        return load_trusted(self.trusted_extra, use_env=self.env_keys())

    def verify(self, data: bytes) -> VerifyResult:
        """Verify a license file for this device without storing anything."""
        try:
            identity = self.identity()
        except IdentityError as exc:
            return VerifyResult.fail(Code.NO_IDENTITY, f"license refused: {exc}")
        # this device, its board's minimum match and components, the billing feature
        expected = Expected.device(self.profile, identity)

        def here() -> VerifyResult:
            return verify_license(data, self.trusted(), expected)

        key_paths = [k for k in self.trusted_extra if isinstance(k, (str, os.PathLike))]
        if self.check_in_child and len(key_paths) == len(self.trusted_extra):
            return verify_isolated(data, key_paths, expected, here, use_env=self.env_keys())
        return here()

    def upload_license(self, data: bytes) -> VerifyResult:
        """Verify, then store in persist atomically; on failure nothing changes."""
        result = self.verify(data)
        if not result.ok:
            return result
        try:
            atomic_write(self.license_path, data)
        except OSError as exc:
            return VerifyResult.fail(Code.STORAGE, f"license not stored: {exc}")
        self._license_cache = None
        return result

    def stored_license(self) -> VerifyResult | None:
        """The verification of the stored license (cached per file version), None if none."""
        try:
            st = os.stat(self.license_path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return VerifyResult.fail(Code.STORAGE, f"cannot read the stored license: {exc}")
        key = (st.st_ino, st.st_size, st.st_mtime_ns, len(self.identity().components))
        if self._license_cache is None or self._license_cache[0] != key:
            try:
                data = read_bytes(self.license_path, MAX_SIZE) or b""
            except OSError as exc:
                return VerifyResult.fail(Code.STORAGE, f"cannot read the stored license: {exc}")
            self._license_cache = (key, self.verify(data))
        return self._license_cache[1]

    # -- switch ------------------------------------------------------------------------
    def _activated(self) -> bool:
        try:
            payload = read_record(self.switch_path)
        except DamagedRecord:
            return False
        return bool(payload and payload.get("activated") is True)

    def _set_switch(self, on: bool) -> None:
        write_record(self.switch_path, {"activated": on})

    def activate(self) -> Status:
        """Turn billing on; the first activation ever starts the 30-day trial.

        No trial starts, and nothing changes, when there is no trial record and the clock
        is before EARLIEST_PLAUSIBLE, or (unless a license is stored) billing was used
        here before (``earliest_use``, an earlier activation): the returned status says
        why in ``trial_problem``.  IdentityError when the device cannot be identified.
        """
        now = self.clock()
        trial = self.trial.observe(now)
        if trial.record is None and trial.problem is None:
            licensed = self._licensed()  # a license needs no trial, nor a set clock
            if now < EARLIEST_PLAUSIBLE:
                if not licensed:
                    return replace(self.status(), trial_problem=CLOCK_NOT_SET)
            else:
                trace = self._earlier_use()
                if trace is None:
                    started = self.trial.start(now)
                    if started.record is None and not licensed:
                        # no trial could start (an identity source not up yet): the switch
                        # stays off, or it would read as a trial used and gone
                        return replace(self.status(), trial_problem=started.problem)
                elif not licensed:
                    return replace(self.status(), trial_problem=trace)
        self._set_switch(True)
        return self.status()

    def deactivate(self) -> Status:
        """Turn billing off (always allowed); the trial's running time keeps counting."""
        self._set_switch(False)
        return self.status()

    # -- reading -----------------------------------------------------------------------
    def _licensed(self) -> bool:
        lic = self.stored_license()
        return bool(lic and lic.ok)

    def _trial(self, now: datetime) -> Trial:
        try:
            return self.trial.observe(now)
        except IdentityError as exc:
            return Trial(None, 0, f"the trial records cannot be checked: {exc}")

    def _earlier_use(self) -> str | None:
        """Why no new trial may start on a box without trial records, or None."""
        try:
            first = self.earliest_use() if self.earliest_use is not None else None
        except Exception as exc:  # noqa: BLE001 - the caller's database, any failure
            return f"the billing history cannot be read ({exc}); no new trial starts until it can"
        if first is not None:
            return f"this box has billing history since {first:%Y-%m-%d}; the trial was used"
        if self._activated():
            return ("billing was activated on this box before and its trial records are gone; "
                    "the trial was used")
        return None

    def status(self) -> Status:
        """Current state; also counts the trial's running time (``TrialStore.observe``)."""
        now = self.clock()
        trial = self._trial(now)
        lic = self.stored_license()
        licensed = bool(lic and lic.ok)
        activated = self._activated()
        record = trial.record
        problem = trial.problem
        if record is None and problem is None and activated and not licensed:
            problem = self._earlier_use()
        if not activated:
            state = DEACTIVATED
        else:
            state = ACTIVE if licensed or not trial.over else EXPIRED
        return Status(
            activated=activated,
            first_activation=record.started if record else None,
            expiration=None if licensed else trial.expiration(now),
            licensed=licensed,
            days_left=None if licensed or record is None else trial.days_left,
            state=state,
            license_uploaded=lic is not None,
            license_id=lic.license.license_id if lic and lic.license else None,
            license_problem=None if lic is None or lic.ok else lic.reason,
            trial_problem=problem,
            clock_warning=clock_behind(record, now),
            trial_used_seconds=trial.used if record is not None else None,
        )

    def flush_trial(self) -> None:
        """Write the running time counted since the records were last written (a daemon
        that stops cleanly, before a reboot, calls it); failures are ignored."""
        try:
            self.trial.observe(self.clock(), flush=True)
        except (IdentityError, OSError):
            pass

    def billing_state(self) -> str:
        """'active', 'deactivated' or 'expired'."""
        return self.status().state

    def may_sign_in(self) -> tuple[bool, str]:
        """Whether billing users may sign in, and if not, why and what to do."""
        status = self.status()
        if status.state == ACTIVE:
            return True, ""
        if status.state == DEACTIVATED:
            return False, (
                "Billing is deactivated. The PBX administrator can activate it under "
                "Addons -> Billing -> Settings."
            )
        when = f" on {status.expiration:%Y-%m-%d}" if status.expiration else ""
        return False, (
            f"The {TRIAL_DAYS}-day billing trial expired{when} and no license is uploaded. Ask the "
            "PBX administrator to download billing.ac under Addons -> Billing -> Settings, "
            "get a license from the sales team and upload it."
        )

    def billing_ac(self) -> bytes:
        """The billing.ac file for this device (raises IdentityError when unidentifiable)."""
        return make_billing_ac(
            self.identity(),
            product=PRODUCT,
            model=self.profile.model,
            board=self.profile.name,
            addon_version=self.addon_version,
            created=self.clock(),
            recipients=self.trusted(),  # its values sealed to each trusted vendor key
        )
