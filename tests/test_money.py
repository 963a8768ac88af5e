"""Exact money: parsing user input, formatting per currency, no float anywhere."""

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_addon import money


def test_doctests():
    assert doctest.testmod(money).failed == 0


@pytest.mark.parametrize("text, units", [
    ("12.5", 125000),       # the manual's kind of amount
    ("0.0125", 125),        # a per-second rate needs four decimals
    ("7", 70000),
    (" 3.10 ", 31000),      # surrounding blanks are typing noise
    ("0.10000", 1000),      # trailing zeros past 4 decimals carry no value
    (".5", 5000),
    ("5.", 50000),
    ("+2", 20000),
])
def test_parse(text, units):
    assert money.parse_amount(text) == units


@pytest.mark.parametrize("text, message", [
    ("", "required"),
    ("abc", "not a number"),
    ("1e3", "not a number"),        # no scientific notation: it hides typos
    ("1.2.3", "not a number"),
    ("0.00001", "at most 4 decimals"),  # never rounded silently
    ("-5", "negative"),
    ("1,5", "decimal point"),
    ("nan", "not a number"),
    ("inf", "not a number"),
    ("9999999999999", "too large"),
    ("1000000001", "too large"),
])
def test_parse_refuses(text, message):
    with pytest.raises(money.AmountError, match=message):
        money.parse_amount(text)


def test_zero_and_sign_options():
    assert money.parse_amount("-1.5", allow_negative=True) == -15000
    with pytest.raises(money.AmountError, match="greater than zero"):
        money.parse_amount("0", allow_zero=False)


@pytest.mark.parametrize("currency, text", [
    ("USD", "$1.50"), ("CNY", "¥1.50"), ("EUR", "€1,50"), ("GBP", "£1.50"), ("OTHER", "¤1.50"),
    ("XYZ", "¤1.50"),  # an unknown code shows the generic sign, never crashes a page
])
def test_format_per_currency(currency, text):
    assert money.format_amount(15000, currency) == text


def test_format_refuses_float():
    with pytest.raises(TypeError):
        money.format_amount(1.5)  # type: ignore[arg-type]


@given(st.integers(min_value=-money.MAX_AMOUNT, max_value=money.MAX_AMOUNT))
def test_round_trip(units):
    text = money.to_decimal_string(units)
    assert money.parse_amount(text, allow_negative=True) == units


# --- item 9: ASCII digits only ---------------------------------------------------------


@pytest.mark.parametrize("text", [
    "１２",      # fullwidth, as an East Asian input method types it
    "١٢",        # Arabic-Indic
    "1２.50",    # one look-alike among ASCII digits
    "12.٥",      # in the decimals
    "²",         # a superscript: int() refuses it with Python's own message
])
@pytest.mark.parametrize("currency", [None, "EUR"])
def test_parse_refuses_look_alike_digits(text, currency):
    with pytest.raises(money.AmountError, match="digits 0-9 only"):
        money.parse_amount(text, currency=currency)


# --- item 10: the decimal comma --------------------------------------------------------


@pytest.mark.parametrize("text, units", [
    ("7,50", 75000),     # the case: refused before
    ("0,0125", 125),     # a per-second rate: a zero whole part is never a thousands group
    ("7.50", 75000),     # a point is still read as the decimal mark
    ("1,2", 12000),
    ("1,2500", 12500),   # four decimals, not a thousands group
    ("12,5", 125000),
    ("1000", 10000000),  # a thousand has no separator
    (",5", 5000),
])
def test_parse_decimal_comma(text, units):
    assert money.parse_amount(text, currency="EUR") == units


@pytest.mark.parametrize("text, currency, message", [
    ("1,000", "EUR", "ambiguous"),       # one, or one thousand? never guessed
    ("1.000", "EUR", "ambiguous"),       # a European thousands point
    ("12,500", "EUR", "ambiguous"),
    ("1.234,50", "EUR", "no thousands separators"),
    ("1,234.50", "USD", "no thousands separators"),
    ("1,000,000", "EUR", "no thousands separators"),
    ("7,50", "USD", "decimal point"),    # a point currency keeps refusing the comma
    ("7,50", None, "decimal point"),     # files (rate decks) use the point
])
def test_parse_refuses_separators(text, currency, message):
    with pytest.raises(money.AmountError, match=message):
        money.parse_amount(text, currency=currency)


amounts = st.integers(min_value=-money.MAX_AMOUNT, max_value=money.MAX_AMOUNT)


@given(amounts, st.sampled_from(sorted(money.CURRENCIES)))
def test_shown_amount_types_back_exactly(units, currency):
    """What a form shows in any currency parses back to the same units."""
    text = money.format_plain(units, currency)
    assert money.parse_amount(text, currency=currency, allow_negative=True) == units


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=9999))
def test_comma_and_point_agree(whole, frac):
    """In a comma currency 'W,F' and 'W.F' are the same amount or both refused."""
    digits = str(frac)
    results = []
    for mark in ",.":
        try:
            results.append(money.parse_amount(f"{whole}{mark}{digits}", currency="EUR"))
        except money.AmountError as exc:
            results.append(str(exc).split(":")[0].replace(",", ".").replace("'", ""))
    if isinstance(results[0], int):
        assert results[0] == results[1] == whole * money.UNITS_PER_CURRENCY + int(
            digits.ljust(4, "0"))
    else:
        assert not isinstance(results[1], int)


@given(st.integers(min_value=1, max_value=999), st.integers(min_value=0, max_value=999))
def test_three_decimals_after_a_whole_part_are_never_guessed(whole, frac):
    with pytest.raises(money.AmountError, match="ambiguous"):
        money.parse_amount(f"{whole},{frac:03d}", currency="EUR")
