"""Exact money: integer minor units, parsing of user input, display per currency.

Every amount in the add-on is an ``int`` counting 1/10000 of the currency unit
(``UNITS_PER_CURRENCY``), fine enough for per-second rates such as 0.0125.  No float is
ever used on a money path.

The rounding rule (the only one): **amounts are never rounded**.  Input with more than
four decimals is refused, display shows every significant digit (at least two
decimals).  The only rounding in billing is of *time*: a started billing unit is charged
in full (see ``rating.cost``).

>>> parse_amount("12.5")
125000
>>> parse_amount("0.0125")
125
>>> format_amount(125, "USD")
'$0.0125'
>>> format_amount(-125000, "EUR")
'-€12.50'
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import Refusal

SCALE = 4
UNITS_PER_CURRENCY = 10**SCALE
# Large enough for any real balance, small enough that a typo is caught and SQLite's
# 64-bit integers can never overflow when many are summed.
MAX_AMOUNT = 10**9 * UNITS_PER_CURRENCY

_AMOUNT_RE = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?$")


class Currency(NamedTuple):
    code: str
    symbol: str
    label: str


CURRENCIES = {
    "USD": Currency("USD", "$", "USD ($)"),
    "CNY": Currency("CNY", "¥", "CNY (¥)"),
    "EUR": Currency("EUR", "€", "EUR (€)"),
    "GBP": Currency("GBP", "£", "GBP (£)"),
    "OTHER": Currency("OTHER", "¤", "Other (¤)"),
}
DEFAULT_CURRENCY = "USD"


class AmountError(Refusal):
    """User input that is not an acceptable amount; the message says why."""


def parse_amount(text: str, *, allow_negative: bool = False, allow_zero: bool = True) -> int:
    """Parse a decimal string typed by a user into minor units, exactly.

    >>> parse_amount(" 7 ")
    70000
    >>> parse_amount("-1.5", allow_negative=True)
    -15000
    >>> parse_amount("1e3")
    Traceback (most recent call last):
    ...
    billing_addon.money.AmountError: '1e3' is not a number: use digits and one decimal point, like 12.50
    """
    if not isinstance(text, str):
        raise AmountError("amount must be text")
    raw = text.strip()
    if "," in raw:
        raise AmountError(f"{raw[:40]!r}: use a decimal point, not a comma (12.50)")
    match = _AMOUNT_RE.match(raw)
    if not raw or not match or not (match.group(2) or match.group(3)):
        if not raw:
            raise AmountError("amount is required")
        raise AmountError(
            f"{text.strip()[:40]!r} is not a number: use digits and one decimal point, like 12.50"
        )
    sign, whole, frac = match.group(1), match.group(2) or "0", match.group(3) or ""
    if len(frac) > SCALE:
        if frac[SCALE:].strip("0"):
            raise AmountError(f"at most {SCALE} decimals are allowed ({text.strip()[:40]})")
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


def currency_symbol(code: str) -> str:
    return CURRENCIES.get(code, CURRENCIES["OTHER"]).symbol


def format_amount(units: int, currency: str = DEFAULT_CURRENCY) -> str:
    """Amount for display: sign, currency symbol, at least two decimals."""
    text = to_decimal_string(units)
    if text.startswith("-"):
        return "-" + currency_symbol(currency) + text[1:]
    return currency_symbol(currency) + text
