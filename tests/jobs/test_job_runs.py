"""Job executions are recorded, kept a while, and singletons stay single."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from domain.clock import ManualClock
from jobs.scheduled import EXPIRE, RECONCILE
from persistence import job_store
from persistence.job_store import JobStore
from persistence.tables import JobRun
from service.bootstrap import Container


async def _runs(container: Container) -> list[JobRun]:
    async with container.sessions() as session:
        return list((await session.scalars(select(JobRun).order_by(JobRun.id))).all())


async def test_housekeeping_prunes_old_runs_and_fails_abandoned_ones(
    container: Container, clock: ManualClock
) -> None:
    records = JobStore(container.sessions)
    killed = await records.start(RECONCILE, "scheduled", "gone-host:1", clock.now())
    finished = await records.start(EXPIRE, "scheduled", "host:2", clock.now())
    await records.finish(finished, "succeeded", clock.now(), {"keys_expired": 0})

    clock.advance(timedelta(hours=11))
    early = await container.jobs.expire_idempotency_keys()
    assert early.counts["job_runs_abandoned"] == 0
    assert early.counts["job_runs_pruned"] == 0

    clock.advance(timedelta(days=7))
    late = await container.jobs.expire_idempotency_keys()
    assert late.status == "succeeded"
    assert late.counts["job_runs_abandoned"] == 1
    runs = {run.id: run for run in await _runs(container)}
    assert finished not in runs  # finished more than 7 days ago: pruned
    assert runs[killed].status == "failed"
    assert "abandoned" in (runs[killed].error or "")
    assert runs[early.run_id].status == "succeeded"


async def test_a_singleton_job_runs_in_one_place_at_a_time(
    container: Container, clock: ManualClock
) -> None:
    lease = timedelta(minutes=10)
    engine, now = container.engine, clock.now()
    async with job_store.singleton(engine, "nightly", "worker-a", now, lease) as first:
        assert first
        async with job_store.singleton(engine, "nightly", "worker-b", now, lease) as second:
            assert not second
        async with job_store.singleton(engine, "other-job", "worker-b", now, lease) as other:
            assert other  # a different job is not blocked
    async with job_store.singleton(engine, "nightly", "worker-b", now, lease) as after:
        assert after  # released when the first holder finished


async def test_a_skipped_singleton_execution_is_recorded(
    container: Container, clock: ManualClock
) -> None:
    holder = job_store.singleton(
        container.engine, RECONCILE, "someone-else", clock.now(), timedelta(hours=1)
    )
    async with holder as held:
        assert held
        outcome = await container.jobs.nightly_reconciliation()
    assert outcome.status == "skipped"
    run = (await _runs(container))[-1]
    assert (run.job, run.status) == (RECONCILE, "skipped")
    assert run.counts["reason"] == "another process holds the job's lock"
