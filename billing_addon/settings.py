"""Billing settings kept in the database: currency, time zone, call policies.

Each setting has a default, a validator and a one-line help; values are stored as text.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import call_days, i18n, money, store
from .errors import Refusal
from .i18n import _
from .store import Setting, money_txn, sql, sql_one


class SettingError(Refusal):
    """A setting value that is refused; the message says why."""


def _choice(*allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if value not in allowed:
            raise SettingError(_("must be one of: {choices}").format(choices=", ".join(allowed)))
        return value

    return check


def _zone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(_("unknown time zone {zone} (use a name like Asia/Shanghai)").format(
            zone=repr(value[:60]))) from None
    return value


def _seconds(low: int, high: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not value.isdigit() or not low <= int(value) <= high:
            raise SettingError(_("must be a whole number of seconds from {low} to {high}").format(
                low=low, high=high))
        return str(int(value))

    return check


def _whole(low: int, high: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip()
        if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
            raise SettingError(_("must be a whole number from {low} to {high}").format(
                low=low, high=high))
        return str(int(value))

    return check


def _lines(most: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = value.strip().replace("\r\n", "\n")
        if len(value) > most:
            raise SettingError(_("must be at most {most} characters").format(most=most))
        return value

    return check


def _amount_or_off(value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        units = money.parse_amount(value)
    except money.AmountError as exc:
        raise SettingError(_("{reason} (or empty: off)").format(reason=exc)) from None
    return money.to_decimal_string(units)


@functools.lru_cache(maxsize=64)
def threshold_units(text: str) -> Optional[int]:
    """The stored default threshold in minor units (None: off); cached, it is read on
    every authorize."""
    return money.parse_amount(text) if text else None


_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")


def addresses(value: str) -> List[str]:
    return [part.strip() for part in re.split(r"[,;\s]+", value or "") if part.strip()]


def _addresses(value: str) -> str:
    found = addresses(value)
    for address in found:
        if len(address) > 254 or not _ADDRESS.fullmatch(address):
            raise SettingError(_("{address} is not an e-mail address").format(address=repr(address[:60])))
    if len(found) > 20:
        raise SettingError(_("at most 20 addresses"))
    return ", ".join(found)


def _address_or_empty(value: str) -> str:
    return _addresses(value) if value.strip() else ""


def _port(value: str) -> str:
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingError(_("must be a port number from 1 to 65535"))
    return str(int(value))


def _host(value: str) -> str:
    value = value.strip()
    if value and (len(value) > 253 or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value)):
        raise SettingError(_("{host} is not a host name or address").format(host=repr(value[:60])))
    return value


def _text(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit or any(c in value for c in "\r\n\0"):
            raise SettingError(_("at most {limit} characters on one line").format(limit=limit))
        return value

    return check


@dataclass(frozen=True)
class Option:
    default: str
    check: Callable[[str], str]
    help: str


OPTIONS: Dict[str, Option] = {
    "currency": Option("USD", _choice(*money.CURRENCIES), "currency shown on every page and export"),
    "language": Option(i18n.DEFAULT_LOCALE, _choice(*i18n.LOCALES),
                       "the pages' language for users who chose none, the administrator and "
                       "the sign-in page (en, zh_CN, es)"),
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
    "hotel_address": Option("", _lines(300), "the address printed on statements"),
    "checkout_status": Option(
        "locked", _choice("locked", "unlocked"), "the state an extension is returned to at check-out"
    ),
    "low_balance_threshold": Option(
        "", _amount_or_off, "default low-balance threshold of the extensions (empty: off)"),
    "alert_emails": Option("", _address_or_empty, "who gets the low-balance e-mails"),
    "smtp_host": Option("", _host, "SMTP server for the e-mails (empty: no e-mail)"),
    "smtp_port": Option("587", _port, "SMTP server port"),
    "smtp_security": Option("starttls", _choice("none", "starttls", "tls"),
                            "SMTP connection: none, starttls or tls"),
    "smtp_user": Option("", _text(200), "SMTP user name (empty: no login)"),
    "smtp_password": Option("", _text(200), "SMTP password (never shown)"),
    "pin_length": Option("6", _whole(4, 12), "digits of an account's PIN (PIN billing)"),
    "smtp_from": Option("", _address_or_empty, "sender address (empty: the SMTP user)"),
}
SECRETS = frozenset({"smtp_password"})  # never shown back: get_all() blanks them


_DEFAULTS = {key: option.default for key, option in OPTIONS.items()}
_DEFAULTS["rates_version"] = "0"


# On PostgreSQL the query is a round trip of every authorize: its answer is kept this
# long, and until this process writes anything but a call (store.writes_seen)
SNAPSHOT_KEPT_S = 0.5
_kept: tuple = (None, 0.0, {})  # (writes seen, until (monotonic), values)


def snapshot() -> Dict[str, str]:
    """Every setting (defaults filled in) and the rates version, in one cheap query
    (on PostgreSQL at most ``SNAPSHOT_KEPT_S`` old when another process changed it)."""
    global _kept
    if store.postgres():
        seen, until, kept = _kept
        if seen == store.writes_seen() and time.monotonic() < until:
            return dict(kept)
        seen = store.writes_seen()
    values = dict(_DEFAULTS)
    values.update(sql("SELECT key, value FROM setting").fetchall())
    if store.postgres():
        _kept = (seen, time.monotonic() + SNAPSHOT_KEPT_S, dict(values))
    return values


def get(key: str) -> str:
    option = OPTIONS[key]
    # a plain statement: every page reads a few settings (currency, zone, its label),
    # and building peewee's query cost several times SQLite's lookup
    row = sql_one("SELECT value FROM setting WHERE key = ?", (key,))
    return row[0] if row else option.default


def get_int(key: str) -> int:
    return int(get(key))


def get_all() -> Dict[str, str]:
    """Every setting for display: secrets (SECRETS) read as empty."""
    stored = {row.key: row.value for row in Setting.select()}
    return {key: "" if key in SECRETS else stored.get(key, option.default)
            for key, option in OPTIONS.items()}


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
        Setting.insert(key=key, value=value).on_conflict(
            conflict_target=[Setting.key], preserve=[Setting.value]).execute()
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
