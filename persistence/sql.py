"""Dialect-aware statement helpers shared by the stores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


# PostgreSQL takes at most 65,535 parameters in one statement.
IN_LIST_CHUNK = 10_000


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched (its result is a CursorResult)."""
    return cast("CursorResult[Any]", result).rowcount or 0


def chunked(values: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices small enough for one ``IN (...)`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def dialect_insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def insert_ignore(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, for many rows in one statement."""
    if rows:
        await session.execute(
            dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys), rows
        )


async def insert_new(
    session: AsyncSession, table: Table, row: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """INSERT ... ON CONFLICT (keys) DO NOTHING for one row: whether it went in. A row
    another transaction is inserting is waited for (its unique index entry)."""
    statement = dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys)
    inserted = await session.execute(statement.values(row).returning(table.c.id))
    return inserted.first() is not None


async def upsert(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the ``update`` columns."""
    if not rows:
        return
    statement = dialect_insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in update}
    )
    await session.execute(statement, rows)


async def allocate_ids(session: AsyncSession, table: Table, count: int) -> list[int]:
    """Ids for ``count`` new rows, known before the insert so children can refer to them.

    PostgreSQL draws them from the table's sequence in one query. SQLite runs every
    write transaction under BEGIN IMMEDIATE, so no other writer can take max(id)+1 in
    between. (A batched INSERT ... RETURNING that keeps parameter order runs one
    statement per row on SQLite.)
    """
    if count <= 0:
        return []
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    if dialect == "postgresql":
        sequence = f"{table.name}_id_seq"
        rows = await session.execute(
            text(f"SELECT nextval('{sequence}') FROM generate_series(1, :n)"), {"n": count}
        )
        return [int(v) for v in rows.scalars()]
    start = await session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table.name}"))
    return list(range(int(start or 0) + 1, int(start or 0) + 1 + count))
