"""The scheduled jobs, each execution recorded in ``job_runs``.

Every process (each ``serve``, each ``worker``) runs the same jobs; the database
keeps them from doing one piece of work twice:

* ``poll_provider_status``: providers' cursors and stuck submissions are claimed
  with ``FOR UPDATE SKIP LOCKED`` and leases, so workers split the work;
* ``dispatch_pending_payouts``: pending merchant payouts are claimed the same way;
* ``nightly_reconciliation``: a singleton (advisory lock / lease row), keyed by
  business date, so a date is reconciled once however many workers wake up;
* ``expire_idempotency_keys``: deletes are idempotent; it also prunes old job runs and
  fails those a killed process left ``running``;
* ``verify_bank_accounts``: asks the banks about accounts still pending or unavailable;
  accounts are claimed with ``FOR UPDATE SKIP LOCKED`` and a last-asked time;
* ``deliver_webhooks``: deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and a
  lease (``jobs.webhooks``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import JobInProgress
from domain.ports import Clock, PaymentProvider, ProviderKind
from domain.runs import PayoutRunner
from domain.verification import AccountVerifications, VerificationSettings, verifiers_among
from jobs.polling import PollFailed, PollSettings, StatusPoller
from jobs.reconciliation import Reconciler, ReconciliationResult
from jobs.run_executor import RunExecutor
from jobs.webhooks import WebhookSender, WebhookSettings
from persistence import job_store
from persistence.job_store import JobStore
from persistence.merchant_store import SqlMerchantPayouts
from persistence.poll_store import SqlPollStore
from persistence.run_queue import SqlRunQueue
from persistence.settlement_store import SqlSettlementStore
from persistence.verification_store import SqlVerifications
from persistence.webhook_store import SqlWebhooks

log = logging.getLogger(__name__)

POLL = "poll_provider_status"
DISPATCH = "dispatch_pending_payouts"
RECONCILE = "nightly_reconciliation"
EXPIRE = "expire_idempotency_keys"
VERIFY = "verify_bank_accounts"
WEBHOOKS = "deliver_webhooks"
EXECUTE_RUNS = "execute_queued_runs"
EXPIRE_APPROVALS = "expire_approvals"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class JobSettings:
    poll_interval: timedelta = timedelta(seconds=10)
    dispatch_interval: timedelta = timedelta(seconds=5)
    expire_interval: timedelta = timedelta(minutes=15)
    reconciliation_time: time = time(1, 30)
    reconciliation_timezone: str = "UTC"
    # A run's nightly slot may be missed by this much (a busy or sleeping process)
    # and still run; later than that, start-up catch-up takes over.
    reconciliation_misfire_grace: timedelta = timedelta(hours=6)
    # How long a singleton lease lasts on SQLite (a killed holder blocks it this long).
    singleton_lease: timedelta = timedelta(hours=1)
    job_runs_retention: timedelta = timedelta(days=7)
    # A job run still "running" after this was killed with its process.
    abandoned_after: timedelta = timedelta(hours=12)
    poll: PollSettings = field(default_factory=PollSettings)
    verify_interval: timedelta = timedelta(minutes=1)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    # Queued payout runs: how often a process looks for one, and how long its claim on
    # one lasts without renewal (a killed process's run is resumed after that).
    run_check_interval: timedelta = timedelta(seconds=1)
    run_lease: timedelta = timedelta(seconds=30)
    approval_expiry_interval: timedelta = timedelta(minutes=5)

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.reconciliation_timezone)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job: str
    run_id: int
    status: str  # succeeded | failed | skipped
    counts: dict[str, Any]
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)


class Jobs:
    """The job functions. Call them directly (tests, CLI, API) or from the scheduler."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        runner: PayoutRunner,
        providers: Mapping[ProviderKind, PaymentProvider],
        clock: Clock,
        settings: JobSettings | None = None,
        worker: str | None = None,
    ) -> None:
        self.settings = settings or JobSettings()
        self.worker = worker or worker_name()
        self._engine = engine
        self._clock = clock
        self._runner = runner
        self._records = JobStore(sessions)
        self._merchants = SqlMerchantPayouts(sessions)
        self._poller = StatusPoller(
            runner,
            providers,
            SqlPollStore(sessions),
            SqlSettlementStore(sessions),
            clock,
            self.worker,
            self.settings.poll,
        )
        self.reconciler = Reconciler(engine, sessions, providers, runner, clock)
        self.verifications = AccountVerifications(
            SqlVerifications(sessions),
            verifiers_among(providers),
            clock,
            self.settings.verification,
        )
        self.webhooks = WebhookSender(
            SqlWebhooks(sessions), clock, self.worker, self.settings.webhooks
        )
        self.run_executor = RunExecutor(
            SqlRunQueue(sessions), runner, clock, self.worker, lease=self.settings.run_lease
        )

    # -- the jobs ---------------------------------------------------------------

    async def poll_provider_status(self, trigger: str = "scheduled") -> JobOutcome:
        return await self._recorded(POLL, trigger, self._poller.poll)

    async def dispatch_pending_payouts(self, trigger: str = "scheduled") -> JobOutcome:
        async def dispatch() -> dict[str, Any]:
            return {"dispatched": await self._runner.dispatch()}

        return await self._recorded(DISPATCH, trigger, dispatch)

    async def expire_idempotency_keys(self, trigger: str = "scheduled") -> JobOutcome:
        async def expire() -> dict[str, Any]:
            now = self._clock.now()
            return {
                "keys_expired": await self._merchants.purge_expired(now),
                "job_runs_pruned": await self._records.prune(
                    now - self.settings.job_runs_retention
                ),
                "job_runs_abandoned": await self._records.abandon(
                    now - self.settings.abandoned_after, now
                ),
            }

        return await self._recorded(EXPIRE, trigger, expire)

    async def verify_bank_accounts(self, trigger: str = "scheduled") -> JobOutcome:
        async def verify() -> dict[str, Any]:
            return dict(await self.verifications.verify())

        return await self._recorded(VERIFY, trigger, verify)

    async def deliver_webhooks(self, trigger: str = "scheduled") -> JobOutcome:
        return await self._recorded(WEBHOOKS, trigger, self.webhooks.deliver)

    async def execute_queued_runs(self, trigger: str = "scheduled") -> list[JobOutcome]:
        """Claim queued payout runs (and runs whose process died) one after another and
        execute them, each a recorded execution; nothing is recorded when none waits."""
        outcomes: list[JobOutcome] = []
        while (claim := await self.run_executor.claim()) is not None:
            work = functools.partial(self.run_executor.execute, claim)
            outcomes.append(await self._recorded(EXECUTE_RUNS, trigger, work))
        return outcomes

    async def expire_approvals(self, trigger: str = "scheduled") -> JobOutcome:
        async def expire() -> dict[str, Any]:
            now = self._clock.now()
            return {"approvals_expired": await self.run_executor.queue.expire(now)}

        return await self._recorded(EXPIRE_APPROVALS, trigger, expire)

    async def nightly_reconciliation(self, trigger: str = "scheduled") -> JobOutcome:
        """Reconcile the business date that just ended, unless it already was."""
        return await self._reconcile_once(self.due_business_date(), trigger)

    async def catch_up(self) -> JobOutcome | None:
        """At start-up: reconcile the latest due date if no run completed it."""
        day = self.due_business_date()
        if await self._reconciled(day):
            return None
        return await self._reconcile_once(day, "startup")

    async def reconcile(self, day: date, trigger: str = "manual") -> ReconciliationResult:
        """Reconcile ``day`` now (again, if it was); JobInProgress if another process is."""
        results: list[ReconciliationResult] = []

        async def work() -> dict[str, Any]:
            result = await self.reconciler.reconcile(day, trigger)
            results.append(result)
            return {"business_date": day.isoformat(), **_summary(result.counts)}

        outcome = await self._recorded(RECONCILE, trigger, work, singleton=True)
        if outcome.status == "skipped":
            raise JobInProgress("a reconciliation is running in another process; try later")
        if outcome.exception is not None:
            raise outcome.exception
        return results[0]

    def due_business_date(self, now: datetime | None = None) -> date:
        """The last business date whose nightly slot has passed, in the configured zone."""
        local = (now or self._clock.now()).astimezone(self.settings.zone())
        days_back = 1 if local.time() >= self.settings.reconciliation_time else 2
        return local.date() - timedelta(days=days_back)

    # -- recording --------------------------------------------------------------

    async def _reconcile_once(self, day: date, trigger: str) -> JobOutcome:
        """Reconcile ``day`` unless a run completed it. Checked under the singleton lock:
        a worker that looked before another finished must not reconcile it again."""

        done = {
            "skipped": True,
            "business_date": day.isoformat(),
            "reason": f"{day} is already reconciled",
        }

        async def skip() -> dict[str, Any]:
            return dict(done)

        async def work() -> dict[str, Any]:
            if await self._reconciled(day):
                return dict(done)
            result = await self.reconciler.reconcile(day, trigger)
            return {"business_date": day.isoformat(), **_summary(result.counts)}

        if await self._reconciled(day):  # the usual case for all but one worker: no lock
            return await self._recorded(RECONCILE, trigger, skip)
        return await self._recorded(RECONCILE, trigger, work, singleton=True)

    async def _reconciled(self, day: date) -> bool:
        return await self.reconciler.store.status_of(day) == "completed"

    async def _recorded(
        self,
        job: str,
        trigger: str,
        work: Callable[[], Awaitable[dict[str, Any]]],
        *,
        singleton: bool = False,
    ) -> JobOutcome:
        """Run ``work`` as one execution of ``job``: recorded, guarded, never raising
        (but for cancellation, which is recorded and passed on)."""
        run_id = await self._records.start(job, trigger, self.worker, self._clock.now())
        try:
            if not singleton:
                return await self._finish(job, run_id, work)
            async with job_store.singleton(
                self._engine, job, self.worker, self._clock.now(), self.settings.singleton_lease
            ) as acquired:
                if not acquired:
                    counts = {"reason": "another process holds the job's lock"}
                    await self._records.finish(run_id, "skipped", self._clock.now(), counts)
                    return JobOutcome(job, run_id, "skipped", counts)
                return await self._finish(job, run_id, work)
        except BaseException as exc:  # stopped in its bookkeeping: still say how it ended
            with contextlib.suppress(Exception):
                await self._failed(job, run_id, exc, {})
            raise

    async def _finish(
        self, job: str, run_id: int, work: Callable[[], Awaitable[dict[str, Any]]]
    ) -> JobOutcome:
        try:
            counts = await work()
        except PollFailed as exc:
            return await self._failed(job, run_id, exc, exc.counts)
        except Exception as exc:  # recorded and logged; the scheduler must keep running
            log.exception("job %s failed", job)
            return await self._failed(job, run_id, exc, {})
        except BaseException as exc:  # cancelled at shutdown: say so, then go
            await self._failed(job, run_id, exc, {})
            raise
        status = "skipped" if counts.pop("skipped", False) else "succeeded"
        await self._records.finish(run_id, status, self._clock.now(), counts)
        return JobOutcome(job, run_id, status, counts)

    async def _failed(
        self, job: str, run_id: int, exc: BaseException, counts: dict[str, Any]
    ) -> JobOutcome:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await self._records.finish(run_id, "failed", self._clock.now(), counts, error)
        return JobOutcome(job, run_id, "failed", counts, error, exc)


def _summary(counts: dict[str, Any]) -> dict[str, Any]:
    """The flat numbers of a reconciliation, for its job run."""
    return {k: v for k, v in counts.items() if isinstance(v, int | str)}
