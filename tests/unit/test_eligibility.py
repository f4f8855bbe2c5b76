from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.bank_details import BankAccount
from domain.eligibility import (
    Eligibility,
    MissingFxRate,
    PayeeProfile,
    SkipReason,
    check_eligibility,
)
from domain.money import Money
from domain.rails import FxMode, PaymentMethod
from domain.routing import RoutingRule

NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
RATES = {
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "IDR": Decimal("15800"),
    "JPY": Decimal("150"),
}
DE_IBAN = "DE89370400440532013000"
US_DETAILS = {"aba_routing": "021000021", "account_number": "123456789", "account_type": "checking"}


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def bank(
    details: dict[str, str], country: str | None = None, currency: str | None = None
) -> BankAccount:
    return BankAccount(
        id="ba_1", holder_name="Ada", country=country, currency=currency, details=details
    )


DE_ACCOUNT = bank({"iban": DE_IBAN})


def check(
    *,
    amount: Money | None = None,
    country: str | None = "DE",
    method: PaymentMethod | str = PaymentMethod.BANK_TRANSFER,
    account: BankAccount | None = DE_ACCOUNT,
    has_existing_order: bool = False,
) -> Eligibility:
    return check_eligibility(
        amount=amount or usd("1000.00"),
        payee=PayeeProfile(country=country, payment_method=method),
        account=account,
        now=NOW,
        fx_rates=RATES,
        has_existing_order=has_existing_order,
    )


def reasons(result: Eligibility) -> list[SkipReason]:
    return [finding.reason for finding in result.findings]


def test_a_good_payout_is_eligible_with_its_rail_decision() -> None:
    result = check()
    assert result.eligible
    assert result.findings == ()
    assert result.primary_reason is None
    assert result.decision is not None
    assert (result.decision.rail.code, result.decision.currency) == ("SEPA", "EUR")
    assert result.decision.fx_mode is FxMode.FIXED_TO_VARIABLE


def test_an_unsupported_but_real_country_is_paid_by_wire_not_skipped() -> None:
    wire = bank({"swift_bic": "EBILAEAD", "account_number": "1012345678901"})
    for country in ("AE", "KR"):
        result = check(country=country, account=wire)
        assert result.eligible
        assert result.decision is not None
        assert result.decision.rule is RoutingRule.INTERNATIONAL_WIRE


def test_a_payee_abroad_with_a_us_account_is_checked_against_ach() -> None:
    result = check(country="DE", account=bank(US_DETAILS, country="US", currency="USD"))
    assert result.eligible
    assert result.decision is not None
    assert result.decision.rule is RoutingRule.US_BANK_ACCOUNT_ABROAD


