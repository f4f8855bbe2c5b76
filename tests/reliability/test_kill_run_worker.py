"""A worker SIGKILLed while it executes a queued run: the other worker resumes the run
after the lease, with no key sent again, and nobody is paid twice.

Real processes on PostgreSQL (the harness of ``test_kill_processes``): three served
mock banks, two ``payout-engine worker`` processes and no ``serve``; the run is queued
in the database as ``startRun`` queues it. Once the banks hold a share of the orders,
the worker holding the run's lease is killed. The other must claim the run when the
lease lapses (an audit row ``run.resumed`` names it and the dead one), complete it,
and the books must be whole: one order per payout, each payout's changes once, every
payout at its order's status once the banks' clocks jump ten days.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from domain.run_workflow import APPROVAL_TTL, Requester, RunPreview
from persistence.run_queue import SqlRunQueue
from persistence.tables import AuditEvent, LiquidationEvent, PayoutRun
from tests.jobs_harness import eventually
from tests.reliability.test_kill_processes import (
    EVENT,
    EVENT_SIZE,
    FINISH_TIMEOUT_S,
    RUN_KEY,
    SETTLE_ALL_S,
    STEP_TIMEOUT_S,
    Stage,
    all_settled,
    check_final,
    postgresql_only,
    seed,
    served_banks,
    worker_id,
)

KILL_AT = 0.15  # of the event's orders at the banks


async def queue_run(stage: Stage) -> int:
    """The run as ``startRun`` leaves it when no approval is needed: queued."""
    async with stage.sessions() as session:
        event_id = await session.scalar(
            select(LiquidationEvent.id).where(LiquidationEvent.code == EVENT)
        )
    assert event_id is not None
    queue = SqlRunQueue(stage.sessions)
    nobody = RunPreview(0, (), (), ())  # what it would pay does not matter here
    ops = Requester(None, "ops@example.com")
    now = datetime.now(UTC)
    return await queue.create_run(event_id, RUN_KEY, nobody, False, ops, APPROVAL_TTL, now)


async def run_of(stage: Stage, run_id: int) -> PayoutRun:
    async with stage.sessions() as session:
        run = await session.get(PayoutRun, run_id)
    assert run is not None
    return run


@pytest.mark.slow
@pytest.mark.postgres
@postgresql_only
async def test_a_killed_workers_run_is_finished_by_the_other_paying_nobody_twice(
    database_url: str, tmp_path: Path
) -> None:
    await seed(database_url)
    async with (
        served_banks(tmp_path) as banks,
        Stage.open(database_url, banks, tmp_path, worker_count=2) as stage,
    ):
        await stage.start_workers()
        run_id = await queue_run(stage)

        async def holder() -> str | None:
            run = await run_of(stage, run_id)
            enough = await stage.banks.count() >= KILL_AT * EVENT_SIZE
            return run.claimed_by if run.status == "running" and enough else None

        claimed_by = await eventually(holder, "a worker to be well into the run", STEP_TIMEOUT_S)
        victim = next(n for n, c in stage.workers.items() if worker_id(c) == claimed_by)
        survivor = next(c for n, c in stage.workers.items() if n != victim)
        assert await stage.workers[victim].kill() == -9
        at_kill = await stage.banks.count()
        assert at_kill < EVENT_SIZE, "the run ended before the kill"

        async def completed() -> PayoutRun | None:
            await asyncio.sleep(0.2)
            run = await run_of(stage, run_id)
            return run if run.status == "completed" else None

        run = await eventually(completed, "the other worker to finish the run", FINISH_TIMEOUT_S)
        assert run.in_flight == 0
        async with stage.sessions() as session:
            resumed: list[Any] = list(
                (
                    await session.scalars(
                        select(AuditEvent.detail).where(
                            AuditEvent.run_id == run_id, AuditEvent.action == "run.resumed"
                        )
                    )
                ).all()
            )
        assert [(d["worker"], d["previous"]) for d in resumed] == [
            (worker_id(survivor), claimed_by)
        ]
        await stage.banks.advance(SETTLE_ALL_S)
        books, orders = await all_settled(stage)
        await stage.stop()
        await check_final(stage, books, orders)
    print(f"\nworker killed at {at_kill}/{EVENT_SIZE} orders; the other finished the run")
