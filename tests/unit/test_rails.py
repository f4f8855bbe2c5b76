from datetime import date
from zoneinfo import ZoneInfo

import pycountry
import pytest

from domain.calendars import TARGET2, is_business_day
from domain.errors import NotFound
from domain.money import Money, exponent
from domain.ports import ProviderKind
from domain.rails import (
    ACH,
    INTERNATIONAL_WIRE,
    RAILS,
    SUPPORTED_COUNTRIES,
    Rail,
    rail_by_code,
    rail_for_country,
)

FIELD_VOCABULARY = {
    "iban", "bic", "aba_routing", "account_number", "sort_code", "institution_number",
    "transit_number", "bsb", "bank_code", "branch_code", "ifsc", "clabe", "account_type",
    "swift_bic",
}  # fmt: skip

SEPA = {
    "DE", "FR", "ES", "NL", "IT", "AT", "BE", "IE", "PT", "FI",
    "GR", "LU", "CY", "MT", "SK", "LT", "SI", "EE", "LV",
}  # fmt: skip
OTHERS = {
    "GB", "CA", "JP", "AU", "SG", "IN", "HK", "CH", "SE", "PL",
    "DK", "NZ", "NO", "RO", "MX", "IL", "ID", "HU", "US",
}  # fmt: skip


def test_the_table_covers_the_38_countries() -> None:
    assert len(SEPA) == len(OTHERS) == 19
    assert SEPA | OTHERS == SUPPORTED_COUNTRIES
    assert len(SUPPORTED_COUNTRIES) == 38


def test_codes_are_unique_and_each_country_has_one_rail() -> None:
    codes = [rail.code for rail in RAILS]
    assert len(codes) == len(set(codes)) == 21
    countries = [country for rail in RAILS for country in rail.countries]
    assert len(countries) == len(set(countries))


@pytest.mark.parametrize("rail", RAILS, ids=lambda rail: rail.code)
def test_every_rail_is_complete_and_consistent(rail: Rail) -> None:
    assert rail.name
    assert all(pycountry.countries.get(alpha_2=country) for country in rail.countries)
    exponent(rail.currency)
    assert rail.required_fields
    assert set(rail.required_fields) <= FIELD_VOCABULARY
    assert 0 <= rail.settlement_lag_days <= 3
    ZoneInfo(rail.timezone)
    assert is_business_day(rail.calendar, date(2026, 11, 18))  # a known calendar, an open day
    if rail.max_amount is not None:
        assert rail.max_amount.currency == rail.currency
        assert rail.max_amount.is_positive
    expected_provider = {"ACH": ProviderKind.ACH, "WIRE": ProviderKind.WIRE}
    assert rail.provider == expected_provider.get(rail.code, ProviderKind.CROSS_BORDER)


def test_ach_is_ccd_in_usd_with_the_same_day_limit() -> None:
    assert ACH.payment_type == "CCD"
    assert ACH.currency == "USD"
    assert ACH.max_amount == Money.parse("1000000.00", "USD")
    assert ACH.required_fields == ("aba_routing", "account_number", "account_type")


def test_eft_carries_purpose_code_250() -> None:
    assert rail_by_code("EFT").purpose_code == "250"


def test_the_wire_serves_no_country_of_its_own() -> None:
    assert INTERNATIONAL_WIRE.countries == ()
    assert INTERNATIONAL_WIRE.currency == "USD"
    assert INTERNATIONAL_WIRE.required_fields == ("swift_bic", "account_number")


@pytest.mark.parametrize(
    ("code", "limit"),
    [("ACH", "1000000.00 USD"), ("BACS", "20000000.00 GBP"), ("SKNBI", "1000000000.00 IDR")],
)
def test_documented_per_payment_limits(code: str, limit: str) -> None:
    assert str(rail_by_code(code).max_amount) == limit


def test_sepa_needs_only_an_iban() -> None:
    assert rail_by_code("SEPA").required_fields == ("iban",)
    assert rail_by_code("SEPA").calendar is TARGET2


@pytest.mark.parametrize("country", ["de", " FR ", "Lv"])
def test_rail_for_country_tolerates_case_and_spaces(country: str) -> None:
    assert rail_for_country(country) is rail_by_code("SEPA")


@pytest.mark.parametrize("country", ["AE", "KR", "ZZ", ""])
def test_rail_for_country_is_none_without_a_local_rail(country: str) -> None:
    assert rail_for_country(country) is None


def test_rail_by_code_raises_not_found() -> None:
    with pytest.raises(NotFound) as raised:
        rail_by_code("FEDNOW")
    assert raised.value.field == "rail"
