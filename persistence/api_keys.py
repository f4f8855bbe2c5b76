"""API keys: issue, authenticate, revoke."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.auth import Caller, Role, key_hash, new_key
from persistence.sql import rowcount
from persistence.tables import ApiKey

# Built once: every request runs it, and building a statement costs more than the look-up.
_CALLER = select(ApiKey.id, ApiKey.role, ApiKey.name, ApiKey.payee_id).where(
    ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None)
)


async def find_caller(session: AsyncSession, key: str) -> Caller | None:
    """Who holds ``key``, unless it is unknown or revoked (looked up every time, so a
    revocation holds at once, in every process)."""
    row = (await session.execute(_CALLER, {"key_hash": key_hash(key)})).first()
    if row is None:
        return None
    return Caller(key_id=row.id, role=Role(row.role), name=row.name, payee_id=row.payee_id)


class SqlApiKeys:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def authenticate(self, key: str) -> Caller | None:
        async with self._sessions() as session:
            return await find_caller(session, key)

    async def issue(
        self,
        role: Role,
        name: str,
        now: datetime,
        payee_id: int | None = None,
        key: str | None = None,
    ) -> str:
        """Store a new key (or a given one, for the demo) and return it: shown only once."""
        if (role is Role.PAYEE) != (payee_id is not None):
            raise ValueError("a payee key names its payee; an ops key names none")
        key = key or new_key(role)
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(ApiKey.id).where(ApiKey.key_hash == key_hash(key))
            )
            if existing is None:
                await session.execute(
                    insert(ApiKey).values(
                        key_hash=key_hash(key),
                        prefix=key[:12],
                        role=role.value,
                        payee_id=payee_id,
                        name=name,
                        created_at=now,
                    )
                )
        return key

    async def revoke(self, key: str, now: datetime) -> bool:
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.key_hash == key_hash(key),
                    ApiKey.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            return bool(rowcount(result))
