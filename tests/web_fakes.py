"""A stand-in for hwlicense.activation.Activation with the same methods, for WSGI tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class FakeStatus:
    activated: bool
    first_activation: Optional[dt.datetime]
    expiration: Optional[dt.datetime]
    licensed: bool
    days_left: Optional[int]
    state: str
    license_uploaded: bool = False
    license_problem: Optional[str] = None
    trial_problem: Optional[str] = None


@dataclass(frozen=True)
class FakeResult:
    ok: bool
    reason: str


class FakeActivation:
    """Trial of 30 days from the first activate(); a license is any file starting LICENSE-OK."""

    def __init__(self, now: Optional[dt.datetime] = None):
        self.now = now or dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.timezone.utc)
        self.first: Optional[dt.datetime] = None
        self.on = False
        self.licensed = False
        self.uploads = 0

    def status(self) -> FakeStatus:
        expiration = None if self.licensed or self.first is None else self.first + dt.timedelta(days=30)
        if not self.on:
            state = "deactivated"
        elif self.licensed or (expiration and self.now < expiration):
            state = "active"
        else:
            state = "expired"
        days = None if expiration is None else max(0, (expiration - self.now).days)
        return FakeStatus(self.on, self.first, expiration, self.licensed, days, state, self.licensed)

    def activate(self) -> FakeStatus:
        self.first = self.first or self.now
        self.on = True
        return self.status()

    def deactivate(self) -> FakeStatus:
        self.on = False
        return self.status()

    def billing_state(self) -> str:
        return self.status().state

    def may_sign_in(self) -> Tuple[bool, str]:
        state = self.status().state
        if state == "active":
            return True, ""
        if state == "deactivated":
            return False, "Billing is deactivated. The PBX administrator can activate it."
        return False, "The 30-day billing trial expired and no license is uploaded."

    def billing_ac(self) -> bytes:
        return b"billing.ac v1\nmodel: DEMO\n"

    def upload_license(self, data: bytes) -> FakeResult:
        self.uploads += 1
        if data.startswith(b"LICENSE-OK"):
            self.licensed = True
            return FakeResult(True, "")
        return FakeResult(False, "the file is not a license (unknown format)")
