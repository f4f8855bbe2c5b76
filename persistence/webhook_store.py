"""Webhook endpoints, and the deliveries of outbox events to them.

Fan-out (``fan_out``) turns new outbox events into one delivery per subscribed endpoint,
one process at a time and in event order, so a payout's deliveries exist in the order
its events were written. A delivery is claimed (``claim``) with ``FOR UPDATE SKIP
LOCKED`` and a lease; a claim never takes a delivery while an earlier one of the same
subject to the same endpoint is still pending, which keeps each payout's events in order.
A worker killed after sending and before ``record`` leaves the lease to run out: the
delivery is sent again (at least once, never lost).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import webhooks
from persistence import queries
from persistence.job_store import advisory_key
from persistence.sql import chunked, insert_ignore, rowcount
from persistence.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

_ENDPOINTS = WebhookEndpoint.__table__
_EVENTS = WebhookEvent.__table__
_DELIVERIES = WebhookDelivery.__table__
_ATTEMPTS = WebhookAttempt.__table__
FAN_OUT_LOCK = "webhook_fan_out"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this worker holds: what to send, where, and with which secret."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    body: bytes
    event_created_at: datetime  # for the delivery lag


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: int
    endpoint_id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    endpoint_id: int | None = None
    event_id: int | None = None
    status: str | None = None
    payee_id: int | None = None  # only deliveries to this payee's endpoints


def event_body(event_id: int, kind: str, created: datetime, data: Any) -> bytes:
    """The exact bytes posted (and signed): the same for every attempt of an event."""
    document = {"id": str(event_id), "type": kind, "created": created.isoformat(), "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


class SqlWebhooks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- endpoints ------------------------------------------------------------

    async def create_endpoint(
        self, url: str, events: Sequence[str], payee_id: int | None, actor: str, now: datetime
    ) -> tuple[int, str]:
        secret = webhooks.new_secret()
        async with self._sessions.begin() as session:
            ident = await session.scalar(
                insert(_ENDPOINTS)
                .values(
                    url=url,
                    events=list(events),
                    payee_id=payee_id,
                    secret=secret,
                    enabled=True,
                    created_at=now,
                    created_by=actor,
                )
                .returning(_ENDPOINTS.c.id)
            )
        assert ident is not None
        return int(ident), secret

    async def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        async with self._sessions() as session:
            return await session.get(WebhookEndpoint, endpoint_id)

    async def endpoints(self, payee_id: int | None = None) -> list[WebhookEndpoint]:
        statement = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
        if payee_id is not None:
            statement = statement.where(WebhookEndpoint.payee_id == payee_id)
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def set_enabled(self, endpoint_id: int, enabled: bool, now: datetime) -> bool:
        values: dict[str, Any] = (
            {"enabled": True, "disabled_at": None, "disabled_reason": None, "failing_since": None}
            if enabled
            else {
                "enabled": False,
                "disabled_at": now,
                "disabled_reason": "disabled by an operator",
            }
        )
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(_ENDPOINTS).where(_ENDPOINTS.c.id == endpoint_id).values(values)
            )
        return bool(rowcount(result))

    # --- fan-out --------------------------------------------------------------

    async def fan_out(self, now: datetime, limit: int = 1000) -> int:
        """Make the deliveries of up to ``limit`` new events; how many events were done."""
        async with self._sessions.begin() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                key = advisory_key(FAN_OUT_LOCK)
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            events = (
                await session.execute(
                    select(
                        _EVENTS.c.id,
                        _EVENTS.c.type,
                        _EVENTS.c.subject,
                        _EVENTS.c.payee_id,
                        _EVENTS.c.created_at,
                    )
                    .where(_EVENTS.c.fanned_out.is_(False))
                    .order_by(_EVENTS.c.id)
                    .limit(limit)
                )
            ).all()
            if not events:
                return 0
            endpoints = (
                await session.execute(
                    select(
                        _ENDPOINTS.c.id,
                        _ENDPOINTS.c.events,
                        _ENDPOINTS.c.payee_id,
                        _ENDPOINTS.c.created_at,
                    ).where(_ENDPOINTS.c.enabled.is_(True))
                )
            ).all()
            rows = [
                {
                    "event_id": e.id,
                    "endpoint_id": p.id,
                    "subject": e.subject,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for e in events
                for p in endpoints
                if webhooks.subscribed(p.events, e.type)
                and (p.payee_id is None or p.payee_id == e.payee_id)
                and e.created_at >= p.created_at  # an endpoint hears what happens after it
            ]
            for chunk in chunked(rows, 2000):
                await insert_ignore(session, _DELIVERIES, chunk, ["event_id", "endpoint_id"])
            for ids in chunked([e.id for e in events]):
                await session.execute(
                    update(_EVENTS).where(_EVENTS.c.id.in_(ids)).values(fanned_out=True)
                )
            return len(events)

    # --- claiming and recording -----------------------------------------------

    async def claim(
        self, now: datetime, holder: str, lease: timedelta, limit: int
    ) -> list[Claimed]:
        d = _DELIVERIES
        earlier = _DELIVERIES.alias("earlier")
        blocked = exists().where(
            earlier.c.endpoint_id == d.c.endpoint_id,
            earlier.c.subject == d.c.subject,
            earlier.c.status == "pending",
            earlier.c.event_id < d.c.event_id,
        )
        due = (
            select(d.c.id)
            .join(_ENDPOINTS, _ENDPOINTS.c.id == d.c.endpoint_id)
            .where(
                d.c.status == "pending",
                d.c.next_attempt_at <= now,
                or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                _ENDPOINTS.c.enabled.is_(True),
                ~blocked,
            )
            .order_by(d.c.event_id)
            .limit(limit)
            .with_for_update(of=d, skip_locked=True)
        )
        async with self._sessions.begin() as session:
            ids = list((await session.scalars(due)).all())
            if not ids:
                return []
            await session.execute(
                update(d).where(d.c.id.in_(ids)).values(holder=holder, lease_until=now + lease)
            )
            rows = (
                await session.execute(
                    select(
                        d.c.id,
                        d.c.endpoint_id,
                        _ENDPOINTS.c.url,
                        _ENDPOINTS.c.secret,
                        _EVENTS.c.id.label("event_id"),
                        _EVENTS.c.type,
                        _EVENTS.c.created_at,
                        _EVENTS.c.data,
                    )
                    .join(_ENDPOINTS, _ENDPOINTS.c.id == d.c.endpoint_id)
                    .join(_EVENTS, _EVENTS.c.id == d.c.event_id)
                    .where(d.c.id.in_(ids))
                    .order_by(d.c.event_id)
                )
            ).all()
        return [
            Claimed(
                r.id,
                r.endpoint_id,
                r.url,
                r.secret,
                r.event_id,
                event_body(r.event_id, r.type, r.created_at, r.data),
                r.created_at,
            )
            for r in rows
        ]

    async def record(self, attempts: Sequence[Attempt], holder: str, now: datetime) -> None:
        """Write the attempts and what they mean: a success ends the delivery, a failure
        schedules the next try or gives up after three days, and disables an endpoint
        that has not succeeded for three days."""
        if not attempts:
            return
        async with self._sessions.begin() as session:
            await session.execute(insert(_ATTEMPTS), [_attempt_row(a) for a in attempts])
            ok = [a for a in attempts if a.succeeded]
            failed = [a for a in attempts if not a.succeeded]
            await _succeeded(session, ok, holder, now)
            await _failed(session, failed, holder, now)
            await _endpoints_after(session, ok, failed, now)

    # --- replay and reads -----------------------------------------------------

    async def replay(self, event_id: int, endpoint_id: int | None, now: datetime) -> int:
        """Send an event again (to one endpoint, or to every one it went to); how many
        deliveries were scheduled."""
        d = _DELIVERIES
        async with self._sessions.begin() as session:
            where = [d.c.event_id == event_id]
            if endpoint_id is not None:
                where.append(d.c.endpoint_id == endpoint_id)
                event = await session.execute(
                    select(_EVENTS.c.subject).where(_EVENTS.c.id == event_id)
                )
                subject = event.scalar_one()
                await insert_ignore(
                    session,
                    d,
                    [
                        {
                            "event_id": event_id,
                            "endpoint_id": endpoint_id,
                            "subject": subject,
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": now,
                        }
                    ],
                    ["event_id", "endpoint_id"],
                )
            result = await session.execute(
                update(d)
                .where(*where)
                .values(
                    status="pending",
                    next_attempt_at=now,
                    first_attempt_at=None,
                    holder=None,
                    lease_until=None,
                )
            )
        return rowcount(result)

    async def event_exists(self, event_id: int) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(select(_EVENTS.c.id).where(_EVENTS.c.id == event_id))
        return found is not None

    async def deliveries_page(
        self, f: DeliveryFilter, size: int, after: int | None
    ) -> queries.Page[Any]:
        d = _DELIVERIES
        statement = (
            select(d, _EVENTS.c.type.label("event_type"))
            .join(_EVENTS, _EVENTS.c.id == d.c.event_id)
            .order_by(d.c.id.desc())
            .limit(size + 1)
        )
        if after is not None:
            statement = statement.where(d.c.id < after)
        for column, value in (
            (d.c.endpoint_id, f.endpoint_id),
            (d.c.event_id, f.event_id),
            (d.c.status, f.status),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if f.payee_id is not None:
            mine = select(_ENDPOINTS.c.id).where(_ENDPOINTS.c.payee_id == f.payee_id)
            statement = statement.where(d.c.endpoint_id.in_(mine))
        async with self._sessions() as session:
            rows = list((await session.execute(statement)).all())
        return queries.Page(rows[:size], len(rows) > size)

    async def attempts_of(self, delivery_ids: Sequence[int]) -> dict[int, list[Any]]:
        found: dict[int, list[Any]] = {i: [] for i in delivery_ids}
        async with self._sessions() as session:
            for chunk in chunked(sorted(set(delivery_ids))):
                rows = await session.execute(
                    select(_ATTEMPTS)
                    .where(_ATTEMPTS.c.delivery_id.in_(chunk))
                    .order_by(_ATTEMPTS.c.id)
                )
                for row in rows.all():
                    found[row.delivery_id].append(row)
        return found

    async def pending_count(self) -> int:
        """Events not yet fanned out plus deliveries not yet ended."""
        async with self._sessions() as session:
            events = await session.scalar(
                select(_EVENTS.c.id).where(_EVENTS.c.fanned_out.is_(False)).limit(1)
            )
            pending = await session.scalar(
                select(func.count()).where(_DELIVERIES.c.status == "pending")
            )
        return int(pending or 0) + (1 if events is not None else 0)


def _attempt_row(a: Attempt) -> dict[str, Any]:
    return {
        "delivery_id": a.delivery_id,
        "attempted_at": a.attempted_at,
        "status_code": a.status_code,
        "error": a.error[:2000] if a.error else None,
        "duration_ms": a.duration_ms,
        "succeeded": a.succeeded,
    }


def _mine(holder: str) -> Any:
    d = _DELIVERIES
    return and_(d.c.id == bindparam("did"), d.c.status == "pending", d.c.holder == holder)


async def _succeeded(
    session: AsyncSession, ok: Sequence[Attempt], holder: str, now: datetime
) -> None:
    if not ok:
        return
    d = _DELIVERIES
    await session.execute(
        update(d)
        .where(_mine(holder))
        .values(
            status="succeeded",
            attempts=d.c.attempts + 1,
            first_attempt_at=func.coalesce(d.c.first_attempt_at, bindparam("at")),
            last_attempt_at=bindparam("at"),
            delivered_at=bindparam("at"),
            holder=None,
            lease_until=None,
        ),
        [{"did": a.delivery_id, "at": a.attempted_at} for a in ok],
    )


async def _failed(
    session: AsyncSession, failed: Sequence[Attempt], holder: str, now: datetime
) -> None:
    if not failed:
        return
    d = _DELIVERIES
    rows = (
        await session.execute(
            select(d.c.id, d.c.attempts, d.c.first_attempt_at).where(
                d.c.id.in_([a.delivery_id for a in failed])
            )
        )
    ).all()
    known = {r.id: r for r in rows}
    params = []
    for a in failed:
        row = known.get(a.delivery_id)
        if row is None:
            continue
        attempts = row.attempts + 1
        first = row.first_attempt_at or a.attempted_at
        gives_up = now >= first + webhooks.RETRY_FOR
        params.append(
            {
                "did": a.delivery_id,
                "n": attempts,
                "first": first,
                "at": a.attempted_at,
                "st": "failed" if gives_up else "pending",
                "next": now + webhooks.next_wait(attempts),
            }
        )
    if params:
        await session.execute(
            update(d)
            .where(_mine(holder))
            .values(
                status=bindparam("st"),
                attempts=bindparam("n"),
                first_attempt_at=bindparam("first"),
                last_attempt_at=bindparam("at"),
                next_attempt_at=bindparam("next"),
                holder=None,
                lease_until=None,
            ),
            params,
        )


async def _endpoints_after(
    session: AsyncSession, ok: Sequence[Attempt], failed: Sequence[Attempt], now: datetime
) -> None:
    e = _ENDPOINTS
    good = sorted({a.endpoint_id for a in ok})
    bad = sorted({a.endpoint_id for a in failed} - set(good))
    if good:
        await session.execute(
            update(e).where(e.c.id.in_(good)).values(last_success_at=now, failing_since=None)
        )
    if not bad:
        return
    await session.execute(
        update(e).where(e.c.id.in_(bad), e.c.failing_since.is_(None)).values(failing_since=now)
    )
    await session.execute(
        update(e)
        .where(
            e.c.id.in_(bad),
            e.c.enabled.is_(True),
            e.c.failing_since <= now - webhooks.DISABLE_AFTER,
        )
        .values(
            enabled=False,
            disabled_at=now,
            disabled_reason="no successful delivery for 3 days",
        )
    )
