"""What resolvers get: the app's dependencies and per-request dataloaders."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import InitVar, dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.auth import Caller
from domain.ports import Clock
from domain.run_workflow import APPROVAL_TTL
from domain.runs import PayoutRunner
from jobs.scheduled import Jobs
from persistence import queries
from persistence.api_keys import SqlApiKeys
from persistence.event_store import SqlEventStore
from persistence.import_store import SqlEventImports
from persistence.merchant_store import SqlMerchantPayouts
from persistence.payee_store import SqlPayees
from persistence.payout_feed import PayoutFeed
from persistence.run_queue import SqlRunQueue
from persistence.tables import LiquidationEvent, Payee, PayoutRun

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class AppDeps:
    sessions: async_sessionmaker[AsyncSession]
    # Reads that need no transaction, on a pool of their own (``create_engine(reads_only=True)``).
    reads: async_sessionmaker[AsyncSession]
    runner: PayoutRunner
    events: SqlEventStore
    merchants: SqlMerchantPayouts
    api_keys: SqlApiKeys
    payees: SqlPayees
    clock: Clock
    max_page_size: int = 100
    jobs: Jobs | None = None  # runReconciliation / resolveBreak need them
    run_queue: SqlRunQueue | None = None  # startRun, decideApproval, cancelRun
    run_approval_threshold: Decimal | None = None  # RUN_APPROVAL_MIN_TOTAL; None: no approval
    approval_ttl: timedelta = APPROVAL_TTL
    imports: SqlEventImports = field(init=False)

    def __post_init__(self) -> None:
        self.imports = SqlEventImports(self.sessions)


# Turns closer together than this share the connection without asking the server.
IDLE_S = 1.0


class Reads:
    """Where a request's resolvers read.

    Shared (one HTTP request): the key look-up and every resolver take turns on one
    session, checked out once, instead of one pool checkout (and ping) each; the
    session is emptied after every turn, so a read after the request's own write sees
    it. A turn more than ``idle_s`` after the last one (after a long mutation such as
    ``startRun``, during which the server may have restarted) starts on a fresh
    checkout, which the pool pings first. Not shared (a subscription's socket, which
    lives for hours): a short session for every read. A turn holds the session: await
    no loader inside one."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        shared: bool,
        idle_s: float = IDLE_S,
    ) -> None:
        self._sessions = sessions
        self._shared: AsyncSession | None = None
        self._turn = asyncio.Lock() if shared else None
        self._idle_s = idle_s
        self._last_turn = 0.0

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        if self._turn is None:
            async with self._sessions() as session:
                yield session
            return
        async with self._turn:
            if self._shared is not None and time.monotonic() - self._last_turn > self._idle_s:
                await self.aclose()  # the next checkout pings the server first
            if self._shared is None:
                self._shared = self._sessions()
            try:
                yield self._shared
            except Exception:
                with contextlib.suppress(Exception):  # a lost connection, say: not reused
                    await self.aclose()
                raise
            finally:
                if self._shared is not None and self._shared.sync_session.identity_map:
                    self._shared.expunge_all()
                self._last_turn = time.monotonic()

    async def aclose(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            await shared.close()


def _loader(
    reads: Reads, fetch: Callable[[AsyncSession, Sequence[K]], Awaitable[Sequence[V]]]
) -> DataLoader[K, V]:
    async def load(keys: list[K]) -> Sequence[V]:
        async with reads.session() as session:
            return await fetch(session, keys)

    return DataLoader(load_fn=load)


Fetch = Callable[[AsyncSession, Sequence[K]], Awaitable[Sequence[V]]]


class _Lazy(Generic[K, V]):
    """A ``Loaders`` attribute: the dataloader over ``fetch``, made on first use and
    kept for the request."""

    def __init__(self, fetch: Fetch[K, V]) -> None:
        self._fetch = fetch

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, loaders: Loaders, owner: type | None = None) -> DataLoader[K, V]:
        made: DataLoader[K, V] = _loader(loaders.reads, self._fetch)
        loaders.__dict__[self._name] = made  # later reads find it before the descriptor
        return made


def _by_ids(model: type[V]) -> Fetch[int, V | None]:
    return lambda session, ids: queries.by_ids(session, model, ids)


class Loaders:
    """A request's dataloaders, each made when a resolver first asks for it: most
    requests use one or two of them, and a mutation none."""

    payees = _Lazy(_by_ids(Payee))
    payouts: _Lazy[int, Any] = _Lazy(queries.payout_rows)  # rows, not ORM objects
    events = _Lazy(_by_ids(LiquidationEvent))
    runs = _Lazy(_by_ids(PayoutRun))
    traces = _Lazy(queries.trace_rows)
    bank_accounts = _Lazy(queries.bank_accounts)
    allocation_counts = _Lazy(queries.allocation_counts)
    breakdowns = _Lazy(queries.breakdowns)
    ledger_entries = _Lazy(queries.entries_by_payout)
    balances = _Lazy(queries.accounts_by_owner)

    def __init__(self, reads: Reads) -> None:
        self.reads = reads


@dataclass
class Context:
    deps: AppDeps
    request: Request | None
    caller: Caller
    # A request's shared reads; without them (a socket) a short session for every read.
    shared_reads: InitVar[Reads | None] = None
    reads: Reads = field(init=False)
    loaders: Loaders = field(init=False)
    feed: PayoutFeed | None = None
    websocket: WebSocket | None = None
    # The graphql-transport-ws connection_init payload; Strawberry sets it.
    connection_params: dict[str, object] | None = None

    def __post_init__(self, shared_reads: Reads | None) -> None:
        self.reads = shared_reads or Reads(self.deps.reads, shared=False)
        self.loaders = Loaders(self.reads)

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session to read with (``async with``); writes go through the stores."""
        return self.reads.session()


Info = StrawberryInfo[Context, None]
