"""The 30-day trial: 30 days of the box's running time, in records bound to the device.

Time.  The trial counts the time the box has run since the first activation, read from
the kernel's uptime within each boot (``runtime``), never from the wall clock: setting
the clock back or forward, a wrong clock at the first activation or an RTC that starts
at a default date neither gives days back nor takes them.  Each record holds an account
point, (seconds used, boot id, that boot's uptime); the time used now is the seconds
used plus the uptime gained since, in the same boot, or plus the new boot's whole uptime
after a reboot.  Time the box is switched off does not count.  The records are rewritten
only when WRITE_STEP seconds have been counted since the last write, on a new boot, and
once when the time runs out, to spare the flash: a power cut loses at most WRITE_STEP
(a clean stop writes what was counted: ``Activation.flush_trial``).
The wall clock is kept only to show dates, and as a high-water mark: a clock far behind
a time already seen is reported (``clock_behind``), not counted.

Records.  ``trial.rec`` in every storage area of RECORD_AREAS (nvram, persist, data),
each a checked record (``storage``) whose payload carries MACs keyed by this device's
identity components and a product secret (``record_macs``): at least ``match`` of them
must verify.  Reading sorts each copy as missing, damaged (its checksum fails: flash
damage or a clumsy edit), foreign (its checksum holds but its MACs do not: edited with
the checksum recomputed, copied from another box, or written by a format without MACs)
or good.  Good copies are merged (earliest start, most time used) and missing or damaged
copies are rewritten from them.  A foreign copy ends the trial for good: every copy is
rewritten with the reason (``revoked``), so putting the original back does not revive
it.  Only damaged copies and no good one: no trial runs and no new one starts.  No copy
at all: the caller decides whether a trial may start (``Activation.activate``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hwlicense.board import BoardProfile
from hwlicense.identity import Identity, read_identity
from hwlicense.runtime import UNKNOWN_BOOT, BootId, Uptime, boot_id_source, uptime_source
from hwlicense.storage import DamagedRecord, read_record, write_record
from hwlicense.timefmt import UTC

TRIAL_DAYS = 30
TRIAL_LENGTH = timedelta(days=TRIAL_DAYS)
TRIAL_SECONDS = int(TRIAL_LENGTH.total_seconds())
WRITE_STEP = 300  # seconds of running time counted between two writes of the records
CLOCK_SLACK = timedelta(days=1)  # a clock this far behind the high-water mark is reported
RECORD_NAME = "trial.rec"
RECORD_AREAS = ("nvram", "persist", "data")  # written in this order: no reset wipes nvram
FORMAT = 2
# The MAC keys: HMAC-SHA256(PRODUCT_SECRET, "NAME\0COMPONENT") for each identity component.
PRODUCT_SECRET = bytes.fromhex("12bba24a9804ad09a3ee76d7dfd28573aab9560da933b9d0e54aa5a8965f7710")
MAC_DOMAIN = b"billing-addon/trial-record/v2\0"
MAC_HEX = 32

DAMAGED = "the trial records are damaged; no new trial starts (a license still works)"
DEGRADED = ("not every identity source of this device can be read now (a network card or "
            "modem missing?): no trial starts until they can")
REVOKED = ("the trial record in {areas} was not written by this device (edited, or copied "
           "from another box): the trial is over (a license still works)")


@dataclass(frozen=True)
class TrialRecord:
    """One trial record (all times aware UTC)."""

    started: datetime  # the clock at the first activation: shown, never counted
    used: int  # seconds of running time counted up to the account point
    boot: str  # the boot of the account point
    uptime: int  # that boot's uptime at the account point, whole seconds
    high_water: datetime  # the latest clock reading written
    ended: datetime | None = None  # the clock when the time ran out or the trial was revoked
    revoked: str | None = None  # why the trial was ended early (a foreign record); for good

    def used_at(self, boot: str, uptime: float) -> int:
        """Seconds used when this boot's uptime is ``uptime``.  What cannot be told apart
        from a glitch counts nothing: an uptime that went back within a boot whose id is
        known, or a boot id that could not be read now (or then) while the other was."""
        now = max(0, int(uptime))
        if boot == self.boot:
            if now >= self.uptime:
                return self.used + now - self.uptime
            # the uptime went back: a reboot when no boot id can ever be read, else a glitch
            return self.used + now if boot == UNKNOWN_BOOT else self.used
        if UNKNOWN_BOOT in (boot, self.boot):
            return self.used
        return self.used + now  # a later boot: the whole of its running time so far


@dataclass(frozen=True)
class Trial:
    """The trial as read at one moment: the record (None: no trial), the seconds of
    running time used, and why no trial runs or it ended early (``problem``)."""

    record: TrialRecord | None
    used: int = 0
    problem: str | None = None

    @property
    def over(self) -> bool:
        return (self.record is None or self.record.revoked is not None
                or self.used >= TRIAL_SECONDS)

    @property
    def remaining(self) -> int:
        """Seconds of running time left."""
        return 0 if self.over else TRIAL_SECONDS - self.used

    @property
    def days_left(self) -> int:
        """Whole days of running time left, rounded up (0 when over)."""
        return math.ceil(self.remaining / 86400)

    def expiration(self, now: datetime) -> datetime | None:
        """When the trial ended, or ends if the box keeps running, by this clock."""
        if self.record is None:
            return None
        if self.record.ended is not None:
            return self.record.ended
        return now + timedelta(seconds=TRIAL_SECONDS - self.used)


def clock_behind(record: TrialRecord | None, now: datetime) -> str | None:
    """A warning when the clock is far behind a time this box has already seen."""
    if record is None or record.high_water - now <= CLOCK_SLACK:
        return None
    days = (record.high_water - now).days
    return (f"the clock ({now:%Y-%m-%d %H:%M} UTC) is {days} day(s) behind a time this box "
            f"has already seen ({record.high_water:%Y-%m-%d %H:%M} UTC): set it right (NTP); "
            "the trial counts the box's running time, not the clock")


# -- the record on disk ----------------------------------------------------------------

def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _time(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DamagedRecord("bad time value")
    return datetime.fromtimestamp(value, UTC)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DamagedRecord("bad count")
    return value


def _body(record: TrialRecord) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "started": _epoch(record.started),
        "used": record.used,
        "boot": record.boot,
        "uptime": record.uptime,
        "high_water": _epoch(record.high_water),
        "ended": None if record.ended is None else _epoch(record.ended),
        "revoked": record.revoked,
    }


def _parse(body: dict[str, Any]) -> TrialRecord:
    if body.get("format") != FORMAT:
        raise DamagedRecord(f"trial record format {body.get('format')!r}")
    boot, revoked, ended = body.get("boot"), body.get("revoked"), body.get("ended")
    if not isinstance(boot, str) or not (revoked is None or isinstance(revoked, str)):
        raise DamagedRecord("bad text field")
    return TrialRecord(
        started=_time(body.get("started")),
        used=_count(body.get("used")),
        boot=boot,
        uptime=_count(body.get("uptime")),
        high_water=_time(body.get("high_water")),
        ended=None if ended is None else _time(ended),
        revoked=revoked,
    )


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _mac(name: str, component: str, data: bytes) -> str:
    key = hmac.new(PRODUCT_SECRET, f"{name}\0{component}".encode(), hashlib.sha256).digest()
    return hmac.new(key, MAC_DOMAIN + data, hashlib.sha256).hexdigest()[:MAC_HEX]


def record_macs(body: dict[str, Any], identity: Identity) -> dict[str, str]:
    """One MAC of the record body per identity component of this device."""
    data = _canonical(body)
    return {name: _mac(name, comp, data) for name, comp in sorted(identity.components.items())}


def _bound(payload: dict[str, Any], identity: Identity) -> bool:
    """Whether at least ``match`` of the payload's MACs verify on this device."""
    macs = payload.get("mac")
    if not isinstance(macs, dict):
        return False
    data = _canonical({k: v for k, v in payload.items() if k != "mac"})
    # bytes: compare_digest raises on a str with a character beyond ASCII (an edited copy)
    good = sum(1 for name, comp in identity.components.items()
               if isinstance(macs.get(name), str)
               and hmac.compare_digest(macs[name].encode(), _mac(name, comp, data).encode()))
    return good >= identity.match


