"""Dialect-aware statement helpers shared by the stores."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import JSON, Column, Table, insert, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import DBAPIError
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
    if not rows:
        return
    if _as_one_set(session, table, rows):
        conflict = ", ".join(f'"{key}"' for key in keys)
        await _insert_select(session, table, rows, f"ON CONFLICT ({conflict}) DO NOTHING")
        return
    await session.execute(
        dialect_insert(session, table).on_conflict_do_nothing(index_elements=keys), rows
    )


async def insert_returning(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], returning: Sequence[str]
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING ``returning``, for many rows (every
    unique index arbitrates; a row one stands in the way of is left out, never an
    error). The rows come back in no particular order."""
    if not rows:
        return []
    if _as_one_set(session, table, rows):
        names = ", ".join(f'"{name}"' for name in returning)
        result = await _insert_select(
            session, table, rows, f"ON CONFLICT DO NOTHING RETURNING {names}"
        )
        return [tuple(row) for row in result.all()]
    statement = dialect_insert(session, table).on_conflict_do_nothing()
    result = await session.execute(
        statement.returning(*(table.c[name] for name in returning)), list(rows)
    )
    return [tuple(row) for row in result.all()]


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
    if _as_one_set(session, table, rows):
        conflict = ", ".join(f'"{key}"' for key in keys)
        sets = ", ".join(f'"{name}" = excluded."{name}"' for name in update)
        await _insert_select(session, table, rows, f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}")
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


async def append_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT rows that arbitrate no conflict and return nothing (audit, outbox, ledger
    legs), all with the same keys, in the caller's transaction. PostgreSQL takes them as
    one COPY: psycopg's executemany sends one statement per row, a third of a run's CPU
    (and as much again in the server). Elsewhere, an executemany."""
    if not rows:
        return
    names = list(rows[0])
    defaulted = any(c.default is not None and c.name not in names for c in table.columns)
    if session.bind is None or session.bind.dialect.name != "postgresql" or defaulted:
        await session.execute(insert(table), list(rows))
        return
    as_json = [i for i, name in enumerate(names) if isinstance(table.c[name].type, JSON)]
    values_of = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    columns = ", ".join(f'"{name}"' for name in names)
    connection = await session.connection()
    driver: psycopg.AsyncConnection[Any] = (await connection.get_raw_connection()).driver_connection  # type: ignore[assignment]
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = list(values_of(row))
                for i in as_json:
                    values[i] = _copied(values[i], True)
                await copy.write_row(values)
    except psycopg.Error as error:  # as SQLAlchemy reports a failed statement: resumable
        lost = driver.closed or driver.broken
        if lost:
            await connection.invalidate(error)
        raise DBAPIError.instance(
            statement, None, error, psycopg.Error, connection_invalidated=lost
        ) from error


def _copied(value: Any, as_json: bool) -> Any:
    return json.dumps(value) if as_json and value is not None else value


def _as_one_set(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``rows`` may go as one ``INSERT ... SELECT FROM json_to_recordset(...)``: on
    PostgreSQL, several rows, all with the same keys, no column left to a Python-side
    default. (A multi-row VALUES list is a new statement text for psycopg to parse for
    every batch size, about 30 ms for 500 payouts; this form is one short text, parsed
    once.)"""
    if len(rows) < 2 or not _is_pg(session):
        return False
    names = rows[0].keys()
    if any(c.default is not None and c.name not in names for c in table.columns):
        return False
    return all(row.keys() == names for row in rows)


async def _insert_select(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], tail: str
) -> Result[Any]:
    names = list(rows[0])
    source, params = _row_source(session, {name: table.c[name] for name in names}, rows)
    assert session.bind is not None
    quote = session.bind.dialect.identifier_preparer.quote  # as SQLAlchemy renders it
    columns = ", ".join(quote(name) for name in names)
    return await session.execute(
        text(f"INSERT INTO {quote(table.name)} ({columns}) SELECT * FROM {source} {tail}"), params
    )


def _is_pg(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _row_source(
    session: AsyncSession, columns: Mapping[str, Column[Any]], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """``json_to_recordset(...) AS v(names)``: the rows as one JSON document, each name
    read as its column's type; one statement text and one parameter, however many rows.
    (Arrays per column, as ``unnest`` takes them, cost psycopg a regex escape per value
    that has a quote or a space in it, which a JSON column's values and timestamps all
    do; one ``json.dumps`` of the batch is a tenth of that.)"""
    assert session.bind is not None
    dialect = session.bind.dialect
    names = list(columns)
    document = json.dumps([{n: row[n] for n in names} for row in rows], default=_json_value)
    types = ", ".join(f'"{n}" {columns[n].type.compile(dialect=dialect)}' for n in names)
    return f"json_to_recordset(CAST(:rows AS json)) AS v({types})", {"rows": document}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value json_to_recordset reads")


async def update_many(
    session: AsyncSession,
    statement: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    table: Table,
    like: Mapping[str, str],
    set_sql: Mapping[str, str],
    where_sql: str,
) -> None:
    """``statement`` (an UPDATE of ``table`` with bind parameters) for each row. On
    PostgreSQL one ``UPDATE ... FROM json_to_recordset(...)`` instead: psycopg's executemany sends
    a statement per row. ``like``: a parameter that is not a column -> the column whose
    type it has; ``set_sql`` (column -> value) and ``where_sql`` are SQL over ``t`` (the
    table's row) and ``v`` (the parameters)."""
    if not rows:
        return
    if not _is_pg(session):
        await session.execute(statement, list(rows))
        return
    columns = {name: table.c[like.get(name, name)] for name in rows[0]}
    source, params = _row_source(session, columns, rows)
    sets = ", ".join(f'"{column}" = {value}' for column, value in set_sql.items())
    await session.execute(
        text(f'UPDATE "{table.name}" AS t SET {sets} FROM {source} WHERE {where_sql}'), params
    )
