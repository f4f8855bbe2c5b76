"""The API's hottest reads, run on the driver's own connection.

A read through the ORM costs about 0.5 ms of CPU on SQLite and 0.9 ms on PostgreSQL
before the database does anything, against 0.03 and 0.3 ms for the same statement sent
by the driver itself (``bench/graphql_reads.py`` measures both): compiling the statement
from its cache, an execution context, the greenlet that carries an async call through
SQLAlchemy's synchronous core, and an ORM object per row. A ``RowQuery`` keeps what is
worth keeping of SQLAlchemy: the statement is a Core ``select``, compiled once per
dialect, and each column of the answer goes through the converter its SQLAlchemy type
would apply (aware UTC datetimes, dates and JSON on SQLite as on PostgreSQL). Rows come
back as named tuples whose fields are the columns' names, which the GraphQL types read
as they read ORM objects.

A list of ids is one parameter, whatever its length: ``= ANY(array)`` on PostgreSQL,
``IN (SELECT value FROM json_each(text))`` on SQLite; so the text, and PostgreSQL's
prepared plan, is the same for every page.

What SQLAlchemy would do around a statement still happens: ``before_cursor_execute``
listeners see it (statement counts, injected faults), a driver error is raised as
SQLAlchemy's (``OperationalError``, ...) so that the API tells a lost database from a
bug, and a connection the error shows broken is invalidated, not pooled again.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select


def id_in(
    column: ColumnElement[Any] | Any, dialect: Dialect, name: str = "ids"
) -> ColumnElement[bool]:
    """``column`` is one of the ids bound as ``name`` (a list, given as it is)."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(BigInteger)))
    each = func.json_each(bindparam(name))
    listed: Select[Any] = select(literal_column("value")).select_from(each)
    return column.in_(listed.scalar_subquery())


def id_list(dialect: Dialect, ids: Sequence[int]) -> Any:
    """The value ``id_in`` binds for ``ids`` (``RowQuery.rows`` takes them as a list)."""
    return list(ids) if dialect.name == "postgresql" else orjson.dumps(list(ids)).decode()


AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # the parameters' order, for a "?" paramstyle
    # Per parameter the statement sends: its converter, and its value if the statement
    # has one of its own (SQLite's OFFSET 0 after a LIMIT).
    binds: Mapping[str, tuple[Callable[[Any], Any] | None, Any]]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    row: Callable[[Sequence[Any]], Any]


class RowQuery:
    """A SELECT built per dialect by ``build``, its rows named tuples (``name``).
    ``rows(session, **params)`` binds each parameter by name; a list is an ``id_in``."""

    def __init__(self, name: str, build: Callable[[Dialect], AnySelect]) -> None:
        self._name = name
        self._build = build
        self._compiled: dict[str, _Compiled] = {}

    async def rows(self, session: AsyncSession, **params: Any) -> list[Any]:
        connection = await session.connection()
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values: dict[str, Any] = {}
        for name, (convert, default) in compiled.binds.items():
            value = params.get(name, default)
            if isinstance(value, list | tuple):  # an ``id_in`` list
                value = id_list(dialect, value)
            values[name] = convert(value) if convert is not None else value
        bound = tuple(values[n] for n in compiled.positional) if compiled.positional else values
        fetched = await _fetch(connection, compiled.sql, bound)
        converters = compiled.converters
        if converters:
            out = []
            for raw in fetched:
                row = list(raw)
                for index, convert in converters:
                    value = row[index]
                    if value is not None:
                        row[index] = convert(value)
                out.append(compiled.row(row))
            return out
        return [compiled.row(raw) for raw in fetched]

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = self._build(dialect)
        compiled = statement.compile(dialect=dialect)
        converters = []
        for index, column in enumerate(statement.selected_columns):
            convert = column.type._cached_result_processor(dialect, None)
            if convert is not None:
                converters.append((index, convert))
        positional = tuple(compiled.positiontup) if compiled.positiontup else None
        binds = {
            name: (bind.type._cached_bind_processor(dialect), bind.effective_value)
            for name, bind in compiled.binds.items()
            if positional is None or name in positional
        }
        names = [str(column.key) for column in statement.selected_columns]
        row_type = namedtuple(self._name, names)  # type: ignore[misc]
        made = _Compiled(str(compiled), positional, binds, tuple(converters), row_type._make)
        self._compiled[dialect.name] = made
        return made


async def _fetch(connection: AsyncConnection, sql: str, params: Any) -> list[Any]:
    sync = connection.sync_connection
    assert sync is not None
    if sync.dispatch.before_cursor_execute:
        sync.dispatch.before_cursor_execute(sync, None, sql, params, None, False)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    dialect = connection.dialect
    try:
        rows_now = getattr(driver, "rows_now", None)  # persistence.inline_sqlite
        if rows_now is not None:
            return rows_now(sql, params)  # type: ignore[no-any-return]
        cursor = await driver.execute(sql, params)  # type: ignore[union-attr]
        try:
            return list(await cursor.fetchall())
        finally:
            await _maybe_await(cursor.close())
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, raw.dbapi_connection, None):
            await connection.invalidate(error)
        raise DBAPIError.instance(
            sql, params, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value
