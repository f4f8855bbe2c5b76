"""An order that moved on at its bank before its payout recorded it is applied by the next
poll, once.

A payout whose answer died with its process stays ``submitting`` until someone re-asks
the bank; if its order completes (or fails, or comes back) meanwhile and a poll reads
that change, the feed never shows the order again. So the poller records such an order
first (the payout re-asks with its own key, whoever claimed it), then applies it,
instead of stepping past it and leaving the payout ``submitted`` for good.
"""

from __future__ import annotations

from datetime import timedelta

from domain.clock import ManualClock
from domain.ports import ProviderKind
from providers.mock.bank import MockBank
from service.bootstrap import Container
from tests.jobs.conftest import (
    SETTLED,
    ledger_problems,
    payouts,
    statuses,
    stuck_payout,
    transfer_kinds,
)
from tests.jobs_harness import check_moved_once, read_books


async def test_an_order_that_settled_before_its_payout_recorded_it_is_applied_once(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    ach = banks[ProviderKind.ACH]
    stuck = await stuck_payout(seeded, ach)
    # Claimed by a process that died re-asking (its claim outlives the settlement), so
    # the poll's own recovery leaves it alone: only the feed can tell.
    claim = SETTLED + timedelta(hours=1)
    claimed = await seeded.store.claim_submitting(clock.now(), clock.now(), claim, None)
    assert [c.payout_id for c in claimed] == [stuck.id]
    clock.advance(SETTLED)  # the order completes at the bank

    first = await seeded.jobs.poll_provider_status()

    assert (first.status, first.counts["recovered"]) == ("succeeded", 0)
    (payout,) = await payouts(seeded, "LIQ-STUCK")
    order = ach.order_for(payout.idempotency_key)
    assert order is not None and ach.count_orders_for(payout.idempotency_key) == 1
    assert (payout.status, payout.provider_order_id) == ("completed", order.order_id)
    assert (await transfer_kinds(seeded))[stuck.id] == ["reserve", "post"]
    check_moved_once(await read_books(seeded.sessions))
    assert await ledger_problems(seeded) == []

    again = await seeded.jobs.poll_provider_status()
    assert again.counts.get("payouts_moved", 0) == 0
    assert (await statuses(seeded))[stuck.id] == "completed"
    assert ach.count_orders_for(payout.idempotency_key) == 1


async def test_a_settled_order_no_payout_holds_a_key_for_is_left_to_reconciliation(
    seeded: Container, banks: dict[ProviderKind, MockBank], clock: ManualClock
) -> None:
    banks[ProviderKind.ACH].inject_unknown_order()
    clock.advance(SETTLED)
    outcome = await seeded.jobs.poll_provider_status()
    assert outcome.status == "succeeded", outcome
    assert (outcome.counts["orders_seen"], outcome.counts["payouts_moved"]) == (1, 0)
