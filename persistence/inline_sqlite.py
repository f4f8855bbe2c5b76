"""SQLite reads on the event loop's own thread, through SQLAlchemy's aiosqlite dialect.

aiosqlite runs each call (cursor, execute, fetch, close, rollback) on a thread of its
own, and hands it over and back: about ten hand-overs a request, each one a wake-up of
that thread and a wait for the interpreter lock, which cost more than the read. A read
of a local SQLite file in WAL mode takes microseconds to a few milliseconds and never
waits for a writer, so the API's reads engine runs it where it is awaited instead: this
module is an aiosqlite-shaped connection (``create_async_engine(async_creator=...)``)
whose coroutines call sqlite3 directly and return.

Only for the reads engine: a write can wait up to the busy timeout for the lock, and
that wait must not stop the event loop; writes keep aiosqlite's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_: object) -> None:
        return None


class _NewCursor:
    """What ``Connection.cursor()`` gives, as aiosqlite's does: awaitable, or entered."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def __aenter__(self) -> Cursor:
        return Cursor(self._connection.cursor())

    async def __aexit__(self, *_: object) -> None:
        return None

    def __await__(self) -> Any:
        return self.__aenter__().__await__()


class _AtOnce:
    """In place of aiosqlite's queue to its thread, which SQLAlchemy's dialect uses to
    set the isolation level: the function runs at once."""

    def put_nowait(self, item: tuple[Any, Any]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class Connection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # None once closed
        self._tx = _AtOnce()

    def cursor(self) -> _NewCursor:
        return _NewCursor(self._conn)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def rows_now(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """A read's rows, without a cursor object of ours (``persistence.row_reads``)."""
        cursor = self._conn.execute(sql, parameters)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()


def connector(path: str, timeout_s: float) -> Any:
    """The ``async_creator`` for an engine on the SQLite file at ``path``."""

    async def connect() -> Connection:
        # The pool may close a connection from another thread (dispose at exit).
        return Connection(sqlite3.connect(path, timeout=timeout_s, check_same_thread=False))

    return connect
