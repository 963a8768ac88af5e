"""Text in CSV files that spreadsheet programs open.  A CSV cell has no type: the
spreadsheet guesses one, so `+4930123456` becomes the number 4930123456, `0049...` loses
its zeros, `TRUE` a boolean, `Jan 5` a date, and `=...`, `+...`, `-...`, `@...` a formula
that it runs.  A text that could be read as anything but itself is therefore written
after an invisible WORD JOINER (U+2060): no number, date or formula starts with it, so
the spreadsheet keeps the cell as text, shows exactly what was typed and evaluates
nothing.  Plain words (a letter first, no digit) are written as they are.

Our own import (the rate deck) takes the mark off again, so an export imports back
unchanged; it also still takes off the leading quote that older exports wrote."""

from __future__ import annotations

from decimal import Decimal

from billing_addon import money

TEXT_MARK = "\u2060"
_BOOLEANS = ("TRUE", "FALSE")
_OLD_GUARDED = ("=", "+", "-", "@", "\t", "\r", "'")  # what older exports quoted with '


def reads_as_itself(text: str) -> bool:
    """Whether a spreadsheet keeps ``text`` as that text: a letter first, no digit (no
    number or date), not a boolean word."""
    return (text[:1].isalpha() and not any(ch.isdigit() for ch in text)
            and text.upper() not in _BOOLEANS)


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as typed and never evaluates."""
    return text if not text or reads_as_itself(text) else TEXT_MARK + text


def from_spreadsheet(text: str) -> str:
    """The text ``spreadsheet_safe`` (or an older export's quote) was given."""
    if text[:1] == TEXT_MARK:
        return text[1:]
    return text[1:] if text[:1] == "'" and text[1:2] and text[1:2] in _OLD_GUARDED else text


# .xlsx cells (XlsxWriter): a cell has a type there, so text is written as a string and
# needs no mark; money is a number in the currency's format, a time a date.
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


def money_number(units: int) -> Decimal:
    """Minor units as the exact number a money cell holds."""
    return Decimal(units).scaleb(-money.SCALE)


def xlsx_money_format(currency: str) -> str:
    """The number format of a money cell: the currency's symbol, two to four decimals."""
    symbol = money.currency_symbol(currency).replace('"', "")
    return f'"{symbol}"#,##0.00##;-"{symbol}"#,##0.00##'
