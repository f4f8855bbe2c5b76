"""The reference REST service that ``bench.graphql_reads`` compares the engine with
answers the same data as the engine's GraphQL queries, on the same seeded database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio

from bench import graphql_reads, reference_rest
from bench.seed import issue_ops_key, seed
from graph.pagination import encode_cursor
from service.bootstrap import build, build_app
from service.settings import Settings

PAYOUTS = 40


@pytest_asyncio.fixture
async def clients(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    container = build(Settings(database_url=database_url, scheduler_enabled=False, _env_file=None))
    await seed(container.engine, PAYOUTS)
    key = await issue_ops_key(container.engine, datetime.now(UTC))
    engine_app = build_app(container, migrate=False, recover=False, scheduler=False)
    reference = reference_rest.build_app(database_url)
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=engine_app),
            base_url="http://engine",
            headers={"Authorization": f"Api-Key {key}"},
        ) as engine_http,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=reference), base_url="http://reference"
        ) as reference_http,
    ):
        yield engine_http, reference_http
    await reference_rest.engine_of(reference).dispose()
    await container.aclose()


async def graphql(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def test_it_answers_the_engines_payouts_and_pages(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    engine_http, reference_http = clients
    for ident in ("1", "17", str(PAYOUTS)):
        expected = (await graphql(engine_http, graphql_reads.TRACE_QUERY, id=ident))["payout"]
        answer = await reference_http.get(f"/payouts/{ident}")
        assert answer.status_code == 200
        assert answer.json() == expected
        assert expected["trace"]

    after = encode_cursor(PAYOUTS - 5)
    data = await graphql(engine_http, graphql_reads.PAGE_QUERY, first=10, after=after)
    expected = data["payouts"]
    answer = await reference_http.get("/payouts", params={"first": 10, "after": after})
    assert answer.status_code == 200
    page = answer.json()
    assert page["payouts"] == [edge["node"] for edge in expected["edges"]]
    assert page["hasNextPage"] == expected["pageInfo"]["hasNextPage"]
    assert page["endCursor"] == expected["pageInfo"]["endCursor"]
    assert any(row["ledgerEntries"] for row in page["payouts"])


async def test_a_missing_payout_or_a_bad_page_is_refused(database_url: str) -> None:
    app = reference_rest.build_app(database_url)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://reference"
    ) as http:
        assert (await http.get("/payouts/999999")).status_code == 404
        assert (await http.get("/payouts", params={"first": 101})).status_code == 400
        assert (await http.get("/payouts", params={"first": "ten"})).status_code == 400
        assert (await http.get("/payouts", params={"after": "nope"})).status_code == 400
        assert (await http.get("/payouts", params={"first": 5})).json()["payouts"] == []
    await reference_rest.engine_of(app).dispose()
