"""Two workers running the same jobs on one database at the same time.

Each worker is a container of its own (its own engine and connection pool) with its own
worker name; both talk to the same in-process banks, so they see the same orders. The
invariants: every payout moves through each status once, with one ledger effect per
step; a provider's feed is read by one worker at a time; a stuck submission is re-asked
by one worker only; a business date is reconciled by one worker, its breaks recorded
once. Runs on PostgreSQL (row locks, SKIP LOCKED, advisory locks) and on SQLite
(BEGIN IMMEDIATE and lease rows).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from domain.clock import ManualClock
from domain.errors import JobInProgress
from domain.ports import ProviderKind
from jobs.polling import PollSettings, StatusPoller
from jobs.reconciliation import ReconciliationResult
from jobs.scheduled import Jobs, JobSettings
from persistence.reconciliation_store import Staging
from persistence.tables import AuditEvent, ReconciliationBreak, ReconciliationRun
from providers.mock.bank import MockBank
from providers.mock.config import Fault, MockBankConfig
from service.bootstrap import Container, build
from service.settings import Settings
from tests.conftest import FakeSleep
from tests.jobs_harness import (
    OPEN_BREAKS,
    FeedLog,
    check_moved_once,
    inject_breaks,
    jobs_of,
    lagging,
    read_books,
    watched,
)

EVENT_SIZE = 30
PAGE_SIZE = 10  # several pages per feed, so the workers interleave
# Bank clock steps: settlement (lag 0-2 days), then returns a day after it.
STEPS = (timedelta(hours=2), timedelta(days=1), timedelta(days=1), timedelta(days=2))


@pytest.fixture
def banks() -> dict[ProviderKind, MockBank]:
    config = MockBankConfig(seed=7, latency_ms=1, jitter_ms=1, failure_rate=0.2, return_rate=0.3)
    return {kind: MockBank(kind, config) for kind in ProviderKind}


@pytest_asyncio.fixture
async def two(
    database_url: str,
    clock: ManualClock,
    banks: dict[ProviderKind, MockBank],
    fake_sleep: FakeSleep,
) -> AsyncIterator[tuple[Container, Container]]:
    """Two engines on one database, one clock, one set of banks."""
    settings = Settings(
        database_url=database_url, provider_concurrency=16, provider_max_attempts=2, _env_file=None
    )
    options = {"sleep": fake_sleep, "call_timeout_s": 5.0, "page_size": PAGE_SIZE}
    a = build(settings, clock=clock, banks=banks, provider_options=options)
    b = build(settings, clock=clock, banks=banks, provider_options=options)
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


async def seed(container: Container) -> None:
    from service.demo import seed as load_demo

    await load_demo(container.sessions, container.clock.now(), large_event_size=EVENT_SIZE)


async def submit_everything(container: Container) -> int:
    await seed(container)
    created = 0
    for event in ("LIQ-2024-001", "LIQ-2024-002"):
        summary = await container.runner.run(event, f"run-{event}")
        assert summary.in_flight == 0
        created += summary.created
    return created


def advance(banks: dict[ProviderKind, MockBank], step: timedelta) -> None:
    for bank in banks.values():
        bank.advance(step)


def pair(a: Container, b: Container, **options: Any) -> tuple[Jobs, Jobs]:
    return jobs_of(a, "worker-a", **options), jobs_of(b, "worker-b", **options)


# --- polling -------------------------------------------------------------------------------


async def test_two_workers_polling_together_move_every_payout_once(
    two: tuple[Container, Container], banks: dict[ProviderKind, MockBank]
) -> None:
    """Invariant: a provider's feed is read by one worker at a time (cursor claimed with
    SKIP LOCKED and a lease), and each status change is applied once, ledger included."""
    a, b = two
    created = await submit_everything(a)
    feeds = FeedLog.new()
    jobs_a = jobs_of(a, "worker-a", providers=watched(a.providers, "worker-a", feeds))
    jobs_b = jobs_of(b, "worker-b", providers=watched(b.providers, "worker-b", feeds))
    busy = 0
    for step in STEPS:
        advance(banks, step)
        outcomes = await asyncio.gather(
            jobs_a.poll_provider_status(), jobs_b.poll_provider_status()
        )
        assert [o.status for o in outcomes] == ["succeeded", "succeeded"], outcomes
        busy += sum(o.counts.get("providers_busy", 0) for o in outcomes)
        books = await read_books(a.sessions)
        check_moved_once(books)
        assert lagging(books, banks) == {}  # between them, they polled every provider
    assert feeds.overlaps == []
    # The race was real: a worker found a cursor taken, and both read feeds at once.
    assert busy > 0 and feeds.concurrent_workers > 0
    statuses = Counter(books.status.values())
    assert statuses.keys() == {"completed", "failed", "returned"}, statuses
    assert statuses.total() == created


@pytest.mark.parametrize("stale", ["reconciler", "poller"])
async def test_a_status_seen_by_two_jobs_is_applied_once(
    two: tuple[Container, Container],
    banks: dict[ProviderKind, MockBank],
    monkeypatch: pytest.MonkeyPatch,
    stale: str,
) -> None:
    """Invariant: statuses are applied under a row lock and only as a step forward from
    the locked row, so a job holding a stale view (it read the provider before the other
    job moved the payouts) writes nothing twice."""
    a, b = two
    await submit_everything(a)
    advance(banks, sum(STEPS, timedelta(0)))
    looked, other_done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        if not looked.is_set():
            looked.set()
            await other_done.wait()

    if stale == "reconciler":  # compares with the payouts, then waits while the poller runs
        mismatches = Staging.mismatches

        async def compared_then_hold(self: Staging, *args: Any) -> Any:
            found = await mismatches(self, *args)
            await hold()
            return found

        monkeypatch.setattr(Staging, "mismatches", compared_then_hold)
    else:  # reads a feed page, then waits while the reconciliation runs
        apply = StatusPoller._apply

        async def hold_then_apply(self: StatusPoller, page: Any) -> int:
            await hold()
            return await apply(self, page)

        monkeypatch.setattr(StatusPoller, "_apply", hold_then_apply)
    jobs_a, jobs_b = pair(a, b)
    day = jobs_b.due_business_date()

    async def after_the_look(job: Any) -> Any:
        await looked.wait()
        try:
            return await job
        finally:
            other_done.set()

    if stale == "reconciler":
        result, polled = await asyncio.gather(
            jobs_b.reconcile(day), after_the_look(jobs_a.poll_provider_status())
        )
    else:
        polled, result = await asyncio.gather(
            jobs_a.poll_provider_status(), after_the_look(jobs_b.reconcile(day))
        )
    assert polled.status == "succeeded"
    books = await read_books(a.sessions)
    check_moved_once(books)
    assert lagging(books, banks) == {}
    # The stale job saw every payout behind the bank; the other one had moved them all.
    assert result.counts["by_kind"].get("status_mismatch", 0) == len(books.status)
    if stale == "reconciler":
        assert polled.counts["payouts_moved"] == len(books.status)
        assert books.actors["reconciliation"] == 0
    else:
        assert polled.counts["payouts_moved"] == 0
        assert books.actors["system"] == 0


# --- stuck submissions ---------------------------------------------------------------------


async def test_two_workers_recover_each_stuck_submission_once(
    two: tuple[Container, Container],
    banks: dict[ProviderKind, MockBank],
    clock: ManualClock,
) -> None:
    """Invariant: a payout left ``submitting`` is claimed by one worker (SKIP LOCKED while
    the claims race, the lease once one is committed), so the provider is asked once per
    payout and holds one order per key."""
    a, b = two
    await seed(a)
    bank = banks[ProviderKind.CROSS_BORDER]
    bank.script(*[Fault.status(503)] * 400)  # every cross-border create fails, twice
    summary = await a.runner.run("LIQ-2024-001", "outage")
    while bank.next_scripted_fault() is not None:
        pass
    stuck = await a.store.submitting(None)
    assert len(stuck) == summary.in_flight > 20
    # The first three reached the bank before their process died.
    for s in stuck[:3]:
        assert (await a.providers[ProviderKind.CROSS_BORDER].create_order(s.request)).order
    asked: Counter[str] = Counter()
    create = bank.create

    def counted_create(key: str, body: Any) -> Any:
        asked[key] += 1
        return create(key, body)

    bank.create = counted_create  # type: ignore[method-assign]
    bank.config = replace(bank.config, latency_ms=50)  # a's questions are still out when b comes
    asking = asyncio.Event()
    provider = a.providers[ProviderKind.CROSS_BORDER]
    ask = provider.create_order

    async def asking_create(request: Any) -> Any:
        asking.set()
        return await ask(request)

    provider.create_order = asking_create  # type: ignore[method-assign]
    replays = bank.stats.replays
    clock.advance(timedelta(minutes=3))  # past stale_submitting_after
    settings = JobSettings(poll=PollSettings(recover_batch=8))
    jobs_a, jobs_b = pair(a, b, settings=settings)

    async def once_a_is_asking() -> Any:
        await asking.wait()  # a's claim is committed: only its lease keeps b off
        return await jobs_b.poll_provider_status()

    rounds = []
    while await a.store.submitting(None):
        # First b comes in while a asks; then both claim at the same moment.
        b_poll = once_a_is_asking() if not rounds else jobs_b.poll_provider_status()
        outcomes = await asyncio.gather(jobs_a.poll_provider_status(), b_poll)
        rounds.append([o.counts["recovered"] for o in outcomes])
        assert len(rounds) < 10, rounds
    assert all(n > 0 for n in rounds[0]), rounds  # they split the work
    assert sum(map(sum, rounds)) == len(stuck)
    keys = {s.request.idempotency_key for s in stuck}
    assert asked == dict.fromkeys(keys, 1)
    assert all(bank.count_orders_for(key) == 1 for key in keys)
    assert bank.stats.replays - replays == 3
    books = await read_books(a.sessions)
    check_moved_once(books)
    for s in stuck:
        assert books.status[s.payout_id] == "submitted"
        assert books.order_of[s.payout_id] == bank.order_for(books.key_of[s.payout_id]).order_id


# --- reconciliation ------------------------------------------------------------------------


async def recorded_breaks(container: Container) -> Counter[tuple[str, str]]:
    async with container.sessions() as session:
        rows = await session.execute(select(ReconciliationBreak.kind, ReconciliationBreak.status))
        return Counter((kind, status) for kind, status in rows.all())


async def break_audit(container: Container) -> Counter[str]:
    async with container.sessions() as session:
        rows = await session.execute(
            select(AuditEvent.action, func.count())
            .where(AuditEvent.action.like("reconciliation.%"))
            .group_by(AuditEvent.action)
        )
        return Counter(dict(rows.all()))


async def run_of(container: Container, day: Any) -> Any:
    async with container.sessions() as session:
        return (
            await session.execute(
                select(ReconciliationRun).where(ReconciliationRun.business_date == day)
            )
        ).scalar_one()


async def test_two_workers_reconcile_a_night_once(
    two: tuple[Container, Container], banks: dict[ProviderKind, MockBank]
) -> None:
    """Invariant: the nightly reconciliation is a singleton keyed by business date: of
    two workers waking together one runs it, the other skips; an explicit re-run racing
    another gets JobInProgress; breaks are recorded once however often they are found."""
    a, b = two
    await submit_everything(a)
    advance(banks, sum(STEPS, timedelta(0)))
    inject_breaks(banks[ProviderKind.CROSS_BORDER])
    jobs_a, jobs_b = pair(a, b)
    day = jobs_a.due_business_date()

    outcomes = await asyncio.gather(
        jobs_a.nightly_reconciliation(), jobs_b.nightly_reconciliation()
    )
    assert sorted(o.status for o in outcomes) == ["skipped", "succeeded"], outcomes
    run = await run_of(a, day)
    assert (run.status, run.attempts) == ("completed", 1)
    breaks = await recorded_breaks(a)
    opened = Counter({kind: n for (kind, status), n in breaks.items() if status == "open"})
    assert opened == OPEN_BREAKS
    lag = breaks[("status_mismatch", "auto_resolved")]
    assert lag > 0 and breaks.total() == sum(OPEN_BREAKS.values()) + lag
    audit = await break_audit(a)
    assert audit["reconciliation.break_found"] == sum(OPEN_BREAKS.values())
    assert audit["reconciliation.break_auto_resolved"] == lag

    again = await asyncio.gather(jobs_a.nightly_reconciliation(), jobs_b.nightly_reconciliation())
    assert [o.status for o in again] == ["skipped", "skipped"]
    assert all("already reconciled" in o.counts["reason"] for o in again)

    results = await asyncio.gather(
        jobs_a.reconcile(day), jobs_b.reconcile(day), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["JobInProgress", "ReconciliationResult"]
    done = next(r for r in results if isinstance(r, ReconciliationResult))
    assert done.counts["new"] == 0 and done.counts["seen_again"] == sum(OPEN_BREAKS.values())
    assert (await run_of(a, day)).attempts == 2
    assert await recorded_breaks(a) == breaks
    assert await break_audit(a) == audit
    check_moved_once(await read_books(a.sessions))


async def test_a_worker_late_to_the_lock_does_not_reconcile_the_night_again(
    two: tuple[Container, Container], banks: dict[ProviderKind, MockBank]
) -> None:
    """Invariant: a business date is reconciled once however many workers wake up, even
    one that looked at the date's status before another worker completed it."""
    a, b = two
    await submit_everything(a)
    jobs_a, jobs_b = pair(a, b)
    first_done = asyncio.Event()
    store = jobs_b.reconciler.store
    status_of = store.status_of

    async def status_then_stall(day: Any) -> str | None:
        status = await status_of(day)
        await first_done.wait()  # a slow process: the other worker finishes meanwhile
        return status

    store.status_of = status_then_stall  # type: ignore[method-assign]

    async def first() -> Any:
        try:
            return await jobs_a.nightly_reconciliation()
        finally:
            first_done.set()

    outcomes = await asyncio.gather(first(), jobs_b.nightly_reconciliation())
    assert [o.status for o in outcomes] == ["succeeded", "skipped"], outcomes
    assert (await run_of(a, jobs_a.due_business_date())).attempts == 1


async def test_reconcile_refuses_while_another_holds_the_night(
    two: tuple[Container, Container],
) -> None:
    """Invariant: an explicit reconciliation never runs beside another one."""
    a, b = two
    await seed(a)
    jobs_a, jobs_b = pair(a, b)
    day = jobs_a.due_business_date()
    started, release = asyncio.Event(), asyncio.Event()
    compare = jobs_a.reconciler._compare

    async def slow_compare(*args: Any) -> Any:
        started.set()
        await release.wait()
        return await compare(*args)

    jobs_a.reconciler._compare = slow_compare  # type: ignore[method-assign]
    first = asyncio.create_task(jobs_a.reconcile(day))
    await started.wait()
    with pytest.raises(JobInProgress):
        await jobs_b.reconcile(day)
    skipped = await jobs_b.nightly_reconciliation()
    assert skipped.status == "skipped"
    release.set()
    assert (await first).run_id == (await run_of(a, day)).id
    assert (await run_of(a, day)).attempts == 1
