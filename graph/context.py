"""What resolvers get: the app's dependencies and per-request dataloaders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.auth import Caller
from domain.ports import Clock
from domain.runs import PayoutRunner
from jobs.scheduled import Jobs
from persistence import queries
from persistence.api_keys import SqlApiKeys
from persistence.event_store import SqlEventStore
from persistence.merchant_store import SqlMerchantPayouts
from persistence.payout_feed import PayoutFeed
from persistence.tables import LiquidationEvent, Payee, Payout, PayoutRun

K = TypeVar("K")
V = TypeVar("V")


@dataclass
class AppDeps:
    sessions: async_sessionmaker[AsyncSession]
    runner: PayoutRunner
    events: SqlEventStore
    merchants: SqlMerchantPayouts
    api_keys: SqlApiKeys
    clock: Clock
    max_page_size: int = 100
    jobs: Jobs | None = None  # runReconciliation / resolveBreak need them


def _loader(
    sessions: async_sessionmaker[AsyncSession],
    fetch: Callable[[AsyncSession, Sequence[K]], Awaitable[Sequence[V]]],
) -> DataLoader[K, V]:
    """A dataloader that opens its own short session (sibling resolvers run concurrently)."""

    async def load(keys: list[K]) -> Sequence[V]:
        async with sessions() as session:
            return await fetch(session, keys)

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    payees: DataLoader[int, Payee | None]
    payouts: DataLoader[int, Payout | None]
    events: DataLoader[int, LiquidationEvent | None]
    runs: DataLoader[int, PayoutRun | None]
    traces: DataLoader[int, list[Any]]
    bank_accounts: DataLoader[int, list[Any]]
    allocation_counts: DataLoader[int, int]
    breakdowns: DataLoader[int, tuple[tuple[str, int], ...]]
    ledger_entries: DataLoader[int, list[Any]]
    balances: DataLoader[int, list[Any]]

    @classmethod
    def build(cls, sessions: async_sessionmaker[AsyncSession]) -> Loaders:
        def by(model: type) -> Callable[[AsyncSession, Sequence[int]], Awaitable[Sequence[Any]]]:
            return lambda session, ids: queries.by_ids(session, model, ids)

        return cls(
            payees=_loader(sessions, by(Payee)),
            payouts=_loader(sessions, by(Payout)),
            events=_loader(sessions, by(LiquidationEvent)),
            runs=_loader(sessions, by(PayoutRun)),
            traces=_loader(sessions, queries.traces),
            bank_accounts=_loader(sessions, queries.bank_accounts),
            allocation_counts=_loader(sessions, queries.allocation_counts),
            breakdowns=_loader(sessions, queries.breakdowns),
            ledger_entries=_loader(sessions, queries.entries_by_payout),
            balances=_loader(sessions, queries.accounts_by_owner),
        )


@dataclass
class Context:
    deps: AppDeps
    request: Request | None
    caller: Caller
    loaders: Loaders = field(init=False)
    feed: PayoutFeed | None = None
    websocket: WebSocket | None = None
    # The graphql-transport-ws connection_init payload; Strawberry sets it.
    connection_params: dict[str, object] | None = None

    def __post_init__(self) -> None:
        self.loaders = Loaders.build(self.deps.sessions)

    def session(self) -> AsyncSession:
        return self.deps.sessions()


Info = StrawberryInfo[Context, None]
