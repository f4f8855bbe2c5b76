"""Audit rows: append-only, written in the same transaction as the change they record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from persistence.sql import append_rows
from persistence.tables import AuditEvent

_AUDIT = AuditEvent.__table__  # Core: an ORM insert costs twice the CPU

SYSTEM = "system"


def audit_row(
    action: str,
    now: datetime,
    *,
    payout_id: int | None = None,
    run_id: int | None = None,
    entity: str = "payout",
    entity_id: int | None = None,
    actor: str = SYSTEM,
    **detail: Any,
) -> dict[str, Any]:
    ident = entity_id if entity_id is not None else payout_id if entity == "payout" else run_id
    if ident is None:
        raise ValueError("an audit row needs the id of what it is about")
    return {
        "occurred_at": now,
        "entity": entity,
        "entity_id": ident,
        "payout_id": payout_id,
        "run_id": run_id,
        "action": action,
        "actor": actor,
        "detail": detail,
    }


async def write(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await append_rows(session, _AUDIT, rows)
