"""Runs of one event at the same time: each payout is created, sent and reported once.

Found from outside: five ``startRun`` calls at once on one event (keys k1, k2, k3, k1,
k1) had two runs each report every payout as ``created``. The later run took the first
run's ``submitting`` payouts, still being sent, for a crash's leftovers and re-asked the
bank about them. A live run's payouts are claimed by it; only a run resumed with the
same key, or recovery after the claim has lapsed, may ask about them again.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import select

from domain.ports import ProviderKind
from persistence.tables import AuditEvent, Payout
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from service.bootstrap import Container

EVENT = "LIQ-2024-001"
KEYS = ("k1", "k2", "k3", "k1", "k1")


@pytest.fixture
def banks() -> dict[ProviderKind, MockBank]:
    """Banks slow enough (20-40 ms a request) that the runs overlap."""
    return {
        kind: MockBank(kind, MockBankConfig(seed=7, latency_ms=30, jitter_ms=10))
        for kind in ProviderKind
    }


@pytest.mark.parametrize("round_", range(6))
async def test_concurrent_runs_of_one_event_report_each_payout_once(
    seeded: Container, banks: dict[ProviderKind, MockBank], round_: int
) -> None:
    summaries = await asyncio.gather(*(seeded.runner.run(EVENT, key) for key in KEYS))

    # k1 three times is one run; each run as an operator reads it once all are done.
    by_run = {s.run_id: await seeded.store.run_summary(s.run_id) for s in summaries}
    assert len(by_run) == 3
    async with seeded.sessions() as session:
        payouts = list(await session.scalars(select(Payout).where(Payout.event_id.isnot(None))))
        rows = await session.execute(
            select(
                AuditEvent.payout_id, AuditEvent.run_id, AuditEvent.action, AuditEvent.detail
            ).where(AuditEvent.payout_id.isnot(None))
        )
        trail = rows.all()
    sent = [p for p in payouts if p.provider_order_id is not None]
    # Every payable payout was created exactly once, by exactly one of the runs.
    assert sum(s.created for s in by_run.values()) == len(sent) > 0
    assert sum(s.in_flight for s in by_run.values()) == 0
    # Each bank holds one order per payout, and each payout's trace says it was
    # submitted once and never "recovered" while its run was still sending it.
    assert all(
        bank.count_orders_for(p.idempotency_key) <= 1 for p in sent for bank in banks.values()
    )
    submitted = Counter(
        (pid, run_id)
        for pid, run_id, action, detail in trail
        if action == "payout.status_changed" and detail.get("to") == "submitted"
    )
    assert submitted == Counter((p.id, p.run_id) for p in sent)
