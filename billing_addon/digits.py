"""Digits are ASCII 0-9.  Python's ``int()`` and ``str.isdigit()`` also take fullwidth
``１２``, Arabic-Indic ``١٢`` or a superscript ``²``; where a user types a number such
look-alikes are refused, so no stored value only looks like another (``１００１`` is not
extension 1001).

>>> first_foreign_digit("１００１")
'１'
>>> first_foreign_digit("1001") is None
True
>>> whole_number("12"), whole_number("١٢"), whole_number("²"), whole_number("")
(True, False, False, False)
"""

from __future__ import annotations

from typing import Optional


def first_foreign_digit(text: str) -> Optional[str]:
    """The first character Python counts as numeric that is not 0-9, or None."""
    for ch in text:
        if ch.isnumeric() and not "0" <= ch <= "9":
            return ch
    return None


def whole_number(text: str) -> bool:
    """True for a non-empty run of ASCII digits."""
    return text.isascii() and text.isdigit()
