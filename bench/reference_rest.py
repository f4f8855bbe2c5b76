"""The reference REST service: what a typical team would write instead of the engine.

A plain Starlette app (no auth, no GraphQL) on the engine's database, written the usual
way: ORM classes of its own over the existing tables with relationships, one async
session per request, eager loading with ``selectinload``, and Starlette's
``JSONResponse``. It serves the reads ``bench.graphql_reads`` measures the engine on,
with the same fields and nesting, so every read figure there is a ratio to it:

    GET /payouts/{id}                          a payout with its audit trail
    GET /payouts?first=100&after=<cursor>      a page, newest first, with rail, trace
                                               and ledger entries per payout
    GET /health                                one ``SELECT 1``

    python -m bench.reference_rest --database-url URL --port 8001
"""

from __future__ import annotations

import argparse
import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.money import Money
from domain.rails import rail_by_code
from persistence.tables import UtcDateTime

MAX_PAGE = 100


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012 (SQLAlchemy's idiom)


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    rail: Mapped[str | None] = mapped_column(String(16))
    provider_order_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    trace: Mapped[list[AuditEvent]] = relationship(
        primaryjoin="Payout.id == foreign(AuditEvent.payout_id)",
        order_by="AuditEvent.id",
        viewonly=True,
    )
    transfers: Mapped[list[LedgerTransfer]] = relationship(
        order_by="LedgerTransfer.id", viewonly=True
    )


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payout_id: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    kind: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    entries: Mapped[list[LedgerEntry]] = relationship(order_by="LedgerEntry.id", viewonly=True)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(96))


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    side: Mapped[str] = mapped_column(String(6))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    phase: Mapped[str] = mapped_column(String(8))
    account: Mapped[LedgerAccount] = relationship(viewonly=True)


# -- JSON -------------------------------------------------------------------------------------


def money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": Money(minor, currency).to_decimal_string(), "currency": currency}


def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "occurredAt": event.occurred_at.isoformat(),
        "action": event.action,
        "actor": event.actor,
        "detail": event.detail,
    }


def entry_json(transfer: LedgerTransfer, entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "transferId": str(transfer.id),
        "kind": transfer.kind,
        "account": entry.account.code,
        "side": entry.side,
        "amount": money(entry.amount_minor, entry.currency),
        "phase": entry.phase,
        "createdAt": transfer.created_at.isoformat(),
    }


def rail_json(code: str | None) -> dict[str, Any] | None:
    if code is None:
        return None
    rail = rail_by_code(code)
    return {
        "code": rail.code,
        "name": rail.name,
        "currency": rail.currency,
        "settlementLagDays": rail.settlement_lag_days,
    }


def payout_json(payout: Payout) -> dict[str, Any]:
    return {
        "id": str(payout.id),
        "status": payout.status.upper(),  # as the engine's enum spells it
        "amount": money(payout.amount_minor, payout.currency),
        "trace": [audit_json(event) for event in payout.trace],
    }


def page_row_json(payout: Payout) -> dict[str, Any]:
    return payout_json(payout) | {
        "providerOrderId": payout.provider_order_id,
        "updatedAt": payout.updated_at.isoformat(),
        "rail": rail_json(payout.rail),
        "ledgerEntries": [
            entry_json(transfer, entry)
            for transfer in payout.transfers
            for entry in transfer.entries
        ],
    }


# -- cursors: the engine's opaque keyset cursors ----------------------------------------------


def encode_cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(f"k:{ident}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError):
        return None
    ident = decoded[2:]
    return int(ident) if decoded.startswith("k:") and ident.isdigit() else None


# -- the app ----------------------------------------------------------------------------------


def build_app(database_url: str) -> Starlette:
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def one_payout(request: Request) -> JSONResponse:
        ident = request.path_params["id"]
        async with sessions() as session:
            payout = await session.get(Payout, ident, options=[selectinload(Payout.trace)])
        if payout is None:
            return JSONResponse({"error": "payout not found"}, status_code=404)
        return JSONResponse(payout_json(payout))

    async def payouts_page(request: Request) -> JSONResponse:
        try:
            first = int(request.query_params.get("first", "20"))
        except ValueError:
            first = 0
        if not 1 <= first <= MAX_PAGE:
            return JSONResponse({"error": f"first must be 1 to {MAX_PAGE}"}, status_code=400)
        statement = (
            select(Payout)
            .options(
                selectinload(Payout.trace),
                selectinload(Payout.transfers)
                .selectinload(LedgerTransfer.entries)
                .selectinload(LedgerEntry.account),
            )
            .order_by(Payout.id.desc())
            .limit(first + 1)
        )
        if (after := request.query_params.get("after")) is not None:
            before = decode_cursor(after)
            if before is None:
                return JSONResponse({"error": "after is not a cursor"}, status_code=400)
            statement = statement.where(Payout.id < before)
        async with sessions() as session:
            rows = list((await session.scalars(statement)).all())
        shown = rows[:first]
        return JSONResponse(
            {
                "payouts": [page_row_json(payout) for payout in shown],
                "hasNextPage": len(rows) > first,
                "endCursor": encode_cursor(shown[-1].id) if shown else None,
            }
        )

    async def health(_request: Request) -> JSONResponse:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = Starlette(
        routes=[
            Route("/payouts/{id:int}", one_payout),
            Route("/payouts", payouts_page),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
    app.state.engine = engine
    return app


def engine_of(app: Starlette) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


def cli() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = build_app(args.database_url)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    cli()
