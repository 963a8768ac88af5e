"""Numbers, money, dates and times as the current locale writes them (``i18n.current()``),
with Babel's locale data.  Every page and statement formats through here.

- English keeps the product's formats from before there were languages (money as
  ``money.format_amount``: the currency's mark, no grouping; times as 2024-03-01 13:05:00),
  so nothing changed for its users.  Counts are grouped (1,234) in every locale.
- Spanish and Chinese use Babel's patterns: grouping, the locale's decimal mark, the
  symbol where the locale puts it, Babel's "medium" dates and times.
- Money is exact: the integer minor units become a ``Decimal`` (never a float) and are
  shown with every significant digit (two decimals at least, four at most: the scale of
  ``money``), with the currency symbols of ``money.CURRENCIES``.  What a form field shows
  (``plain``) and what ``parse_amount`` reads use the same mark (``money.decimal_mark``).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Optional

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal

from . import i18n, money

ISO_TIME = "%Y-%m-%d %H:%M:%S"
ISO_MINUTES = "%Y-%m-%d %H:%M"
ISO_DATE = "%Y-%m-%d"


def _locale(locale: Optional[str]) -> str:
    return locale or i18n.current()


@functools.cache
def _babel(locale: str) -> Locale:
    return Locale.parse(locale)


def _decimal(units: int) -> Decimal:
    return Decimal(money.to_decimal_string(units))


def amount(units: int, currency: str, locale: Optional[str] = None) -> str:
    """``units`` for display: symbol, sign, grouping and mark of the locale.

    >>> amount(12345678, "EUR", "es"), amount(-125, "CNY", "zh_CN"), amount(11250, "USD", "en")
    ('1.234,5678\\xa0€', '-¥0.0125', '$1.125')
    """
    locale = _locale(locale)
    if locale == i18n.DEFAULT_LOCALE:
        return money.format_amount(units, currency)
    pattern = _babel(locale).currency_formats["standard"]
    negative = 1 if units < 0 else 0
    symbol = money.currency_symbol(currency)
    prefix = pattern.prefix[negative].replace("¤", symbol)
    suffix = pattern.suffix[negative].replace("¤", symbol)
    return prefix + _digits(abs(units), currency, locale) + suffix


def _digits(units: int, currency: str, locale: str) -> str:
    # Four decimals for a comma mark's three (1,1250): never read as a thousands group.
    frac = money.to_decimal_string(units).partition(".")[2]
    comma = money.decimal_mark(currency, locale) == ","
    decimals = "0000" if comma and len(frac) == 3 and units >= money.UNITS_PER_CURRENCY else "00##"
    return format_decimal(_decimal(units), format="#,##0." + decimals, locale=locale)


def plain(units: int, currency: str, locale: Optional[str] = None, *, min_decimals: int = 2) -> str:
    """``units`` as the user types them into a form field (no symbol, no grouping)."""
    return money.format_plain(int(units), currency, min_decimals=min_decimals,
                              locale=_locale(locale))


def parse_amount(text: str, currency: str, **rules) -> int:
    """``money.parse_amount`` with the mark of the current locale, its refusal in the
    user's language (``rules``: allow_negative, allow_zero)."""
    try:
        return money.parse_amount(text, currency=currency, locale=i18n.current(), **rules)
    except money.AmountError as exc:
        raise money.AmountError(i18n._(exc.template).format(**exc.params)
                                if exc.params else i18n._(exc.template)) from None


def number(value: int, locale: Optional[str] = None) -> str:
    """A count with the locale's grouping (1,234; es: 1234 and 12.345)."""
    return format_decimal(int(value), locale=_locale(locale))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def datetime(value: Optional[dt.datetime], zone: dt.tzinfo, locale: Optional[str] = None, *,
             seconds: bool = True) -> str:
    """A moment (naive: UTC) in ``zone``, date and time, as the locale writes it."""
    if value is None:
        return ""
    locale = _locale(locale)
    local = _aware(value).astimezone(zone)
    if locale == i18n.DEFAULT_LOCALE:
        return local.strftime(ISO_TIME if seconds else ISO_MINUTES)
    if seconds:
        return format_datetime(local, format="medium", tzinfo=zone, locale=locale)
    joined = _babel(locale).datetime_formats["medium"]  # "{1}, {0}": date, then time
    return joined.replace("{1}", format_date(local.date(), format="medium", locale=locale)).replace(
        "{0}", format_time(local, format="short", tzinfo=zone, locale=locale))


def date(value: Optional[dt.datetime], zone: dt.tzinfo, locale: Optional[str] = None) -> str:
    """The day of a moment in ``zone`` as the locale writes a date."""
    if value is None:
        return ""
    locale = _locale(locale)
    local = _aware(value).astimezone(zone)
    if locale == i18n.DEFAULT_LOCALE:
        return local.strftime(ISO_DATE)
    return format_date(local.date(), format="medium", locale=locale)


# the seconds a datetime can show in any zone (years 1 to 9999, a day of margin each way):
# a time stored before the periods were checked (a statement of "year 1") still shows
_FIRST_SHOWN = int(dt.datetime(1, 1, 3, tzinfo=dt.timezone.utc).timestamp())
_LAST_SHOWN = int(dt.datetime(9999, 12, 29, tzinfo=dt.timezone.utc).timestamp())


def from_epoch(ts: Optional[int]) -> Optional[dt.datetime]:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(min(max(int(ts), _FIRST_SHOWN), _LAST_SHOWN), dt.timezone.utc)
