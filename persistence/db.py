"""Engines and sessions for SQLite (embedded default) and PostgreSQL, and what to do
when the server goes away: a lost connection is replaced at the next checkout
(``pool_pre_ping``); work cut off by one is started again by ``reconnecting``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random_exponential,
)

from persistence import inline_sqlite

log = logging.getLogger(__name__)
T = TypeVar("T")
# A server shutting down, crashed, or still starting; class 08 is "connection exception".
_SERVER_AWAY = frozenset({"57P01", "57P02", "57P03"})
# A restart takes seconds; a server down for longer is an operator's matter.
RECONNECT_FOR_S = 120.0
CONNECT_TIMEOUT_S = 10
READ_BUSY_TIMEOUT_S = 2  # SQLite: a read that finds the file locked (rare in WAL mode)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str, *, echo: bool = False, reads_only: bool = False, **kwargs: Any
) -> AsyncEngine:
    """An async engine; on SQLite every transaction takes the write lock up front.

    ``reads_only``: an engine with its own pool for reads that need no transaction,
    each statement seeing what is committed when it runs: no BEGIN and ROLLBACK round
    trips on PostgreSQL, and no write lock taken for a read on SQLite (it would queue
    every reader behind the writers). Nothing may be written through it. Its own pool,
    so that a request holding a read connection while it waits for a write one can
    never starve the writers of connections."""
    if is_sqlite(url):
        if reads_only and make_url(url).database not in (None, "", ":memory:"):
            # On the event loop's thread (``persistence.inline_sqlite``): a read in WAL
            # mode waits for no writer, and a busy database fails it in 2 s, not 30.
            path = str(make_url(url).database)
            kwargs["async_creator"] = inline_sqlite.connector(path, READ_BUSY_TIMEOUT_S)
        else:
            kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, echo=echo, **kwargs)
        _configure_sqlite(engine, begin_immediate=not reads_only)
        return engine
    # A server that takes the connection but does not answer (one shutting down, or
    # unreachable) fails the attempt in seconds instead of holding it for minutes.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} | kwargs.pop("connect_args", {})
    if reads_only:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(
        url, echo=echo, pool_pre_ping=True, connect_args=connect_args, **kwargs
    )
    event.listen(engine.sync_engine, "checkout", _refuse_busy_connection)
    return engine


def _refuse_busy_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A task cancelled in the middle of a statement can hand its connection back to the
    pool while the server is still running that statement; the next user would fail
    with "can't change 'autocommit' now". Such a connection is discarded instead (the
    pool opens another one)."""
    status = dbapi_connection.driver_connection.info.transaction_status
    if status is not pq.TransactionStatus.IDLE:
        raise DisconnectionError(f"pooled connection not idle ({status.name}); discarded")


def _configure_sqlite(engine: AsyncEngine, *, begin_immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so it can be BEGIN IMMEDIATE
        # (and, for reads, emit none: every statement its own transaction).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        busy_ms = (READ_BUSY_TIMEOUT_S if not begin_immediate else 30) * 1000
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    if begin_immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def is_disconnect(error: BaseException) -> bool:
    """The connection to the database was lost, or none could be made (a restart, a
    failover): nothing of the transaction it cut off was committed, unless the cut
    came during the commit itself, when nobody can tell."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    cause = error.orig
    if not isinstance(cause, psycopg.OperationalError):
        return False
    state = cause.sqlstate
    return state is None or state.startswith("08") or state in _SERVER_AWAY


# PostgreSQL rolled the transaction back to break a deadlock, or as a serialization
# failure: nothing of it was kept, and the same work again usually goes through.
_LOCK_CONFLICTS = frozenset({"40P01", "40001"})


def is_lock_conflict(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    cause = error.orig
    return isinstance(cause, psycopg.Error) and cause.sqlstate in _LOCK_CONFLICTS


async def after_lock_conflicts(work: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """``work()`` (one transaction), again from the start when PostgreSQL rolled it back
    for a deadlock or a serialization failure: nothing of it was kept. For work that is
    not safe to repeat after a cut during its commit; ``reconnecting`` is for that."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_lock_conflict),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.01, max=0.2),
        before_sleep=_warn,
        reraise=True,
    ):
        with attempt:
            return await work()
    raise AssertionError("unreachable: the last attempt reraises")


async def reconnecting(
    work: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    give_up_after_s: float = RECONNECT_FOR_S,
) -> T:
    """``work()``, started again from the beginning each time a lost connection cuts it
    off, or PostgreSQL rolls one of its transactions back to break a deadlock, backing
    off up to 5 s, until the database answers or ``give_up_after_s``.

    Only for work that is safe to repeat even after a cut during a commit (a payout
    run resumed with its key; not a bare transaction that inserts)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(lambda error: is_disconnect(error) or is_lock_conflict(error)),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(give_up_after_s),
        sleep=sleep,
        before_sleep=_warn,
        reraise=True,
    ):
        with attempt:
            return await work()
    raise AssertionError("unreachable: the last failure is re-raised")


def _warn(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "database connection lost or deadlock broken (%s); starting again in %.1f s",
        str(error).splitlines()[0] if error else "?",
        state.upcoming_sleep,
    )
