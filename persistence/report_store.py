"""The rows of the CSV exports, read a chunk at a time on a server-side cursor.

``session.stream`` with ``yield_per`` keeps one chunk in memory on PostgreSQL (a
named cursor, in a REPEATABLE READ transaction: one snapshot) and on SQLite
(fetchmany), so a run of any size exports in flat memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.reports import (
    BREAK_COLUMNS,
    RUN_COLUMNS,
    BreakReportRow,
    RunReportRow,
    break_cells,
    encode,
    run_cells,
)
from persistence.tables import Payee, Payout, PayoutRun, PayoutRunItem, ReconciliationBreak

CHUNK_ROWS = 2000


async def run_exists(sessions: async_sessionmaker[AsyncSession], run_id: int) -> bool:
    async with sessions() as session:
        return bool(await session.scalar(select(exists().where(PayoutRun.id == run_id))))


def run_query(run_id: int) -> Select[*tuple[Any, ...]]:
    """Every payout the run evaluated, by payout id: its item joined to payout and payee."""
    return (
        select(
            Payout.id,
            Payee.reference,
            Payee.name,
            Payout.country,
            Payout.rail,
            Payout.amount_minor,
            Payout.currency,
            Payout.target_amount_minor,
            Payout.target_currency,
            Payout.fx_rate,
            Payout.status,
            Payout.skip_reason,
            Payout.provider_order_id,
            Payout.expected_settlement_date,
            Payout.failure_code,
        )
        .select_from(PayoutRunItem)
        .join(Payout, Payout.id == PayoutRunItem.payout_id)
        .join(Payee, Payee.id == Payout.payee_id)
        .where(PayoutRunItem.run_id == run_id)
        .order_by(PayoutRunItem.payout_id)
    )


def breaks_query(status: str | None) -> Select[*tuple[Any, ...]]:
    b = ReconciliationBreak
    query = select(
        b.id,
        b.kind,
        b.status,
        b.payout_id,
        b.provider,
        b.provider_order_id,
        b.detail,
        b.evidence,
        b.first_seen_at,
        b.last_seen_at,
        b.resolved_at,
        b.resolved_by,
        b.resolution_note,
    ).order_by(b.id)
    return query if status is None else query.where(b.status == status)


async def run_rows(
    sessions: async_sessionmaker[AsyncSession], run_id: int, chunk: int = CHUNK_ROWS
) -> AsyncIterator[list[RunReportRow]]:
    async for rows in _stream(sessions, run_query(run_id), chunk):
        yield [RunReportRow(*row) for row in rows]


async def break_rows(
    sessions: async_sessionmaker[AsyncSession], status: str | None, chunk: int = CHUNK_ROWS
) -> AsyncIterator[list[BreakReportRow]]:
    async for rows in _stream(sessions, breaks_query(status), chunk):
        yield [BreakReportRow(*row) for row in rows]


async def _stream(
    sessions: async_sessionmaker[AsyncSession], query: Select[Any], chunk: int
) -> AsyncIterator[list[Any]]:
    async with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            # A named cursor lives in a transaction (the read pool autocommits), and one
            # snapshot makes the export consistent however long the client reads.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        result = await session.stream(query.execution_options(yield_per=chunk))
        async for partition in result.partitions():
            yield list(partition)


async def run_csv(sessions: async_sessionmaker[AsyncSession], run_id: int) -> AsyncIterator[str]:
    """The run report as CSV text: the header, then one piece per chunk of rows."""
    yield encode([RUN_COLUMNS])
    async for rows in run_rows(sessions, run_id):
        yield encode(run_cells(row) for row in rows)


async def breaks_csv(
    sessions: async_sessionmaker[AsyncSession], status: str | None
) -> AsyncIterator[str]:
    yield encode([BREAK_COLUMNS])
    async for rows in break_rows(sessions, status):
        yield encode(break_cells(row) for row in rows)
