"""A merchant's session: balance, payouts with idempotency keys, cancel; nothing leaks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from persistence import ledger_checks
from persistence.tables import BankAccount, Payee
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS
from tests.api.test_bad_input import snapshot
from tests.conftest import GraphQLClient

CREATE = """
mutation($input: CreatePayoutInput!) { createPayout(input: $input) {
  payout { id status amount { amount currency } railCode payee { id } }
  replayed userErrors { field code message } } }"""
CANCEL = """
mutation($id: ID!) { cancelPayout(input: {payoutId: $id}) {
  payout { id status } userErrors { code message } } }"""
BALANCE = """query($id: ID!) { payee(id: $id) { name balances {
  currency available { amount } pendingDebits { amount } } } }"""


async def merchant(container: Container, reference: str) -> tuple[str, str]:
    async with container.sessions() as session:
        payee_id, account_id = (
            await session.execute(
                select(Payee.id, BankAccount.id)
                .join(BankAccount, BankAccount.payee_id == Payee.id)
                .where(Payee.reference == reference)
            )
        ).one()
    return str(payee_id), str(account_id)


@pytest.fixture
async def tiny(gql: GraphQLClient, seeded: Container) -> tuple[GraphQLClient, str, str]:
    payee_id, account_id = await merchant(seeded, "MER-TINY")
    return gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"]), payee_id, account_id


def payout_input(payee: str, account: str, amount: str, key: str, currency: str = "INR") -> dict:
    return {
        "payeeId": payee,
        "amount": amount,
        "currency": currency,
        "bankAccountId": account,
        "idempotencyKey": key,
    }


async def available(client: GraphQLClient, payee: str) -> str:
    data = await client.data(BALANCE, id=payee)
    return data["payee"]["balances"][0]["available"]["amount"]


async def test_tiny_studio_pays_out_once_per_key_and_never_overdraws(tiny, seeded) -> None:
    client, payee, account = tiny
    assert await available(client, payee) == "100.00"
    first = await client.data(CREATE, input=payout_input(payee, account, "60.00", "tiny-key-1"))
    payload = first["createPayout"]
    assert payload["userErrors"] == [] and payload["replayed"] is False
    assert payload["payout"]["status"] == "PENDING"
    assert payload["payout"]["amount"] == {"amount": "60.00", "currency": "INR"}
    assert payload["payout"]["railCode"] == "NEFT"
    assert await available(client, payee) == "40.00"

    again = await client.data(CREATE, input=payout_input(payee, account, "60.00", "tiny-key-1"))
    assert again["createPayout"]["replayed"] is True
    assert again["createPayout"]["payout"]["id"] == payload["payout"]["id"]
    assert await available(client, payee) == "40.00"

    reused = await client.data(CREATE, input=payout_input(payee, account, "61.00", "tiny-key-1"))
    assert [e["code"] for e in reused["createPayout"]["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]

    over = await client.data(CREATE, input=payout_input(payee, account, "60.00", "tiny-key-2"))
    assert [e["code"] for e in over["createPayout"]["userErrors"]] == ["INSUFFICIENT_FUNDS"]
    assert over["createPayout"]["payout"] is None
    assert await available(client, payee) == "40.00"

    cancelled = await client.data(CANCEL, id=payload["payout"]["id"])
    assert cancelled["cancelPayout"]["payout"]["status"] == "CANCELLED"
    assert await available(client, payee) == "100.00"
    twice = await client.data(CANCEL, id=payload["payout"]["id"])
    assert [e["code"] for e in twice["cancelPayout"]["userErrors"]] == ["ILLEGAL_TRANSITION"]
    async with seeded.sessions() as session:
        assert await ledger_checks.verify(session) == []


async def test_more_requests_at_once_than_connections_in_the_pool_all_pay(tiny, seeded) -> None:
    """Each request reads (its key, then its answer) on one connection and writes on
    another: 40 at once against a pool of 15 must not leave every connection held by
    a reader waiting for a writer's."""
    client, payee, account = tiny
    requests = [payout_input(payee, account, "1.00", f"crowd-key-{i:02d}") for i in range(40)]
    answers = await asyncio.gather(*(client.data(CREATE, input=r) for r in requests))
    assert [a["createPayout"]["userErrors"] for a in answers] == [[]] * 40
    assert len({a["createPayout"]["payout"]["id"] for a in answers}) == 40
    assert await available(client, payee) == "60.00"
    async with seeded.sessions() as session:
        assert await ledger_checks.verify(session) == []


