from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import CurrencyMismatch, InvalidAmount, UnsupportedCurrency
from domain.money import MAX_MINOR_UNITS, Money, allocate, convert, exponent

CURRENCIES = ["USD", "EUR", "JPY", "BHD", "INR", "IDR", "KWD", "CLP"]


@pytest.mark.parametrize(
    ("currency", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3), ("KWD", 3)]
)
def test_exponent_comes_from_iso_4217(currency: str, places: int) -> None:
    assert exponent(currency) == places


@pytest.mark.parametrize("currency", ["ABC", "usd", "XAU", "XXX", ""])
def test_unknown_currencies_and_ones_without_minor_unit_are_unsupported(currency: str) -> None:
    with pytest.raises(UnsupportedCurrency):
        Money.parse("1", currency)


@pytest.mark.parametrize(
    ("text", "currency", "minor", "formatted"),
    [
        ("1234.56", "USD", 123456, "1234.56"),
        ("0.01", "USD", 1, "0.01"),
        ("7", "USD", 700, "7.00"),
        ("1.5", "USD", 150, "1.50"),
        ("1.500", "USD", 150, "1.50"),  # trailing zeros add no precision
        ("1000", "JPY", 1000, "1000"),
        ("1000.0", "JPY", 1000, "1000"),
        ("1.234", "BHD", 1234, "1.234"),
        ("0.001", "BHD", 1, "0.001"),
        ("-12.30", "EUR", -1230, "-12.30"),
        ("  42.00 ", "USD", 4200, "42.00"),
    ],
)
def test_parse_and_format(text: str, currency: str, minor: int, formatted: str) -> None:
    money = Money.parse(text, currency)
    assert money == Money(minor, currency)
    assert money.to_decimal_string() == formatted
    assert Money.parse(money.to_decimal_string(), currency) == money


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.001", "USD"), ("0.5", "JPY"), ("1000.01", "JPY"), ("1.2345", "BHD")],
)
def test_more_decimals_than_the_currency_allows_is_rejected_not_rounded(
    text: str, currency: str
) -> None:
    with pytest.raises(InvalidAmount, match="decimal place"):
        Money.parse(text, currency)


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "1,000.00", "1e5", "NaN", "Infinity", "1.2.3", "+1", "-", ".5", "1."]
)
def test_non_numeric_text_is_rejected(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(12.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["10000000000000.01", "99999999999999999", "1" + "0" * 40, "-1" + "0" * 20]
)
def test_absurdly_large_amounts_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAmount, match="too large"):
        Money.parse(text, "USD")


def test_the_largest_amount_is_accepted_and_one_more_is_not() -> None:
    assert Money(MAX_MINOR_UNITS, "USD").minor == MAX_MINOR_UNITS
    with pytest.raises(InvalidAmount):
        Money(MAX_MINOR_UNITS + 1, "USD")


@pytest.mark.parametrize("minor", [1.5, True, Decimal(1), "100"])
def test_minor_units_must_be_an_int(minor: object) -> None:
    with pytest.raises(InvalidAmount):
        Money(minor, "USD")  # type: ignore[arg-type]


def test_arithmetic_and_comparison_need_the_same_currency() -> None:
    ten, five = Money(1000, "USD"), Money(500, "USD")
    assert ten - five == five
    assert five + five == ten
    assert five < ten <= ten
    with pytest.raises(CurrencyMismatch):
        _ = ten + Money(1000, "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = ten > Money(1000, "EUR")


def test_str_shows_every_minor_digit_and_the_currency() -> None:
    assert str(Money.parse("1234.5", "BHD")) == "1234.500 BHD"


def test_convert_rounds_half_even_to_the_target_unit() -> None:
    assert convert(Money(10000, "USD"), Decimal("150.125"), "JPY") == Money(15012, "JPY")
    assert convert(Money(10000, "USD"), Decimal("150.135"), "JPY") == Money(15014, "JPY")
    assert convert(Money(1000, "JPY"), Decimal("0.00672"), "USD") == Money(672, "USD")
    assert convert(Money(100, "USD"), Decimal("0.377"), "BHD") == Money(377, "BHD")


def test_allocate_splits_by_largest_remainder() -> None:
    parts = allocate(Money(100, "USD"), [1, 1, 1])
    assert parts == [Money(34, "USD"), Money(33, "USD"), Money(33, "USD")]
    assert allocate(Money(1000, "JPY"), [3, 0, 7]) == [
        Money(300, "JPY"),
        Money(0, "JPY"),
        Money(700, "JPY"),
    ]


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1]])
def test_allocate_rejects_bad_weights(weights: list[int]) -> None:
    with pytest.raises(InvalidAmount):
        allocate(Money(100, "USD"), weights)


def test_allocate_rejects_a_negative_total() -> None:
    with pytest.raises(InvalidAmount):
        allocate(Money(-100, "USD"), [1, 2])


@settings(max_examples=200, database=None, deadline=None)
@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(CURRENCIES),
)
def test_format_then_parse_is_the_identity(minor: int, currency: str) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.to_decimal_string(), currency) == money


@settings(max_examples=300, database=None, deadline=None)
@given(
    total=st.integers(min_value=0, max_value=MAX_MINOR_UNITS),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=60).filter(
        any
    ),
    currency=st.sampled_from(CURRENCIES),
)
def test_allocation_parts_sum_exactly_to_the_total(
    total: int, weights: list[int], currency: str
) -> None:
    parts = allocate(Money(total, currency), weights)
    assert sum(part.minor for part in parts) == total
    assert all(part.currency == currency for part in parts)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(total) * weight / sum(weights)
        assert abs(part.minor - exact) < 1
        assert weight or part.minor == 0


# Arabic-Indic and full-width digits: int() would accept them, the API must not
@pytest.mark.parametrize("text", ["\u0661\u0662\u0663", "\uff11\uff12\uff13.\uff14\uff15"])
def test_non_ascii_digits_are_rejected(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")
