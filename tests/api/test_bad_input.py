"""Every bad input gets a clear, coded error and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from persistence.tables import Base
from service.bootstrap import Container
from tests.conftest import GraphQLClient

CREATE_EVENT = """
mutation($input: CreateLiquidationEventInput!) {
  createLiquidationEvent(input: $input) { event { id } userErrors { field code message } }
}"""


async def snapshot(container: Container) -> dict[str, int]:
    async with container.sessions() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def event_input(**overrides: object) -> dict:
    data: dict = {
        "code": "LIQ-BAD",
        "name": "Bad",
        "fundName": "Fund",
        "currency": "USD",
        "allocations": [{"payeeId": "1", "amount": "100.00"}],
    }
    data.update(overrides)
    return data


BAD_EVENTS = [
    ("malformed amount", {"allocations": [{"payeeId": "1", "amount": "12,50"}]}, "INVALID_AMOUNT"),
    ("non-numeric", {"allocations": [{"payeeId": "1", "amount": "ten"}]}, "INVALID_AMOUNT"),
    ("exponent", {"allocations": [{"payeeId": "1", "amount": "1e3"}]}, "INVALID_AMOUNT"),
    ("empty amount", {"allocations": [{"payeeId": "1", "amount": ""}]}, "INVALID_AMOUNT"),
    ("too precise USD", {"allocations": [{"payeeId": "1", "amount": "10.001"}]}, "INVALID_AMOUNT"),
    (
        "cents of yen",
        {"currency": "JPY", "allocations": [{"payeeId": "1", "amount": "100.5"}]},
        "INVALID_AMOUNT",
    ),
    ("negative", {"allocations": [{"payeeId": "1", "amount": "-5.00"}]}, "INVALID_AMOUNT"),
    ("zero", {"allocations": [{"payeeId": "1", "amount": "0"}]}, "INVALID_AMOUNT"),
    (
        "absurd",
        {"allocations": [{"payeeId": "1", "amount": "99999999999999999999.00"}]},
        "INVALID_AMOUNT",
    ),
    ("unknown currency", {"currency": "XYZ"}, "UNSUPPORTED_CURRENCY"),
    ("unknown payee", {"allocations": [{"payeeId": "999999", "amount": "1.00"}]}, "NOT_FOUND"),
    ("not an id", {"allocations": [{"payeeId": "abc", "amount": "1.00"}]}, "NOT_FOUND"),
    (
        "duplicate payee",
        {"allocations": [{"payeeId": "1", "amount": "1.00"}, {"payeeId": "1", "amount": "2.00"}]},
        "DUPLICATE_ALLOCATION",
    ),
    ("no allocations", {"allocations": []}, "INVALID_INPUT"),
    ("bad code", {"code": "x"}, "INVALID_INPUT"),
    ("sql-looking code", {"code": "'; DROP TABLE payouts; --"}, "INVALID_INPUT"),
    ("existing code", {"code": "LIQ-2024-001"}, "CONFLICT"),
    (
        "weight and amount",
        {"total": "10.00", "allocations": [{"payeeId": "1", "amount": "1.00", "weight": 1}]},
        "INVALID_INPUT",
    ),
    (
        "zero weight",
        {"total": "10.00", "allocations": [{"payeeId": "1", "weight": 0}]},
        "INVALID_INPUT",
    ),
    (
        "total too small",
        {
            "total": "0.01",
            "allocations": [{"payeeId": "1", "weight": 1}, {"payeeId": "2", "weight": 1}],
        },
        "INVALID_AMOUNT",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "code"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
async def test_bad_event_input_is_refused(
    gql: GraphQLClient, seeded: Container, case: str, overrides: dict, code: str
) -> None:
    before = await snapshot(seeded)
    body = await gql.data(CREATE_EVENT, input=event_input(**overrides))
    payload = body["createLiquidationEvent"]
    assert payload["event"] is None
    assert code in {e["code"] for e in payload["userErrors"]}, payload["userErrors"]
    assert all(e["message"] for e in payload["userErrors"])
    assert await snapshot(seeded) == before


BAD_QUERIES = [
    ("oversized page", "{ payouts(first: 1000) { edges { cursor } } }", "PAGE_SIZE"),
    ("zero page", "{ payouts(first: 0) { edges { cursor } } }", "PAGE_SIZE"),
    ("negative page", "{ runs(first: -1) { edges { cursor } } }", "PAGE_SIZE"),
    (
        "forged cursor",
        '{ payouts(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }',
        "INVALID_CURSOR",
    ),
    ("unknown country", '{ route(country: "ZZ") { currency } }', "UNKNOWN_COUNTRY"),
    ("country too long", '{ route(country: "Germany") { currency } }', "UNKNOWN_COUNTRY"),
    (
        "unpayable method",
        '{ route(country: "DE", paymentMethod: CHECK) { currency } }',
        "UNSUPPORTED_PAYMENT_METHOD",
    ),
    ("bad filter id", '{ payouts(filter: {runId: "x"}) { edges { cursor } } }', "INVALID_INPUT"),
]


@pytest.mark.parametrize(("case", "query", "code"), BAD_QUERIES, ids=[c[0] for c in BAD_QUERIES])
async def test_bad_query_input_has_a_coded_error(
    gql: GraphQLClient, case: str, query: str, code: str
) -> None:
    body = await gql(query)
    assert body["errors"][0]["extensions"]["code"] == code, body


DEPTH_8 = "{ runs { edges { node { payouts { edges { node { trace { detail } } } } } } } }"
DEPTH_10 = (
    "{ runs { edges { node { payouts { edges { node { payee { bankAccounts "
    "{ details { name } } } } } } } } } }"
)


async def test_depth_alias_and_token_limits(gql: GraphQLClient) -> None:
    assert "errors" not in await gql(DEPTH_8)
    body = await gql(DEPTH_10)
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None
    aliases = "{ " + " ".join(f"a{i}: rails {{ code }}" for i in range(50)) + " }"
    body = await gql(aliases)
    assert "alias" in body["errors"][0]["message"].lower()
    tokens = "{ rails { " + " ".join("code" for _ in range(3000)) + " } }"
    body = await gql(tokens)
    assert "token" in body["errors"][0]["message"].lower()


async def test_malformed_documents_are_errors_not_crashes(gql: GraphQLClient) -> None:
    for document in ["{ payouts(first: ", "mutation { startRun }", "{ nosuchfield }"]:
        response = await gql.http.post("/graphql", json={"query": document}, headers=gql.headers)
        assert response.status_code == 200
        assert response.json()["errors"][0]["message"]
        assert response.json()["data"] is None
    for content, kind, message in [
        (b'{"query": ""}', "application/json", "No GraphQL query"),
        (b"{not json", "application/json", "Unable to parse"),
        (b"query=x", "text/plain", "Unsupported content type"),
    ]:
        response = await gql.http.post(
            "/graphql", content=content, headers={"content-type": kind, **gql.headers}
        )
        assert response.status_code == 400
        assert message in response.text
