"""Queries with their values written in (what GraphiQL users and hand-written queries
send): the same answers, errors and error places as the variables form, and one
validated document for any number of values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from persistence.tables import Payee, Payout
from service.bootstrap import Container
from tests.conftest import GraphQLClient

TRACE = "{ id status amount { amount currency } trace { action actor } }"


async def payout_ids(seeded: Container, count: int) -> list[int]:
    await seeded.runner.run("LIQ-2024-001", "literals")
    async with seeded.sessions() as session:
        rows = await session.scalars(select(Payout.id).order_by(Payout.id).limit(count))
        return list(rows)


async def test_a_payout_asked_for_by_a_written_id_is_the_one_asked_for_by_variable(
    gql: GraphQLClient, seeded: Container
) -> None:
    ids = await payout_ids(seeded, 3)
    assert len(ids) == 3
    for ident in ids:
        written = await gql.data(f'{{ payout(id: "{ident}") {TRACE} }}')
        as_number = await gql.data(f"query Mine {{ payout(id: {ident}) {TRACE} }}")
        by_variable = await gql.data(f"query($id: ID!) {{ payout(id: $id) {TRACE} }}", id=ident)
        assert written == as_number == by_variable
        assert written["payout"]["id"] == str(ident) and written["payout"]["trace"]


async def test_written_values_in_input_objects_and_beside_variables_filter_as_sent(
    gql: GraphQLClient, seeded: Container
) -> None:
    async with seeded.sessions() as session:
        payee = await session.scalar(select(Payee).order_by(Payee.id).limit(1))
    assert payee is not None
    document = (
        "query($first: Int) { payees(first: $first, filter: {externalId: %s}) "
        "{ edges { node { id name } } } }"
    )
    written = await gql.data(document % f'"{payee.reference}"', first=5)
    other = await gql.data(document % '"no such payee \\u00e9"', first=5)
    assert [e["node"]["name"] for e in written["payees"]["edges"]] == [payee.name]
    assert other["payees"]["edges"] == []


async def test_hundreds_of_written_ids_are_validated_as_one_document(
    gql: GraphQLClient, seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strawberry.schema.schema as strawberry_schema

    validated: list[Any] = []
    real_validate = strawberry_schema.validate

    def counting_validate(schema: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        validated.append(document)
        return real_validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(strawberry_schema, "validate", counting_validate)
    [ident] = await payout_ids(seeded, 1)
    for n in range(300):  # under the ops key's burst (RATE_LIMIT_OPS x RATE_LIMIT_BURST_S)
        data = await gql.data(f'{{ payout(id: "{ident + n}") {{ id }} }}')
        assert data["payout"] is None or data["payout"]["id"] == str(ident + n)
    assert len(validated) <= 1


async def test_a_written_value_of_the_wrong_kind_is_refused_as_it_would_be(
    gql: GraphQLClient,
) -> None:
    body = await gql("{ payout(id: 4.5) { id } }")
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "4.5" in error["message"] and "$_h" not in error["message"]
    assert error["locations"] == [{"line": 1, "column": 14}]
    too_big = await gql("{ payouts(first: 99999999999) { edges { cursor } } }")
    assert "99999999999" in too_big["errors"][0]["message"]
    assert "$_h" not in str(too_big)


async def test_an_error_points_at_the_place_in_the_text_that_was_sent(
    gql: GraphQLClient,
) -> None:
    document = '\n\n  {  payouts(first: 100000, filter: {country: "DE"})\n { edges { cursor } } }'
    body = await gql(document)
    [error] = body["errors"]
    assert error["extensions"]["code"] == "PAGE_SIZE"
    assert error["path"] == ["payouts"]
    assert error["locations"] == [{"line": 3, "column": 6}]


async def test_text_that_may_not_be_stored_is_refused_when_written_in_too(
    gql: GraphQLClient,
) -> None:
    body = await gql('{ payees(filter: {externalId: "a\\u0000b"}) { edges { cursor } } }')
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
