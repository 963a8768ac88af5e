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
    ("USD", "$1.50"), ("CNY", "¥1.50"), ("EUR", "€1.50"), ("GBP", "£1.50"), ("OTHER", "¤1.50"),
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
