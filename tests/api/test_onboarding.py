"""Operating with your own data: onboard payees and accounts, then pay them in a run."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from persistence.tables import AuditEvent, BankAccount, Payee
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS
from tests.api.test_merchant_payouts import merchant
from tests.conftest import GraphQLClient

CREATE_PAYEE = """mutation($input: CreatePayeeInput!) { createPayee(input: $input) {
  payee { id externalId name kind country email paymentMethod }
  userErrors { field code message } } }"""
UPDATE_PAYEE = """mutation($input: UpdatePayeeInput!) { updatePayee(input: $input) {
  payee { id name country } userErrors { field code message } } }"""
ADD_ACCOUNT = """mutation($input: AddBankAccountInput!) { addBankAccount(input: $input) {
  bankAccount { id inUse railCode currency details { name value } }
  payee { accountInUse { id } bankAccounts { id inUse retiredAt } }
  userErrors { field code message } } }"""
RETIRE = """mutation($id: ID!) { retireBankAccount(input: {id: $id}) {
  bankAccount { id inUse retiredAt } userErrors { field code message } } }"""
CREATE_EVENT = """mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) { event { code } userErrors { field code message } } }"""
START_RUN = """mutation($event: ID!, $key: String) {
  startRun(input: {liquidationEventId: $event, idempotencyKey: $key}) {
  run { created skipped failed } userErrors { code } } }"""
PAYOUTS = """query($payee: ID!) { payouts(filter: {payeeId: $payee}) {
  edges { node { status railCode country routingRule event { code } } } } }"""
PAYOUT_ACCOUNT = "SELECT bank_account_id FROM payouts WHERE payee_id = :p"

# One valid account per rail: (country of the payee, currency, fields).
ACCOUNTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "SEPA": ("DE", "EUR", {"iban": "DE89 3704 0044 0532 0130 00"}),
    "BACS": ("GB", "GBP", {"sortCode": "401276", "accountNumber": "41234567"}),
    "ACH": (
        "US",
        "USD",
        {"abaRouting": "021000021", "accountNumber": "123456789", "accountType": "checking"},
    ),
    "NEFT": ("IN", "INR", {"ifsc": "HDFC0001234", "accountNumber": "50100012345678"}),
    "ZENGIN": (
        "JP",
        "JPY",
        {
            "bankCode": "0005",
            "branchCode": "123",
            "accountNumber": "1234567",
            "accountType": "ordinary",
        },
    ),
    "SPEI": ("MX", "MXN", {"clabe": "002180000118359710"}),
    "EFT": (
        "CA",
        "CAD",
        {"institutionNumber": "003", "transitNumber": "12345", "accountNumber": "1234567"},
    ),
}


async def new_payee(gql: GraphQLClient, external_id: str, country: str, **more: Any) -> str:
    payee = {"externalId": external_id, "name": f"Investor {external_id}", "kind": "INVESTOR"}
    data = await gql.data(CREATE_PAYEE, input={**payee, "country": country, **more})
    assert data["createPayee"]["userErrors"] == [], data
    return str(data["createPayee"]["payee"]["id"])


async def add_account(
    gql: GraphQLClient, payee_id: str, currency: str, fields: dict[str, str], **more: Any
) -> dict[str, Any]:
    account = {"payeeId": payee_id, "holderName": "A Holder", "currency": currency}
    data = await gql.data(ADD_ACCOUNT, input={**account, **fields, **more})
    return dict(data["addBankAccount"])


async def pay(gql: GraphQLClient, code: str, payee_ids: list[str]) -> dict[str, Any]:
    event = {"code": code, "name": code, "fundName": "Own Fund", "currency": "USD"}
    allocations = [{"payeeId": p, "amount": "1000.00"} for p in payee_ids]
    made = await gql.data(CREATE_EVENT, input={**event, "allocations": allocations})
    assert made["createLiquidationEvent"]["userErrors"] == [], made
    run = (await gql.run_to_completion(START_RUN, event=code, key=f"pay-{code}"))["startRun"]
    assert run["userErrors"] == [], run
    return dict(run["run"])


async def payout_of(gql: GraphQLClient, payee_id: str, code: str) -> dict[str, Any]:
    edges = (await gql.data(PAYOUTS, payee=payee_id))["payouts"]["edges"]
    return next(e["node"] for e in edges if e["node"]["event"]["code"] == code)


async def counts(container: Container) -> tuple[int, int, int]:
    async with container.sessions() as session:
        return (
            int(await session.scalar(select(func.count()).select_from(Payee)) or 0),
            int(await session.scalar(select(func.count()).select_from(BankAccount)) or 0),
            int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0),
        )


async def test_own_payees_on_seven_rails_are_paid_by_a_run(gql: GraphQLClient) -> None:
    payees = {}
    for rail, (country, currency, fields) in ACCOUNTS.items():
        payee_id = await new_payee(gql, f"OWN-{rail}", country, email=f"{rail}@fund.example")
        added = await add_account(gql, payee_id, currency, fields)
        assert added["userErrors"] == [], (rail, added)
        assert added["bankAccount"]["railCode"] == rail
        assert added["bankAccount"]["inUse"] is True
        payees[rail] = payee_id
    run = await pay(gql, "LIQ-OWN-001", list(payees.values()))
    assert run == {"created": 7, "skipped": 0, "failed": 0}
    for rail, payee_id in payees.items():
        payout = await payout_of(gql, payee_id, "LIQ-OWN-001")
        assert (payout["status"], payout["railCode"]) == ("SUBMITTED", rail)


async def test_account_details_are_masked_but_for_the_last_four(gql: GraphQLClient) -> None:
    payee_id = await new_payee(gql, "OWN-MASK", "DE")
    added = await add_account(gql, payee_id, "EUR", {"iban": "DE89370400440532013000"})
    assert added["bankAccount"]["details"] == [{"name": "iban", "value": "•" * 18 + "3000"}]


async def test_a_taken_external_id_is_a_conflict_and_writes_nothing(
    gql: GraphQLClient, seeded: Container
) -> None:
    await new_payee(gql, "OWN-DUP", "DE")
    before = await counts(seeded)
    again = {"externalId": "OWN-DUP", "name": "Other", "kind": "MERCHANT", "country": "FR"}
    errors = (await gql.data(CREATE_PAYEE, input=again))["createPayee"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "externalId"], "CONFLICT")]
    assert await counts(seeded) == before


async def test_every_problem_of_a_payee_comes_back_at_once(gql: GraphQLClient) -> None:
    bad = {"externalId": "", "name": "a\tb", "kind": "INVESTOR", "country": "XX"}
    errors = (
        await gql.data(CREATE_PAYEE, input={**bad, "email": "nope", "paymentMethod": "CHECK"})
    )["createPayee"]["userErrors"]
    assert {(e["field"][1], e["code"]) for e in errors} == {
        ("externalId", "INVALID_INPUT"),
        ("name", "INVALID_INPUT"),
        ("country", "UNKNOWN_COUNTRY"),
        ("email", "INVALID_INPUT"),
        ("paymentMethod", "UNSUPPORTED_PAYMENT_METHOD"),
    }


async def test_an_iban_with_a_wrong_checksum_is_refused_and_nothing_is_written(
    gql: GraphQLClient, seeded: Container
) -> None:
    payee_id = await new_payee(gql, "OWN-BADIBAN", "DE")
    before = await counts(seeded)
    added = await add_account(gql, payee_id, "EUR", {"iban": "DE88370400440532013000"})
    assert added["bankAccount"] is None
    assert [(e["field"], e["code"]) for e in added["userErrors"]] == [
        (["input", "iban"], "INVALID_BANK_ACCOUNT")
    ]
    assert await counts(seeded) == before


async def test_fields_that_do_not_fit_the_rail_are_refused_one_by_one(
    gql: GraphQLClient,
) -> None:
    payee_id = await new_payee(gql, "OWN-GB", "GB")
    added = await add_account(
        gql, payee_id, "GBP", {"sortCode": "40-12-76", "iban": "DE89370400440532013000"}
    )
    found = {(e["field"][1], e["code"]) for e in added["userErrors"]}
    assert found == {
        ("sortCode", "INVALID_BANK_ACCOUNT"),  # six digits, no dashes
        ("accountNumber", "INVALID_BANK_ACCOUNT"),  # missing
        ("iban", "INVALID_BANK_ACCOUNT"),  # Bacs does not use one
    }


async def test_a_currency_the_rail_does_not_pay_in_is_refused(gql: GraphQLClient) -> None:
    payee_id = await new_payee(gql, "OWN-JPY", "JP")
    added = await add_account(gql, payee_id, "USD", ACCOUNTS["ZENGIN"][2])
    assert [(e["field"], e["code"]) for e in added["userErrors"]] == [
        (["input", "currency"], "UNSUPPORTED_CURRENCY")
    ]


async def test_a_new_account_retires_the_old_and_the_next_run_pays_the_new(
    gql: GraphQLClient, seeded: Container
) -> None:
    payee_id = await new_payee(gql, "OWN-SWAP", "DE")
    first = await add_account(gql, payee_id, "EUR", {"iban": "DE89370400440532013000"})
    await pay(gql, "LIQ-SWAP-001", [payee_id])
    second = await add_account(gql, payee_id, "EUR", {"iban": "FR1420041010050500013M02606"})
    old, new = first["bankAccount"]["id"], second["bankAccount"]["id"]
    accounts = second["payee"]["bankAccounts"]
    assert [a["id"] for a in accounts] == [new, old]  # newest first
    assert [a["inUse"] for a in accounts] == [True, False]
    assert accounts[1]["retiredAt"] is not None and accounts[0]["retiredAt"] is None
    assert second["payee"]["accountInUse"] == {"id": new}
    await pay(gql, "LIQ-SWAP-002", [payee_id])
    async with seeded.sessions() as session:
        sent_to = await session.execute(text(PAYOUT_ACCOUNT + " ORDER BY id"), {"p": payee_id})
        assert [str(row[0]) for row in sent_to] == [old, new]
        actions = await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity == "bank_account")
            .where(AuditEvent.entity_id.in_([int(old), int(new)]))
            .order_by(AuditEvent.id)
        )
        assert actions.all() == [
            "bank_account.added",
            "bank_account.verified",  # the bank is asked right after the account is added
            "bank_account.retired",
            "bank_account.added",
            "bank_account.verified",
        ]


async def test_a_retired_account_is_not_paid(gql: GraphQLClient) -> None:
    payee_id = await new_payee(gql, "OWN-RETIRE", "DE")
    added = await add_account(gql, payee_id, "EUR", {"iban": "DE89370400440532013000"})
    retired = (await gql.data(RETIRE, id=added["bankAccount"]["id"]))["retireBankAccount"]
    assert retired["bankAccount"]["inUse"] is False and retired["bankAccount"]["retiredAt"]
    again = (await gql.data(RETIRE, id=added["bankAccount"]["id"]))["retireBankAccount"]
    assert [e["code"] for e in again["userErrors"]] == ["CONFLICT"]
    run = await pay(gql, "LIQ-RETIRED-001", [payee_id])
    assert run["skipped"] == 1


async def test_a_new_country_reroutes_the_next_payout_and_is_audited(
    gql: GraphQLClient, seeded: Container
) -> None:
    country, currency, fields = ACCOUNTS["ACH"]
    payee_id = await new_payee(gql, "OWN-MOVER", country)
    await add_account(gql, payee_id, currency, fields)
    await pay(gql, "LIQ-MOVE-001", [payee_id])
    moved = await gql.data(UPDATE_PAYEE, input={"id": payee_id, "country": "de"})
    assert moved["updatePayee"] == {
        "payee": {"id": payee_id, "name": "Investor OWN-MOVER", "country": "DE"},
        "userErrors": [],
    }
    await pay(gql, "LIQ-MOVE-002", [payee_id])
    before = await payout_of(gql, payee_id, "LIQ-MOVE-001")
    after = await payout_of(gql, payee_id, "LIQ-MOVE-002")
    assert (before["country"], before["routingRule"]) == ("US", "us_payee")
    assert (after["country"], after["routingRule"]) == ("DE", "us_bank_account_abroad")
    # moving to GB with a Bacs account: the next payout goes by Bacs in pounds
    await gql.data(UPDATE_PAYEE, input={"id": payee_id, "country": "GB"})
    gb = await add_account(gql, payee_id, "GBP", ACCOUNTS["BACS"][2])
    assert gb["userErrors"] == []
    await pay(gql, "LIQ-MOVE-003", [payee_id])
    assert (await payout_of(gql, payee_id, "LIQ-MOVE-003"))["railCode"] == "BACS"
    async with seeded.sessions() as session:
        details = (
            await session.scalars(
                select(AuditEvent.detail)
                .where(AuditEvent.action == "payee.updated", AuditEvent.entity_id == int(payee_id))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert details == [
        {"before": {"country": "US"}, "after": {"country": "DE"}},
        {"before": {"country": "DE"}, "after": {"country": "GB"}},
    ]


async def test_payees_can_be_searched_and_filtered(gql: GraphQLClient) -> None:
    await new_payee(gql, "OWN-PCT", "DE", name="Stake 100% Ltd")
    await new_payee(gql, "OWN-1000", "FR", name="Stake 1000 Ltd")
    await new_payee(gql, "OWN-UNDER", "FR", name="Stake 1_00 Ltd")
    query = """query($f: PayeeFilter) { payees(filter: $f, first: 50) {
      edges { node { externalId } } } }"""

    async def found(**f: Any) -> list[str]:
        edges = (await gql.data(query, f=f))["payees"]["edges"]
        return [e["node"]["externalId"] for e in edges]

    assert await found(search="stake 100%") == ["OWN-PCT"]  # % is no wildcard
    assert await found(search="1_0") == ["OWN-UNDER"]  # nor is _
    assert await found(search="STAKE 100") == ["OWN-1000", "OWN-PCT"]  # newest first
    assert await found(search="own-10") == ["OWN-1000"]  # the external id matches too
    assert await found(search="stake", country="fr") == ["OWN-UNDER", "OWN-1000"]
    assert await found(externalId="OWN-1000") == ["OWN-1000"]
    assert await found(kind="MERCHANT", search="stake") == []


async def test_a_payee_key_may_not_onboard_but_reads_its_own_accounts(
    gql: GraphQLClient, seeded: Container
) -> None:
    other = await new_payee(gql, "OWN-OTHER", "DE")
    tiny = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    body = await tiny(
        CREATE_PAYEE, input={"externalId": "X-1", "name": "X", "kind": "INVESTOR", "country": "DE"}
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    account = {"payeeId": other, "holderName": "X", "currency": "EUR"}
    body = await tiny(ADD_ACCOUNT, input={**account, "iban": "DE89370400440532013000"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gql.data("query($id: ID!) { payee(id: $id) { id } }", id=other))["payee"]
    hidden = await tiny.data("query($id: ID!) { payee(id: $id) { id } }", id=other)
    assert hidden["payee"] is None
    own, account = await merchant(seeded, "MER-TINY")
    mine = await tiny.data(
        "query($id: ID!) { payee(id: $id) { accountInUse { id railCode } } }", id=own
    )
    assert mine["payee"]["accountInUse"] == {"id": account, "railCode": "NEFT"}
