"""The one composition root: settings -> engine, providers, runner, app."""

from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import Info
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from domain import calendars, rails
from domain.auth import Role
from domain.clock import SystemClock
from domain.ports import Clock, PaymentProvider, ProviderKind
from domain.rate_limit import RateLimiter
from domain.run_workflow import parse_threshold
from domain.runs import PayoutRunner
from graph.app import create_app
from graph.context import AppDeps
from jobs.polling import PollSettings
from jobs.scheduled import Jobs, JobSettings, worker_name
from jobs.scheduler import JobScheduler
from jobs.webhooks import WebhookSettings
from persistence.api_keys import SqlApiKeys
from persistence.db import create_engine, is_sqlite, reconnecting, sessionmaker
from persistence.event_store import SqlEventStore
from persistence.merchant_store import SqlMerchantPayouts
from persistence.migrate import upgrade_async
from persistence.payee_store import SqlPayees
from persistence.run_queue import SqlRunQueue
from persistence.run_store import SqlPayoutStore
from providers.client import HttpPaymentProvider, in_process_provider, remote_provider
from providers.mock.bank import MockBank
from providers.mock.clock import AcceleratedClock
from providers.mock.config import MockBankConfig
from service.logging_setup import configure as configure_logging
from service.settings import Settings

# Each server process has its own series; this one says which process answered a scrape.
PROCESS = Info("payout_engine_process", "The process serving this /metrics answer.")


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    providers: dict[ProviderKind, PaymentProvider]
    banks: dict[ProviderKind, MockBank] = field(default_factory=dict)

    @property
    def store(self) -> SqlPayoutStore:
        # On SQLite a session of the writers' pool takes the write lock, even to read
        # whether a run was asked to stop; the reads pool does not.
        reads = sessionmaker(self.reads_engine) if is_sqlite(self.settings.database_url) else None
        return SqlPayoutStore(self.sessions, reads=reads)

    @property
    def runner(self) -> PayoutRunner:
        return PayoutRunner(
            self.store,
            self.providers,
            self.clock,
            concurrency=self.settings.provider_concurrency,
            batch_size=self.settings.run_batch_size,
            resume=reconnecting,
        )

    @functools.cached_property
    def reads_engine(self) -> AsyncEngine:
        """The API's reads, on a pool of their own (``create_engine(reads_only=True)``)."""
        s = self.settings
        return database_engine(s, reads_only=True, pool_size=s.read_pool_size, max_overflow=0)

    @functools.cached_property
    def jobs(self) -> Jobs:
        s = self.settings
        poll = PollSettings(
            stale_submitting_after=timedelta(seconds=s.stale_submitting_after_s),
            lease=timedelta(seconds=s.poll_lease_s),
        )
        settings = JobSettings(
            poll_interval=timedelta(seconds=s.poll_interval_s),
            dispatch_interval=timedelta(seconds=s.dispatch_interval_s),
            reconciliation_time=s.reconciliation_time,
            reconciliation_timezone=s.reconciliation_timezone,
            job_runs_retention=timedelta(days=s.job_runs_retention_days),
            poll=poll,
            webhooks=WebhookSettings(
                allow_private_networks=s.webhook_allow_private_networks,
                timeout=timedelta(seconds=s.webhook_timeout_s),
                interval=timedelta(seconds=s.webhook_interval_s),
                lease=timedelta(seconds=s.webhook_lease_s),
            ),
            run_check_interval=timedelta(seconds=s.run_check_interval_s),
            run_lease=timedelta(seconds=s.run_lease_s),
        )
        return Jobs(
            engine=self.engine,
            sessions=self.sessions,
            runner=self.runner,
            providers=self.providers,
            clock=self.clock,
            settings=settings,
        )

    def app_deps(self) -> AppDeps:
        return AppDeps(
            sessions=self.sessions,
            reads=sessionmaker(self.reads_engine),
            runner=self.runner,
            events=SqlEventStore(self.sessions),
            merchants=SqlMerchantPayouts(self.sessions),
            api_keys=SqlApiKeys(self.sessions),
            payees=SqlPayees(self.sessions),
            clock=self.clock,
            max_page_size=self.settings.max_page_size,
            jobs=self.jobs,
            run_queue=SqlRunQueue(self.sessions),
            run_approval_threshold=parse_threshold(self.settings.run_approval_min_total),
            approval_ttl=timedelta(hours=self.settings.approval_ttl_h),
        )

    async def aclose(self) -> None:
        for provider in self.providers.values():
            if isinstance(provider, HttpPaymentProvider):
                await provider.aclose()
        if "reads_engine" in self.__dict__:  # created on first use
            await self.reads_engine.dispose()
        await self.engine.dispose()


