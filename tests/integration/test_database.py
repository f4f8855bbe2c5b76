"""The database itself: migrations match the tables, history cannot change, books balance."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from persistence.db import create_engine
from persistence.migrate import check

SEED = {
    "audit_events": [
        "INSERT INTO audit_events (occurred_at, entity, entity_id, action, actor, detail)"
        " VALUES (CURRENT_TIMESTAMP, 'payout', 1, 'payout.created', 'system', '{}')"
    ],
    "ledger_transfers": [
        "INSERT INTO ledger_transfers (kind, phase, created_at)"
        " VALUES ('allocation', 'posted', CURRENT_TIMESTAMP)"
    ],
    "ledger_entries": [
        "INSERT INTO ledger_accounts (code, type, currency, created_at) VALUES"
        " ('a', 'equity', 'USD', CURRENT_TIMESTAMP), ('b', 'liability', 'USD', CURRENT_TIMESTAMP)",
        "INSERT INTO ledger_transfers (kind, phase, created_at)"
        " VALUES ('allocation', 'posted', CURRENT_TIMESTAMP)",
        "INSERT INTO ledger_entries (transfer_id, account_id, side, amount_minor, currency, phase)"
        " VALUES (1, 1, 'debit', 100, 'USD', 'posted'), (1, 2, 'credit', 100, 'USD', 'posted')",
    ],
}


def test_migrations_match_the_tables(database_url: str) -> None:
    check(database_url)  # raises when autogenerate would produce changes


@pytest.mark.parametrize("table", list(SEED))
@pytest.mark.parametrize("change", ["UPDATE {table} SET id = id + 1000", "DELETE FROM {table}"])
async def test_history_is_append_only(database_url: str, table: str, change: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in SEED[table]:
                await conn.execute(text(statement))
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(change.format(table=table)))
        async with engine.connect() as conn:
            count = await conn.scalar(text(f"SELECT count(*) FROM {table}"))
        assert count == (2 if table == "ledger_entries" else 1)
    finally:
        await engine.dispose()


async def test_truncate_is_refused_on_postgresql(database_url: str, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    engine = create_engine(database_url)
    try:
        for table in SEED:
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text(f"TRUNCATE {table} CASCADE"))
    finally:
        await engine.dispose()


async def test_postgresql_refuses_an_unbalanced_transfer_at_commit(
    database_url: str, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the constraint trigger is PostgreSQL's; SQLite relies on the domain check")
    engine = create_engine(database_url)
    unbalanced = [
        *SEED["ledger_entries"][:2],
        "INSERT INTO ledger_entries (transfer_id, account_id, side, amount_minor, currency, phase)"
        " VALUES (1, 1, 'debit', 100, 'USD', 'posted'), (1, 2, 'credit', 90, 'USD', 'posted')",
    ]
    try:
        with pytest.raises(DBAPIError, match="does not balance"):
            async with engine.begin() as conn:
                for statement in unbalanced:
                    await conn.execute(text(statement))
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM ledger_entries")) == 0
            assert await conn.scalar(text("SELECT count(*) FROM ledger_transfers")) == 0
    finally:
        await engine.dispose()


async def test_entries_must_be_positive_amounts(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(DBAPIError):
            async with engine.begin() as conn:
                for statement in SEED["ledger_entries"][:2]:
                    await conn.execute(text(statement))
                await conn.execute(
                    text(
                        "INSERT INTO ledger_entries"
                        " (transfer_id, account_id, side, amount_minor, currency, phase)"
                        " VALUES (1, 1, 'debit', -5, 'USD', 'posted')"
                    )
                )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("status", ["lost", "SUBMITTED", "paid", ""])
async def test_a_payout_cannot_be_in_a_status_the_lifecycle_does_not_know(
    seeded: object, database_url: str, status: str
) -> None:
    """The database refuses what the lifecycle has no name for, whoever writes it."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            before = await conn.scalar(text("SELECT count(*) FROM payouts"))
            payee = await conn.scalar(text("SELECT min(id) FROM payees"))
        with pytest.raises(DBAPIError, match=r"(?i)check"):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO payouts (payee_id, status, amount_minor, currency,"
                        " idempotency_key, created_at, updated_at, version)"
                        " VALUES (:payee, :status, 100, 'USD', 'k-check', CURRENT_TIMESTAMP,"
                        " CURRENT_TIMESTAMP, 1)"
                    ),
                    {"payee": payee, "status": status},
                )
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM payouts")) == before
    finally:
        await engine.dispose()
