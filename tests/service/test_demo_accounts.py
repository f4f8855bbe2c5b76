from random import Random

import pytest

from domain.bank_details import BankAccount, validate_account
from domain.rails import INTERNATIONAL_WIRE, RAILS, SUPPORTED_COUNTRIES, Rail, rail_for_country
from service.demo_accounts import details_from_formats, sample_account_details

SEEDS = range(6)


@pytest.mark.parametrize("country", [*sorted(SUPPORTED_COUNTRIES), "AE", "KR"])
def test_sample_details_validate_for_the_countrys_rail(country: str) -> None:
    rail = rail_for_country(country) or INTERNATIONAL_WIRE
    for seed in SEEDS:
        details = sample_account_details(country, seed)
        account = BankAccount(
            id=f"ba_{country}_{seed}",
            holder_name="Demo Investor",
            country=country,
            currency=rail.currency,
            details=details,
        )
        assert validate_account(rail, account) == [], (country, seed, details)
        assert set(rail.required_fields) <= set(details)


def test_the_same_seed_gives_the_same_details() -> None:
    for country in ("DE", "GB", "NZ", "MX", "US"):
        assert sample_account_details(country, 7) == sample_account_details(country, 7)


def test_different_seeds_give_different_accounts() -> None:
    for country in ("DE", "JP", "IN", "HU"):
        samples = {tuple(sorted(sample_account_details(country, s).items())) for s in SEEDS}
        assert len(samples) == len(SEEDS)


def test_sample_ibans_have_all_digit_account_codes_where_the_format_allows() -> None:
    iban = sample_account_details("FR", 1)["iban"]
    assert iban[4:].isdigit()


@pytest.mark.parametrize("rail", RAILS, ids=lambda rail: rail.code)
def test_details_made_from_a_rails_formats_validate(rail: Rail) -> None:
    """What a new rail's demo payees get before anyone picks real bank codes for it."""
    country = rail.countries[0] if rail.countries else "AE"
    for seed in SEEDS:
        details = details_from_formats(rail, country, Random(seed))
        account = BankAccount(f"ba_{seed}", "Demo Investor", country, rail.currency, details)
        assert validate_account(rail, account) == [], (rail.code, seed, details)
