"""Payee and bank-account checks: every problem at once, accounts fit their rail."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.bank_details import BankAccount, validate_account
from domain.errors import ErrorCode
from domain.new_accounts import AccountInput, AccountPlan, plan_account
from domain.payees import NewPayee, PayeeKind, check_changes, check_new_payee
from domain.rails import PaymentMethod

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def account(currency: str, **fields: str) -> AccountInput:
    return AccountInput("A Holder", currency, None, fields)


def test_a_payee_is_normalised() -> None:
    payee = check_new_payee(
        external_id=" INV-9 ",
        name=" Ada ",
        kind=PayeeKind.INVESTOR,
        country="de",
        email="ada@fund.example",
        payment_method=None,
    )
    assert payee == NewPayee(
        "INV-9", "Ada", PayeeKind.INVESTOR, "DE", "ada@fund.example", PaymentMethod.BANK_TRANSFER
    )


def test_every_problem_of_a_payee_at_once() -> None:
    problems = check_new_payee(
        external_id="",
        name="",
        kind=PayeeKind.MERCHANT,
        country="ZZ",
        email="x",
        payment_method=PaymentMethod.PAYPAL,
    )
    assert isinstance(problems, list)
    assert [p.field for p in problems] == [
        "external_id",
        "name",
        "country",
        "email",
        "payment_method",
    ]


def test_changes_leave_absent_fields_alone() -> None:
    changes = check_changes(country="gb")
    assert not isinstance(changes, list)
    assert changes.applied_to({"name": "Ada", "country": "DE"}) == {"country": "GB"}
    assert changes.applied_to({"country": "GB"}) == {}


def test_an_iban_account_plans_for_sepa_and_passes_the_runs_check() -> None:
    plan = plan_account(
        "FR", "bank_transfer", account("EUR", iban="fr14 2004 1010 0505 0001 3m02 606"), NOW
    )
    assert isinstance(plan, AccountPlan)
    assert plan.rail.code == "SEPA" and plan.details == {"iban": "FR1420041010050500013M02606"}
    stored = BankAccount("1", plan.holder_name, plan.country, plan.currency, plan.details)
    assert validate_account(plan.rail, stored) == []


def test_a_us_routing_number_abroad_plans_for_ach() -> None:
    fields = {"aba_routing": "021000021", "account_number": "1234", "account_type": "savings"}
    plan = plan_account("DE", "bank_transfer", account("USD", **fields), NOW)
    assert isinstance(plan, AccountPlan) and plan.rail.code == "ACH"


def test_the_wire_takes_its_bic_from_the_bic_field() -> None:
    plan = plan_account(
        "BR", "bank_transfer", account("USD", bic="ITAUBRSP", account_number="123"), NOW
    )
    assert isinstance(plan, AccountPlan)
    assert plan.rail.code == "WIRE" and plan.details == {
        "swift_bic": "ITAUBRSP",
        "account_number": "123",
    }


def test_one_problem_per_bad_missing_or_unused_field() -> None:
    problems = plan_account(
        "CA", "bank_transfer", account("USD", institution_number="3", iban="x"), NOW
    )
    assert isinstance(problems, list)
    assert [(p.field, p.code) for p in problems] == [
        ("currency", ErrorCode.UNSUPPORTED_CURRENCY),
        ("institution_number", ErrorCode.INVALID_BANK_ACCOUNT),
        ("transit_number", ErrorCode.INVALID_BANK_ACCOUNT),
        ("account_number", ErrorCode.INVALID_BANK_ACCOUNT),
        ("iban", ErrorCode.INVALID_BANK_ACCOUNT),
    ]


def test_an_account_held_where_the_rail_does_not_pay_is_refused() -> None:
    plan = plan_account(
        "GB",
        "bank_transfer",
        AccountInput("H", "GBP", "FR", {"sort_code": "401276", "account_number": "41234567"}),
        NOW,
    )
    assert isinstance(plan, list) and [p.field for p in plan] == ["country"]


def test_a_payee_without_a_country_gets_no_account() -> None:
    problems = plan_account(None, "bank_transfer", account("EUR", iban="x"), NOW)
    assert isinstance(problems, list) and problems[0].field == "payee_id"
