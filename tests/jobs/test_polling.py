"""The status poller as a job: providers' feeds become payout statuses, ledger
postings and audit rows, once each, however often it runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from domain.clock import ManualClock
from domain.merchant_payouts import PayoutRequest
from domain.money import Money
from domain.ports import ProviderKind
from domain.reason_codes import flags_account
from persistence.merchant_store import Outcome, SqlMerchantPayouts
from persistence.tables import BankAccount, JobRun, LedgerAccount, Payee, ProviderCursor
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from service.bootstrap import Container
from tests.conftest import T0
from tests.jobs.conftest import (
    SETTLED,
    audit_since,
    last_audit_id,
    ledger_problems,
    payouts,
    small_event,
    statuses,
    stuck_payout,
    transfer_kinds,
)

# The ledger transfers and the audited steps a payout leaves, by where it ends.
TRANSFERS = {
    "completed": ["reserve", "post"],
    "failed": ["reserve", "void"],
    "returned": ["reserve", "post", "return"],
}
STEPS = {
    "completed": [("submitted", "completed", "post")],
    "failed": [("submitted", "failed", "void")],
    "returned": [("submitted", "completed", "post"), ("completed", "returned", "reverse")],
}


async def job_run(container: Container, run_id: int) -> JobRun:
    async with container.sessions() as session:
        row = await session.get(JobRun, run_id)
        assert row is not None
        return row


async def ledger_snapshot(container: Container) -> dict[str, tuple[int, int, int, int]]:
    async with container.sessions() as session:
        rows = (await session.scalars(select(LedgerAccount))).all()
    return {
        r.code: (r.pending_debits, r.pending_credits, r.posted_debits, r.posted_credits)
        for r in rows
    }


@pytest.mark.parametrize("bank_config", [MockBankConfig(seed=7, return_rate=0.3, failure_rate=0.2)])
async def test_settlement_moves_each_payout_with_one_posting_and_one_audit_row_per_step(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    await seeded.runner.run("LIQ-2024-001", "run-1")
    before = await last_audit_id(seeded)
    clock.advance(SETTLED)

    outcome = await seeded.jobs.poll_provider_status()

    sent = await payouts(seeded)
    assert len(sent) == 53
    assert (outcome.status, outcome.counts["payouts_moved"]) == ("succeeded", 53)
    at_bank = {
        p.id: banks[ProviderKind(p.provider)].get(p.provider_order_id).view(clock.now())
        for p in sent
    }
    expected = {pid: order.status.value for pid, order in at_bank.items()}
    assert {p.id: p.status for p in sent} == expected
    assert set(Counter(expected.values())) == {"completed", "failed", "returned"}
    for p in sent:
        if p.status != "completed":
            assert p.failure_code == at_bank[p.id].failure_code is not None

    kinds = await transfer_kinds(seeded)
    assert {pid: kinds[pid] for pid in expected} == {
        pid: TRANSFERS[status] for pid, status in expected.items()
    }
    steps: dict[int, list[tuple[str, str, str]]] = {pid: [] for pid in expected}
    flagged = set()
    for row in await audit_since(seeded, before):
        if row.action == "bank_account.flagged":  # an account code: the account is unusable
            flagged.add(row.payout_id)
            continue
        assert (row.action, row.actor) == ("payout.status_changed", "system")
        steps[row.payout_id].append((row.detail["from"], row.detail["to"], row.detail["effect"]))
    assert steps == {pid: STEPS[status] for pid, status in expected.items()}
    assert flagged == {p.id for p in sent if flags_account(p.failure_code)}
    assert await ledger_problems(seeded) == []


async def test_a_second_poll_and_a_reread_feed_change_nothing(
    seeded: Container, clock: ManualClock
) -> None:
    await seeded.runner.run("LIQ-2024-001", "run-1")
    clock.advance(SETTLED)
    first = await seeded.jobs.poll_provider_status()
    assert first.counts["payouts_moved"] == 53
    assert set((await statuses(seeded)).values()) == {"completed"}
    audited, books = await last_audit_id(seeded), await ledger_snapshot(seeded)
    kinds = await transfer_kinds(seeded)

    again = await seeded.jobs.poll_provider_status()
    async with seeded.sessions.begin() as session:  # forget how far each feed was read
        await session.execute(update(ProviderCursor).values(changed_since=None))
    reread = await seeded.jobs.poll_provider_status()

    assert (again.status, again.counts["payouts_moved"]) == ("succeeded", 0)
    assert (reread.counts["orders_seen"], reread.counts["payouts_moved"]) == (53, 0)
    assert await audit_since(seeded, audited) == []
    assert await ledger_snapshot(seeded) == books
    assert await transfer_kinds(seeded) == kinds
    assert await ledger_problems(seeded) == []


async def test_before_settlement_nothing_moves_and_the_cursor_moves_on(
    seeded: Container, clock: ManualClock
) -> None:
    await seeded.runner.run("LIQ-2024-001", "early")
    clock.advance(timedelta(minutes=10))
    await small_event(seeded, "LIQ-LATE", ("US", "DE", "AE"))
    await seeded.runner.run("LIQ-LATE", "late")
    audited = await last_audit_id(seeded)

    first = await seeded.jobs.poll_provider_status()
    clock.advance(timedelta(minutes=40))  # same-day rails take an hour, the others days
    second = await seeded.jobs.poll_provider_status()

    assert (first.counts["orders_seen"], first.counts["payouts_moved"]) == (56, 0)
    # read from the cursors (minus their overlap): only the orders accepted at T0+10min
    assert (second.counts["orders_seen"], second.counts["payouts_moved"]) == (3, 0)
    assert set((await statuses(seeded)).values()) == {"submitted"}
    assert await audit_since(seeded, audited) == []
    async with seeded.sessions() as session:
        cursors = dict(
            (
                await session.execute(select(ProviderCursor.provider, ProviderCursor.changed_since))
            ).all()
        )
    late = T0 + timedelta(minutes=10)
    assert cursors == {"ach": late, "wire": late, "cross_border": late}


async def test_a_stuck_submission_is_recovered_once_it_is_stale(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    ach = banks[ProviderKind.ACH]
    stuck = await stuck_payout(seeded, ach)

    fresh = await seeded.jobs.poll_provider_status()
    clock.advance(timedelta(minutes=2) - timedelta(seconds=1))
    almost = await seeded.jobs.poll_provider_status()
    assert (fresh.counts["recovered"], almost.counts["recovered"]) == (0, 0)
    assert (await statuses(seeded))[stuck.id] == "submitting"

    clock.advance(timedelta(seconds=2))
    stale = await seeded.jobs.poll_provider_status()

    assert (stale.status, stale.counts["recovered"]) == ("succeeded", 1)
    (payout,) = await payouts(seeded, "LIQ-STUCK")
    assert payout.status == "submitted"
    assert payout.provider_order_id == ach.order_for(payout.idempotency_key).order_id
    assert ach.count_orders_for(payout.idempotency_key) == 1

    clock.advance(SETTLED)
    await seeded.jobs.poll_provider_status()
    assert (await statuses(seeded))[stuck.id] == "completed"
    assert ach.count_orders_for(payout.idempotency_key) == 1
    assert (await transfer_kinds(seeded))[stuck.id] == ["reserve", "post"]
    assert await ledger_problems(seeded) == []


async def test_a_failing_provider_fails_the_job_and_the_others_still_move(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    await seeded.runner.run("LIQ-2024-001", "run-1")
    wire = banks[ProviderKind.WIRE]
    healthy = wire.config
    wire.config = replace(healthy, transient_error_rate=1.0)  # every request: 503
    clock.advance(SETTLED)

    outcome = await seeded.jobs.poll_provider_status()

    assert outcome.status == "failed"
    assert outcome.error is not None and "wire" in outcome.error
    assert outcome.counts["providers_failed"] == 1
    by_provider = Counter((p.provider, p.status) for p in await payouts(seeded))
    assert by_provider == {
        ("ach", "completed"): 4,
        ("cross_border", "completed"): 47,
        ("wire", "submitted"): 2,
    }
    recorded = await job_run(seeded, outcome.run_id)
    assert (recorded.job, recorded.status, recorded.error) == (
        "poll_provider_status",
        "failed",
        outcome.error,
    )
    assert recorded.counts["providers_failed"] == 1 and recorded.finished_at is not None

    wire.config = healthy
    recovered = await seeded.jobs.poll_provider_status()
    assert (recovered.status, recovered.counts["payouts_moved"]) == ("succeeded", 2)
    assert set((await statuses(seeded)).values()) == {"completed"}
    assert (await job_run(seeded, recovered.run_id)).status == "succeeded"
    assert await ledger_problems(seeded) == []


async def test_a_merchant_payout_is_dispatched_then_completed(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    async with seeded.sessions() as session:
        payee, account = (
            await session.execute(
                select(Payee.id, BankAccount.id)
                .join(BankAccount, BankAccount.payee_id == Payee.id)
                .where(Payee.reference == "MER-TINY")
            )
        ).one()
    created = await SqlMerchantPayouts(seeded.sessions).create(
        f"payee:{payee}",
        PayoutRequest(payee, Money.parse("60.00", "INR"), account, "tiny-60"),
        clock.now(),
    )
    assert isinstance(created, Outcome)
    assert (await statuses(seeded))[created.payout_id] == "pending"

    dispatched = await seeded.jobs.dispatch_pending_payouts()
    again = await seeded.jobs.dispatch_pending_payouts()

    assert (dispatched.status, dispatched.counts) == ("succeeded", {"dispatched": 1})
    assert again.counts == {"dispatched": 0}
    (payout,) = [p for p in await payouts(seeded) if p.id == created.payout_id]
    bank = banks[ProviderKind.CROSS_BORDER]
    assert payout.status == "submitted"
    assert payout.provider_order_id == bank.order_for(payout.idempotency_key).order_id
    assert bank.count_orders_for(payout.idempotency_key) == 1

    clock.advance(timedelta(hours=2))  # NEFT settles the same day
    polled = await seeded.jobs.poll_provider_status()

    assert polled.counts["payouts_moved"] == 1
    assert (await statuses(seeded))[payout.id] == "completed"
    assert (await transfer_kinds(seeded))[payout.id] == ["reserve", "post"]
    balances = await ledger_snapshot(seeded)
    # opening 100.00 posted in; 60.00 posted out, nothing held any more
    assert balances[f"payee:{payee}:payable:INR"] == (0, 0, 6000, 10000)
    assert await ledger_problems(seeded) == []
