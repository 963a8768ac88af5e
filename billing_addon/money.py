"""Exact money: integer minor units, parsing of user input, display per currency.

Every amount in the add-on is an ``int`` counting 1/10000 of the currency unit
(``UNITS_PER_CURRENCY``), fine enough for per-second rates such as 0.0125.  No float is
ever used on a money path.

The rounding rule (the only one): **amounts are never rounded**.  Input with more than
four decimals is refused, display shows every significant digit (at least two
decimals).  The only rounding in billing is of *time*: a started billing unit is charged
in full (see ``rating.cost``).

The decimal mark: a point, or for a currency whose users write a comma (EUR) a comma,
with the point accepted too.  There are never thousands separators, and in a comma
currency a mark followed by exactly three digits after a non-zero whole part
(``1,000``, ``1.500``) is refused as ambiguous rather than guessed; such an amount is
shown with four decimals (``1,1250``) so what is shown can be typed back.

>>> parse_amount("12.5")
125000
>>> parse_amount("0.0125")
125
>>> parse_amount("7,50", currency="EUR")
75000
>>> format_amount(125, "USD")
'$0.0125'
>>> format_amount(-125000, "EUR")
'-€12,50'
>>> format_amount(11250, "EUR")
'€1,1250'
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

from .digits import first_foreign_digit
from .errors import Refusal

SCALE = 4
UNITS_PER_CURRENCY = 10**SCALE
# Large enough for any real balance, small enough that a typo is caught and SQLite's
# 64-bit integers can never overflow when many are summed.
MAX_AMOUNT = 10**9 * UNITS_PER_CURRENCY

_AMOUNT_RE = re.compile(r"^([+-]?)([0-9]*)(?:([.,])([0-9]*))?$")


class Currency(NamedTuple):
    code: str
    symbol: str
    label: str
    decimal_comma: bool = False


CURRENCIES = {
    "USD": Currency("USD", "$", "USD ($)"),
    "CNY": Currency("CNY", "¥", "CNY (¥)"),
    "EUR": Currency("EUR", "€", "EUR (€)", decimal_comma=True),
    "GBP": Currency("GBP", "£", "GBP (£)"),
    "OTHER": Currency("OTHER", "¤", "Other (¤)"),
}
DEFAULT_CURRENCY = "USD"


class AmountError(Refusal):
    """User input that is not an acceptable amount; the message says why."""


def decimal_mark(currency: Optional[str]) -> str:
    """The decimal mark users of ``currency`` write; None (files, the default) is '.'."""
    if currency is None:
        return "."
    return "," if CURRENCIES.get(currency, CURRENCIES["OTHER"]).decimal_comma else "."


def parse_amount(text: str, *, currency: Optional[str] = None, allow_negative: bool = False,
                 allow_zero: bool = True) -> int:
    """Parse a decimal string typed by a user into minor units, exactly.  ``currency``
    chooses the decimal mark (see the module doc); without it only a point is one.

    >>> parse_amount(" 7 ")
    70000
    >>> parse_amount("-1.5", allow_negative=True)
    -15000
    >>> parse_amount("1e3")
    Traceback (most recent call last):
    ...
    billing_addon.money.AmountError: '1e3' is not a number: use digits and one decimal point, like 12.50
    >>> parse_amount("1,000", currency="EUR")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    billing_addon.money.AmountError: '1,000' is ambiguous ...: write 1000, or 1,0 for the decimal
    """
    if not isinstance(text, str):
        raise AmountError("amount must be text")
    raw = text.strip()
    mark = decimal_mark(currency)
    example = f"12{mark}50"
    foreign = first_foreign_digit(raw)
    if foreign is not None:
        raise AmountError(f"{raw[:40]!r}: use the digits 0-9 only ({foreign!r} is not one of them)")
    if "," in raw and ("." in raw or raw.count(",") > 1):
        raise AmountError(f"{raw[:40]!r}: no thousands separators, one decimal {_mark_name(mark)} "
                          f"({example})")
    if "," in raw and mark == ".":
        raise AmountError(f"{raw[:40]!r}: use a decimal point, not a comma, and no thousands "
                          f"separators ({example})")
    match = _AMOUNT_RE.match(raw)
    if not raw or not match or not (match.group(2) or match.group(4)):
        if not raw:
            raise AmountError("amount is required")
        raise AmountError(f"{raw[:40]!r} is not a number: use digits and one decimal "
                          f"{_mark_name(mark)}, like {example}")
    sign, whole, frac = match.group(1), match.group(2) or "0", match.group(4) or ""
    if mark == "," and match.group(3) and len(frac) == 3 and whole.lstrip("0"):
        shown = frac.rstrip("0") or "0"
        raise AmountError(f"{raw[:40]!r} is ambiguous (a thousands separator?): write "
                          f"{whole.lstrip('0')}{frac}, or {whole}{mark}{_unambiguous(shown)} "
                          f"for the decimal")
    if len(frac) > SCALE:
        if frac[SCALE:].strip("0"):
            raise AmountError(f"at most {SCALE} decimals are allowed ({raw[:40]})")
        frac = frac[:SCALE]
    if len(whole) > 12:
        raise AmountError("amount is too large")
    units = int(whole) * UNITS_PER_CURRENCY + int(frac.ljust(SCALE, "0"))
    if sign == "-":
        units = -units
    if units < 0 and not allow_negative:
        raise AmountError("amount must not be negative")
    if units == 0 and not allow_zero:
        raise AmountError("amount must be greater than zero")
    if abs(units) > MAX_AMOUNT:
        raise AmountError("amount is too large")
    return units


def _mark_name(mark: str) -> str:
    return "comma" if mark == "," else "point"


def _unambiguous(frac: str) -> str:
    """Decimals that a comma reader cannot take for a thousands group."""
    return frac + "0" if len(frac) == 3 else frac


def to_decimal_string(units: int, *, min_decimals: int = 2) -> str:
    """Minor units as a plain decimal string with every significant digit.

    >>> to_decimal_string(10000)
    '1.00'
    >>> to_decimal_string(-1)
    '-0.0001'
    >>> to_decimal_string(123450, min_decimals=0)
    '12.345'
    """
    if not isinstance(units, int) or isinstance(units, bool):
        raise TypeError(f"money must be int minor units, got {type(units).__name__}")
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_CURRENCY)
    digits = str(frac).rjust(SCALE, "0").rstrip("0")
    digits = digits.ljust(min_decimals, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def format_plain(units: int, currency: Optional[str] = None, *, min_decimals: int = 2) -> str:
    """An amount as the user of ``currency`` types it (no symbol): for a form field.

    >>> format_plain(75000, "EUR"), format_plain(11250, "EUR"), format_plain(125, "EUR")
    ('7,50', '1,1250', '0,0125')
    """
    text = to_decimal_string(units, min_decimals=min_decimals)
    if decimal_mark(currency) == "." or "." not in text:
        return text
    whole, frac = text.split(".")
    if whole.lstrip("-") != "0":
        frac = _unambiguous(frac)
    return f"{whole},{frac}"


def currency_symbol(code: str) -> str:
    return CURRENCIES.get(code, CURRENCIES["OTHER"]).symbol


def format_amount(units: int, currency: str = DEFAULT_CURRENCY) -> str:
    """Amount for display: sign, currency symbol, at least two decimals, the currency's
    decimal mark."""
    text = format_plain(units, currency)
    if text.startswith("-"):
        return "-" + currency_symbol(currency) + text[1:]
    return currency_symbol(currency) + text
