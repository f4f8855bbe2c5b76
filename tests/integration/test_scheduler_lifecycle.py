"""The scheduler's life: declared jobs, start and stop with ``serve`` and ``worker``.

* The jobs are registered once, with fixed ids, an explicit misfire grace time and
  coalescing (APScheduler 3's default grace is one second).
* ``serve`` (uvicorn running the app's lifespan) starts them, a poll runs and is
  recorded, and shutdown stops them: nothing left ``running``, no task left behind.
* Stopping waits for a running execution, and cancels one that outlives the timeout,
  which records itself failed.
* ``payout-engine worker`` stops on SIGTERM and on SIGINT while a poll is running: the
  poll finishes, the process exits 0 and says so.
* A missed nightly reconciliation is caught up at start-up; a completed one is not
  run again.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from starlette.applications import Starlette

from domain.clock import ManualClock
from domain.ports import ProviderKind
from jobs.scheduled import (
    DISPATCH,
    EXECUTE_RUNS,
    EXPIRE,
    EXPIRE_APPROVALS,
    POLL,
    RECONCILE,
    VERIFY,
    WEBHOOKS,
)
from jobs.scheduler import CATCH_UP, INTERVAL_MISFIRE_GRACE_S, JobScheduler
from persistence.db import create_engine, sessionmaker
from persistence.tables import ProviderCursor, ReconciliationRun
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from service import bootstrap
from service.bootstrap import Container, build, build_app
from service.settings import Settings
from tests.conftest import BACKENDS, FakeSleep
from tests.jobs_harness import (
    Child,
    engine_command,
    eventually,
    job_runs,
    only_on,
    provider_env,
    running_job_runs,
    served,
)

FIXED_IDS = {POLL, DISPATCH, EXPIRE, RECONCILE, VERIFY, WEBHOOKS, EXECUTE_RUNS, EXPIRE_APPROVALS}
sqlite_only = only_on("sqlite")


@asynccontextmanager
async def engine_for(
    database_url: str,
    clock: ManualClock,
    banks: dict[ProviderKind, MockBank] | None = None,
    **settings: Any,
) -> AsyncIterator[Container]:
    built = build(
        Settings(database_url=database_url, _env_file=None, **settings),
        clock=clock,
        banks=banks,
        provider_options={"sleep": FakeSleep(), "call_timeout_s": 120.0},
    )
    try:
        yield built
    finally:
        await built.aclose()


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


# --- the declared jobs -------------------------------------------------------------------


@sqlite_only
async def test_jobs_are_declared_once_with_fixed_ids_and_explicit_misfire_handling(
    database_url: str, clock: ManualClock
) -> None:
    """Invariant: one set of jobs under fixed ids (a restart replaces, never adds), the
    interval jobs coalesced with a misfire grace well above APScheduler's 1 s default,
    the nightly run on a cron in the configured zone with hours of grace."""
    async with engine_for(
        database_url, clock, reconciliation_timezone="Europe/London", poll_interval_s=7
    ) as container:
        scheduler = JobScheduler(container.jobs, catch_up=False)
        scheduler.start()
        try:
            jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
            assert set(jobs) == FIXED_IDS
            for job_id in (
                POLL,
                DISPATCH,
                EXPIRE,
                VERIFY,
                WEBHOOKS,
                EXECUTE_RUNS,
                EXPIRE_APPROVALS,
            ):
                job = jobs[job_id]
                assert isinstance(job.trigger, IntervalTrigger)
                assert job.misfire_grace_time == INTERVAL_MISFIRE_GRACE_S > 1
                assert (job.coalesce, job.max_instances) == (True, 1)
            assert jobs[POLL].trigger.interval == timedelta(seconds=7)
            nightly = jobs[RECONCILE]
            assert isinstance(nightly.trigger, CronTrigger)
            assert str(nightly.trigger.timezone) == "Europe/London"
            assert nightly.misfire_grace_time == timedelta(hours=6).total_seconds()
            assert (nightly.coalesce, nightly.max_instances) == (True, 1)
            local = nightly.next_run_time.astimezone(nightly.trigger.timezone)
            assert (local.hour, local.minute) == (1, 30)
        finally:
            await scheduler.stop()
        assert not scheduler.running
        assert await job_runs(container.sessions) == []  # nothing was due yet


# --- serve: the app's lifespan -------------------------------------------------------------


@asynccontextmanager
async def serving_with_lifespan(app: Starlette) -> AsyncIterator[str]:
    """uvicorn in this loop with the lifespan on, as ``payout-engine serve`` runs the app."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_level="warning", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(
            lambda: _started(server, task), "uvicorn to start (the lifespan ran)", timeout=20
        )
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server, task: asyncio.Task[Any]) -> bool | None:
    if task.done():
        task.result()
        raise AssertionError("uvicorn stopped during start-up")
    return True if server.started else None


