"""Failure and return codes that mean something: what a payout says, and the account
a code makes unusable, which later runs skip until the payee has a new account."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.ports import OrderStatus, ProviderKind
from persistence import account_flags, ledger_checks
from persistence.tables import BankAccount, Payout
from providers.mock import MockBank
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS
from tests.api.test_merchant_payouts import CREATE, merchant, payout_input
from tests.api.test_onboarding import ACCOUNTS, add_account, new_payee
from tests.conftest import GraphQLClient

Banks = dict[ProviderKind, MockBank]
CLOSED = "ACCOUNT_CLOSED_OR_INVALID"
CREATE_EVENT = """mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) { event { code } userErrors { field code message } } }"""
START_RUN = """mutation($event: ID!, $key: String) {
  startRun(input: {liquidationEventId: $event, idempotencyKey: $key}) {
  run { id created skipped failed skipBreakdown { reason count } } userErrors { code } } }"""
PAYOUTS = """query($payee: ID!) { payouts(filter: {payeeId: $payee}) { edges { node {
  id status skipReason skipDetail failureCode failureCategory retryable failureDescription
  event { code } } } } }"""
ACCOUNTS_OF = """query($id: ID!) { payee(id: $id) { bankAccounts {
  id inUse flag { code category description flaggedAt payoutId } } } }"""
REASON_CODES = "{ reasonCodes { code scheme category retryable flagsAccount description } }"


def ach_account(number: str) -> dict[str, str]:
    return {**ACCOUNTS["ACH"][2], "accountNumber": number}


async def investor(gql: GraphQLClient, external_id: str, number: str) -> str:
    payee_id = await new_payee(gql, external_id, "US")
    added = await add_account(gql, payee_id, "USD", ach_account(number))
    assert added["userErrors"] == [], added
    return payee_id


async def event(gql: GraphQLClient, code: str, payee_ids: list[str]) -> None:
    data = {"code": code, "name": code, "fundName": "Fund", "currency": "USD"}
    allocations = [{"payeeId": p, "amount": "250.00"} for p in payee_ids]
    made = await gql.data(CREATE_EVENT, input={**data, "allocations": allocations})
    assert made["createLiquidationEvent"]["userErrors"] == [], made


async def run(gql: GraphQLClient, code: str) -> dict[str, Any]:
    key = f"{code}-{uuid.uuid4().hex}"  # one run, sent again to read it once executed
    started = (await gql.run_to_completion(START_RUN, event=code, key=key))["startRun"]
    assert started["userErrors"] == [], started
    return dict(started["run"])


async def pay(gql: GraphQLClient, code: str, payee_ids: list[str]) -> dict[str, Any]:
    await event(gql, code, payee_ids)
    return await run(gql, code)


async def settle(seeded: Container, bank: MockBank, days: int = 3) -> None:
    bank.advance(timedelta(days=days))
    outcome = await seeded.jobs.poll_provider_status()
    assert outcome.status == "succeeded", outcome


async def payout(gql: GraphQLClient, payee_id: str, code: str) -> dict[str, Any]:
    edges = (await gql.data(PAYOUTS, payee=payee_id))["payouts"]["edges"]
    return next(e["node"] for e in edges if e["node"]["event"]["code"] == code)


async def accounts(gql: GraphQLClient, payee_id: str) -> list[dict[str, Any]]:
    return list((await gql.data(ACCOUNTS_OF, id=payee_id))["payee"]["bankAccounts"])


async def test_an_r03_failure_flags_the_account_and_later_runs_skip_it_until_a_new_one(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    payee_id = await investor(gql, "RC-R03", "555000111")
    banks[ProviderKind.ACH].set_outcome("555000111", OrderStatus.FAILED, "R03")
    assert (await pay(gql, "LIQ-RC-1", [payee_id]))["created"] == 1
    await settle(seeded, banks[ProviderKind.ACH])

    failed = await payout(gql, payee_id, "LIQ-RC-1")
    assert failed["status"] == "FAILED"
    assert (failed["failureCode"], failed["failureCategory"]) == (
        "R03",
        "ACCOUNT_CLOSED_OR_INVALID",
    )
    assert failed["retryable"] is False
    assert "account" in failed["failureDescription"].lower()
    [account] = await accounts(gql, payee_id)
    assert account["flag"]["code"] == "R03"
    assert account["flag"]["category"] == "ACCOUNT_CLOSED_OR_INVALID"
    assert account["flag"]["payoutId"] == failed["id"]

    second = await pay(gql, "LIQ-RC-2", [payee_id])
    assert (second["created"], second["skipped"]) == (0, 1)
    assert second["skipBreakdown"] == [{"reason": "bank_account_flagged", "count": 1}]
    skipped = await payout(gql, payee_id, "LIQ-RC-2")
    assert skipped["skipReason"] == "bank_account_flagged"
    assert "R03" in skipped["skipDetail"]

    added = await add_account(gql, payee_id, "USD", ach_account("555000222"))
    assert added["userErrors"] == [] and added["bankAccount"]["inUse"] is True
    again = await run(gql, "LIQ-RC-2")  # the skipped payout is evaluated again
    assert (again["created"], again["skipped"]) == (1, 0)
    assert (await payout(gql, payee_id, "LIQ-RC-2"))["status"] == "SUBMITTED"
    flags = {a["id"]: a["flag"] for a in await accounts(gql, payee_id)}
    assert flags[added["bankAccount"]["id"]] is None
    assert flags[account["id"]] is not None  # the retired account keeps its flag


async def test_a_technical_failure_does_not_flag_and_the_next_run_pays(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    country, currency, fields = ACCOUNTS["SEPA"]
    payee_id = await new_payee(gql, "RC-TECH", country)
    assert (await add_account(gql, payee_id, currency, fields))["userErrors"] == []
    iban = fields["iban"].replace(" ", "")
    banks[ProviderKind.CROSS_BORDER].set_outcome(iban, OrderStatus.FAILED, "TECH")
    await pay(gql, "LIQ-RC-T1", [payee_id])
    await settle(seeded, banks[ProviderKind.CROSS_BORDER])

    failed = await payout(gql, payee_id, "LIQ-RC-T1")
    assert (failed["status"], failed["failureCode"]) == ("FAILED", "TECH")
    assert (failed["failureCategory"], failed["retryable"]) == ("TECHNICAL_RETRYABLE", True)
    assert [a["flag"] for a in await accounts(gql, payee_id)] == [None]
    assert (await pay(gql, "LIQ-RC-T2", [payee_id]))["created"] == 1


async def test_returns_after_settlement_r01_is_retryable_r03_flags(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    funds = await investor(gql, "RC-R01", "555000301")
    gone = await investor(gql, "RC-RET03", "555000303")
    ach = banks[ProviderKind.ACH]
    ach.set_outcome("555000301", OrderStatus.RETURNED, "R01")
    ach.set_outcome("555000303", OrderStatus.RETURNED, "R03")
    await pay(gql, "LIQ-RC-RET", [funds, gone])
    await settle(seeded, ach)

    nsf, closed = [await payout(gql, p, "LIQ-RC-RET") for p in (funds, gone)]
    assert (nsf["status"], nsf["failureCode"], nsf["retryable"]) == ("RETURNED", "R01", True)
    assert nsf["failureCategory"] == "INSUFFICIENT_FUNDS_OR_LIMIT"
    assert (closed["status"], closed["failureCategory"]) == (
        "RETURNED",
        "ACCOUNT_CLOSED_OR_INVALID",
    )
    assert [a["flag"] for a in await accounts(gql, funds)] == [None]
    assert [a["flag"]["code"] for a in await accounts(gql, gone)] == ["R03"]
    later = await pay(gql, "LIQ-RC-RET2", [funds, gone])
    assert (later["created"], later["skipped"]) == (1, 1)


async def test_a_refused_account_fails_at_once_with_the_scheme_code_and_is_flagged(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    payee_id = await investor(gql, "RC-422", "555000422")
    banks[ProviderKind.ACH].reject_accounts("555000422")
    assert (await pay(gql, "LIQ-RC-422", [payee_id]))["failed"] == 1

    failed = await payout(gql, payee_id, "LIQ-RC-422")
    assert (failed["failureCode"], failed["failureCategory"]) == (
        "R02",
        "ACCOUNT_CLOSED_OR_INVALID",
    )
    assert [a["flag"]["code"] for a in await accounts(gql, payee_id)] == ["R02"]


async def failing_merchant(
    gql: GraphQLClient, seeded: Container, banks: Banks, code: str
) -> tuple[str, str, GraphQLClient, MockBank]:
    """Acme's payee and account, a client on Acme's key, and the bank that will fail
    Acme's payouts with ``code``."""
    payee_id, account_id = await merchant(seeded, "MER-ACME")
    acme = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    async with seeded.sessions() as session:
        details = await session.scalar(
            select(BankAccount.details).where(BankAccount.id == int(account_id))
        )
    assert details is not None
    xb = banks[ProviderKind.CROSS_BORDER]
    for value in details.values():
        xb.set_outcome(str(value), OrderStatus.FAILED, code)
    return payee_id, account_id, acme, xb


