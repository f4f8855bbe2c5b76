"""Planning a merchant's payout: may it be paid from its balance to that account, and how.

Acme Agency is a merchant in India with a rupee balance and an Indian account, which
the cross-border provider pays over NEFT. Every available amount below is worked out
by hand from what was funded, paid out and held.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from domain.bank_details import BankAccount
from domain.eligibility import PayeeProfile
from domain.errors import ErrorCode, Problem
from domain.ledger import Balance
from domain.merchant_payouts import PayoutRequest, PlannedPayout, plan_payout
from domain.money import Money
from domain.rails import PaymentMethod
from tests.fakes import sample_account

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday afternoon
ACME = 501
IN_PAYEE = PayeeProfile("IN", PaymentMethod.BANK_TRANSFER)
IN_ACCOUNT = sample_account("IN", 501, "Acme Agency")


def inr(amount: str) -> Money:
    return Money.parse(amount, "INR")


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


def ask(amount: Money, key: str = "acme-2026-03-02-1") -> PayoutRequest:
    return PayoutRequest(ACME, amount, bank_account_id=1, idempotency_key=key)


def plan(
    amount: Money,
    balance: Balance | None,
    *,
    payee: PayeeProfile = IN_PAYEE,
    account: BankAccount | None = IN_ACCOUNT,
) -> PlannedPayout | list[Problem]:
    return plan_payout(ask(amount), payee, account, balance, NOW)


def codes(result: PlannedPayout | list[Problem]) -> list[tuple[str, ErrorCode]]:
    assert isinstance(result, list), f"expected problems, got {result}"
    return [(p.field, p.code) for p in result]


# Funded 10,000.00, paid out 2,000.00, holding 3,000.00 for a payout on its way, and
# 500.00 promised but not arrived: 10,000.00 - 2,000.00 - 3,000.00 = 5,000.00 may go.
ACME_BALANCE = Balance(
    posted_credits=1_000_000, posted_debits=200_000, pending_debits=300_000, pending_credits=50_000
)


# --- the balance ----------------------------------------------------------------------------


def test_a_merchant_may_take_out_exactly_what_is_available() -> None:
    assert isinstance(plan(inr("5000.00"), ACME_BALANCE), PlannedPayout)


def test_one_paisa_more_than_available_is_refused_and_says_what_is_available() -> None:
    result = plan(inr("5000.01"), ACME_BALANCE)

    assert codes(result) == [("amount", ErrorCode.INSUFFICIENT_FUNDS)]
    assert isinstance(result, list)
    assert "5000.00 INR" in result[0].message


def test_money_promised_but_not_arrived_cannot_be_paid_out() -> None:
    funded_later = Balance(pending_credits=1_000_000)  # 10,000.00 on its way in, nothing posted

    assert codes(plan(inr("0.01"), funded_later)) == [("amount", ErrorCode.INSUFFICIENT_FUNDS)]


def test_a_merchant_with_no_balance_in_that_currency_is_told_so() -> None:
    assert codes(plan(inr("1.00"), None)) == [("currency", ErrorCode.CURRENCY_MISMATCH)]


# --- the account ----------------------------------------------------------------------------


def test_a_request_to_an_account_the_merchant_does_not_have_is_refused() -> None:
    assert codes(plan(inr("1.00"), ACME_BALANCE, account=None)) == [
        ("bank_account_id", ErrorCode.NOT_FOUND)
    ]


def test_dollars_cannot_go_to_an_account_paid_in_rupees() -> None:
    dollars = Balance(posted_credits=1_000_000)

    result = plan(usd("100.00"), dollars)

    assert codes(result) == [("currency", ErrorCode.UNSUPPORTED_CURRENCY)]
    assert isinstance(result, list)
    assert "INR" in result[0].message


@pytest.mark.parametrize(
    ("country", "holder"),
    [("US", "Acme Inc"), ("AE", "Acme FZE")],
    ids=["US account (ACH)", "UAE account (wire)"],
)
def test_rupees_cannot_go_to_an_account_whose_rail_pays_dollars_only(
    country: str, holder: str
) -> None:
    """ACH and the wire pay dollars and convert nothing: the request's currency is what is
    wrong, as it is for any account whose rail pays another currency."""
    account = sample_account(country, 7, holder)
    payee = PayeeProfile(country, PaymentMethod.BANK_TRANSFER)

    result = plan(inr("100.00"), ACME_BALANCE, payee=payee, account=account)

    assert codes(result) == [("currency", ErrorCode.UNSUPPORTED_CURRENCY)]


def test_an_account_that_fails_its_rails_checks_is_refused() -> None:
    broken = dataclasses.replace(IN_ACCOUNT, details={**IN_ACCOUNT.details, "ifsc": "HDFC123"})

    assert codes(plan(inr("1.00"), ACME_BALANCE, account=broken)) == [
        ("bank_account_id", ErrorCode.INVALID_BANK_ACCOUNT)
    ]


# --- rail limits ------------------------------------------------------------------------------


def test_a_single_ach_payment_may_carry_one_million_dollars_and_no_cent_more() -> None:
    payee = PayeeProfile("US", PaymentMethod.BANK_TRANSFER)
    account = sample_account("US", 8, "Big Spender LLC")
    rich = Balance(posted_credits=500_000_000)  # 5,000,000.00 USD

    at_limit = plan(usd("1000000.00"), rich, payee=payee, account=account)
    above = plan(usd("1000000.01"), rich, payee=payee, account=account)

    assert isinstance(at_limit, PlannedPayout)
    assert codes(above) == [("amount", ErrorCode.AMOUNT_ABOVE_RAIL_LIMIT)]


def test_a_bacs_credit_may_carry_twenty_million_pounds_and_no_penny_more() -> None:
    payee = PayeeProfile("GB", PaymentMethod.BANK_TRANSFER)
    account = sample_account("GB", 9, "Albion Ltd")
    rich = Balance(posted_credits=3_000_000_000)  # 30,000,000.00 GBP

    at_limit = plan(Money.parse("20000000.00", "GBP"), rich, payee=payee, account=account)
    above = plan(Money.parse("20000000.01", "GBP"), rich, payee=payee, account=account)

    assert isinstance(at_limit, PlannedPayout)
    assert codes(above) == [("amount", ErrorCode.AMOUNT_ABOVE_RAIL_LIMIT)]


# --- the order ----------------------------------------------------------------------------------


def test_a_valid_request_is_planned_as_a_neft_order_in_rupees_to_that_account() -> None:
    planned = plan(inr("2500.00"), ACME_BALANCE)

    assert isinstance(planned, PlannedPayout)
    order = planned.order
    assert (order.amount, order.target_currency, order.rail) == (inr("2500.00"), "INR", "NEFT")
    assert (order.beneficiary_name, order.beneficiary_country) == ("Acme Agency", "IN")
    assert dict(order.account) == dict(IN_ACCOUNT.details)
    assert planned.decision.rail.code == "NEFT"


def test_each_plan_has_its_own_provider_key_never_the_merchants_key() -> None:
    first = plan(inr("2500.00"), ACME_BALANCE)
    second = plan(inr("2500.00"), ACME_BALANCE)

    assert isinstance(first, PlannedPayout) and isinstance(second, PlannedPayout)
    keys = {first.order.idempotency_key, second.order.idempotency_key}
    assert len(keys) == 2
    assert ask(inr("2500.00")).idempotency_key not in keys
    assert all(key in f"{first.order.reference} {second.order.reference}" for key in keys)


def test_a_planned_order_is_frozen() -> None:
    details = dict(IN_ACCOUNT.details)
    account = dataclasses.replace(IN_ACCOUNT, details=details)
    planned = plan(inr("2500.00"), ACME_BALANCE, account=account)
    assert isinstance(planned, PlannedPayout)

    with pytest.raises(dataclasses.FrozenInstanceError):
        planned.order.amount = inr("25000.00")  # type: ignore[misc]
    details["account_number"] = "999999999999"  # the account is edited after planning

    assert planned.order.account["account_number"] == IN_ACCOUNT.details["account_number"]
