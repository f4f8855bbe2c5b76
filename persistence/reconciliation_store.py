"""Reconciliation in SQL: provider records staged beside the payouts, compared set-wise.

The providers' order listings are loaded, a page at a time, into a temporary table
on one dedicated connection (it vanishes with the connection, so a killed run leaves
nothing behind). On PostgreSQL a page goes in as the provider sent it: one statement
whose JSON the server reads, running while the next page is fetched. Three queries
then find every candidate break at once, whatever the number of payouts: orders
matched by id whose amount, currency or status differ; payouts whose order the
provider does not list; orders no payout has recorded. Breaks are written by (kind,
fingerprint), so finding one again is not a new break.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from iso4217 import Currency
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    exists,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import BreakNotOpen, InvalidInput, NotFound, UnsupportedCurrency
from domain.lifecycle import AGREES_WITH_ORDER
from domain.money import MAX_MINOR_UNITS, Money, exponent
from domain.ports import OrderStatus, ProviderOrder
from persistence import audit, outbox
from persistence.sql import chunked, rowcount
from persistence.tables import Payout, ReconciliationBreak, ReconciliationRun

_RUNS = ReconciliationRun.__table__
_BREAKS = ReconciliationBreak.__table__
_PAYOUTS = Payout.__table__
RECONCILER = "reconciliation"

# The staging table: one row per order a provider listed. Not part of the schema.
_staging_metadata = MetaData()
_ORDER_STATUSES = ", ".join(f"'{s.value}'" for s in OrderStatus)
STAGED = Table(
    "recon_staged_orders",
    _staging_metadata,
    Column("provider", String(16), nullable=False),
    Column("order_id", String(64), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("failure_code", String(64)),
    CheckConstraint(f"status IN ({_ORDER_STATUSES})", name="recon_staged_status"),
    prefixes=["TEMPORARY"],
)


def _exponents() -> str:
    """Every currency with a minor unit and its exponent, as a JSON object."""
    known = {}
    for currency in Currency:
        try:
            known[currency.code] = exponent(currency.code)
        except UnsupportedCurrency:
            continue
    return json.dumps(known)


# A page of orders in the providers' wire format (``providers.codec``), read by the
# server. An amount is exact in its currency's minor units or it is NULL, and NOT
# NULL rejects the page: more decimals than the currency has, or no such currency.
_STAGE_JSON = text(
    f"""
    INSERT INTO recon_staged_orders
        (provider, order_id, idempotency_key, status, amount_minor, currency, failure_code)
    WITH e AS MATERIALIZED (SELECT CAST(:exponents AS jsonb) AS exponent)
    SELECT :provider, o.id, o.idempotency_key, o.status,
           CASE WHEN a.minor = trunc(a.minor) AND abs(a.minor) <= {MAX_MINOR_UNITS}
                THEN a.minor END,
           o.amount ->> 'currency', o.failure_code
    FROM jsonb_to_recordset(CAST(:page AS jsonb) -> 'data')
         AS o(id text, idempotency_key text, status text, amount jsonb, failure_code text)
    CROSS JOIN e
    CROSS JOIN LATERAL (SELECT btrim(o.amount ->> 'amount') AS text) AS t
    CROSS JOIN LATERAL (
        SELECT CASE WHEN jsonb_typeof(o.amount -> 'amount') = 'string'
                     AND t.text ~ '^-?[0-9]+(\\.[0-9]+)?$'
               THEN CAST(t.text AS numeric)
                    * CAST(10 AS numeric) ^ CAST(e.exponent ->> (o.amount ->> 'currency') AS int)
               END AS minor
    ) AS a
    """
).bindparams(exponents=_exponents())


@dataclass(frozen=True, slots=True)
class Mismatch:
    """An order we recorded whose provider record differs from the payout."""

    payout_id: int
    payout_status: str
    payout_amount_minor: int
    payout_currency: str
    provider: str
    order_id: str
    order_status: str
    order_amount_minor: int
    order_currency: str
    failure_code: str | None


@dataclass(frozen=True, slots=True)
class Missing:
    payout_id: int
    payout_status: str
    provider: str
    order_id: str


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """An order no payout has recorded; ``payout_*`` is the payout its key names, if any."""

    provider: str
    order_id: str
    idempotency_key: str
    order_status: str
    amount_minor: int
    currency: str
    payout_id: int | None
    payout_status: str | None
    payout_order_id: str | None


@dataclass(frozen=True, slots=True)
class Break:
    """A finding to record: ``status`` is open, or auto_resolved with ``note``."""

    kind: str
    fingerprint: str
    detail: str
    evidence: dict[str, Any]
    payout_id: int | None = None
    provider: str | None = None
    provider_order_id: str | None = None
    status: str = "open"
    note: str | None = None


class Staging:
    """Provider records on one connection, and the queries that compare them.

    One page's INSERT at a time is in flight; it runs while the caller fetches the next
    page, and every query waits for it first."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._in_flight: asyncio.Task[int] | None = None
        self.rows = 0

    async def add(self, provider: str, orders: Sequence[ProviderOrder]) -> None:
        if orders:
            await self._stage(self._insert_rows, [_order_row(provider, o) for o in orders])

    async def add_page(self, provider: str, page: bytes) -> None:
        """One page of ``provider``'s listing as it came: a JSON object whose ``data``
        holds the orders in the providers' wire format (``providers.codec``)."""
        if self._postgres:
            await self._stage(self._insert_json, provider, page.decode())
        else:
            orders = json.loads(page)["data"]
            await self._stage(self._insert_rows, [_json_row(provider, o) for o in orders])

    async def finish(self) -> None:
        """Every page is in: ready the table for the comparisons. PostgreSQL compares by
        hash joins, which want the table's statistics (autovacuum never analyzes a
        temporary table) and no index; SQLite looks orders up by id and by key."""
        await self.flush()
        async with self._connection.begin():
            if self._postgres:
                await self._connection.exec_driver_sql("ANALYZE recon_staged_orders")
                return
            for column in ("order_id", "idempotency_key"):
                await self._connection.exec_driver_sql(
                    f"CREATE INDEX recon_staged_{column} ON recon_staged_orders ({column})"
                )

    async def flush(self) -> None:
        """Wait for the page being staged; its failure is raised here."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            self.rows += await task

    async def abandon(self) -> None:
        """Stop staging: the page in flight, if any, is let finish (it takes milliseconds)
        rather than cancelled, so the connection is idle again for the table's drop."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # the caller is failing already; this one is not news

    async def mismatches(self, unchanged_since: datetime) -> list[Mismatch]:
        """Only payouts not moved since ``unchanged_since`` (when the listing began): one
        the poller moved after the provider was listed would look ahead of it."""
        o, p = STAGED.c, _PAYOUTS.c
        expected = case(
            {order.value: payout.value for order, payout in AGREES_WITH_ORDER.items()},
            value=o.status,
        )
        statement = (
            select(
                p.id,
                p.status,
                p.amount_minor,
                p.currency,
                o.provider,
                o.order_id,
                o.status,
                o.amount_minor,
                o.currency,
                o.failure_code,
            )
            .select_from(STAGED.join(_PAYOUTS, p.provider_order_id == o.order_id))
            .where(
                p.updated_at <= unchanged_since,
                (p.amount_minor != o.amount_minor)
                | (p.currency != o.currency)
                | (p.status != expected),
            )
            .order_by(p.id)
        )
        return [Mismatch(*row) for row in await self._rows(statement)]

    async def missing(self, providers: Sequence[str], unchanged_since: datetime) -> list[Missing]:
        """Recorded orders the providers did not list; a payout that recorded its order
        after the listing began is left for the next run."""
        o, p = STAGED.c, _PAYOUTS.c
        statement = (
            select(p.id, p.status, p.provider, p.provider_order_id)
            .where(
                p.updated_at <= unchanged_since,
                p.provider_order_id.isnot(None),
                p.provider.in_(list(providers)),
                ~exists().where(o.order_id == p.provider_order_id),
            )
            .order_by(p.id)
        )
        return [Missing(*row) for row in await self._rows(statement)]

    async def unrecorded(self) -> list[Unrecorded]:
        o, p = STAGED.c, _PAYOUTS.c
        recorded = _PAYOUTS.alias("recorded")
        statement = (
            select(
                o.provider,
                o.order_id,
                o.idempotency_key,
                o.status,
                o.amount_minor,
                o.currency,
                p.id,
                p.status,
                p.provider_order_id,
            )
            .select_from(STAGED.outerjoin(_PAYOUTS, p.idempotency_key == o.idempotency_key))
            .where(~exists().where(recorded.c.provider_order_id == o.order_id))
            .order_by(o.order_id)
        )
        return [Unrecorded(*row) for row in await self._rows(statement)]

    async def _stage(self, insert: Callable[..., Awaitable[int]], *args: Any) -> None:
        await self.flush()
        self._in_flight = asyncio.create_task(_readable(insert, *args))
        # Let it send the statement now: a listing answered in this process (a mock
        # bank) may not give the event loop back before the next page is ready.
        await asyncio.sleep(0)

    async def _insert_json(self, provider: str, page: str) -> int:
        try:
            async with self._connection.begin():
                result = await self._connection.execute(
                    _STAGE_JSON, {"provider": provider, "page": page}
                )
        except (IntegrityError, DataError):
            for o in json.loads(page)["data"]:
                _json_row(provider, o)  # says which order, and what is wrong with it
            raise
        return int(result.rowcount)

    async def _insert_rows(self, rows: list[dict[str, Any]]) -> int:
        if rows:
            async with self._connection.begin():
                await self._connection.execute(insert(STAGED), rows)
        return len(rows)

    async def _rows(self, statement: Any) -> list[Any]:
        await self.flush()
        async with self._connection.begin():
            return list((await self._connection.execute(statement)).all())


