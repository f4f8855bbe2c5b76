"""The database snapshot that refusal tests compare, and the edges of the API's guards:
what is just inside a limit is served. What is outside is in test_hostile_inputs.py."""

from __future__ import annotations

import hashlib

from graphql import get_introspection_query
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from service.bootstrap import Container
from tests.conftest import GraphQLClient


async def snapshot(container: Container) -> dict[str, str]:
    """Every table's rows, as a count and a digest per table: equal snapshots, same data.

    Tables are read from the database itself, so a table a migration adds is covered
    without naming it here."""
    async with container.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        return {name: await _digest(conn, name) for name in sorted(names)}


# Bookkeeping that any request writes (a key's last use, once a minute): not its data.
NOT_DATA = {"api_keys": {"last_used_at"}}


async def _digest(conn: AsyncConnection, table: str) -> str:
    skip = NOT_DATA.get(table, set())
    result = await conn.execute(text(f'SELECT * FROM "{table}"'))
    rows = sorted(
        repr(tuple(value for column, value in row.items() if column not in skip))
        for row in result.mappings()
    )
    return f"{len(rows)} rows, sha256 {hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"


DEPTH_8 = "{ runs { edges { node { payouts { edges { node { trace { detail } } } } } } } }"


async def test_what_is_just_inside_the_limits_is_served(gql: GraphQLClient) -> None:
    assert "errors" not in await gql(DEPTH_8)
    fifteen_aliases = "{ " + " ".join(f"a{i}: rails {{ code }}" for i in range(15)) + " }"
    assert len(await gql.data(fifteen_aliases)) == 15
    assert "errors" not in await gql("{ payouts(first: 100) { edges { cursor } } }")


async def test_the_standard_introspection_query_is_served(gql: GraphQLClient) -> None:
    """GraphiQL and code generators introspect the schema with this query, or with a
    shallower one (graphql-js 16 nests ``ofType`` seven times, graphql-core nine)."""
    everything = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    schema = (await gql.data(everything))["__schema"]
    assert {"Payout", "PayoutRun", "Query", "Mutation"} <= {t["name"] for t in schema["types"]}


async def test_a_body_of_exactly_the_limit_is_read(gql: GraphQLClient, seeded: Container) -> None:
    limit = seeded.settings.max_request_bytes
    head, tail = b'{"query": "{ rails { code } }", "variables": {"pad": "', b'"}}'
    body = head + b"x" * (limit - len(head) - len(tail)) + tail
    assert len(body) == limit
    response = await gql.http.post(
        "/graphql", content=body, headers={"content-type": "application/json", **gql.headers}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rails"]
    response = await gql.http.post(
        "/graphql", content=body + b" ", headers={"content-type": "application/json", **gql.headers}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