async def test_dispatch_sends_pending_merchant_payouts(tiny, seeded, banks) -> None:
    client, payee, account = tiny
    created = await client.data(CREATE, input=payout_input(payee, account, "25.00", "dispatch-1"))
    payout_id = created["createPayout"]["payout"]["id"]
    assert await seeded.runner.dispatch() == 1
    assert await seeded.runner.dispatch() == 0
    data = await client.data(
        """query($id: ID!) { payout(id: $id) { status providerOrderId
        ledgerEntries { kind phase } } }""",
        id=payout_id,
    )
    assert data["payout"]["status"] == "SUBMITTED"
    assert data["payout"]["providerOrderId"]
    cancel = await client.data(CANCEL, id=payout_id)
    assert [e["code"] for e in cancel["cancelPayout"]["userErrors"]] == ["ILLEGAL_TRANSITION"]
    async with seeded.sessions() as session:
        assert await ledger_checks.verify(session) == []


BAD = [
    ("zero", {"amount": "0"}, "INVALID_AMOUNT"),
    ("negative", {"amount": "-5.00"}, "INVALID_AMOUNT"),
    ("non-numeric", {"amount": "lots"}, "INVALID_AMOUNT"),
    ("too precise", {"amount": "10.001"}, "INVALID_AMOUNT"),
    ("no balance in currency", {"currency": "USD"}, "CURRENCY_MISMATCH"),
    ("unknown currency", {"currency": "ZZZ"}, "UNSUPPORTED_CURRENCY"),
    ("unknown bank account", {"bankAccountId": "999999"}, "NOT_FOUND"),
    ("not an account id", {"bankAccountId": "x"}, "NOT_FOUND"),
    ("missing key", {"idempotencyKey": ""}, "INVALID_INPUT"),
    ("key over 128 characters", {"idempotencyKey": "k" * 129}, "INVALID_INPUT"),
    ("key with spaces", {"idempotencyKey": "has spaces in it"}, "INVALID_INPUT"),
    ("above balance", {"amount": "100.01"}, "INSUFFICIENT_FUNDS"),
]


@pytest.mark.parametrize(("case", "overrides", "code"), BAD, ids=[c[0] for c in BAD])
async def test_bad_payout_requests_change_nothing(tiny, seeded, case, overrides, code) -> None:
    client, payee, account = tiny
    before = await snapshot(seeded)
    data = payout_input(payee, account, "10.00", "bad-input-key") | overrides
    body = await client.data(CREATE, input=data)
    assert code in [e["code"] for e in body["createPayout"]["userErrors"]], body
    assert body["createPayout"]["payout"] is None
    assert await snapshot(seeded) == before


async def test_another_payees_account_is_not_found(tiny, seeded) -> None:
    client, payee, _ = tiny
    _, acme_account = await merchant(seeded, "MER-ACME")
    before = await snapshot(seeded)
    body = await client.data(CREATE, input=payout_input(payee, acme_account, "1.00", "other-acct"))
    assert [e["code"] for e in body["createPayout"]["userErrors"]] == ["NOT_FOUND"]
    assert await snapshot(seeded) == before


async def test_a_payee_sees_only_itself(tiny, seeded, gql: GraphQLClient) -> None:
    client, payee, account = tiny
    acme, acme_account = await merchant(seeded, "MER-ACME")
    acme_client = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    mine = await client.data(CREATE, input=payout_input(payee, account, "5.00", "mine-0001"))
    acmes = await acme_client.data(
        CREATE, input=payout_input(acme, acme_account, "5.00", "acme-0001")
    )
    acme_payout = acmes["createPayout"]["payout"]["id"]
    assert (await client.data(BALANCE, id=acme))["payee"] is None
    peek = await client.data("query($id: ID!) { payout(id: $id) { id } }", id=acme_payout)
    assert peek["payout"] is None
    listed = await client.data("{ payouts(first: 100) { edges { node { id payee { id } } } } }")
    assert {e["node"]["payee"]["id"] for e in listed["payouts"]["edges"]} == {payee}
    spoof = await client.data(
        "query($p: ID!) { payouts(filter: {payeeId: $p}) { edges { cursor } } }", p=acme
    )
    assert spoof["payouts"]["edges"] == []
    steal = await client.data(CREATE, input=payout_input(acme, acme_account, "1.00", "steal-001"))
    assert [e["code"] for e in steal["createPayout"]["userErrors"]] == ["NOT_FOUND"]
    cancel = await client.data(CANCEL, id=acme_payout)
    assert [e["code"] for e in cancel["cancelPayout"]["userErrors"]] == ["NOT_FOUND"]
    assert mine["createPayout"]["payout"]["payee"]["id"] == payee
