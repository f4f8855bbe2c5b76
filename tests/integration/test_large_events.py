"""Look-ups sized by an event's payees: PostgreSQL takes at most 65,535 parameters in
a statement, so an event allocating to 70,000 payees must not send
them in one ``IN (...)`` list. A 100,000-payout run crashed on this before."""

from __future__ import annotations

from domain import ledger
from domain.events import EventPlan
from domain.money import Money
from persistence import ledger_store
from persistence.event_store import SqlEventStore
from persistence.run_store import default_accounts
from service.bootstrap import Container

MANY = 70_000
UNKNOWN = range(10**9, 10**9 + MANY)  # payee ids nobody has


async def test_an_event_naming_70000_unknown_payees_is_refused_not_crashed(
    container: Container,
) -> None:
    amount = Money(100, "USD")
    plan = EventPlan(
        "LIQ-HUGE", "Huge", "Fund", Money(100 * MANY, "USD"), tuple((p, amount) for p in UNKNOWN)
    )
    problems = await SqlEventStore(container.sessions).create(plan, container.clock.now())
    assert isinstance(problems, list) and len(problems) == MANY
    assert {p.code for p in problems} == {"NOT_FOUND"}


async def test_bank_accounts_of_70000_payees_in_one_call(seeded: Container) -> None:
    async with seeded.sessions() as session:
        known = await default_accounts(session, [1, 2])
        assert known
        assert (await default_accounts(session, [1, 2, *UNKNOWN])).keys() == known.keys()


async def test_70000_ledger_accounts_in_one_call(container: Container) -> None:
    refs = [ledger.provider_cash(f"bank{i}", "USD") for i in range(MANY)]
    async with container.sessions.begin() as session:
        ids = await ledger_store.account_ids(session, refs, container.clock.now())
        assert len(set(ids.values())) == MANY
        assert await ledger_store.account_ids(session, refs, container.clock.now()) == ids
        await session.rollback()