async def test_a_merchant_payout_to_a_flagged_account_is_refused_and_writes_nothing(
    gql: GraphQLClient, seeded: Container, banks: Banks
) -> None:
    payee_id, account_id, acme, xb = await failing_merchant(gql, seeded, banks, "AC04")
    first = await acme.data(CREATE, input=payout_input(payee_id, account_id, "10.00", "rc-1"))
    assert first["createPayout"]["userErrors"] == []
    await seeded.jobs.dispatch_pending_payouts()
    await settle(seeded, xb)
    async with seeded.sessions() as session:
        status = await session.scalar(
            select(Payout.failure_code).where(Payout.payee_id == int(payee_id))
        )
        before = await session.scalar(select(func.count()).select_from(Payout))
    assert status == "AC04"

    again = await acme.data(CREATE, input=payout_input(payee_id, account_id, "10.00", "rc-2"))
    errors = again["createPayout"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [
        (["input", "bankAccountId"], "BANK_ACCOUNT_FLAGGED")
    ]
    assert "AC04" in errors[0]["message"]
    async with seeded.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Payout)) == before


async def test_the_reason_code_table_is_readable_by_readers(gql: GraphQLClient) -> None:
    table = {row["code"]: row for row in (await gql.data(REASON_CODES))["reasonCodes"]}
    assert table["R03"]["scheme"] == "ACH" and table["AC04"]["scheme"] == "ISO20022"
    assert table["MD07"]["category"] == "BENEFICIARY_DECEASED" and table["MD07"]["flagsAccount"]
    assert table["AM04"]["retryable"] and not table["AM04"]["flagsAccount"]


