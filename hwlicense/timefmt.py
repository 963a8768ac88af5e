"""UTC timestamps as written in billing.ac and license files: 2024-05-01T12:00:00Z."""

from __future__ import annotations

from datetime import datetime, timezone

from hwlicense.results import Code, FormatError

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# datetime.UTC exists only from Python 3.11; this code also runs on 3.9.
UTC = timezone.utc  # noqa: UP017


def format_utc(moment: datetime) -> str:
    """An aware datetime as second-precision UTC text."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_utc(text: str, field: str) -> datetime:
    """The inverse of format_utc; FormatError naming the field when malformed."""
    try:
        moment = datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise FormatError(Code.MALFORMED, f"field {field!r} is not a UTC time: {text!r}") from None
    if format_utc(moment) != text:
        raise FormatError(Code.MALFORMED, f"field {field!r} is not canonical: {text!r}")
    return moment


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)
