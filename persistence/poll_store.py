"""The status poller's bookkeeping: per-provider cursors into the "changed since" feed.

A worker claims a provider's cursor (``FOR UPDATE SKIP LOCKED``, then a lease in the
row), reads the feed from the cursor on, and moves the cursor after each page it has
applied. Two workers never poll one provider at once; a killed worker's lease ends
and the next one starts from the last page that was fully applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.sql import insert_ignore, rowcount
from persistence.tables import Payout, ProviderCursor

_CURSORS = ProviderCursor.__table__


@dataclass(frozen=True, slots=True)
class Claim:
    provider: str
    changed_since: datetime | None  # None: read the whole feed


class SqlPollStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(
        self, provider: str, holder: str, now: datetime, lease: timedelta
    ) -> Claim | None:
        """The provider's cursor, leased to ``holder``; None while another worker has it."""
        async with self._sessions.begin() as session:
            await insert_ignore(session, _CURSORS, [{"provider": provider}], ["provider"])
            row = (
                await session.execute(
                    select(_CURSORS.c.changed_since)
                    .where(
                        _CURSORS.c.provider == provider,
                        or_(
                            _CURSORS.c.lease_until.is_(None),
                            _CURSORS.c.lease_until < now,
                            _CURSORS.c.holder == holder,
                        ),
                    )
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return None
            await session.execute(
                update(_CURSORS)
                .where(_CURSORS.c.provider == provider)
                .values(holder=holder, lease_until=now + lease)
            )
            return Claim(provider, row.changed_since)

    async def advance(
        self, provider: str, holder: str, changed_since: datetime, now: datetime, lease: timedelta
    ) -> bool:
        """Remember that the feed is applied up to ``changed_since`` and renew the lease.

        False when the lease was lost (it ran out and another worker took the cursor):
        the caller stops, and its pages so far were applied status-guarded anyway.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(_CURSORS)
                .where(_CURSORS.c.provider == provider, _CURSORS.c.holder == holder)
                .values(changed_since=changed_since, lease_until=now + lease, polled_at=now)
            )
            return bool(rowcount(result))

    async def release(self, provider: str, holder: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(_CURSORS)
                .where(_CURSORS.c.provider == provider, _CURSORS.c.holder == holder)
                .values(holder=None, lease_until=None, polled_at=now)
            )

    async def payouts_by_order(self, order_ids: Sequence[str]) -> dict[str, int]:
        """Payout ids of the orders we have recorded, by provider order id (one query)."""
        if not order_ids:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(
                select(Payout.provider_order_id, Payout.id).where(
                    Payout.provider_order_id.in_(list(order_ids))
                )
            )
            return {order_id: pid for order_id, pid in rows.all() if order_id is not None}
