"""Billing settings kept in the database: currency, time zone, call policies.

Each setting has a default, a validator and a one-line help; values are stored as text.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Callable, Dict, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import call_days, money
from .errors import Refusal
from .store import Setting, db, money_txn


class SettingError(Refusal):
    """A setting value that is refused; the message says why."""


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise SettingError(f"must be one of: {', '.join(allowed)}")
        return value

    return check


def _zone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"unknown time zone {value[:60]!r} (use a name like Asia/Shanghai)") from None
    return value


def _seconds(low: int, high: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not value.isdigit() or not low <= int(value) <= high:
            raise SettingError(f"must be a whole number of seconds from {low} to {high}")
        return str(int(value))

    return check


def _text(most: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip().replace("\r\n", "\n")
        if len(value) > most:
            raise SettingError(f"must be at most {most} characters")
        return value

    return check


@dataclass(frozen=True)
class Option:
    default: str
    check: Callable[[str], str]
    help: str


OPTIONS: Dict[str, Option] = {
    "currency": Option("USD", _choice(*money.CURRENCIES), "currency shown on every page and export"),
    "timezone": Option("UTC", _zone, "the box's time zone: rate time blocks, call log, statistics"),
    "unrated_policy": Option(
        "allow", _choice("allow", "deny"),
        "a call that no rate matches: allow it unbilled (logged as unrated) or deny it",
    ),
    "expired_policy": Option(
        "deny", _choice("deny", "allow"),
        "billing-enabled extensions after the trial expired without a license",
    ),
    "max_call_seconds": Option("7200", _seconds(60, 86400), "longest call allowed at once"),
    "warn_seconds": Option("30", _seconds(0, 600), "warning tone this long before the limit"),
    "ring_allowance_seconds": Option(
        "300", _seconds(30, 3600), "time between authorize and answer counted before a "
        "reservation can go stale",
    ),
    "stale_grace_seconds": Option(
        "600", _seconds(60, 86400), "grace after a call's limit before its reservation is released"
    ),
    "hotel_name": Option("", _text(80), "the hotel's (or box's) name printed on statements"),
    "hotel_address": Option("", _text(300), "the address printed on statements"),
    "checkout_status": Option(
        "locked", _choice("locked", "unlocked"), "the state an extension is returned to at check-out"
    ),
}


def snapshot() -> Dict[str, str]:
    """Every setting (defaults filled in) and the rates version, in one cheap query."""
    values = {key: option.default for key, option in OPTIONS.items()}
    values["rates_version"] = "0"
    values.update(db.execute_sql("SELECT key, value FROM setting").fetchall())
    return values


def get(key: str) -> str:
    option = OPTIONS[key]
    row = Setting.get_or_none(Setting.key == key)
    return row.value if row else option.default


def get_int(key: str) -> int:
    return int(get(key))


def get_all() -> Dict[str, str]:
    stored = {row.key: row.value for row in Setting.select()}
    return {key: stored.get(key, option.default) for key, option in OPTIONS.items()}


def system_zone(localtime: str = "/etc/localtime", timezone_file: str = "/etc/timezone"
                ) -> Optional[str]:
    """The operating system's time zone name (``/etc/localtime`` links to
    .../zoneinfo/<name>; else ``/etc/timezone``), None when it cannot be told."""
    candidates = []
    target = os.path.realpath(localtime)
    if "/zoneinfo/" in target:
        candidates.append(target.split("/zoneinfo/", 1)[1])
    try:
        with open(timezone_file, encoding="utf-8") as fh:
            candidates.append(fh.read(100).strip())
    except OSError:
        pass
    for name in candidates:
        try:
            return _zone(name)
        except SettingError:
            continue
    return None


def adopt_system_zone() -> Optional[str]:
    """Set ``timezone`` from the operating system unless it was set already (the
    installer runs this: rate time blocks, the call log and CDR times need the box's
    zone from the first call on).  Returns the zone set, if any."""
    if Setting.get_or_none(Setting.key == "timezone") is not None:
        return None
    zone = system_zone()
    if zone is None:
        return None
    return put("timezone", zone)


def put(key: str, value: str) -> str:
    if key not in OPTIONS:
        raise SettingError(f"unknown setting {key[:40]!r}")
    try:
        value = OPTIONS[key].check(str(value))
    except SettingError as exc:
        raise SettingError(f"{key}: {exc}") from None
    with money_txn():  # in the write queue, like every other writer of the process
        previous = Setting.get_or_none(Setting.key == key)
        Setting.insert(key=key, value=value).on_conflict_replace().execute()
        old = previous.value if previous else OPTIONS[key].default
        if key == "timezone" and value != old:
            # the days of the calls and of Statistics follow the zone (call_days.py)
            call_days.rebuild(ZoneInfo(value))
    return value


def zone() -> ZoneInfo:
    return ZoneInfo(get("timezone"))


def local(ts_utc: int) -> dt.datetime:
    """A stored UTC epoch as an aware datetime in the box's zone."""
    return dt.datetime.fromtimestamp(ts_utc, dt.timezone.utc).astimezone(zone())


def zone_label(at_utc: int) -> str:
    """The zone the pages show times in, with its UTC offset at ``at_utc``.

    >>> _label(ZoneInfo("Europe/Berlin"), 1711843200), _label(ZoneInfo("Asia/Kolkata"), 0)
    ('Europe/Berlin (UTC+01:00)', 'Asia/Kolkata (UTC+05:30)')
    """
    return _label(zone(), at_utc)


def _label(zone_info: ZoneInfo, at_utc: int) -> str:
    offset = dt.datetime.fromtimestamp(at_utc, zone_info).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{zone_info.key} (UTC{sign}{hours:02d}:{minutes:02d})"
