"""Runs against the real store: skipped payouts are re-evaluated, nothing is paid twice."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from domain.ports import ProviderKind, Submission
from persistence.tables import BankAccount, Payee, Payout
from service.bootstrap import Container
from service.demo_accounts import sample_account_details


async def payout_of(container: Container, reference: str) -> Payout:
    async with container.sessions() as session:
        payout = await session.scalar(
            select(Payout)
            .join(Payee, Payee.id == Payout.payee_id)
            .where(Payee.reference == reference, Payout.event_id == 1)
        )
        assert payout is not None
        return payout


async def reference_with_note(container: Container, name: str) -> str:
    async with container.sessions() as session:
        ref = await session.scalar(select(Payee.reference).where(Payee.name == name))
        assert ref is not None
        return ref


async def test_fixing_the_data_makes_the_next_run_pay(seeded: Container, banks) -> None:
    no_account = await reference_with_note(seeded, "Nora Lindqvist")
    wrong_method = await reference_with_note(seeded, "Oscar Pereira")
    await seeded.runner.run("LIQ-2024-001", "before")
    assert (await payout_of(seeded, no_account)).skip_reason == "missing_external_account"
    assert (await payout_of(seeded, wrong_method)).skip_reason == "invalid_method"

    async with seeded.sessions.begin() as session:
        payee_id = await session.scalar(select(Payee.id).where(Payee.reference == no_account))
        await session.execute(
            insert(BankAccount).values(
                payee_id=payee_id,
                holder_name="Nora Lindqvist",
                country="SE",
                currency="SEK",
                details=sample_account_details("SE", seed=5),
                is_default=True,
                created_at=seeded.clock.now(),
            )
        )
        await session.execute(
            update(Payee)
            .where(Payee.reference == wrong_method)
            .values(payment_method="bank_transfer")
        )

    orders_before = sum(len(b.orders) for b in banks.values())
    summary = await seeded.runner.run("LIQ-2024-001", "after")
    assert summary.created == 2
    assert sum(len(b.orders) for b in banks.values()) == orders_before + 2
    for reference in (no_account, wrong_method):
        payout = await payout_of(seeded, reference)
        assert payout.status == "submitted"
        assert payout.skip_reason is None
        assert banks[ProviderKind.CROSS_BORDER].count_orders_for(payout.idempotency_key) == 1


async def test_every_demo_skip_reason_is_the_right_one(seeded: Container) -> None:
    summary = await seeded.runner.run("LIQ-2024-001", "reasons")
    expected = {
        "Nora Lindqvist": "missing_external_account",
        "Oscar Pereira": "invalid_method",
        "Greta Vogel": "invalid_bank_account",
        "Sam Doe": "missing_country",
        "Walter Brandt": "amount_above_rail_limit",
        "Zoe Marchetti": "invalid_amount",
    }
    for name, reason in expected.items():
        payout = await payout_of(seeded, await reference_with_note(seeded, name))
        assert (name, payout.status, payout.skip_reason) == (name, "skipped", reason)
    breakdown = dict(summary.skip_breakdown)
    assert all(breakdown[reason] >= 1 for reason in expected.values())
    assert sum(breakdown.values()) == summary.skipped


async def test_edge_case_routes(seeded: Container) -> None:
    await seeded.runner.run("LIQ-2024-001", "routes")
    abroad = await payout_of(
        seeded, await reference_with_note(seeded, "Gwen Harlow (UK resident, US account)")
    )
    assert (abroad.rail, abroad.routing_rule, abroad.country) == (
        "ACH",
        "us_bank_account_abroad",
        "GB",
    )
    for name in ("Khalid Al Mansouri", "Kim Min-jun"):
        wire = await payout_of(seeded, await reference_with_note(seeded, name))
        assert (wire.rail, wire.routing_rule, wire.status) == (
            "WIRE",
            "international_wire",
            "submitted",
        )


async def test_a_second_copy_of_an_answer_changes_nothing(seeded: Container) -> None:
    """Start-up recovery and a run may both hear back about one payout: one audit trail."""
    from domain.ports import SubmitOutcome, SubmitResult
    from domain.runs import SubmissionResult
    from persistence.tables import AuditEvent

    await seeded.runner.run("LIQ-2024-001", "first")
    async with seeded.sessions() as session:
        payout = await session.scalar(select(Payout).where(Payout.status == "submitted"))
        assert payout is not None
        audits_before = len(
            (
                await session.scalars(select(AuditEvent).where(AuditEvent.payout_id == payout.id))
            ).all()
        )
    submission = (await seeded.store.submitting(None)) or None
    assert submission is None  # nothing left to ask about
    from persistence.run_store import request_from_json

    late = SubmissionResult(
        Submission(
            payout.id,
            ProviderKind(payout.provider),
            request_from_json(payout.order_request),
            payout.run_id,
        ),
        SubmitResult(SubmitOutcome.REJECTED, error_code="late", error_message="late"),
    )
    await seeded.store.record_results(None, [late], seeded.clock.now())
    async with seeded.sessions() as session:
        again = await session.get(Payout, payout.id)
        audits_after = len(
            (
                await session.scalars(select(AuditEvent).where(AuditEvent.payout_id == payout.id))
            ).all()
        )
    assert (again.status, again.failure_code) == ("submitted", None)
    assert audits_after == audits_before
    summary = await seeded.store.run_summary(payout.run_id)
    assert summary.failed == 0


@pytest.mark.parametrize("refused", [False, True], ids=["accepted", "refused"])
async def test_a_runs_statements_do_not_grow_with_its_payouts(
    seeded: Container, banks, refused: bool
) -> None:
    """The hot path is batched: 8 or 32 payouts cost the same number of statements,
    whether the banks accept them or refuse them all (releasing every hold)."""
    from sqlalchemy import event

    from domain.events import AllocationInput, EventInput, plan_event, require
    from persistence.event_store import SqlEventStore

    async with seeded.sessions() as session:
        payees = list(
            (
                await session.scalars(
                    select(Payee.id).where(Payee.reference.like("INV2-%")).order_by(Payee.id)
                )
            ).all()
        )
        details = (
            await session.scalars(
                select(BankAccount.details).where(BankAccount.payee_id.in_(payees[:32]))
            )
        ).all()
    if refused:
        for bank in banks.values():
            bank.reject_accounts(
                *(
                    v
                    for d in details
                    for k, v in d.items()
                    if k in ("account_number", "iban", "clabe")
                )
            )
    counts = []
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    # The first run also creates the ledger accounts the others find (cash at each
    # provider): the two after it are compared.
    for i, size in enumerate((32, 8, 32)):
        code = f"LIQ-SIZE-{i}-{size}"
        plan = require(
            plan_event(
                EventInput(
                    code=code,
                    name=code,
                    fund_name="F",
                    currency="USD",
                    allocations=[AllocationInput(p, "10.00") for p in payees[:size]],
                )
            )
        )
        await SqlEventStore(seeded.sessions).create(plan, seeded.clock.now())
        if refused:  # a refusal flags the account; the next run would skip it, not send it
            async with seeded.sessions.begin() as session:
                await session.execute(update(BankAccount).values(flagged_at=None, flag_code=None))
        statements[0] = 0
        event.listen(seeded.engine.sync_engine, "before_cursor_execute", count)
        try:
            summary = await seeded.runner.run(code, code)
        finally:
            event.remove(seeded.engine.sync_engine, "before_cursor_execute", count)
        assert (summary.failed if refused else summary.created) == size
        counts.append(statements[0])
    assert counts[1] == counts[2], counts