async def _readable(insert: Callable[..., Awaitable[int]], *args: Any) -> int:
    """A page the database refuses is an order the engine cannot read, not a crash."""
    try:
        return await insert(*args)
    except (IntegrityError, DataError) as error:
        reason = " ".join(str(error.orig).split())
        raise InvalidInput(
            f"a provider listed an order the engine cannot read: {reason}"
        ) from error


def _order_row(provider: str, o: ProviderOrder) -> dict[str, Any]:
    return {
        "provider": provider,
        "order_id": o.order_id,
        "idempotency_key": o.idempotency_key,
        "status": o.status.value,
        "amount_minor": o.amount.minor,
        "currency": o.amount.currency,
        "failure_code": o.failure_code,
    }


def _json_row(provider: str, o: Mapping[str, Any]) -> dict[str, Any]:
    try:
        amount = Money.parse(o["amount"]["amount"], o["amount"]["currency"])
        status = OrderStatus(o["status"])
        row = {"order_id": o["id"], "idempotency_key": o["idempotency_key"]}
    except (KeyError, TypeError, ValueError, InvalidInput) as error:
        raise InvalidInput(
            f"a provider listed an order the engine cannot read: {error!r} in {o!r}"[:2000]
        ) from error
    return row | {
        "provider": provider,
        "status": status.value,
        "amount_minor": amount.minor,
        "currency": amount.currency,
        "failure_code": o.get("failure_code"),
    }


