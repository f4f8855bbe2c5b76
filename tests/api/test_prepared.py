"""A query text the API has answered cleanly before is answered again past Strawberry's
pipeline (``graph.prepared``). What a client sees must not change: the same data as a
first-time answer, and the same errors when a key may not see a field, a variable does
not fit, or its text may not be stored."""

from __future__ import annotations

from typing import Any

import pytest

from graph.prepared import Prepared
from service.demo import DEMO_MERCHANT_KEYS
from tests.conftest import GraphQLClient

TRACE = """query One($id: ID!) { payout(id: $id) { id status amount { amount currency }
  trace { action actor detail } ledgerEntries { side amount { amount } } rail { code } } }"""
RUNS = "query Runs($first: Int) { runs(first: $first) { edges { node { id } } } }"
PAYEES = (
    "query Find($s: String) { payees(first: 5, filter: {search: $s}) { edges { node { id } } } }"
)
PAGE = """query Page($n: Int!) { payouts(first: $n) { edges { cursor node { id status
  payee { name } trace { action } } } pageInfo { hasNextPage endCursor } } }"""


async def _ids(gql: GraphQLClient) -> list[str]:
    await gql.run_to_completion(
        'mutation { startRun(input: {liquidationEventId: "LIQ-2024-001",'
        ' idempotencyKey: "prepared"}) { run { id } } }'
    )
    data = await gql.data(PAGE, n=100)
    return [edge["node"]["id"] for edge in data["payouts"]["edges"]]


async def test_a_prepared_answer_is_the_first_time_answer(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = []
    execute = Prepared.execute

    async def spy(self: Prepared, request: Any, context: Any) -> Any:
        answer = await execute(self, request, context)
        answered.append(answer is not None)
        return answer

    monkeypatch.setattr(Prepared, "execute", spy)
    ids = await _ids(gql)
    assert len(ids) >= 20
    first_time = {}
    for i, ident in enumerate(ids[:20]):
        # A text never sent before goes through the whole pipeline.
        first_time[ident] = await gql(TRACE + " " * (i + 1), id=ident)
    answered.clear()
    for ident in ids[:20]:
        assert await gql(TRACE, id=ident) == first_time[ident]
    assert (await gql(PAGE, n=30)) == (await gql(PAGE + " ", n=30))
    # The first TRACE was new (the pipeline answered and it was learned); the page
    # text was learned in _ids; the page text with a space is new.
    assert answered == [False] + [True] * 19 + [True, False]


async def test_after_a_clean_answer_errors_read_as_they_did(gql: GraphQLClient) -> None:
    await gql.data(RUNS, first=2)  # learned
    merchant = gql.as_key(next(iter(DEMO_MERCHANT_KEYS.values())))
    refused = await merchant(RUNS, first=2)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused == await merchant(RUNS + " ", first=2)

    wrong = await gql(RUNS, first="two")
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert wrong == await gql(RUNS + " ", first="two")

    await gql.data(PAYEES, s="ann")  # learned
    unstorable = await gql(PAYEES, s="a\x00b")
    assert unstorable["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "NUL" in unstorable["errors"][0]["message"]

    too_many = await gql(PAGE, n=5000)
    assert too_many["errors"] and too_many == await gql(PAGE + " ", n=5000)
