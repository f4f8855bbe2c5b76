from datetime import UTC, date, datetime

import pytest

from domain.errors import UnknownCountry, UnsupportedPaymentMethod
from domain.rails import FxMode, PaymentMethod
from domain.routing import RoutingRule, normalize_country, route

NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # a Wednesday, before every cut-off west of Asia

# Written out by hand on purpose: the table in domain/rails.py must agree with it.
EXPECTED = {
    "DE": ("SEPA", "EUR"), "FR": ("SEPA", "EUR"), "ES": ("SEPA", "EUR"),
    "NL": ("SEPA", "EUR"), "IT": ("SEPA", "EUR"), "AT": ("SEPA", "EUR"),
    "BE": ("SEPA", "EUR"), "IE": ("SEPA", "EUR"), "PT": ("SEPA", "EUR"),
    "FI": ("SEPA", "EUR"), "GR": ("SEPA", "EUR"), "LU": ("SEPA", "EUR"),
    "CY": ("SEPA", "EUR"), "MT": ("SEPA", "EUR"), "SK": ("SEPA", "EUR"),
    "LT": ("SEPA", "EUR"), "SI": ("SEPA", "EUR"), "EE": ("SEPA", "EUR"),
    "LV": ("SEPA", "EUR"),
    "GB": ("BACS", "GBP"),
    "CA": ("EFT", "CAD"),
    "JP": ("ZENGIN", "JPY"),
    "AU": ("BECS_AU", "AUD"),
    "SG": ("GIRO", "SGD"),
    "IN": ("NEFT", "INR"),
    "HK": ("CHATS", "HKD"),
    "CH": ("SIC", "CHF"),
    "SE": ("BANKGIROT", "SEK"),
    "PL": ("ELIXIR", "PLN"),
    "DK": ("NETS", "DKK"),
    "NZ": ("BECS_NZ", "NZD"),
    "NO": ("NICS", "NOK"),
    "RO": ("SENT", "RON"),
    "MX": ("SPEI", "MXN"),
    "IL": ("MASAV", "ILS"),
    "ID": ("SKNBI", "IDR"),
    "HU": ("ICS", "HUF"),
    "US": ("ACH", "USD"),
}  # fmt: skip


def test_the_expected_table_has_the_38_countries() -> None:
    assert len(EXPECTED) == 38


@pytest.mark.parametrize(("country", "expected"), EXPECTED.items())
def test_every_supported_country_routes_to_its_rail(
    country: str, expected: tuple[str, str]
) -> None:
    decision = route(country, now=NOW)
    assert (decision.rail.code, decision.currency) == expected


@pytest.mark.parametrize("country", ["AE", "KR", "BR", "ZA", "CN", "PR"])
def test_unsupported_countries_route_to_the_international_wire(country: str) -> None:
    decision = route(country, now=NOW)
    assert (decision.rail.code, decision.currency) == ("WIRE", "USD")
    assert decision.rule is RoutingRule.INTERNATIONAL_WIRE
    assert decision.fx_mode is FxMode.NONE
    assert decision.explanation == (
        f"Rule 4 (international_wire): {country} has no local rail, "
        "so the payee is paid by SWIFT international wire in USD."
    )


class TestPriority:
    def test_rule_1_a_payee_abroad_with_a_us_account_gets_ach(self) -> None:
        decision = route("JP", has_us_bank_account=True, now=NOW)
        assert decision.rule is RoutingRule.US_BANK_ACCOUNT_ABROAD
        assert (decision.rail.code, decision.rail.payment_type, decision.currency) == (
            "ACH",
            "CCD",
            "USD",
        )
        assert decision.fx_mode is FxMode.NONE
        assert decision.explanation.startswith("Rule 1 (us_bank_account_abroad): ")

    def test_rule_1_beats_the_wire_fallback_too(self) -> None:
        assert route("AE", has_us_bank_account=True, now=NOW).rail.code == "ACH"

    def test_rule_2_a_us_payee_gets_ach(self) -> None:
        for has_us_bank_account in (False, True):
            decision = route("US", has_us_bank_account=has_us_bank_account, now=NOW)
            assert decision.rule is RoutingRule.US_PAYEE
            assert decision.rail.code == "ACH"
        assert (
            decision.explanation
            == "Rule 2 (us_payee): US payees are paid by ACH (Nacha CCD) in USD."
        )

    def test_rule_3_a_supported_country_gets_its_local_rail_with_fx(self) -> None:
        decision = route("JP", now=NOW)
        assert decision.rule is RoutingRule.LOCAL_RAIL
        assert decision.fx_mode is FxMode.FIXED_TO_VARIABLE
        assert decision.explanation == (
            "Rule 3 (local_rail): JP is served by Japanese Zengin in JPY; "
            "the USD amount is fixed and the recipient gets the JPY equivalent."
        )

    def test_rule_3_needs_no_fx_when_the_funding_is_already_in_the_rail_currency(self) -> None:
        decision = route("FR", now=NOW, funding_currency="EUR")
        assert decision.fx_mode is FxMode.NONE
        assert (
            decision.explanation
            == "Rule 3 (local_rail): FR is served by SEPA Credit Transfer in EUR."
        )

    def test_rule_4_is_the_fallback(self) -> None:
        assert route("KR", now=NOW).rule is RoutingRule.INTERNATIONAL_WIRE

    @pytest.mark.parametrize("country", ["DE", "US", "AE"])
    @pytest.mark.parametrize("method", [PaymentMethod.WIRE, "wire"])
    def test_a_payee_who_asked_for_a_wire_always_gets_one(
        self, country: str, method: PaymentMethod | str
    ) -> None:
        decision = route(country, has_us_bank_account=True, payment_method=method, now=NOW)
        assert decision.rail.code == "WIRE"
        assert decision.rule is RoutingRule.INTERNATIONAL_WIRE
        assert "asked to be paid by wire" in decision.explanation


@pytest.mark.parametrize(
    "method", [PaymentMethod.CHECK, PaymentMethod.PAYPAL, "paypal", "crypto", ""]
)
def test_unpayable_methods_are_refused(method: PaymentMethod | str) -> None:
    with pytest.raises(UnsupportedPaymentMethod) as raised:
        route("DE", payment_method=method, now=NOW)
    assert raised.value.field == "payment_method"


def test_the_decision_carries_the_expected_settlement_date() -> None:
    assert route("DE", now=NOW).expected_settlement_date == date(2026, 11, 19)
    late_on_christmas_eve = datetime(2026, 12, 24, 17, tzinfo=UTC)
    assert route("DE", now=late_on_christmas_eve).expected_settlement_date == date(2026, 12, 29)


class TestNormalizeCountry:
    @pytest.mark.parametrize(("raw", "code"), [("de", "DE"), (" gb ", "GB"), ("Jp", "JP")])
    def test_case_and_spaces(self, raw: str, code: str) -> None:
        assert normalize_country(raw) == code

    @pytest.mark.parametrize("raw", ["ZZ", "XX", "UK", "DEU", "D", "", "  ", "1A", None])
    def test_unknown_codes_are_refused(self, raw: str) -> None:
        with pytest.raises(UnknownCountry) as raised:
            normalize_country(raw)
        assert raised.value.field == "country"

    def test_route_refuses_unknown_countries(self) -> None:
        with pytest.raises(UnknownCountry):
            route("ZZ", now=NOW)
