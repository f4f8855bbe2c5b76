"""Providers' status reports applied to payouts: the seam the status poller calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.lifecycle import PayoutStatus, Trigger, reported_path
from domain.settlement import StatusReport
from persistence import audit, lifecycle


class SqlSettlementStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def apply(
        self, reports: Sequence[StatusReport], now: datetime, actor: str = audit.SYSTEM
    ) -> int:
        """Move each payout along the provider's status, with its ledger effects, in one
        transaction. Reports that are not transitions (already applied, or illegal: a
        break for reconciliation) change nothing. Returns how many payouts moved."""
        async with self._sessions.begin() as session:
            rows = await lifecycle.lock(session, [r.payout_id for r in reports])
            state = {pid: PayoutStatus(row.status) for pid, row in rows.items()}
            moves = []
            for report in reports:
                if report.payout_id not in state:
                    continue
                # A second report in this batch starts where the first left the payout.
                walk = reported_path(state[report.payout_id], report.status)
                if walk is None:
                    continue
                state[report.payout_id] = walk.target
                order_id = rows[report.payout_id].provider_order_id
                moves.append(
                    lifecycle.Move(
                        report.payout_id,
                        walk,
                        {
                            "failure_code": report.failure_code,
                            "failure_reason": report.failure_reason,
                        },
                        {
                            s.target: {
                                "provider_order_id": order_id,
                                "failure_code": report.failure_code,
                            }
                            for s in walk.steps
                        },
                    )
                )
            moved = await lifecycle.advance(
                session, moves, now, Trigger.PROVIDER_REPORT, actor=actor, locked=rows
            )
            return len(moved)
