"""Providers' status reports applied to payouts: the seam the status poller calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.payouts import PayoutStatus
from domain.settlement import StatusReport, path
from persistence import audit, ledger_store, transitions


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
            rows = await transitions.lock(session, [r.payout_id for r in reports])
            state = {pid: PayoutStatus(row.status) for pid, row in rows.items()}
            moves, updates, audit_rows = [], [], []
            for report in reports:
                row = rows.get(report.payout_id)
                if row is None:
                    continue
                current = state[row.id]  # a second report in this batch starts where it left
                steps = path(current, report.status)
                if not steps:
                    continue
                moves.append((row, current, steps))
                audit_rows += _step_audit(
                    row.id, row.provider_order_id, current, steps, report, now, actor
                )
                state[row.id] = steps[-1]
                updates.append(
                    transitions.move(
                        row.id,
                        current,
                        steps[-1],
                        now,
                        failure_code=report.failure_code,
                        failure_reason=report.failure_reason,
                    )
                )
            if updates:
                await session.execute(transitions.MOVE, updates)
            await ledger_store.write(session, await transitions.ledger_effects(session, moves), now)
            await audit.write(session, audit_rows)
            return len(updates)


def _step_audit(
    payout_id: int,
    order_id: str | None,
    current: PayoutStatus,
    steps: Sequence[PayoutStatus],
    report: StatusReport,
    now: datetime,
    actor: str,
) -> list[dict[str, Any]]:
    rows = []
    previous = current
    for step in steps:
        rows.append(
            audit.audit_row(
                "payout.status_changed",
                now,
                payout_id=payout_id,
                actor=actor,
                **{"from": previous.value, "to": step.value},
                effect=ledger.effect_of(previous, step).value,
                provider_order_id=order_id,
                failure_code=report.failure_code,
            )
        )
        previous = step
    return rows
