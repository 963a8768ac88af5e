"""User text in CSV files that spreadsheet programs open: a cell starting with = + - @
(or a tab or CR) would be read as a formula, so it is written with a leading quote;
our own import takes that quote off again, so an export imports back unchanged (a text
that starts with a quote itself gets one more, for the same reason)."""

from __future__ import annotations

_GUARDED = ("=", "+", "-", "@", "\t", "\r", "'")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text[:1] in _GUARDED else text


def from_spreadsheet(text: str) -> str:
    """The text ``spreadsheet_safe`` was given."""
    return text[1:] if text[:1] == "'" and text[1:2] and text[1:2] in _GUARDED else text
