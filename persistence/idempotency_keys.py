"""Taking an API idempotency key in the caller's transaction (ARCHITECTURE §7, layer 1).

One INSERT takes a new key; a key in use is read back so that the caller can replay
its answer or refuse another request with it; an expired one is taken over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.idempotency import KEY_LIFETIME
from persistence.sql import insert_new, rowcount
from persistence.tables import IdempotencyKey


async def take(
    session: AsyncSession, scope: str, key: str, operation: str, fingerprint: str, now: datetime
) -> IdempotencyKey | None:
    """None: the key is ours now. Otherwise the row that already holds it."""
    row: dict[str, Any] = {
        "scope": scope,
        "key": key,
        "operation": operation,
        "request_hash": fingerprint,
        "payout_id": None,
        "response": {},
        "created_at": now,
        "expires_at": now + KEY_LIFETIME,
    }
    table, unique = IdempotencyKey.__table__, ["scope", "key"]
    if await insert_new(session, table, row, unique):
        return None
    mine = (IdempotencyKey.scope == scope) & (IdempotencyKey.key == key)
    expired = await session.execute(
        delete(IdempotencyKey).where(mine, IdempotencyKey.expires_at <= now)
    )
    if rowcount(expired) and await insert_new(session, table, row, unique):
        return None
    held = await session.scalar(select(IdempotencyKey).where(mine))
    assert held is not None  # the INSERT lost to it, and nothing deletes a live key
    return held
