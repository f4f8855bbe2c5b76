"""APScheduler 3.x wiring: jobs registered in code with fixed ids, in-memory job store.

The job store is in memory on purpose: APScheduler 3 does not support sharing a job
store between processes (two processes sharing one ran jobs about twice as often as
scheduled). Each process schedules every job; the database decides who does what
(see ``jobs.scheduled``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from jobs.scheduled import (
    DISPATCH,
    EXECUTE_RUNS,
    EXPIRE,
    EXPIRE_APPROVALS,
    POLL,
    RECONCILE,
    VERIFY,
    WEBHOOKS,
    Jobs,
)

log = logging.getLogger(__name__)
CATCH_UP = "catch_up_reconciliation"
# Interval jobs that missed their slot by more than this wait for the next one.
INTERVAL_MISFIRE_GRACE_S = 30


class JobScheduler:
    """Starts the jobs on the running event loop and stops them without tearing a
    job in half: shutdown waits for running executions (up to ``stop_timeout_s``)
    before cancelling them; a cancelled execution's open transaction rolls back."""

    def __init__(self, jobs: Jobs, *, catch_up: bool = True, stop_timeout_s: float = 30) -> None:
        self.jobs = jobs
        self._catch_up = catch_up
        self._stop_timeout_s = stop_timeout_s
        self._running: set[asyncio.Task[Any]] = set()
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        s = self.jobs.settings
        interval = {
            "misfire_grace_time": INTERVAL_MISFIRE_GRACE_S,
            "coalesce": True,
            "max_instances": 1,
            "replace_existing": True,
        }
        self._add(
            POLL,
            self.jobs.poll_provider_status,
            IntervalTrigger(seconds=s.poll_interval.total_seconds()),
            **interval,
        )
        self._add(
            DISPATCH,
            self.jobs.dispatch_pending_payouts,
            IntervalTrigger(seconds=s.dispatch_interval.total_seconds()),
            **interval,
        )
        self._add(
            EXPIRE,
            self.jobs.expire_idempotency_keys,
            IntervalTrigger(seconds=s.expire_interval.total_seconds()),
            **interval,
        )
        self._add(
            VERIFY,
            self.jobs.verify_bank_accounts,
            IntervalTrigger(seconds=s.verify_interval.total_seconds()),
            **interval,
        )
        self._add(
            WEBHOOKS,
            self.jobs.deliver_webhooks,
            IntervalTrigger(seconds=s.webhooks.interval.total_seconds()),
            **interval,
        )
        self._add(
            EXECUTE_RUNS,
            self.jobs.execute_queued_runs,
            IntervalTrigger(seconds=s.run_check_interval.total_seconds()),
            **interval,
        )
        self._add(
            EXPIRE_APPROVALS,
            self.jobs.expire_approvals,
            IntervalTrigger(seconds=s.approval_expiry_interval.total_seconds()),
            **interval,
        )
        at = s.reconciliation_time
        self._add(
            RECONCILE,
            self.jobs.nightly_reconciliation,
            CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=s.zone()),
            misfire_grace_time=int(s.reconciliation_misfire_grace.total_seconds()),
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        if self._catch_up:
            self._add(
                CATCH_UP,
                self.jobs.catch_up,
                DateTrigger(datetime.now(UTC)),
                misfire_grace_time=None,
                replace_existing=True,
            )
        self.scheduler.start()
        log.info("scheduler started as %s", self.jobs.worker)

    def _add(
        self, job_id: str, job: Callable[[], Awaitable[Any]], trigger: Any, **options: Any
    ) -> None:
        self.scheduler.add_job(self._tracked(job), trigger, id=job_id, name=job_id, **options)

    def _tracked(self, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                return await job()
            finally:
                self._running.discard(task)

        return run

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self.scheduler.get_jobs())

    async def stop(self) -> None:
        """Pause (no new executions), let running ones finish, then shut down; the
        executor cancels whatever outlived ``stop_timeout_s``."""
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        late: set[asyncio.Task[Any]] = set()
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=self._stop_timeout_s)
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        if late:
            await asyncio.gather(*late, return_exceptions=True)
        log.info("scheduler stopped (%d running job(s) cancelled)", len(late))
