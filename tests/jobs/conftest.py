"""Jobs tests: the banks keep the engine's time, so one ``clock.advance`` moves both.

A test that wants other bank behaviour (returns, failures) parametrizes
``bank_config`` directly. The helpers below set up small events and read back
what the jobs did (statuses, ledger transfers, audit rows).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from domain.clock import ManualClock
from domain.events import AllocationInput, EventInput, plan_event, require
from domain.ports import ProviderKind
from persistence import ledger_checks
from persistence.event_store import SqlEventStore
from persistence.tables import AuditEvent, LedgerTransfer, LiquidationEvent, Payee, Payout
from providers.mock.bank import MockBank
from providers.mock.config import Fault, MockBankConfig
from service.bootstrap import Container

# Past every rail's settlement lag (at most two days) and a return a day later.
SETTLED = timedelta(days=4)


@pytest.fixture
def bank_config() -> MockBankConfig:
    return MockBankConfig(seed=7)


@pytest.fixture
def banks(clock: ManualClock, bank_config: MockBankConfig) -> dict[ProviderKind, MockBank]:
    return {kind: MockBank(kind, bank_config, clock) for kind in ProviderKind}


@pytest.fixture
def call_timeout_s() -> float:
    """A create that "times out" costs this much real time."""
    return 0.25


async def small_event(container: Container, code: str, countries: tuple[str, ...]) -> None:
    """An event paying one demo investor per entry of ``countries`` (distinct investors)."""
    async with container.sessions() as session:
        rows = (
            await session.execute(
                select(Payee.id, Payee.country)
                .where(Payee.reference.like("INV-0%"))
                .order_by(Payee.id)
            )
        ).all()
    free: dict[str, list[int]] = defaultdict(list)
    for payee_id, country in rows:
        free[country].append(payee_id)
    allocations = [
        AllocationInput(free[country].pop(0), f"{1000 + 25 * n}.00")
        for n, country in enumerate(countries)
    ]
    plan = require(
        plan_event(
            EventInput(code=code, name=code, fund_name="F", currency="USD", allocations=allocations)
        )
    )
    await SqlEventStore(container.sessions).create(plan, container.clock.now())


async def stuck_payout(container: Container, bank: MockBank, code: str = "LIQ-STUCK") -> Payout:
    """A one-payout run whose create reached the bank but whose answer never came back:
    the payout stays ``submitting`` and the bank holds its order (a crash, in effect)."""
    await small_event(container, code, ("US",))
    bank.script(Fault.timeout_after_create(hang_seconds=5), *[Fault.status(503)] * 5)
    summary = await container.runner.run(code, f"{code}-run")
    assert summary.in_flight == 1
    (payout,) = await payouts(container, code)
    assert payout.status == "submitting" and payout.provider_order_id is None
    assert bank.count_orders_for(payout.idempotency_key) == 1
    return payout


async def payouts(container: Container, event_code: str | None = None) -> list[Payout]:
    """Payouts that went to a provider (skipped ones left out), by id."""
    statement = (
        select(Payout)
        .where(Payout.provider.isnot(None), Payout.status != "skipped")
        .order_by(Payout.id)
    )
    if event_code is not None:
        statement = statement.join(LiquidationEvent, LiquidationEvent.id == Payout.event_id).where(
            LiquidationEvent.code == event_code
        )
    async with container.sessions() as session:
        return list((await session.scalars(statement)).all())


async def statuses(container: Container) -> dict[int, str]:
    return {p.id: p.status for p in await payouts(container)}


async def transfer_kinds(container: Container) -> dict[int, list[str]]:
    """Each payout's ledger transfers, oldest first."""
    async with container.sessions() as session:
        rows = (
            await session.execute(
                select(LedgerTransfer.payout_id, LedgerTransfer.kind)
                .where(LedgerTransfer.payout_id.isnot(None))
                .order_by(LedgerTransfer.id)
            )
        ).all()
    kinds: dict[int, list[str]] = defaultdict(list)
    for payout_id, kind in rows:
        kinds[payout_id].append(kind)
    return dict(kinds)


async def last_audit_id(container: Container) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


async def audit_since(
    container: Container, after_id: int, action: str | None = None
) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id)
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    async with container.sessions() as session:
        return list((await session.scalars(statement)).all())


async def ledger_problems(container: Container) -> list[ledger_checks.Finding]:
    async with container.sessions() as session:
        return await ledger_checks.verify(session)
