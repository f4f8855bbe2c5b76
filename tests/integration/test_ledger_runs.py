"""The ledger beside a run, worked like an accountant's exercise."""

from __future__ import annotations

from sqlalchemy import select

from domain.events import AllocationInput, EventInput, plan_event, require
from domain.ports import ProviderKind
from persistence import ledger_checks
from persistence.event_store import SqlEventStore
from persistence.tables import BankAccount, LedgerAccount, LedgerTransfer, Payee
from service.bootstrap import Container


async def payee_in(container: Container, country: str) -> tuple[int, BankAccount]:
    async with container.sessions() as session:
        row = (
            await session.execute(
                select(Payee.id, BankAccount)
                .join(BankAccount, BankAccount.payee_id == Payee.id)
                .where(Payee.country == country, Payee.reference.like("INV-0%"))
                .order_by(Payee.id)
                .limit(1)
            )
        ).one()
        return row[0], row[1]


async def balances(container: Container) -> dict[str, tuple[int, int, int, int]]:
    async with container.sessions() as session:
        rows = (await session.scalars(select(LedgerAccount))).all()
    return {
        r.code: (r.pending_debits, r.pending_credits, r.posted_debits, r.posted_credits)
        for r in rows
    }


def change(before: dict, after: dict) -> dict[str, tuple[int, ...]]:
    """What an exercise did to each account: after minus before, unchanged ones left out."""
    zero = (0, 0, 0, 0)
    moved = {
        code: tuple(a - b for a, b in zip(after[code], before.get(code, zero), strict=True))
        for code in after
    }
    return {code: d for code, d in moved.items() if d != zero}


async def problems(container: Container) -> list:
    async with container.sessions() as session:
        return await ledger_checks.verify(session)


async def test_allocate_reserve_and_void_balance_to_the_cent(seeded: Container, banks) -> None:
    us, _ = await payee_in(seeded, "US")
    de, _ = await payee_in(seeded, "DE")
    ca, ca_account = await payee_in(seeded, "CA")
    plan = require(
        plan_event(
            EventInput(
                code="LIQ-BOOKS",
                name="Books",
                fund_name="F",
                currency="USD",
                allocations=[
                    AllocationInput(us, "1000.00"),
                    AllocationInput(de, "250.50"),
                    AllocationInput(ca, "75.25"),
                ],
            )
        )
    )
    opening = await balances(seeded)
    await SqlEventStore(seeded.sessions).create(plan, seeded.clock.now())
    # Allocation: Dr fund equity 1,325.75 / Cr each investor's payable (posted).
    # Columns: (pending Dr, pending Cr, posted Dr, posted Cr), in cents.
    assert change(opening, await balances(seeded)) == {
        "platform:fund:USD": (0, 0, 132575, 0),
        f"payee:{us}:payable:USD": (0, 0, 0, 100000),
        f"payee:{de}:payable:USD": (0, 0, 0, 25050),
        f"payee:{ca}:payable:USD": (0, 0, 0, 7525),
    }

    banks[ProviderKind.CROSS_BORDER].reject_accounts(ca_account.details["account_number"])
    summary = await seeded.runner.run("LIQ-BOOKS", "books")
    assert (summary.created, summary.failed) == (2, 1)

    assert change(opening, await balances(seeded)) == {
        "platform:fund:USD": (0, 0, 132575, 0),
        # US: 1,000.00 allocated and held for ACH: nothing available until it settles.
        f"payee:{us}:payable:USD": (100000, 0, 0, 100000),
        "platform:provider:ach:USD": (0, 100000, 0, 0),
        # DE: 250.50 held for the cross-border provider (SEPA, paid in EUR, booked in USD).
        f"payee:{de}:payable:USD": (25050, 0, 0, 25050),
        "platform:provider:cross_border:USD": (0, 25050, 0, 0),
        # CA: refused by the bank; the 75.25 hold was voided, so it is available again.
        f"payee:{ca}:payable:USD": (0, 0, 0, 7525),
    }
    async with seeded.sessions() as session:
        kinds = sorted(
            (
                await session.scalars(
                    select(LedgerTransfer.kind).where(LedgerTransfer.payout_id.isnot(None))
                )
            ).all()
        )
    assert kinds == ["reserve", "reserve", "reserve", "void"]
    assert await problems(seeded) == []


async def test_a_rerun_reserves_nothing_twice(seeded: Container) -> None:
    await seeded.runner.run("LIQ-2024-001", "one")
    before = await balances(seeded)
    await seeded.runner.run("LIQ-2024-001", "two")
    assert await balances(seeded) == before
    assert await problems(seeded) == []


async def test_the_verifier_notices_a_tampered_cache(seeded: Container) -> None:
    await seeded.runner.run("LIQ-2024-001", "tamper")
    assert await problems(seeded) == []
    async with seeded.sessions.begin() as session:
        account = await session.scalar(
            select(LedgerAccount).where(LedgerAccount.code == "platform:provider:ach:USD")
        )
        account.pending_credits += 1
    found = await problems(seeded)
    assert [(f.kind, f.subject) for f in found] == [("cached_balance", "platform:provider:ach:USD")]


