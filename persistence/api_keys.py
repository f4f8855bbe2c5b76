"""API keys: issue, authenticate, note their use, list, revoke."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.auth import LAST_USED_EVERY, Caller, Role, key_hash, key_problems, new_key
from domain.errors import ErrorCode, Problem
from persistence import audit
from persistence.queries import Page, page_of
from persistence.sql import rowcount
from persistence.tables import ApiKey, Payee

# Built once: every request runs it, and building a statement costs more than the look-up.
_CALLER = select(
    ApiKey.id,
    ApiKey.role,
    ApiKey.name,
    ApiKey.payee_id,
    ApiKey.owner,
    ApiKey.prefix,
    ApiKey.last_used_at,
).where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
PREFIX = 12


# A key looked up is believed for this long: a revocation holds at once in the process
# that revokes and within this long in every other one.
KNOWN_FOR_S = 1.0
MAX_KNOWN = 10_000


class KnownKeys:
    """The callers of keys looked up in the last ``KNOWN_FOR_S``, by database and key
    hash: at hundreds of requests a second, one look-up a second per key instead of one a
    request. Unknown keys are not remembered (a flood of made-up keys cannot fill it).
    One per process (``KNOWN``), so that every ``SqlApiKeys`` that revokes forgets."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._callers: dict[tuple[str, str], tuple[Caller, float]] = {}

    def get(self, database: str, digest: str) -> Caller | None:
        found = self._callers.get((database, digest))
        if found is None:
            return None
        caller, since = found
        if self.monotonic() - since >= KNOWN_FOR_S:
            del self._callers[(database, digest)]
            return None
        return caller

    def put(self, database: str, digest: str, caller: Caller) -> None:
        if len(self._callers) >= MAX_KNOWN:
            self._callers.clear()
        self._callers[(database, digest)] = (caller, self.monotonic())

    def used(self, database: str, key_id: int, at: datetime) -> None:
        """The key's last use as now written, so that the next requests do not write it."""
        for where, (caller, since) in list(self._callers.items()):
            if where[0] == database and caller.key_id == key_id:
                self._callers[where] = (replace(caller, last_used_at=at), since)

    def forget(self, database: str) -> None:
        """A key of ``database`` was revoked: believe none of them until looked up again."""
        for where in [w for w in self._callers if w[0] == database]:
            del self._callers[where]


KNOWN = KnownKeys()


async def find_caller(session: AsyncSession, key: str) -> Caller | None:
    """Who holds ``key``, unless it is unknown or revoked: looked up in the database (for
    a request, ``SqlApiKeys.caller`` first asks what this process saw in the last second)."""
    row = (await session.execute(_CALLER, {"key_hash": key_hash(key)})).first()
    if row is None:
        return None
    return Caller(
        key_id=row.id,
        role=Role(row.role),
        name=row.name,
        payee_id=row.payee_id,
        owner=row.owner,
        prefix=row.prefix,
        last_used_at=row.last_used_at,
    )


@dataclass(frozen=True, slots=True)
class NewKey:
    role: Role
    name: str
    owner: str
    payee_id: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    id: int
    secret: str  # shown once, never stored


class SqlApiKeys:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        bind = sessions.kw.get("bind")
        self._database = bind.url.render_as_string(hide_password=True) if bind else ""

    async def authenticate(self, key: str) -> Caller | None:
        async with self._sessions() as session:
            return await self.caller(session, key)

    async def caller(self, session: AsyncSession, key: str) -> Caller | None:
        """Who holds ``key``: as this process saw it in the last ``KNOWN_FOR_S``, or
        looked up on ``session`` (and remembered)."""
        digest = key_hash(key)
        known = KNOWN.get(self._database, digest)
        if known is not None:
            return known
        found = await find_caller(session, key)
        if found is not None:
            KNOWN.put(self._database, digest, found)
        return found

    async def note_use(self, caller: Caller, now: datetime) -> None:
        """Record that the key was used, if what is stored is over a minute old; the
        guard in the WHERE keeps concurrent requests from writing it twice."""
        if not caller.last_use_is_stale(now):
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == caller.key_id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at <= now - LAST_USED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
        KNOWN.used(self._database, caller.key_id, now)

    async def issue(
        self,
        role: Role,
        name: str,
        now: datetime,
        payee_id: int | None = None,
        key: str | None = None,
        owner: str | None = None,
    ) -> str:
        """Store a new key (or a given one, for the demo) and return it: shown only once."""
        if (role is Role.PAYEE) != (payee_id is not None):
            raise ValueError("a payee key names its payee; other keys name none")
        key = key or new_key(role)
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(ApiKey.id).where(ApiKey.key_hash == key_hash(key))
            )
            if existing is None:
                await _insert(session, NewKey(role, name, owner or name, payee_id), key, now)
        return key

    async def create(self, request: NewKey, now: datetime, actor: str) -> IssuedKey | list[Problem]:
        """A new key with a fresh secret, audited; or every problem with the request."""
        problems = key_problems(
            request.name, request.owner, request.role, request.payee_id is not None
        )
        if problems:
            return problems
        key = new_key(request.role)
        async with self._sessions.begin() as session:
            if request.payee_id is not None and await session.get(Payee, request.payee_id) is None:
                message = f"no payee {request.payee_id}"
                return [Problem("payee_id", ErrorCode.NOT_FOUND, message)]
            ident = await _insert(session, request, key, now)
            row = audit.audit_row(
                "api_key.created",
                now,
                entity="api_key",
                entity_id=ident,
                actor=actor,
                role=request.role.value,
                name=request.name,
                owner=request.owner,
                payee=request.payee_id,
                prefix=key[:PREFIX],
            )
            await audit.write(session, [row])
        return IssuedKey(ident, key)

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
            revoked = bool(rowcount(result))
        KNOWN.forget(self._database)
        return revoked

    async def revoke_id(self, ident: int, now: datetime, actor: str) -> list[Problem]:
        """Revoke a key by its id, audited; an unknown or already revoked key is a problem."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKey)
                .where(ApiKey.id == ident, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            if not rowcount(result):
                known = await session.scalar(select(ApiKey.id).where(ApiKey.id == ident))
                if known is None:
                    return [Problem("id", ErrorCode.NOT_FOUND, f"no API key {ident}")]
                return [Problem("id", ErrorCode.CONFLICT, f"API key {ident} is already revoked")]
            row = audit.audit_row(
                "api_key.revoked", now, entity="api_key", entity_id=ident, actor=actor
            )
            await audit.write(session, [row])
        KNOWN.forget(self._database)
        return []

    async def page(self, first: int, after: int | None) -> Page[ApiKey]:
        async with self._sessions() as session:
            return await keys_page(session, first, after)

    async def usable(self) -> int:
        """How many keys are not revoked."""
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
            )
        return count or 0


async def keys_page(session: AsyncSession, first: int, after: int | None) -> Page[ApiKey]:
    return await page_of(session, select(ApiKey), ApiKey.id, first, after)


async def _insert(session: AsyncSession, request: NewKey, key: str, now: datetime) -> int:
    ident = await session.scalar(
        insert(ApiKey)
        .values(
            key_hash=key_hash(key),
            prefix=key[:PREFIX],
            role=request.role.value,
            payee_id=request.payee_id,
            name=request.name,
            owner=request.owner,
            created_at=now,
        )
        .returning(ApiKey.id)
    )
    assert ident is not None
    return int(ident)
