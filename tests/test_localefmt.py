"""Formats by locale (billing_addon/localefmt.py): money exact in every locale and
currency, what a form shows is what parse reads back, dates and counts by locale."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import get_decimal_symbol, get_group_symbol
from hypothesis import given
from hypothesis import strategies as st

from billing_addon import i18n, localefmt, money

AMOUNTS = st.integers(-money.MAX_AMOUNT, money.MAX_AMOUNT)
LOCALES = st.sampled_from(i18n.LOCALES)
CURRENCIES = st.sampled_from(sorted(money.CURRENCIES))


def shown_value(text: str, currency: str, locale: str) -> Decimal:
    """The number a reader of ``locale`` sees in a displayed amount."""
    text = text.replace(money.currency_symbol(currency), "").replace("\xa0", "").strip()
    if locale == i18n.DEFAULT_LOCALE:
        mark, group = money.decimal_mark(currency), None
    else:
        mark, group = get_decimal_symbol(locale), get_group_symbol(locale)
    if group:
        text = text.replace(group, "")
    return Decimal(text.replace(mark, "."))


@given(AMOUNTS, LOCALES, CURRENCIES)
def test_a_form_field_reads_back_to_the_same_units(units, locale, currency):
    typed = localefmt.plain(units, currency, locale)
    assert money.parse_amount(typed, currency=currency, locale=locale,
                              allow_negative=True) == units
    with i18n.using(locale):
        assert localefmt.parse_amount(typed, currency, allow_negative=True) == units


@given(AMOUNTS, LOCALES, CURRENCIES)
def test_the_displayed_digits_are_the_exact_amount(units, locale, currency):
    text = localefmt.amount(units, currency, locale)
    assert shown_value(text, currency, locale) == Decimal(units) / money.UNITS_PER_CURRENCY
    decimals = text.replace("\xa0", " ").split(get_decimal_symbol(locale)
                                               if locale != "en" else money.decimal_mark(currency))
    assert len(decimals) == 2 and sum(c.isdigit() for c in decimals[1]) in (2, 3, 4)


@pytest.mark.parametrize("locale, currency, units, shown", [
    ("en", "USD", 12345678, "$1234.5678"),       # English: as before languages, no grouping
    ("en", "EUR", -75000, "-€7,50"),             # ... and the euro's comma
    ("es", "USD", 12345678, "1.234,5678\xa0$"),  # Spanish: grouping, comma, symbol after
    ("es", "EUR", 11250, "1,1250\xa0€"),         # never three decimals after a comma
    ("es", "EUR", -125, "-0,0125\xa0€"),
    ("zh_CN", "CNY", 123456780000, "¥12,345,678.00"),  # Chinese: point, symbol first
    ("zh_CN", "EUR", -75000, "-€7.50"),          # the locale's mark, not the currency's
    ("zh_CN", "OTHER", 5, "¤0.0005"),
])
def test_money_by_locale(locale, currency, units, shown):
    assert localefmt.amount(units, currency, locale) == shown


def test_amount_errors_name_the_locales_mark_in_its_language():
    with i18n.using("es"):
        with pytest.raises(money.AmountError, match="^'12x' no es un número: use cifras y una "
                                                     "coma decimal, como 12,50$"):
            localefmt.parse_amount("12x", "USD")
    with i18n.using("zh_CN"), pytest.raises(money.AmountError, match="小数点"):
        localefmt.parse_amount("12x", "EUR")
    with pytest.raises(money.AmountError, match="one decimal comma, like 12,50$"):
        localefmt.parse_amount("12x", "EUR")  # English: the euro's comma, as before
    with i18n.using("es"), pytest.raises(money.AmountError, match="como máximo 4 decimales"):
        localefmt.parse_amount("1,00001", "USD")


def test_dates_times_and_counts_by_locale():
    moment = dt.datetime(2024, 3, 1, 23, 5, 7, tzinfo=dt.timezone.utc)
    madrid = ZoneInfo("Europe/Madrid")  # already 2 March there
    assert localefmt.datetime(moment, madrid, "en") == "2024-03-02 00:05:07"
    assert localefmt.datetime(moment, madrid, "es") == "2 mar 2024, 0:05:07"
    assert localefmt.datetime(moment, madrid, "zh_CN") == "2024年3月2日 00:05:07"
    assert localefmt.datetime(moment, madrid, "es", seconds=False) == "2 mar 2024, 0:05"
    assert localefmt.date(moment, madrid, "es") == "2 mar 2024"
    assert localefmt.date(moment.replace(tzinfo=None), ZoneInfo("UTC"), "zh_CN") == "2024年3月1日"
    assert localefmt.datetime(None, madrid) == ""
    assert [localefmt.number(1234567, loc) for loc in i18n.LOCALES] == [
        "1,234,567", "1,234,567", "1.234.567"]
    with i18n.using("es"):
        assert localefmt.number(12345) == "12.345"
