"""Creating liquidation events and their allocations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.errors import ErrorCode, Problem
from domain.events import EventPlan
from persistence import audit, ledger_store
from persistence.sql import chunked
from persistence.tables import Allocation, LiquidationEvent, Payee


class SqlEventStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, plan: EventPlan, now: datetime, actor: str = audit.SYSTEM
    ) -> int | list[Problem]:
        """Store the event; unknown payees or a taken code come back as problems."""
        async with self._sessions.begin() as session:
            payee_ids = [payee_id for payee_id, _ in plan.allocations]
            known: set[int] = set()
            for chunk in chunked(payee_ids):
                found = await session.scalars(select(Payee.id).where(Payee.id.in_(chunk)))
                known.update(found.all())
            missing = [
                Problem(f"allocations.{i}.payeeId", ErrorCode.NOT_FOUND, f"no payee {pid}")
                for i, pid in enumerate(payee_ids)
                if pid not in known
            ]
            if missing:
                return missing
            if await session.scalar(
                select(LiquidationEvent.id).where(LiquidationEvent.code == plan.code)
            ):
                return [_code_taken(plan.code)]
            try:
                event_id: int | None = await session.scalar(
                    insert(LiquidationEvent)
                    .values(
                        code=plan.code,
                        name=plan.name,
                        fund_name=plan.fund_name,
                        currency=plan.total.currency,
                        total_minor=plan.total.minor,
                        created_at=now,
                    )
                    .returning(LiquidationEvent.id)
                )
            except IntegrityError:
                return [_code_taken(plan.code)]
            assert event_id is not None
            await session.execute(
                insert(Allocation),
                [
                    {
                        "event_id": event_id,
                        "payee_id": pid,
                        "amount_minor": m.minor,
                        "currency": m.currency,
                    }
                    for pid, m in plan.allocations
                ],
            )
            await ledger_store.write(
                session,
                [
                    ledger_store.Posting(ledger.allocate(pid, m), event_id=event_id)
                    for pid, m in plan.allocations
                ],
                now,
            )
            await audit.write(
                session,
                [
                    audit.audit_row(
                        "event.created",
                        now,
                        entity="event",
                        entity_id=event_id,
                        actor=actor,
                        code=plan.code,
                        total=plan.total.to_decimal_string(),
                        currency=plan.total.currency,
                        allocations=len(plan.allocations),
                    )
                ],
            )
            return event_id


def _code_taken(code: str) -> Problem:
    return Problem("code", ErrorCode.CONFLICT, f"an event with code {code!r} already exists")
