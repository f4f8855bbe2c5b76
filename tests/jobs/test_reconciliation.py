"""Reconciliation as an operator meets it: a clean day has no breaks, every kind of
discrepancy is found once, safe ones fix themselves with an audit trail, the rest
wait for a note; the nightly job reconciles each business date once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from domain.clock import ManualClock
from domain.errors import BreakNotOpen, InvalidInput, NotFound
from domain.money import Money
from domain.ports import OrderStatus, ProviderKind
from persistence.tables import (
    JobRun,
    LedgerAccount,
    Payout,
    ReconciliationBreak,
    ReconciliationRun,
)
from providers.mock.bank import MockBank
from providers.mock.config import Fault, MockBankConfig
from service.bootstrap import Container
from tests.jobs.conftest import (
    SETTLED,
    audit_since,
    last_audit_id,
    ledger_problems,
    payouts,
    small_event,
    statuses,
    stuck_payout,
)

Banks = dict[ProviderKind, MockBank]
EVENT = "LIQ-RECON"
# One payout through each provider: ACH, cross-border (SEPA) and international wire.
COUNTRIES = ("US", "DE", "AE")


async def breaks(container: Container) -> list[ReconciliationBreak]:
    async with container.sessions() as session:
        return list(
            (
                await session.scalars(select(ReconciliationBreak).order_by(ReconciliationBreak.id))
            ).all()
        )


async def job_runs(container: Container) -> list[JobRun]:
    async with container.sessions() as session:
        return list((await session.scalars(select(JobRun).order_by(JobRun.id))).all())


async def run_row(container: Container, day: date) -> ReconciliationRun | None:
    async with container.sessions() as session:
        return await session.scalar(
            select(ReconciliationRun).where(ReconciliationRun.business_date == day)
        )


async def settled_day(container: Container, clock: ManualClock) -> date:
    """A small event paid, settled at the banks and polled: the books agree everywhere."""
    await small_event(container, EVENT, COUNTRIES)
    await container.runner.run(EVENT, "recon-run")
    sent = await payouts(container, EVENT)
    assert sorted(p.provider for p in sent) == ["ach", "cross_border", "wire"]
    clock.advance(SETTLED)
    polled = await container.jobs.poll_provider_status()
    assert polled.counts["payouts_moved"] == len(COUNTRIES)
    return clock.now().date()


async def ach_payout(container: Container) -> Payout:
    (payout,) = [p for p in await payouts(container, EVENT) if p.provider == "ach"]
    return payout


@pytest.mark.parametrize("bank_config", [MockBankConfig(seed=7, return_rate=0.3, failure_rate=0.2)])
async def test_a_clean_day_has_no_breaks(seeded: Container, clock: ManualClock) -> None:
    await seeded.runner.run("LIQ-2024-001", "run-1")
    clock.advance(SETTLED)
    await seeded.jobs.poll_provider_status()
    assert {"completed", "failed", "returned"} <= set((await statuses(seeded)).values())
    day = clock.now().date() - timedelta(days=1)

    result = await seeded.jobs.reconcile(day)

    assert result.breaks == ()
    assert await breaks(seeded) == []
    row = await run_row(seeded, day)
    assert row is not None
    assert (row.id, row.status, row.trigger, row.attempts) == (
        result.run_id,
        "completed",
        "manual",
        1,
    )
    assert row.finished_at is not None and row.error is None
    counts = row.counts
    assert (counts["provider_orders"], counts["breaks_found"], counts["open"]) == (53, 0, 0)
    assert (counts["new"], counts["seen_again"], counts["vanished"]) == (0, 0, 0)
    recorded = [r for r in await job_runs(seeded) if r.job == "nightly_reconciliation"]
    assert [(r.trigger, r.status, r.counts["business_date"]) for r in recorded] == [
        ("manual", "succeeded", day.isoformat())
    ]


# -- one discrepancy at a time -----------------------------------------------------

Inject = Callable[[Container, Banks], Awaitable[int | None]]


async def drop(container: Container, banks: Banks) -> int | None:
    payout = await ach_payout(container)
    banks[ProviderKind.ACH].drop_order(payout.provider_order_id)
    return payout.id


async def unknown(container: Container, banks: Banks) -> int | None:
    banks[ProviderKind.ACH].inject_unknown_order()
    return None


async def illegal_status(container: Container, banks: Banks) -> int | None:
    payout = await ach_payout(container)  # completed: it can no longer fail
    banks[ProviderKind.ACH].force_status(payout.provider_order_id, OrderStatus.FAILED, "AC04")
    return payout.id


async def other_amount(container: Container, banks: Banks) -> int | None:
    payout = await ach_payout(container)
    paid = Money(payout.amount_minor + 100, payout.currency)
    banks[ProviderKind.ACH].override_amount(payout.provider_order_id, paid)
    return payout.id


async def other_currency(container: Container, banks: Banks) -> int | None:
    payout = await ach_payout(container)
    banks[ProviderKind.ACH].override_currency(payout.provider_order_id, "CAD")
    return payout.id


async def duplicate(container: Container, banks: Banks) -> int | None:
    payout = await ach_payout(container)
    banks[ProviderKind.ACH].duplicate_order(payout.provider_order_id)
    return payout.id


async def tampered_balance(container: Container, banks: Banks) -> int | None:
    async with container.sessions.begin() as session:
        await session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.code == "platform:provider:ach:USD")
            .values(posted_credits=LedgerAccount.posted_credits + 1)
        )
    return None


DISCREPANCIES: dict[str, Inject] = {
    "missing_at_provider": drop,
    "unknown_at_provider": unknown,
    "status_mismatch": illegal_status,
    "amount_mismatch": other_amount,
    "currency_mismatch": other_currency,
    "duplicate_payment": duplicate,
    "ledger_mismatch": tampered_balance,
}


@pytest.mark.parametrize("kind", sorted(DISCREPANCIES))
async def test_each_discrepancy_is_found_once_and_left_open(
    kind: str, seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    day = await settled_day(seeded, clock)
    payout_id = await DISCREPANCIES[kind](seeded, banks)
    audited = await last_audit_id(seeded)

    result = await seeded.jobs.reconcile(day)

    assert [(b.kind, b.status, b.payout_id) for b in result.breaks] == [(kind, "open", payout_id)]
    (found,) = await breaks(seeded)
    assert (found.kind, found.status, found.payout_id) == (kind, "open", payout_id)
    assert found.first_run_id == found.last_run_id == result.run_id
    assert found.resolved_at is None and found.detail
    assert result.counts["by_kind"] == {kind: 1}
    (row,) = await audit_since(seeded, audited)
    assert (row.action, row.actor, row.detail["kind"]) == (
        "reconciliation.break_found",
        "reconciliation",
        kind,
    )
    # an unsafe break is reported, never "fixed": the payouts are where they were
    assert set((await statuses(seeded)).values()) == {"completed"}


# -- breaks that resolve themselves ---------------------------------------------------


async def test_status_lag_is_applied_and_auto_resolved(
    seeded: Container, clock: ManualClock
) -> None:
    await small_event(seeded, EVENT, COUNTRIES)
    await seeded.runner.run(EVENT, "recon-run")
    clock.advance(SETTLED)  # the banks settled; the poller has not run
    audited = await last_audit_id(seeded)

    result = await seeded.jobs.reconcile(clock.now().date())

    sent = await payouts(seeded, EVENT)
    assert {p.status for p in sent} == {"completed"}
    assert result.open == ()
    assert sorted((b.kind, b.status, b.payout_id) for b in await breaks(seeded)) == [
        ("status_mismatch", "auto_resolved", p.id) for p in sent
    ]
    assert all(
        b.resolved_by == "reconciliation" and b.resolution_note for b in await breaks(seeded)
    )
    moved = await audit_since(seeded, audited, "payout.status_changed")
    assert sorted((r.payout_id, r.actor, r.detail["to"]) for r in moved) == [
        (p.id, "reconciliation", "completed") for p in sent
    ]
    resolved = await audit_since(seeded, audited, "reconciliation.break_auto_resolved")
    assert sorted(r.payout_id for r in resolved) == [p.id for p in sent]
    assert await ledger_problems(seeded) == []
    # the poller, coming later, has nothing left to do
    assert (await seeded.jobs.poll_provider_status()).counts["payouts_moved"] == 0


async def test_an_orphaned_order_is_recorded_and_auto_resolved(
    seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    ach = banks[ProviderKind.ACH]
    stuck = await stuck_payout(seeded, ach)
    order = ach.order_for(stuck.idempotency_key)
    audited = await last_audit_id(seeded)

    result = await seeded.jobs.reconcile(clock.now().date())

    (payout,) = await payouts(seeded, "LIQ-STUCK")
    assert (payout.status, payout.provider_order_id) == ("submitted", order.order_id)
    assert ach.count_orders_for(stuck.idempotency_key) == 1
    assert result.open == ()
    (found,) = await breaks(seeded)
    assert (found.kind, found.status, found.payout_id, found.provider_order_id) == (
        "unknown_at_provider",
        "auto_resolved",
        stuck.id,
        order.order_id,
    )
    resolved = await audit_since(seeded, audited, "reconciliation.break_auto_resolved")
    assert [(r.payout_id, r.actor) for r in resolved] == [(stuck.id, "reconciliation")]
    assert await ledger_problems(seeded) == []


async def test_an_orphan_whose_recovery_failed_is_resolved_when_it_succeeds(
    seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    ach = banks[ProviderKind.ACH]
    stuck = await stuck_payout(seeded, ach)
    ach.script(*[Fault.status(503)] * 6)  # the re-ask cannot get through this time
    day = clock.now().date()

    first = await seeded.jobs.reconcile(day)
    assert [(b.kind, b.status) for b in first.breaks] == [("unknown_at_provider", "open")]
    clock.advance(timedelta(minutes=5))
    await seeded.jobs.reconcile(day + timedelta(days=1))

    (payout,) = await payouts(seeded, "LIQ-STUCK")
    assert payout.status == "submitted"
    assert ach.count_orders_for(stuck.idempotency_key) == 1
    (found,) = await breaks(seeded)
    assert (found.kind, found.status) == ("unknown_at_provider", "auto_resolved")


# -- a break's life: found again, gone, resolved by hand ------------------------------


async def test_reconciling_a_date_again_records_nothing_twice(
    seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    day = await settled_day(seeded, clock)
    banks[ProviderKind.ACH].inject_unknown_order()
    first = await seeded.jobs.reconcile(day)
    audited = await last_audit_id(seeded)
    clock.advance(timedelta(minutes=5))

    second = await seeded.jobs.reconcile(day)

    assert second.run_id == first.run_id
    (found,) = await breaks(seeded)
    assert (found.status, found.last_seen_at) == ("open", clock.now())
    assert (second.counts["new"], second.counts["seen_again"]) == (0, 1)
    row = await run_row(seeded, day)
    assert row is not None and (row.status, row.attempts) == ("completed", 2)
    assert await audit_since(seeded, audited, "reconciliation.break_found") == []


@pytest.mark.parametrize("next_day", [1, 0], ids=["next-date", "same-date"])
async def test_a_break_whose_cause_is_gone_is_resolved_by_the_next_run(
    next_day: int, seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    day = await settled_day(seeded, clock)
    ach = banks[ProviderKind.ACH]
    stray = ach.inject_unknown_order()
    await seeded.jobs.reconcile(day)
    ach.drop_order(stray)  # the provider withdrew it
    clock.advance(timedelta(minutes=5))
    audited = await last_audit_id(seeded)

    result = await seeded.jobs.reconcile(day + timedelta(days=next_day))

    assert result.counts["vanished"] == 1
    (found,) = await breaks(seeded)
    assert (found.status, found.resolved_by) == ("auto_resolved", "reconciliation")
    (row,) = await audit_since(seeded, audited, "reconciliation.break_auto_resolved")
    assert (row.entity, row.entity_id) == ("reconciliation_break", found.id)


async def test_an_operator_resolves_an_open_break_once_with_a_note(
    seeded: Container, banks: Banks, clock: ManualClock
) -> None:
    day = await settled_day(seeded, clock)
    payout_id = await drop(seeded, banks)
    await seeded.jobs.reconcile(day)
    (found,) = await breaks(seeded)
    store = seeded.jobs.reconciler.store
    audited = await last_audit_id(seeded)

    with pytest.raises(InvalidInput):
        await store.resolve(found.id, "   ", "ops@example.com", clock.now())
    with pytest.raises(NotFound):
        await store.resolve(found.id + 1000, "checked", "ops@example.com", clock.now())
    await store.resolve(
        found.id, "  bank confirmed the credit by phone ", "ops@example.com", clock.now()
    )
    with pytest.raises(BreakNotOpen):
        await store.resolve(found.id, "again", "ops@example.com", clock.now())

    (closed,) = await breaks(seeded)
    assert (closed.status, closed.resolved_by, closed.resolution_note) == (
        "resolved",
        "ops@example.com",
        "bank confirmed the credit by phone",
    )
    rows = await audit_since(seeded, audited)
    assert [(r.action, r.actor, r.entity_id, r.payout_id, r.detail["note"]) for r in rows] == [
        (
            "reconciliation.break_resolved",
            "ops@example.com",
            found.id,
            payout_id,
            "bank confirmed the credit by phone",
        )
    ]
    # found again the next night: the operator accepted it, so it stays resolved
    await seeded.jobs.reconcile(day + timedelta(days=1))
    (still,) = await breaks(seeded)
    assert (still.status, still.resolution_note) == ("resolved", closed.resolution_note)


# -- the nightly job ------------------------------------------------------------------


async def test_the_nightly_job_reconciles_the_due_date_once(container: Container) -> None:
    jobs = container.jobs
    due = jobs.due_business_date()
    assert due == date(2026, 3, 1)  # Monday 14:00 UTC: Sunday's slot (01:30) has passed

    first = await jobs.nightly_reconciliation()
    second = await jobs.nightly_reconciliation()

    assert (first.job, first.status, first.counts["business_date"]) == (
        "nightly_reconciliation",
        "succeeded",
        "2026-03-01",
    )
    assert (second.status, second.counts["business_date"]) == ("skipped", "2026-03-01")
    assert [(r.status, r.trigger) for r in await job_runs(container)] == [
        ("succeeded", "scheduled"),
        ("skipped", "scheduled"),
    ]
    row = await run_row(container, due)
    assert row is not None and (row.status, row.trigger, row.attempts) == (
        "completed",
        "scheduled",
        1,
    )


async def test_catch_up_runs_only_while_the_due_date_has_no_completed_run(
    container: Container, banks: Banks
) -> None:
    jobs = container.jobs
    due = jobs.due_business_date()
    wire = banks[ProviderKind.WIRE]
    healthy = wire.config
    wire.config = replace(healthy, transient_error_rate=1.0)

    failed = await jobs.catch_up()
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "service_unavailable" in failed.error
    row = await run_row(container, due)
    assert row is not None and row.status == "failed" and row.error

    wire.config = healthy
    caught_up = await jobs.catch_up()
    assert caught_up is not None and caught_up.status == "succeeded"
    row = await run_row(container, due)
    assert row is not None and (row.status, row.trigger, row.attempts) == (
        "completed",
        "startup",
        2,
    )

    assert await jobs.catch_up() is None
    assert (await jobs.nightly_reconciliation()).status == "skipped"


async def test_the_due_date_is_the_last_whose_slot_has_passed(container: Container) -> None:
    due = container.jobs.due_business_date  # slot: 01:30 UTC
    assert due(datetime(2026, 3, 2, 1, 29, tzinfo=UTC)) == date(2026, 2, 28)
    assert due(datetime(2026, 3, 2, 1, 30, tzinfo=UTC)) == date(2026, 3, 1)
    assert due(datetime(2026, 3, 2, 23, 59, tzinfo=UTC)) == date(2026, 3, 1)
