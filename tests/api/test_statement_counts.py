"""SQL statements per request and per payout, held as upper bounds: a resolver that
starts reading row by row (N+1), or a run that writes payout by payout, fails here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from persistence.api_keys import KNOWN
from persistence.tables import Payout
from service.bootstrap import Container
from tests.conftest import GraphQLClient

PAYOUT_TRACE = "query($id: ID!) { payout(id: $id) { id status trace { action occurredAt } } }"
PAGE = """{ payouts(first: 100) { edges { node { id status amount { amount currency }
  rail { code } payee { name } trace { action } ledgerEntries { side } } } } }"""


@contextmanager
def counting(container: Container) -> Iterator[list[str]]:
    """Every statement sent on the engine's two pools while the block runs."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engines = [container.engine.sync_engine, container.reads_engine.sync_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_statements_per_request_stay_within_their_bounds(
    gql: GraphQLClient, seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KNOWN, "monotonic", lambda: 0.0)  # the key's look-up, once
    await seeded.runner.run("LIQ-2024-002", "statements")
    async with seeded.sessions() as session:
        payout_id = await session.scalar(select(Payout.id).order_by(Payout.id).limit(1))
    await gql.data(PAYOUT_TRACE, id=str(payout_id))  # warm: the key looked up, its use written
    with counting(seeded) as one:
        await gql.data(PAYOUT_TRACE, id=str(payout_id))
    with counting(seeded) as page:
        data = await gql.data(PAGE)
    assert len(data["payouts"]["edges"]) >= 40
    # December 2026, on SQLite and PostgreSQL alike: the payout, its trace (the key was
    # looked up less than a second ago).
    assert len(one) <= 2, one
    # The page, then one statement per loader (payee, trace, ledger entries), however
    # many payouts the page holds.
    assert len(page) <= 4, page


async def test_statements_per_payout_in_a_run_stay_within_their_bound(
    seeded: Container,
) -> None:
    with counting(seeded) as statements:
        summary = await seeded.runner.run("LIQ-2024-002", "statements")
    assert summary.total >= 40
    # December 2026: 50 statements on SQLite, 41 on PostgreSQL, for 40 payouts (with the
    # webhook outbox and the run's own events); the run writes in batches
    # (RUN_BATCH_SIZE), so one more statement per payout would almost double it.
    assert len(statements) <= 50, (len(statements), statements)
