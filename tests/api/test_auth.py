"""Every operation against every kind of caller: nobody sees what is not theirs."""

from __future__ import annotations

import pytest

from domain.auth import Role
from persistence.api_keys import SqlApiKeys
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS, DEMO_OPS_KEY
from tests.api.test_merchant_payouts import merchant
from tests.conftest import GraphQLClient

OPS_ONLY = {
    "runs": "{ runs { edges { cursor } } }",
    "run": '{ run(id: "1") { id } }',
    "events": "{ events { code } }",
    "payees": "{ payees { edges { cursor } } }",
    "rails": "{ rails { code } }",
    "route": '{ route(country: "DE") { currency } }',
    "ledgerAccounts": "{ ledgerAccounts { code } }",
    "createLiquidationEvent": """mutation { createLiquidationEvent(input: {code: "LIQ-AUTH",
        name: "A", fundName: "F", allocations: [{payeeId: "1", amount: "1.00"}]})
        { event { id } userErrors { code } } }""",
    "startRun": """mutation { startRun(input: {liquidationEventId: "LIQ-2024-001"})
        { run { id } userErrors { code } } }""",
}


async def revoked_key(container: Container) -> str:
    keys = SqlApiKeys(container.sessions)
    key = await keys.issue(Role.OPS, "leaver", container.clock.now())
    assert await keys.revoke(key, container.clock.now())
    return key


@pytest.mark.parametrize("operation", list(OPS_ONLY))
async def test_without_a_valid_key_nothing_is_answered(
    gql: GraphQLClient, seeded: Container, operation: str
) -> None:
    revoked = await revoked_key(seeded)
    for headers in (
        {},
        {"Authorization": "Api-Key pe_ops_not_a_real_key"},
        {"Authorization": f"Api-Key {revoked}"},
        {"Authorization": f"Bearer {DEMO_OPS_KEY}"},
    ):
        response = await gql.http.post(
            "/graphql", json={"query": OPS_ONLY[operation]}, headers=headers
        )
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in response.json()


@pytest.mark.parametrize("operation", list(OPS_ONLY))
async def test_ops_only_operations(gql: GraphQLClient, operation: str) -> None:
    as_ops = await gql(OPS_ONLY[operation])
    assert "errors" not in as_ops, as_ops
    as_payee = await gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])(OPS_ONLY[operation])
    assert as_payee["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a non-null field nulls the whole answer; a nullable one is answered null: no data either way
    assert as_payee["data"] is None or set(as_payee["data"].values()) == {None}


async def test_payee_scoped_operations(gql: GraphQLClient, seeded: Container) -> None:
    acme, acme_account = await merchant(seeded, "MER-ACME")
    tiny, _ = await merchant(seeded, "MER-TINY")
    acme_client = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    tiny_client = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    created = await acme_client.data(
        """mutation($p: ID!, $a: ID!) { createPayout(input: {payeeId: $p, amount: "10.00",
            currency: "INR", bankAccountId: $a, idempotencyKey: "auth-matrix-1"})
            { payout { id } userErrors { code } } }""",
        p=acme,
        a=acme_account,
    )
    payout = created["createPayout"]["payout"]["id"]
    reads = {
        "payee": ("query($id: ID!) { payee(id: $id) { id } }", {"id": acme}, "payee"),
        "payout": ("query($id: ID!) { payout(id: $id) { id } }", {"id": payout}, "payout"),
    }
    for document, variables, field in reads.values():
        assert (await acme_client.data(document, **variables))[field] is not None  # its own
        assert (await gql.data(document, **variables))[field] is not None  # ops
        assert (await tiny_client.data(document, **variables))[field] is None  # another's
    listing = "{ payouts(first: 100) { edges { node { id } } } }"
    assert payout in {
        e["node"]["id"] for e in (await acme_client.data(listing))["payouts"]["edges"]
    }
    assert payout in {e["node"]["id"] for e in (await gql.data(listing))["payouts"]["edges"]}
    assert payout not in {
        e["node"]["id"] for e in (await tiny_client.data(listing))["payouts"]["edges"]
    }
    cancel = "mutation($id: ID!) { cancelPayout(input: {payoutId: $id}) { userErrors { code } } }"
    assert (await tiny_client.data(cancel, id=payout))["cancelPayout"]["userErrors"][0][
        "code"
    ] == "NOT_FOUND"
    assert (await gql.data(cancel, id=payout))["cancelPayout"]["userErrors"] == []  # ops may
    assert tiny != acme


async def test_graphiql_page_needs_no_key_but_holds_no_data(gql: GraphQLClient) -> None:
    page = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    introspection = await gql.http.post(
        "/graphql", json={"query": "{ __schema { types { name } } }"}
    )
    assert introspection.status_code == 401
    health = await gql.http.get("/health")
    assert health.status_code == 200