async def test_settle_fail_and_return_move_the_books(seeded: Container) -> None:
    """Three payouts of 1,000.00, 250.50 and 75.25 to ACH: one settles, one fails after
    submission, one settles and comes back (R01). Every account ends to the cent."""
    from domain.ports import OrderStatus
    from domain.settlement import StatusReport
    from persistence.settlement_store import SqlSettlementStore
    from persistence.tables import Payout

    async with seeded.sessions() as session:
        us = list(
            (
                await session.scalars(
                    select(Payee.id)
                    .where(Payee.country == "US", Payee.reference.like("INV-0%"))
                    .order_by(Payee.id)
                )
            ).all()
        )[:3]
    assert len(us) == 3
    settles, fails, returns = us
    plan = require(
        plan_event(
            EventInput(
                code="LIQ-SETTLE",
                name="Settle",
                fund_name="F",
                currency="USD",
                allocations=[
                    AllocationInput(settles, "1000.00"),
                    AllocationInput(fails, "250.50"),
                    AllocationInput(returns, "75.25"),
                ],
            )
        )
    )
    await SqlEventStore(seeded.sessions).create(plan, seeded.clock.now())
    await seeded.runner.run("LIQ-SETTLE", "s")
    opening = await balances(seeded)
    async with seeded.sessions() as session:
        ids = dict(
            (
                await session.execute(
                    select(Payout.payee_id, Payout.id).where(
                        Payout.payee_id.in_(us),
                        Payout.event_id.isnot(None),
                        Payout.amount_minor.in_([100000, 25050, 7525]),
                    )
                )
            ).all()
        )

    store = SqlSettlementStore(seeded.sessions)
    reports = [
        StatusReport(ids[settles], OrderStatus.COMPLETED),
        StatusReport(ids[fails], OrderStatus.FAILED, "R03", "no account"),
        StatusReport(ids[returns], OrderStatus.RETURNED, "R01", "insufficient funds"),
    ]
    assert await store.apply(reports, seeded.clock.now()) == 3
    assert change(opening, await balances(seeded)) == {
        # settled: the 1,000.00 hold is posted (pending Dr/Cr released, posted Dr/Cr made)
        f"payee:{settles}:payable:USD": (-100000, 0, 100000, 0),
        # failed: the 250.50 hold is voided; it is available to the investor again
        f"payee:{fails}:payable:USD": (-25050, 0, 0, 0),
        # returned: posted 75.25 out, then the return posted it back
        f"payee:{returns}:payable:USD": (-7525, 0, 7525, 7525),
        "platform:provider:ach:USD": (0, -132575, 7525, 107525),
    }
    async with seeded.sessions() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Payout.id, Payout.status).where(Payout.id.in_(ids.values()))
                )
            ).all()
        )
        failure = await session.scalar(select(Payout.failure_code).where(Payout.id == ids[returns]))
    assert statuses == {ids[settles]: "completed", ids[fails]: "failed", ids[returns]: "returned"}
    assert failure == "R01"
    assert await problems(seeded) == []

    # the same reports again (a repeated poll) change nothing
    before = await balances(seeded)
    assert await store.apply(reports, seeded.clock.now()) == 0
    assert await balances(seeded) == before


async def test_a_merchant_holds_then_cancels(seeded: Container) -> None:
    """Tiny Studio (INR 100.00) asks for 60.00, then cancels: the books come back whole."""
    from domain.merchant_payouts import PayoutRequest
    from domain.money import Money
    from persistence.merchant_store import SqlMerchantPayouts

    async with seeded.sessions() as session:
        payee, account = (
            await session.execute(
                select(Payee.id, BankAccount.id)
                .join(BankAccount, BankAccount.payee_id == Payee.id)
                .where(Payee.reference == "MER-TINY")
            )
        ).one()
    opening = await balances(seeded)
    payable = f"payee:{payee}:payable:INR"
    assert opening[payable] == (0, 0, 0, 10000)  # the posted opening balance
    merchants = SqlMerchantPayouts(seeded.sessions)
    outcome = await merchants.create(
        f"payee:{payee}",
        PayoutRequest(payee, Money.parse("60.00", "INR"), account, "tiny-60-a"),
        seeded.clock.now(),
    )
    assert change(opening, await balances(seeded)) == {
        payable: (6000, 0, 0, 0),  # held: available 40.00
        "platform:provider:cross_border:INR": (0, 6000, 0, 0),
    }
    assert (
        await merchants.cancel(f"payee:{payee}", outcome.payout_id, payee, seeded.clock.now()) == []
    )
    assert change(opening, await balances(seeded)) == {}  # voided: back to 100.00 available
    assert await problems(seeded) == []