def provider_urls(settings: Settings) -> dict[ProviderKind, str]:
    return {
        ProviderKind.ACH: settings.ach_provider_url,
        ProviderKind.WIRE: settings.wire_provider_url,
        ProviderKind.CROSS_BORDER: settings.cross_border_provider_url,
    }


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    banks: dict[ProviderKind, MockBank] | None = None,
    provider_options: dict[str, Any] | None = None,
) -> Container:
    """Wire everything; providers without a URL are in-process mock banks.

    ``provider_options`` overrides client arguments (tests pass a fake ``sleep``).
    """
    settings = settings or Settings()
    writes = database_engine(settings)
    banks = dict(banks or {})
    providers: dict[ProviderKind, PaymentProvider] = {}
    options = {
        "rate_limit_per_s": settings.provider_rate_limit_per_s,
        "max_attempts": settings.provider_max_attempts,
        "call_timeout_s": settings.provider_timeout_s,
        "max_in_flight": settings.provider_concurrency,
        **(provider_options or {}),
    }
    for kind, url in provider_urls(settings).items():
        if url:
            providers[kind] = remote_provider(kind, url, **options)
            continue
        bank = banks.get(kind) or MockBank(
            kind,
            _mock_config(settings),
            AcceleratedClock(settings.mock_clock_speed, start=settings.clock_start),
        )
        banks[kind] = bank
        providers[kind] = in_process_provider(bank, **options)
    return Container(
        settings, writes, sessionmaker(writes), clock or clock_for(settings), providers, banks
    )


def database_engine(settings: Settings, **options: Any) -> AsyncEngine:
    """An engine on the settings' database; on PostgreSQL, with their connect timeout."""
    if not is_sqlite(settings.database_url):
        options["connect_args"] = {"connect_timeout": settings.database_connect_timeout_s}
    return create_engine(settings.database_url, **options)


def clock_for(settings: Settings) -> Clock:
    """The real time, or real time running on from ``clock_start``."""
    if settings.clock_start is None:
        return SystemClock()
    return AcceleratedClock(1.0, start=settings.clock_start)


def server_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's own limits: the body limit holds for WebSocket messages too, and at most
    64 KiB of a request still incomplete (headers sent slowly) is buffered."""
    return {"ws_max_size": settings.max_request_bytes, "h11_max_incomplete_event_size": 1 << 16}


def _mock_config(settings: Settings) -> MockBankConfig:
    return MockBankConfig(
        seed=settings.mock_seed,
        latency_ms=settings.mock_latency_ms,
        transient_error_rate=settings.mock_transient_error_rate,
        return_rate=settings.mock_return_rate,
        failure_rate=settings.mock_failure_rate,
    )


# Young objects collected every this many allocations (Python's default: 700).
SERVER_GC_YOUNG = 20_000


def tune_gc_for_serving() -> None:
    """What a server process has built by the end of start-up (modules, the schema, the
    rail table) lives as long as it does: frozen, the cycle collector stops walking it
    on every full collection; and young objects are collected every 20,000 allocations
    rather than 700, since a 100-row page allocates tens of thousands. With 20 pages in
    flight this took a page from 68 to 43-50 ms of CPU (``bench.graphql_reads``'s page,
    in one process); a payout read does not change. Garbage in a reference cycle waits
    a little longer to be freed; anything else is freed when its last reference goes."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(SERVER_GC_YOUNG, middle, old)


def build_app(
    container: Container,
    *,
    migrate: bool = True,
    recover: bool = True,
    scheduler: bool | None = None,
    server_gc: bool = False,
) -> Starlette:
    """The ASGI app. Start-up migrates the database, recovers interrupted submissions
    and starts the scheduled jobs (``scheduler_enabled``); shutdown stops the jobs
    before it closes the database. ``server_gc``: the process is a server's
    (``tune_gc_for_serving``)."""
    run_jobs = container.settings.scheduler_enabled if scheduler is None else scheduler
    PROCESS.info({"worker": worker_name()})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(container.settings.database_url)
        if recover:
            await container.runner.recover()
        # Holiday calendars built now, not inside the first payout request (~1 s each).
        calendars.warm(rails.RAILS, container.clock.now().date())
        if server_gc:
            tune_gc_for_serving()
        jobs = JobScheduler(container.jobs) if run_jobs else None
        if jobs is not None:
            jobs.start()
        try:
            yield
        finally:
            if jobs is not None:
                await jobs.stop()
            await container.aclose()

    s = container.settings
    return create_app(
        container.app_deps(),
        graphiql=s.graphiql,
        max_depth=s.max_query_depth,
        max_tokens=s.max_query_tokens,
        max_aliases=s.max_aliases,
        max_request_bytes=s.max_request_bytes,
        lifespan=lifespan,
        rate_limiter=rate_limiter(s),
        metrics_token=s.metrics_token,
        access_log=s.access_log,
    )


def rate_limiter(settings: Settings) -> RateLimiter:
    """Requests a second per key, by role (``RATE_LIMIT_<ROLE>``; 0 = unlimited)."""
    rates = {role: getattr(settings, f"rate_limit_{role.value}") for role in Role}
    return RateLimiter(rates, burst_s=settings.rate_limit_burst_s)


def app_from_environment() -> Starlette:
    """The app of each process of ``serve --workers N`` (uvicorn imports it by name and
    calls it, ``factory=True``): settings from the environment, where ``serve`` put its
    flags; the database already migrated by ``serve``. Each process logs, recovers, runs
    the jobs and limits rates on its own."""
    settings = Settings()
    configure_logging(settings.log_format)
    return build_app(build(settings), migrate=False, server_gc=True)