async def test_a_crash_while_flagging_leaves_the_payout_unmoved_and_the_next_poll_does_both(
    gql: GraphQLClient, seeded: Container, banks: Banks, monkeypatch: pytest.MonkeyPatch
) -> None:
    payee_id = await investor(gql, "RC-CRASH", "555000777")
    ach = banks[ProviderKind.ACH]
    ach.set_outcome("555000777", OrderStatus.FAILED, "R02")
    await pay(gql, "LIQ-RC-CRASH", [payee_id])
    ach.advance(timedelta(days=3))

    async def crash(*args: object) -> None:
        raise RuntimeError("killed while flagging")

    monkeypatch.setattr(account_flags, "_write", crash)
    outcome = await seeded.jobs.poll_provider_status()
    assert outcome.status == "failed"
    assert (await payout(gql, payee_id, "LIQ-RC-CRASH"))["status"] == "SUBMITTED"
    assert [a["flag"] for a in await accounts(gql, payee_id)] == [None]
    async with seeded.sessions() as session:
        assert await ledger_checks.verify(session) == []

    monkeypatch.undo()
    assert (await seeded.jobs.poll_provider_status()).status == "succeeded"
    assert (await payout(gql, payee_id, "LIQ-RC-CRASH"))["failureCode"] == "R02"
    assert [a["flag"]["code"] for a in await accounts(gql, payee_id)] == ["R02"]