@asynccontextmanager
async def staging(engine: AsyncEngine) -> AsyncIterator[Staging]:
    """A fresh staging table on a connection of its own, dropped when done."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Each page is its own transaction, as on SQLite; in autocommit that is one
            # round trip (no BEGIN, no COMMIT), made while the next page is fetched.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("DROP TABLE IF EXISTS recon_staged_orders")
        await connection.commit()
        async with connection.begin():
            await connection.run_sync(lambda sync: STAGED.create(sync))
        staged = Staging(connection)
        try:
            yield staged
        finally:
            await staged.abandon()
            await connection.rollback()
            await connection.exec_driver_sql("DROP TABLE IF EXISTS recon_staged_orders")
            await connection.commit()


class SqlReconciliationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def open_run(self, business_date: date, trigger: str, now: datetime) -> int:
        """The run of ``business_date``: new, or the existing row started again."""
        async with self._sessions.begin() as session:
            existing = await session.scalar(
                select(_RUNS.c.id).where(_RUNS.c.business_date == business_date)
            )
            if existing is not None:
                await session.execute(
                    update(_RUNS)
                    .where(_RUNS.c.id == existing)
                    .values(
                        status="running",
                        trigger=trigger,
                        attempts=_RUNS.c.attempts + 1,
                        started_at=now,
                        finished_at=None,
                        error=None,
                    )
                )
                return int(existing)
            run_id = await session.scalar(
                insert(_RUNS)
                .values(
                    business_date=business_date,
                    status="running",
                    trigger=trigger,
                    attempts=1,
                    started_at=now,
                    counts={},
                )
                .returning(_RUNS.c.id)
            )
            assert run_id is not None
            return int(run_id)

    async def status_of(self, business_date: date) -> str | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(_RUNS.c.status).where(_RUNS.c.business_date == business_date)
            )

    async def fail_run(self, run_id: int, error: str, now: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id)
                .values(status="failed", finished_at=now, error=error[:2000])
            )

    async def finish_run(
        self, run_id: int, breaks: Sequence[Break], counts: dict[str, Any], now: datetime
    ) -> dict[str, int]:
        """Record the run's findings and close it, in one transaction.

        Open breaks not found again are resolved: what they described is gone.
        Returns how many breaks were new, seen again and no longer present.
        """
        async with self._sessions.begin() as session:
            known = await _existing(session, breaks)
            new = [b for b in breaks if (b.kind, b.fingerprint) not in known]
            again = [b for b in breaks if (b.kind, b.fingerprint) in known]
            if new:
                await session.execute(insert(_BREAKS), [_new_row(b, run_id, now) for b in new])
            await _seen_again(session, [known[(b.kind, b.fingerprint)] for b in again], run_id, now)
            reopened = await _reopen(
                session, [known[(b.kind, b.fingerprint)] for b in again if b.status == "open"]
            )
            gone = await _close_settled(session, {(b.kind, b.fingerprint): b for b in breaks}, now)
            await audit.write(session, _audit_rows(new, gone, run_id, now))
            await outbox.breaks_opened(session, [(b.kind, b.fingerprint) for b in new], now)
            await outbox.breaks_resolved(session, [c.id for c in gone], now)
            summary = {
                "new": len(new),
                "seen_again": len(again),
                "reopened": reopened,
                "vanished": len(gone),
            }
            await session.execute(
                update(_RUNS)
                .where(_RUNS.c.id == run_id)
                .values(status="completed", finished_at=now, counts=counts | summary)
            )
            return summary

    async def resolve(self, break_id: int, note: str, actor: str, now: datetime) -> None:
        """An operator closes an open break with a note; audited."""
        text = note.strip()
        if not text:
            raise InvalidInput("say what was done about the break", field="note")
        if len(text) > 2000:
            raise InvalidInput("the note is at most 2000 characters", field="note")
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
            # an escape sequence in a note would repaint an operator's terminal
            raise InvalidInput("the note holds control characters", field="note")
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    select(_BREAKS.c.id, _BREAKS.c.status, _BREAKS.c.kind, _BREAKS.c.payout_id)
                    .where(_BREAKS.c.id == break_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise NotFound(f"no reconciliation break {break_id}", field="breakId")
            if row.status != "open":
                raise BreakNotOpen(f"break {break_id} is already {row.status}", field="breakId")
            await session.execute(
                update(_BREAKS)
                .where(_BREAKS.c.id == break_id)
                .values(status="resolved", resolved_at=now, resolved_by=actor, resolution_note=text)
            )
            await audit.write(
                session,
                [
                    audit.audit_row(
                        "reconciliation.break_resolved",
                        now,
                        entity="reconciliation_break",
                        entity_id=break_id,
                        payout_id=row.payout_id,
                        actor=actor,
                        kind=row.kind,
                        note=text,
                    )
                ],
            )
            await outbox.breaks_resolved(session, [break_id], now)


async def _existing(session: AsyncSession, breaks: Iterable[Break]) -> dict[tuple[str, str], int]:
    """Ids of the breaks already recorded, by (kind, fingerprint), a chunk at a time."""
    wanted = sorted({(b.kind, b.fingerprint) for b in breaks})
    found: dict[tuple[str, str], int] = {}
    for chunk in chunked(wanted, 500):
        fingerprints = [f for _, f in chunk]
        rows = await session.execute(
            select(_BREAKS.c.kind, _BREAKS.c.fingerprint, _BREAKS.c.id).where(
                _BREAKS.c.kind.in_(sorted({k for k, _ in chunk})),
                _BREAKS.c.fingerprint.in_(fingerprints),
            )
        )
        keys = set(chunk)
        found |= {(k, f): i for k, f, i in rows.all() if (k, f) in keys}
    return found


async def _seen_again(
    session: AsyncSession, ids: Sequence[int], run_id: int, now: datetime
) -> None:
    for chunk in chunked(ids, 500):
        await session.execute(
            update(_BREAKS)
            .where(_BREAKS.c.id.in_(chunk))
            .values(last_seen_at=now, last_run_id=run_id)
        )


async def _reopen(session: AsyncSession, ids: Sequence[int]) -> int:
    """A break that resolved itself (it vanished) and is back is open again; one an
    operator resolved stays resolved: they accepted it."""
    reopened = 0
    for chunk in chunked(ids, 500):
        result = await session.execute(
            update(_BREAKS)
            .where(_BREAKS.c.id.in_(chunk), _BREAKS.c.status == "auto_resolved")
            .values(status="open", resolved_at=None, resolved_by=None, resolution_note=None)
        )
        reopened += rowcount(result)
    return reopened


def _new_row(b: Break, run_id: int, now: datetime) -> dict[str, Any]:
    resolved = b.status != "open"
    return {
        "kind": b.kind,
        "fingerprint": b.fingerprint,
        "status": b.status,
        "first_run_id": run_id,
        "last_run_id": run_id,
        "payout_id": b.payout_id,
        "provider": b.provider,
        "provider_order_id": b.provider_order_id,
        "detail": b.detail,
        "evidence": b.evidence,
        "first_seen_at": now,
        "last_seen_at": now,
        "resolved_at": now if resolved else None,
        "resolved_by": RECONCILER if resolved else None,
        "resolution_note": b.note,
    }


@dataclass(frozen=True, slots=True)
class _Closed:
    id: int
    kind: str
    payout_id: int | None
    note: str


VANISHED = "no longer found: the records agree again"


async def _close_settled(
    session: AsyncSession, found: Mapping[tuple[str, str], Break], now: datetime
) -> list[_Closed]:
    """Close the open breaks this run did not find (their cause is gone) and those it
    found fixed (an orphan whose recovery failed last time and worked now)."""
    rows = (
        await session.execute(
            select(_BREAKS.c.id, _BREAKS.c.kind, _BREAKS.c.fingerprint, _BREAKS.c.payout_id).where(
                _BREAKS.c.status == "open"
            )
        )
    ).all()
    closed = []
    for row in rows:
        finding = found.get((row.kind, row.fingerprint))
        if finding is None:
            closed.append(_Closed(row.id, row.kind, row.payout_id, VANISHED))
        elif finding.status != "open":
            closed.append(_Closed(row.id, row.kind, row.payout_id, finding.note or VANISHED))
    if closed:
        await session.execute(
            update(_BREAKS)
            .where(_BREAKS.c.id == bindparam("bid"))
            .values(
                status="auto_resolved",
                resolved_at=now,
                resolved_by=RECONCILER,
                resolution_note=bindparam("note"),
            ),
            [{"bid": c.id, "note": c.note} for c in closed],
        )
    return closed


def _audit_rows(
    new: Sequence[Break], gone: Sequence[_Closed], run_id: int, now: datetime
) -> list[dict[str, Any]]:
    rows = [
        audit.audit_row(
            "reconciliation.break_auto_resolved"
            if b.status != "open"
            else "reconciliation.break_found",
            now,
            entity="reconciliation_run",
            entity_id=run_id,
            payout_id=b.payout_id,
            actor=RECONCILER,
            kind=b.kind,
            fingerprint=b.fingerprint,
            note=b.note,
        )
        for b in new
    ]
    rows += [
        audit.audit_row(
            "reconciliation.break_auto_resolved",
            now,
            entity="reconciliation_break",
            entity_id=g.id,
            payout_id=g.payout_id,
            actor=RECONCILER,
            kind=g.kind,
            note=g.note,
        )
        for g in gone
    ]
    return rows
