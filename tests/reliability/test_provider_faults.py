"""Provider faults during a run: each ends in the right state, with one order at most."""

from __future__ import annotations

from sqlalchemy import select

from domain.events import AllocationInput, EventInput, plan_event, require
from domain.ports import ProviderKind
from persistence.event_store import SqlEventStore
from persistence.tables import AuditEvent, Payee, Payout
from providers.mock.config import Fault
from service.bootstrap import Container
from tests.conftest import FakeSleep


async def one_us_payout(container: Container, code: str = "LIQ-FAULT") -> None:
    """An event with a single US investor: one ACH payment order."""
    async with container.sessions() as session:
        payee_id = await session.scalar(
            select(Payee.id)
            .where(Payee.country == "US", Payee.reference.like("INV-0%"))
            .order_by(Payee.id)
        )
    plan = require(
        plan_event(
            EventInput(
                code=code,
                name="Fault",
                fund_name="F",
                currency="USD",
                allocations=[AllocationInput(payee_id, "2500.00")],
            )
        )
    )
    await SqlEventStore(container.sessions).create(plan, container.clock.now())


async def assert_books_balance(container: Container) -> None:
    from persistence import ledger_checks

    async with container.sessions() as session:
        assert await ledger_checks.verify(session) == []


async def the_payout(container: Container) -> Payout:
    async with container.sessions() as session:
        payout = await session.scalar(
            select(Payout).where(Payout.event_id.isnot(None)).order_by(Payout.id.desc())
        )
        assert payout is not None
        return payout


async def trace(container: Container, payout_id: int) -> list[AuditEvent]:
    async with container.sessions() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.payout_id == payout_id)
                    .order_by(AuditEvent.id)
                )
            ).all()
        )


async def test_429_with_retry_after_is_honoured(
    seeded: Container, banks, fake_sleep: FakeSleep
) -> None:
    await one_us_payout(seeded)
    banks[ProviderKind.ACH].script(Fault.status(429, retry_after=2))
    summary = await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert (summary.created, payout.status) == (1, "submitted")
    assert fake_sleep.calls == [2]
    retries = [t for t in await trace(seeded, payout.id) if t.action == "provider.attempt_failed"]
    assert [(r.detail["result"], r.detail["wait_seconds"]) for r in retries] == [("http_429", 2)]
    assert banks[ProviderKind.ACH].count_orders_for(payout.idempotency_key) == 1
    await assert_books_balance(seeded)


async def test_503_then_success_backs_off_one_second(
    seeded: Container, banks, fake_sleep: FakeSleep
) -> None:
    await one_us_payout(seeded)
    banks[ProviderKind.ACH].script(Fault.status(503), Fault.status(503))
    await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert payout.status == "submitted"
    assert fake_sleep.calls == [1, 2]
    assert banks[ProviderKind.ACH].count_orders_for(payout.idempotency_key) == 1
    await assert_books_balance(seeded)


async def test_400_is_permanent_and_not_retried(
    seeded: Container, banks, fake_sleep: FakeSleep
) -> None:
    await one_us_payout(seeded)
    banks[ProviderKind.ACH].script(Fault.status(400, error="invalid_request"))
    summary = await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert (summary.failed, payout.status, payout.failure_code) == (1, "failed", "invalid_request")
    assert fake_sleep.calls == []
    assert banks[ProviderKind.ACH].count_orders_for(payout.idempotency_key) == 0
    last = (await trace(seeded, payout.id))[-1]
    assert last.detail["to"] == "failed" and last.detail["attempts"] == 1
    await assert_books_balance(seeded)


async def test_closed_account_fails_the_payout(seeded: Container, banks) -> None:
    await one_us_payout(seeded)
    async with seeded.sessions() as session:
        from persistence.tables import BankAccount

        account = await session.scalar(
            select(BankAccount)
            .join(Payee)
            .where(Payee.country == "US", Payee.reference.like("INV-0%"))
            .order_by(Payee.id)
        )
        assert account is not None
    banks[ProviderKind.ACH].reject_accounts(account.details["account_number"])
    await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert (payout.status, payout.failure_code) == ("failed", "R02")  # ACH: account closed
    await assert_books_balance(seeded)


async def test_timeout_after_the_order_was_created_ends_with_one_order(
    seeded: Container, banks, fake_sleep: FakeSleep
) -> None:
    await one_us_payout(seeded)
    ach = banks[ProviderKind.ACH]
    ach.script(Fault.timeout_after_create(hang_seconds=5))
    summary = await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert (summary.created, payout.status) == (1, "submitted")
    assert ach.count_orders_for(payout.idempotency_key) == 1
    assert payout.provider_order_id == ach.order_for(payout.idempotency_key).order_id
    retries = [
        t.detail["result"]
        for t in await trace(seeded, payout.id)
        if t.action == "provider.attempt_failed"
    ]
    assert retries == ["timeout"]
    await assert_books_balance(seeded)


async def test_unreachable_provider_leaves_it_in_flight_then_recovery_pays_once(
    seeded: Container, banks, fake_sleep: FakeSleep
) -> None:
    await one_us_payout(seeded)
    ach = banks[ProviderKind.ACH]
    ach.script(*[Fault.status(503)] * 6)
    summary = await seeded.runner.run("LIQ-FAULT", "k")
    payout = await the_payout(seeded)
    assert (summary.in_flight, payout.status) == (1, "submitting")
    assert fake_sleep.calls == [1, 2, 4, 8, 16]
    assert ach.count_orders_for(payout.idempotency_key) == 0

    assert await seeded.runner.recover() == 1
    payout = await the_payout(seeded)
    assert payout.status == "submitted"
    assert ach.count_orders_for(payout.idempotency_key) == 1
    summary = await seeded.store.run_summary(summary.run_id)
    assert (summary.created, summary.in_flight) == (1, 0)
    await assert_books_balance(seeded)


async def test_next_run_finishes_what_an_outage_left(seeded: Container, banks) -> None:
    await one_us_payout(seeded)
    ach = banks[ProviderKind.ACH]
    ach.script(*[Fault.status(502)] * 6)
    await seeded.runner.run("LIQ-FAULT", "first")
    second = await seeded.runner.run("LIQ-FAULT", "second")
    payout = await the_payout(seeded)
    assert (second.created, payout.status) == (1, "submitted")
    assert ach.count_orders_for(payout.idempotency_key) == 1
    await assert_books_balance(seeded)


async def test_the_run_left_in_flight_learns_its_payout_was_paid_later(
    seeded: Container, banks
) -> None:
    await one_us_payout(seeded)
    banks[ProviderKind.ACH].script(*[Fault.status(503)] * 6)
    first = await seeded.runner.run("LIQ-FAULT", "first")
    assert first.in_flight == 1
    second = await seeded.runner.run("LIQ-FAULT", "second")
    assert second.created == 1
    first = await seeded.store.run_summary(first.run_id)
    assert (first.created, first.in_flight) == (1, 0)
    await assert_books_balance(seeded)