class TestEachSkipReason:
    def test_existing_payment_order(self) -> None:
        result = check(has_existing_order=True)
        assert reasons(result) == [SkipReason.EXISTING_PAYMENT_ORDER]
        assert not result.eligible

    @pytest.mark.parametrize("country", [None, "", "   "])
    def test_missing_country(self, country: str | None) -> None:
        result = check(country=country)
        assert reasons(result) == [SkipReason.MISSING_COUNTRY]
        assert result.decision is None

    @pytest.mark.parametrize("method", [PaymentMethod.CHECK, PaymentMethod.PAYPAL, "crypto", ""])
    def test_invalid_method(self, method: PaymentMethod | str) -> None:
        result = check(method=method)
        assert reasons(result) == [SkipReason.INVALID_METHOD]
        assert result.decision is None

    @pytest.mark.parametrize("amount", ["0.00", "-5.00"])
    def test_invalid_amount(self, amount: str) -> None:
        assert reasons(check(amount=usd(amount))) == [SkipReason.INVALID_AMOUNT]

    def test_missing_external_account(self) -> None:
        result = check(account=None)
        assert reasons(result) == [SkipReason.MISSING_EXTERNAL_ACCOUNT]
        assert result.decision is not None  # the operator still sees where it would go

    def test_invalid_bank_account(self) -> None:
        result = check(account=bank({"iban": "DE89370400440532013001", "bic": "NOPE"}))
        assert reasons(result) == [SkipReason.INVALID_BANK_ACCOUNT]
        assert result.findings[0].detail == (
            "iban has invalid check digits; bic is not a valid BIC"
        )

    def test_bank_account_unverified(self) -> None:
        held = BankAccount("ba_1", "Ada", None, None, {"iban": DE_IBAN}, hold="NO_MATCH")
        result = check(account=held)
        assert reasons(result) == [SkipReason.BANK_ACCOUNT_UNVERIFIED]
        assert result.findings[0].detail == "NO_MATCH"
        assert result.decision is not None  # the operator still sees where it would go

    def test_a_us_account_abroad_is_validated_as_ach(self) -> None:
        result = check(account=bank({"aba_routing": "021000021", "account_number": "123456789"}))
        assert reasons(result) == [SkipReason.INVALID_BANK_ACCOUNT]
        assert "missing account_type" in result.findings[0].detail

    def test_amount_above_rail_limit_in_the_same_currency(self) -> None:
        us = bank(US_DETAILS)
        assert check(country="US", account=us, amount=usd("1000000.00")).eligible
        result = check(country="US", account=us, amount=usd("1000000.01"))
        assert reasons(result) == [SkipReason.AMOUNT_ABOVE_RAIL_LIMIT]
        assert result.findings[0].detail == (
            "1000000.01 USD is above the ACH (Nacha CCD) limit of 1000000.00 USD per payment"
        )

    def test_amount_above_rail_limit_after_conversion(self) -> None:
        indonesia = bank({"bank_code": "014", "account_number": "1234567890"})
        # at 15,800 IDR per USD: 63,291.13 USD is 999,999,854 IDR, 63,291.14 USD is 1,000,000,012
        assert check(country="ID", account=indonesia, amount=usd("63291.13")).eligible
        result = check(country="ID", account=indonesia, amount=usd("63291.14"))
        assert reasons(result) == [SkipReason.AMOUNT_ABOVE_RAIL_LIMIT]
        assert "1000000012.00 IDR" in result.findings[0].detail

    @pytest.mark.parametrize("country", ["ZZ", "UK", "Germany"])
    def test_unknown_country(self, country: str) -> None:
        result = check(country=country)
        assert reasons(result) == [SkipReason.UNKNOWN_COUNTRY]
        assert result.decision is None

    @pytest.mark.parametrize(
        ("country", "rail", "details"),
        [
            ("US", "ACH", US_DETAILS),
            ("AE", "WIRE", {"swift_bic": "DEUTDEFF", "account_number": "123456789012"}),
        ],
    )
    def test_unsupported_currency(self, country: str, rail: str, details: dict[str, str]) -> None:
        """ACH and wire pay USD as sent: a EUR-funded payout would fail at the bank."""
        account = BankAccount(
            id="1", holder_name="X", country=country, currency="USD", details=details
        )
        result = check_eligibility(
            amount=Money.parse("100.00", "EUR"),
            payee=PayeeProfile(country=country, payment_method="bank_transfer"),
            account=account,
            now=datetime(2026, 3, 2, 14, tzinfo=UTC),
            fx_rates={},
        )
        assert result.decision is not None and result.decision.rail.code == rail
        assert reasons(result) == [SkipReason.UNSUPPORTED_CURRENCY]

    def test_bank_account_flagged(self) -> None:
        flagged = BankAccount(
            id="ba_2",
            holder_name="Ada",
            country=None,
            currency=None,
            details={"iban": DE_IBAN},
            flag_code="AC04",
        )
        result = check(account=flagged)
        assert reasons(result) == [SkipReason.BANK_ACCOUNT_FLAGGED]
        assert (
            "AC04" in result.findings[0].detail and "new bank account" in result.findings[0].detail
        )


def test_every_skip_reason_is_covered_above() -> None:
    covered = {name for name in dir(TestEachSkipReason) if name.startswith("test_")}
    for reason in SkipReason:
        assert any(name.startswith(f"test_{reason.value}") for name in covered), reason


def test_all_findings_are_collected_in_enum_order() -> None:
    result = check(
        country="ZZ",
        method="paypal",
        amount=usd("0"),
        account=None,
        has_existing_order=True,
    )
    assert reasons(result) == [
        SkipReason.EXISTING_PAYMENT_ORDER,
        SkipReason.INVALID_METHOD,
        SkipReason.INVALID_AMOUNT,
        SkipReason.MISSING_EXTERNAL_ACCOUNT,
        SkipReason.UNKNOWN_COUNTRY,
    ]
    assert result.primary_reason is SkipReason.EXISTING_PAYMENT_ORDER


def test_the_bank_account_and_the_limit_are_both_reported() -> None:
    result = check(country="US", account=bank({"aba_routing": "1"}), amount=usd("2000000.00"))
    assert reasons(result) == [
        SkipReason.INVALID_BANK_ACCOUNT,
        SkipReason.AMOUNT_ABOVE_RAIL_LIMIT,
    ]
    assert result.primary_reason is SkipReason.INVALID_BANK_ACCOUNT


def test_a_missing_rate_for_a_limited_rail_is_a_caller_bug() -> None:
    with pytest.raises(MissingFxRate, match="USD->GBP"):
        check_eligibility(
            amount=usd("10.00"),
            payee=PayeeProfile(country="GB", payment_method="bank_transfer"),
            account=bank({"sort_code": "200000", "account_number": "55779911"}),
            now=NOW,
            fx_rates={},
        )


def test_no_rate_is_needed_for_a_rail_without_a_limit() -> None:
    result = check_eligibility(
        amount=usd("10.00"),
        payee=PayeeProfile(country="DE", payment_method="bank_transfer"),
        account=bank({"iban": DE_IBAN}),
        now=NOW,
        fx_rates={},
    )
    assert result.eligible


def test_funding_in_the_rail_currency_needs_no_fx() -> None:
    result = check(amount=Money.parse("500.00", "EUR"))
    assert result.decision is not None
    assert result.decision.fx_mode is FxMode.NONE