MISSING, DAMAGED_COPY, FOREIGN, UNCHECKED, GOOD = "missing", "damaged", "foreign", "unchecked", "good"


@dataclass(frozen=True)
class _Copy:
    area: str
    kind: str
    record: TrialRecord | None = None


def _merge(records: list[TrialRecord], boot: str, uptime: float) -> TrialRecord:
    """One record from the good copies: the most time used, the earliest start, the
    latest mark; a revoked or ended copy keeps the trial revoked or ended."""
    most = max(records, key=lambda r: r.used_at(boot, uptime))
    ended = [r.ended for r in records if r.ended is not None]
    revoked = [r.revoked for r in records if r.revoked is not None]
    return replace(
        most,
        started=min(r.started for r in records),
        high_water=max(r.high_water for r in records),
        ended=min(ended) if ended else None,
        revoked=revoked[0] if revoked else None,
    )


class TrialStore:
    """The trial record copies of one board, read cheaply and written rarely.

    ``identity`` returns this device's identity (the Activation's cached one; by default
    read from the profile once); ``uptime`` and ``boot_id`` are the running-time sources
    (``runtime``; tests give their own)."""

    def __init__(
        self,
        profile: BoardProfile,
        identity: Callable[[], Identity] | None = None,
        uptime: Uptime | None = None,
        boot_id: BootId | None = None,
    ):
        self.profile = profile
        self.paths: dict[str, Path] = {a: profile.area(a) / RECORD_NAME for a in RECORD_AREAS}
        self._identity = identity or _once(lambda: read_identity(profile))
        self.uptime = uptime or uptime_source(profile)
        self.boot_id = boot_id or boot_id_source(profile)
        # (the copies' stat keys, the merged record, its problem): reread when a copy changes
        self._cache: tuple[tuple, TrialRecord | None, str | None] | None = None

    # -- reading -----------------------------------------------------------------------
    def observe(self, now: datetime, flush: bool = False) -> Trial:
        """The trial now; counts the running time and writes the records when due, or
        with ``flush`` whenever time was counted since the last write (before a stop)."""
        record, problem = self._merged(now)
        if record is None:
            return Trial(None, 0, problem)
        boot, uptime = self.boot_id(), self.uptime()
        used = record.used_at(boot, uptime)
        # never written over: a boot id not read this time, or an uptime gone back within a
        # known boot (written, the next right reading would count the boot's uptime again)
        glitch = ((boot == UNKNOWN_BOOT and record.boot != UNKNOWN_BOOT)
                  or (boot == record.boot != UNKNOWN_BOOT and int(uptime) < record.uptime))
        if record.ended is None and not glitch:
            new_boot = boot != record.boot or int(uptime) < record.uptime
            counted = used - record.used
            if (new_boot or counted >= WRITE_STEP or used >= TRIAL_SECONDS
                    or (flush and counted > 0)):
                ended = (now - timedelta(seconds=used - TRIAL_SECONDS)
                         if used >= TRIAL_SECONDS else None)
                record = replace(record, used=used, boot=boot, uptime=int(uptime),
                                 high_water=max(record.high_water, now), ended=ended)
                record = self._write(record, quiet=True)
        return Trial(record, used, problem)

    def load(self) -> TrialRecord | None:
        """The merged record of the copies (repairing missing or damaged ones), or None."""
        return self._merged(datetime.now(UTC))[0]

    def _merged(self, now: datetime) -> tuple[TrialRecord | None, str | None]:
        keys = self._keys()
        if self._cache is None or self._cache[0] != keys:
            record, problem = self._read(now)
            self._cache = (self._keys(), record, problem)
        return self._cache[1], self._cache[2]

    def _keys(self) -> tuple:
        """The copies' file versions, and how many identity sources could be read (copies
        that could not be judged are judged again once they all can)."""
        keys: list[tuple[int, int, int] | int | None] = [len(self._identity().components)]
        for path in self.paths.values():
            try:
                st = path.stat()
                keys.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except OSError:
                keys.append(None)
        return tuple(keys)

    def _copy(self, area: str) -> _Copy:
        try:
            payload = read_record(self.paths[area])
        except DamagedRecord:
            return _Copy(area, DAMAGED_COPY)
        if payload is None:
            return _Copy(area, MISSING)
        if not _bound(payload, self._identity()):
            # with identity sources missing (a NIC not up yet) a copy cannot be judged
            return _Copy(area, UNCHECKED if self._degraded() else FOREIGN)
        try:
            return _Copy(area, GOOD, _parse({k: v for k, v in payload.items() if k != "mac"}))
        except DamagedRecord:
            return _Copy(area, DAMAGED_COPY)

    def _read(self, now: datetime) -> tuple[TrialRecord | None, str | None]:
        copies = [self._copy(area) for area in RECORD_AREAS]
        good = [c.record for c in copies if c.record is not None]
        foreign = [c.area for c in copies if c.kind == FOREIGN]
        boot, uptime = self.boot_id(), self.uptime()
        if foreign:
            reason = REVOKED.format(areas=", ".join(foreign))
            base = (_merge(good, boot, uptime) if good
                    else TrialRecord(now, 0, boot, int(uptime), now))
            record = replace(base, ended=base.ended or now, revoked=base.revoked or reason)
            record = self._write(record, quiet=True)
            return record, record.revoked
        if good:
            record = _merge(good, boot, uptime)
            # a copy lost or damaged, or one put back from before the trial was revoked
            repair = [c.area for c in copies if c.kind in (MISSING, DAMAGED_COPY)
                      or (record.revoked and c.record is not None and not c.record.revoked)]
            if repair:
                self._write(record, repair, quiet=True)
            return record, record.revoked
        return None, DAMAGED if copies and any(c.kind == DAMAGED_COPY for c in copies) else None

    # -- writing -----------------------------------------------------------------------
    def start(self, now: datetime) -> Trial:
        """Start the trial now, unless a record (or a damaged one) exists: then the trial
        as it is.  OSError when the record cannot be written."""
        record, problem = self._merged(now)
        if record is not None or problem is not None:
            return self.observe(now)
        if self._degraded():
            return Trial(None, 0, DEGRADED)
        record = self._write(TrialRecord(now, 0, self.boot_id(), int(self.uptime()), now))
        return Trial(record, 0, None)

    def save(self, record: TrialRecord) -> None:
        """Write every copy (OSError when one cannot be written)."""
        self._write(record)

    def _degraded(self) -> bool:
        """Fewer identity sources readable than the board's ``match`` (a NIC not up yet, a
        modem unplugged): a record signed now could not be verified once they are back,
        so nothing is written or revoked until they are."""
        return len(self._identity().components) < self.profile.match

    def _write(self, record: TrialRecord, areas=RECORD_AREAS, quiet: bool = False) -> TrialRecord:
        """Write ``record`` to the copies of ``areas`` and return it as written (whole
        seconds); ``quiet``: a copy that cannot be written (a read-only area) is skipped,
        the record still counts in memory.  Nothing is written while the identity is
        degraded (see ``_degraded``): the record counts in memory only."""
        body = _body(record)
        record = _parse(body)
        if self._degraded():
            return record
        payload = {**body, "mac": record_macs(body, self._identity())}
        for area in areas:
            try:
                write_record(self.paths[area], payload)
            except OSError:
                if not quiet:
                    raise
        self._cache = (self._keys(), record, record.revoked)
        return record


def _once(read: Callable[[], Identity]) -> Callable[[], Identity]:
    """``read`` called at most once (a modem is slow to ask)."""
    found: list[Identity] = []

    def identity() -> Identity:
        if not found:
            found.append(read())
        return found[0]

    return identity
