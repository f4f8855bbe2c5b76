"""Taking an API idempotency key in the caller's transaction (ARCHITECTURE §7, layer 1).

One INSERT takes a new key; a key in use is read back so that the caller can replay
its answer or refuse another request with it; an expired one is taken over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.idempotency import KEY_LIFETIME
from persistence.sql import dialect_insert, insert_new, rowcount
from persistence.tables import IdempotencyKey


def _key_row(
    scope: str, key: str, operation: str, fingerprint: str, now: datetime
) -> dict[str, Any]:
    """A key's row as it is claimed: no answer yet, alive for ``KEY_LIFETIME``."""
    return {
        "scope": scope,
        "key": key,
        "operation": operation,
        "request_hash": fingerprint,
        "payout_id": None,
        "response": {},
        "created_at": now,
        "expires_at": now + KEY_LIFETIME,
    }


async def take(
    session: AsyncSession, scope: str, key: str, operation: str, fingerprint: str, now: datetime
) -> IdempotencyKey | None:
    """None: the key is ours now. Otherwise the row that already holds it."""
    row = _key_row(scope, key, operation, fingerprint, now)
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


async def take_many(
    session: AsyncSession,
    claims: Sequence[tuple[str, str, str]],
    operation: str,
    now: datetime,
) -> dict[tuple[str, str], IdempotencyKey | None]:
    """``take`` for several (scope, key, fingerprint) claims at once, by (scope, key):
    one INSERT when every key is new. Keys are taken in one order (sorted), so two
    transactions claiming the same keys never wait for each other in a circle."""
    table, unique = IdempotencyKey.__table__, ["scope", "key"]
    rows: dict[tuple[str, str], dict[str, Any]] = {
        (scope, key): _key_row(scope, key, operation, fingerprint, now)
        for scope, key, fingerprint in sorted(claims)
    }
    statement = dialect_insert(session, table).on_conflict_do_nothing(index_elements=unique)
    statement = statement.returning(table.c.scope, table.c.key)
    postgresql = session.bind is not None and session.bind.dialect.name == "postgresql"

    async def insert(wanted: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        if postgresql:  # one statement text whatever the batch's size: parsed once
            params = {
                "s": [s for s, _ in wanted],
                "k": [k for _, k in wanted],
                "h": [rows[w]["request_hash"] for w in wanted],
                "op": operation,
                "now": now,
                "until": now + KEY_LIFETIME,
            }
            inserted = await session.execute(_CLAIM_PG, params)
        else:
            inserted = await session.execute(statement, [rows[w] for w in wanted])
        return {(scope, key) for scope, key in inserted.all()}

    ours = await insert(list(rows))
    rest = [w for w in rows if w not in ours]
    if rest:
        expired = await session.execute(
            delete(IdempotencyKey).where(any_of(rest), IdempotencyKey.expires_at <= now)
        )
        if rowcount(expired):
            ours |= await insert(rest)
            rest = [w for w in rest if w not in ours]
    held: dict[tuple[str, str], IdempotencyKey | None] = {w: None for w in ours}
    if rest:
        for row in await session.scalars(select(IdempotencyKey).where(any_of(rest))):
            held[(row.scope, row.key)] = row
    assert len(held) == len(rows)  # each INSERT lost to a live key, and none is deleted
    return held


# The claims as arrays, rows in the arrays' (sorted) order: psycopg parses a multi-row
# VALUES list anew for every batch size (8 parameters a key), this text once.
_CLAIM_PG = text(
    "INSERT INTO idempotency_keys"
    " (scope, key, operation, request_hash, payout_id, response, created_at, expires_at)"
    " SELECT v.s, v.k, :op, v.h, NULL, '{}', :now, :until"
    " FROM unnest(CAST(:s AS VARCHAR[]), CAST(:k AS VARCHAR[]), CAST(:h AS VARCHAR[]))"
    " WITH ORDINALITY AS v(s, k, h, n) ORDER BY v.n"
    " ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key"
).bindparams(
    bindparam("now", type_=IdempotencyKey.__table__.c.created_at.type),
    bindparam("until", type_=IdempotencyKey.__table__.c.expires_at.type),
)


def any_of(wanted: Sequence[tuple[str, str]]) -> ColumnElement[bool]:
    return or_(*((IdempotencyKey.scope == s) & (IdempotencyKey.key == k) for s, k in wanted))
