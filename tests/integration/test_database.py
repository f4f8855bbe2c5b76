"""The database itself: migrations match the tables, audit rows cannot change."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from persistence.db import create_engine
from persistence.migrate import check


def test_migrations_match_the_tables(database_url: str) -> None:
    check(database_url)  # raises when autogenerate would produce changes


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
    ],
)
async def test_audit_rows_are_append_only(database_url: str, backend: str, statement: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO audit_events"
                    " (occurred_at, entity, entity_id, action, actor, detail)"
                    " VALUES (CURRENT_TIMESTAMP, 'payout', 1, 'payout.created', 'system', '{}')"
                )
            )
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
        async with engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT actor, count(*) FROM audit_events GROUP BY actor"))
            ).one()
        assert tuple(row) == ("system", 1)
        if backend == "postgresql":
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as conn:
                    await conn.execute(text("TRUNCATE audit_events"))
    finally:
        await engine.dispose()
