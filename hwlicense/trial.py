"""The 30-day trial: when it started and the latest time ever seen, kept so that it
survives deactivation, reinstall, upgrade, resets and a clock moved back.

The record is written to nvram (kept by every reset) and mirrored in persist; reading
takes the earliest start and the latest high-water mark of the copies that are intact,
so deleting or damaging one copy gains nothing.  The high-water mark is only rewritten
when time has moved on by HIGH_WATER_STEP, to spare the flash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hwlicense.board import BoardProfile
from hwlicense.storage import DamagedRecord, read_record, write_record
from hwlicense.timefmt import UTC

TRIAL_DAYS = 30
TRIAL_LENGTH = timedelta(days=TRIAL_DAYS)
HIGH_WATER_STEP = timedelta(hours=1)
RECORD_NAME = "trial.rec"
RECORD_AREAS = ("nvram", "persist")


@dataclass(frozen=True)
class TrialRecord:
    """First activation and the latest time seen (both aware UTC)."""

    first_activation: datetime
    high_water: datetime

    @property
    def expiration(self) -> datetime:
        return self.first_activation + TRIAL_LENGTH

    def effective_now(self, now: datetime) -> datetime:
        """The clock, but never earlier than a time already seen."""
        return max(now, self.high_water)

    def expired(self, now: datetime) -> bool:
        return self.effective_now(now) >= self.expiration

    def days_left(self, now: datetime) -> int:
        """Whole days left, rounded up (0 when over)."""
        remaining = self.expiration - self.effective_now(now)
        return max(0, math.ceil(remaining / timedelta(days=1)))


def _to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_epoch(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DamagedRecord("bad time value")
    return datetime.fromtimestamp(value, UTC)


class TrialStore:
    """Reads and writes the trial record copies of one board."""

    def __init__(self, profile: BoardProfile):
        self.paths: list[Path] = [profile.area(a) / RECORD_NAME for a in RECORD_AREAS]

    def load(self) -> tuple[TrialRecord | None, bool]:
        """(merged record or None, whether some copy was damaged)."""
        records: list[TrialRecord] = []
        damaged = False
        for path in self.paths:
            try:
                payload = read_record(path)
                if payload is not None:
                    records.append(TrialRecord(
                        _from_epoch(payload.get("first_activation")),
                        _from_epoch(payload.get("high_water")),
                    ))
            except DamagedRecord:
                damaged = True
        if not records:
            return None, damaged
        first = min(r.first_activation for r in records)
        high = max(max(r.high_water for r in records), first)
        return TrialRecord(first, high), damaged

    def save(self, record: TrialRecord) -> None:
        """Write every copy (nvram first: it is the one every reset keeps)."""
        payload = {
            "first_activation": _to_epoch(record.first_activation),
            "high_water": _to_epoch(record.high_water),
        }
        for path in self.paths:
            write_record(path, payload)

    def start(self, now: datetime) -> TrialRecord | None:
        """Record the first activation once.  An existing record is kept (and its copies
        rewritten); when every copy is damaged no new trial starts: None."""
        existing, damaged = self.load()
        if existing is None and damaged:
            return None
        record = existing or TrialRecord(now, now)
        record = TrialRecord(record.first_activation, record.effective_now(now))
        self.save(record)
        return record

    def observe(self, record: TrialRecord, now: datetime) -> TrialRecord:
        """Raise the high-water mark to ``now``; persist it when it moved by a step."""
        if now <= record.high_water:
            return record
        moved = TrialRecord(record.first_activation, now)
        if now - record.high_water >= HIGH_WATER_STEP:
            self.save(moved)
        return moved
