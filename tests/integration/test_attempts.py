"""The database itself keeps at most one live attempt per allocation: whatever code
writes the rows, a second payout of an (event, payee) that is not failed, returned or
cancelled, or a repeated attempt number, is refused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from persistence.tables import Allocation, Payout
from service.bootstrap import Container

T = Payout.__table__


async def _row(seeded: Container) -> dict[str, Any]:
    async with seeded.sessions() as session:
        allocation = await session.scalar(select(Allocation).order_by(Allocation.id).limit(1))
    assert allocation is not None
    now = seeded.clock.now()
    return {
        "event_id": allocation.event_id,
        "payee_id": allocation.payee_id,
        "allocation_id": allocation.id,
        "amount_minor": allocation.amount_minor,
        "currency": allocation.currency,
        "status": "failed",
        "idempotency_key": "po-db-1",
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


async def _insert(seeded: Container, row: dict[str, Any]) -> None:
    async with seeded.sessions.begin() as session:
        await session.execute(insert(T).values(row))


async def test_one_live_attempt_per_allocation(seeded: Container) -> None:
    first = await _row(seeded)
    await _insert(seeded, first)  # attempt 1, failed
    second = {**first, "attempt": 2, "idempotency_key": "po-db-2", "status": "submitted"}
    await _insert(seeded, second)  # a live attempt 2 beside a failed attempt 1: fine
    third = {**first, "attempt": 3, "idempotency_key": "po-db-3", "status": "pending"}
    with pytest.raises(IntegrityError):
        await _insert(seeded, third)  # a second live attempt
    with pytest.raises(IntegrityError):  # an attempt number twice
        await _insert(seeded, {**first, "idempotency_key": "po-db-4", "status": "cancelled"})
    async with seeded.sessions.begin() as session:  # attempt 1 cannot come back to life
        with pytest.raises(IntegrityError):
            await session.execute(
                update(T).where(T.c.idempotency_key == "po-db-1").values(status="completed")
            )