async def test_serve_starts_the_jobs_and_stops_them_cleanly(
    database_url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant: serve's lifespan starts the scheduler (the fixed jobs), the jobs run
    and are recorded, and shutdown stops them before the database closes: no job_runs
    row left ``running``, no task left pending."""
    started: list[JobScheduler] = []

    class Recorded(JobScheduler):
        def start(self) -> None:
            super().start()
            started.append(self)

    monkeypatch.setattr(bootstrap, "JobScheduler", Recorded)
    before = other_tasks()
    async with engine_for(
        database_url, clock, poll_interval_s=0.2, dispatch_interval_s=0.2
    ) as container:
        app = build_app(container, migrate=False)
        async with serving_with_lifespan(app) as url:
            [scheduler] = started
            assert scheduler.running
            assert set(scheduler.job_ids()) >= FIXED_IDS
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"{url}/health")).status_code == 200

            async def polled_twice() -> bool | None:
                done = [r for r in await job_runs(container.sessions) if r.job == POLL]
                return True if sum(r.status == "succeeded" for r in done) >= 2 else None

            await eventually(polled_twice, "two recorded polls")
        assert not scheduler.running
        assert other_tasks() == before
    async with reopened(database_url) as sessions:
        runs = await job_runs(sessions)
        assert await running_job_runs(sessions) == []
        assert {r.job for r in runs} >= {POLL, DISPATCH, RECONCILE}
        assert {r.status for r in runs} == {"succeeded"}, [(r.job, r.error) for r in runs]
        assert [r.trigger for r in runs if r.job == RECONCILE] == ["startup"]


@asynccontextmanager
async def reopened(database_url: str) -> AsyncIterator[Any]:
    engine = create_engine(database_url)
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


# --- stopping with a job running ----------------------------------------------------------


@pytest.mark.parametrize(
    ("latency_ms", "stop_timeout_s", "ends"),
    [(300, 20.0, "succeeded"), (60_000, 0.3, "failed")],
    ids=["waits-for-the-poll", "cancels-a-poll-that-outlives-the-timeout"],
)
async def test_stopping_waits_for_a_running_poll_or_cancels_it_after_the_timeout(
    database_url: str,
    clock: ManualClock,
    latency_ms: int,
    stop_timeout_s: float,
    ends: str,
) -> None:
    """Invariant: stop lets a running execution finish within the timeout; past it the
    execution is cancelled and records itself failed, giving its cursor back."""
    banks = {
        kind: MockBank(kind, MockBankConfig(seed=7, latency_ms=latency_ms)) for kind in ProviderKind
    }
    async with engine_for(database_url, clock, banks, poll_interval_s=0.1) as container:
        scheduler = JobScheduler(container.jobs, catch_up=False, stop_timeout_s=stop_timeout_s)
        scheduler.start()
        try:

            async def polling() -> bool | None:
                return True if await running_job_runs(container.sessions) else None

            await eventually(polling, "a poll to start")
        finally:
            loop = asyncio.get_running_loop()
            began = loop.time()
            await scheduler.stop()
            took = loop.time() - began
        runs = await job_runs(container.sessions)
        assert [(r.job, r.status) for r in runs] == [(POLL, ends)]
        if ends == "failed":
            assert took < 5 and "CancelledError" in (runs[0].error or "")
        else:
            assert took >= 0.2  # it waited for the poll's remaining requests
        assert not scheduler.running
        async with container.sessions() as session:
            assert set(await session.scalars(select(ProviderCursor.holder))) <= {None}


# --- worker: a process stopped by a signal ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("database_url", "signum"),
    [
        case
        for case in (
            pytest.param("postgresql", signal.SIGTERM, marks=pytest.mark.postgres, id="SIGTERM-pg"),
            pytest.param("sqlite", signal.SIGINT, id="SIGINT-sqlite"),
        )
        if case.values[0] in BACKENDS
    ],
    indirect=["database_url"],
)
async def test_worker_stops_on_a_signal_after_its_running_poll(
    database_url: str, signum: signal.Signals, tmp_path: Path
) -> None:
    """Invariant: a worker told to stop lets the running poll finish, exits 0 within a
    few seconds and says so; nothing is left ``running``."""
    banks = {kind: MockBank(kind, MockBankConfig(seed=7, latency_ms=250)) for kind in ProviderKind}
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    worker: Child | None = None
    try:
        async with served(banks) as urls:
            env = {
                "DATABASE_URL": database_url,
                "POLL_INTERVAL_S": "0.3",
                "DISPATCH_INTERVAL_S": "3600",
                **provider_env(urls),
            }
            worker = await Child.start([*engine_command(), "worker"], env, tmp_path / "w.log")

            async def polling() -> Any:
                if not worker.alive():
                    raise AssertionError(f"the worker exited:\n{worker.output()}")
                runs = [r for r in await job_runs(sessions) if r.job == POLL]
                return runs[0] if runs and runs[0].status == "running" else None

            poll = await eventually(polling, "the worker's first poll", timeout=30)
            worker.proc.send_signal(signum)
            assert await worker.wait(10) == 0, worker.output()
        output = worker.output()
        assert "stopping: waiting for running jobs" in output
        assert "worker stopped" in output and "Traceback" not in output, output
        assert await running_job_runs(sessions) == []
        [finished] = [r for r in await job_runs(sessions) if r.id == poll.id]
        assert finished.status == "succeeded", (finished.status, finished.error)
    finally:
        if worker is not None:
            await worker.close()
        await engine.dispose()


# --- catching up a missed night ----------------------------------------------------------------


@pytest.mark.parametrize("night", [None, "running", "failed", "completed"])
async def test_a_missed_night_is_reconciled_at_start_up_and_a_done_one_is_not(
    database_url: str, clock: ManualClock, night: str | None
) -> None:
    """Invariant: runs are keyed by business date; at start-up the due date is
    reconciled unless a run completed it (never run, or killed: left ``running``, or
    failed -> run now; completed -> left alone)."""
    async with engine_for(database_url, clock) as container:
        jobs = container.jobs
        day = jobs.due_business_date()
        store = jobs.reconciler.store
        if night == "completed":
            assert (await jobs.nightly_reconciliation()).status == "succeeded"
        elif night is not None:
            run_id = await store.open_run(day, "scheduled", clock.now())
            if night == "failed":
                await store.fail_run(run_id, "provider down", clock.now())
        attempts = await attempts_of(container, day)
        recorded = len(await job_runs(container.sessions))

        scheduler = JobScheduler(jobs)
        caught_up = asyncio.Event()

        def on_done(event: Any) -> None:
            if event.job_id == CATCH_UP:
                caught_up.set()

        scheduler.scheduler.add_listener(on_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        scheduler.start()
        try:
            await asyncio.wait_for(caught_up.wait(), 10)
        finally:
            await scheduler.stop()

        assert await store.status_of(day) == "completed"
        runs = await job_runs(container.sessions)
        if night == "completed":
            assert await attempts_of(container, day) == attempts
            assert len(runs) == recorded
        else:
            assert await attempts_of(container, day) == attempts + 1
            [startup] = runs[recorded:]
            assert (startup.job, startup.trigger, startup.status) == (
                RECONCILE,
                "startup",
                "succeeded",
            )


async def attempts_of(container: Container, day: Any) -> int:
    async with container.sessions() as session:
        found = await session.scalar(
            select(ReconciliationRun.attempts).where(ReconciliationRun.business_date == day)
        )
    return int(found or 0)
