"""The job runner for queued runs: one claimer per run, a lapsed lease taken over, a
run cut off half-way finished by another process with nobody paid twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from domain.run_workflow import APPROVAL_TTL, Requester
from domain.runs import PayoutRunner
from jobs.run_executor import RunExecutor
from persistence import queries
from persistence.run_queue import SqlRunQueue
from persistence.tables import Payout, PayoutRun
from service.bootstrap import Container

LEASE = timedelta(seconds=30)


async def queued_run(container: Container, key: str = "bg") -> int:
    async with container.sessions() as session:
        event = await queries.event_by_ref(session, "LIQ-2024-001")
    assert event is not None
    preview = await container.runner.preview(event.id)
    queue = SqlRunQueue(container.sessions)
    requester = Requester(None, "ops@example.com")
    now = container.clock.now()
    return await queue.create_run(event.id, key, preview, False, requester, APPROVAL_TTL, now)


def executor(container: Container, worker: str, batch_size: int = 500) -> RunExecutor:
    runner = PayoutRunner(
        container.store, container.providers, container.clock, batch_size=batch_size
    )
    queue = SqlRunQueue(container.sessions)
    return RunExecutor(queue, runner, container.clock, worker, lease=LEASE)


def orders_by_key(container: Container) -> dict[str, int]:
    counts: dict[str, int] = {}
    for bank in container.banks.values():
        for order in bank.orders.values():
            counts[order.idempotency_key] = counts.get(order.idempotency_key, 0) + 1
    return counts


async def sent_payouts(container: Container) -> int:
    async with container.sessions() as session:
        statement = select(func.count()).where(Payout.status.in_(["submitted", "failed"]))
        return int(await session.scalar(statement.select_from(Payout)) or 0)


async def run_status(container: Container, run_id: int) -> str:
    async with container.sessions() as session:
        status = await session.scalar(select(PayoutRun.status).where(PayoutRun.id == run_id))
    return str(status)


async def test_two_runners_racing_claim_a_run_once(seeded: Container) -> None:
    run_id = await queued_run(seeded)
    a, b = executor(seeded, "a"), executor(seeded, "b")
    claims = await asyncio.gather(a.claim(), b.claim(), a.claim(), b.claim())
    taken = [c for c in claims if c is not None]
    assert [c.run_id for c in taken] == [run_id]


async def test_a_lapsed_lease_is_taken_over_and_the_old_holder_loses_it(
    seeded: Container,
) -> None:
    run_id = await queued_run(seeded)
    a, b = executor(seeded, "a"), executor(seeded, "b")
    assert (await a.claim()) is not None
    assert (await b.claim()) is None  # a holds it
    seeded.clock.advance(LEASE + timedelta(seconds=1))  # type: ignore[attr-defined]
    taken = await b.claim()
    assert taken is not None and taken.resumed_from == "a"
    now = seeded.clock.now()
    assert not await a.queue.renew(run_id, "a", now, LEASE, 0)  # a finds out and stops
    counts = await b.execute(taken)
    assert counts["status"] == "completed"
    assert await run_status(seeded, run_id) == "completed"
    # a beat that comes as the run ends finds it ended, not lost: nothing to stop
    assert await b.queue.renew(run_id, "b", seeded.clock.now(), LEASE, 60)


async def test_a_run_cut_off_half_way_is_finished_by_another_runner_paying_nobody_twice(
    seeded: Container,
) -> None:
    """Runner a is cut off (its task dies, as with its process) after its first batch
    of ten was sent; after the lease runner b resumes the run, with no key re-sent."""
    run_id = await queued_run(seeded)
    a = executor(seeded, "a", batch_size=10)
    claim = await a.claim()
    assert claim is not None
    answered = asyncio.Event()

    def progress(phase: str, done: int, _total: int) -> None:
        if phase == "submit" and done >= 5:
            answered.set()

    # Cut off by what the run reports, not by polling the database: on SQLite a poll
    # waits for the write lock, and a fast run could finish before one got it.
    work = asyncio.create_task(a._runner.execute(run_id, progress))
    await answered.wait()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    assert await run_status(seeded, run_id) == "running"
    seeded.clock.advance(LEASE + timedelta(minutes=6))  # type: ignore[attr-defined]
    b = executor(seeded, "b")
    taken = await b.claim()
    assert taken is not None and taken.resumed_from == "a"
    counts = await b.execute(taken)
    assert counts["status"] == "completed"
    paid = orders_by_key(seeded)
    assert set(paid.values()) == {1}  # one order per payout key
    assert len(paid) == await sent_payouts(seeded) == counts["payouts_created"]
