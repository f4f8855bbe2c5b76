"""Job executions (``job_runs``) and the database guard that keeps a singleton job single.

Several workers and API processes run the same scheduler; the database, not hope,
decides who runs a singleton job. PostgreSQL: a session-level advisory lock held
on a dedicated connection for the job's duration; a killed process's connection
closes and the lock goes with it. SQLite: a lease row taken under BEGIN IMMEDIATE
that expires, so a killed holder blocks the job for at most the lease time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from persistence import metrics
from persistence.sql import insert_ignore, rowcount
from persistence.tables import JobLease, JobRun

_RUNS = JobRun.__table__
_LEASES = JobLease.__table__


class JobStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def start(self, job: str, trigger: str, worker: str, now: datetime) -> int:
        async with self._sessions.begin() as session:
            run_id = await session.scalar(
                insert(_RUNS)
                .values(
                    job=job,
                    trigger=trigger,
                    worker=worker,
                    status="running",
                    started_at=now,
                    counts={},
                )
                .returning(_RUNS.c.id)
            )
        assert run_id is not None
        return int(run_id)

    async def finish(
        self,
        run_id: int,
        status: str,
        now: datetime,
        counts: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            job = await session.scalar(
                update(_RUNS)
                .where(_RUNS.c.id == run_id)
                .values(status=status, finished_at=now, counts=dict(counts or {}), error=error)
                .returning(_RUNS.c.job)
            )
        metrics.job_finished(job or "unknown", status)

    async def prune(self, before: datetime) -> int:
        """Forget executions that finished before ``before`` (the table would grow forever)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                _RUNS.delete().where(_RUNS.c.finished_at.isnot(None), _RUNS.c.finished_at < before)
            )
        return rowcount(result)

    async def abandon(self, started_before: datetime, now: datetime) -> int:
        """Mark executions still ``running`` since before ``started_before`` as failed: their
        process was killed hard (no job runs that long), so nobody else will."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(_RUNS)
                .where(_RUNS.c.status == "running", _RUNS.c.started_at < started_before)
                .values(status="failed", finished_at=now, error="abandoned: its process ended")
            )
        return rowcount(result)


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a job name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@asynccontextmanager
async def singleton(
    engine: AsyncEngine,
    name: str,
    holder: str,
    now: datetime,
    lease: timedelta,
) -> AsyncIterator[bool]:
    """Yield True when this caller may run job ``name`` now, False when another does."""
    if engine.dialect.name == "postgresql":
        async with _advisory_lock(engine, name) as acquired:
            yield acquired
        return
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    acquired = await _take_lease(sessions, name, holder, now, lease)
    try:
        yield acquired
    finally:
        if acquired:
            await _release_lease(sessions, name, holder)


@asynccontextmanager
async def _advisory_lock(engine: AsyncEngine, name: str) -> AsyncIterator[bool]:
    key = advisory_key(name)
    async with engine.connect() as connection:
        acquired = bool(
            await connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
        )
        await connection.commit()
        try:
            yield acquired
        finally:
            if acquired:
                await _unlock(connection, key)


async def _unlock(connection: AsyncConnection, key: int) -> None:
    """Give the lock back; if that is interrupted, close the connection instead, so the
    server drops the lock with the session rather than a pooled connection keeping it."""
    try:
        await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        await connection.commit()
    except BaseException:
        await asyncio.shield(connection.invalidate())
        raise


async def _take_lease(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    holder: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    async with sessions.begin() as session:
        await insert_ignore(session, _LEASES, [{"name": name}], ["name"])
        taken = await session.execute(
            update(_LEASES)
            .where(
                _LEASES.c.name == name,
                or_(_LEASES.c.holder.is_(None), _LEASES.c.expires_at < now),
            )
            .values(holder=holder, expires_at=now + lease)
        )
        return bool(rowcount(taken))


async def _release_lease(
    sessions: async_sessionmaker[AsyncSession], name: str, holder: str
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(_LEASES)
            .where(_LEASES.c.name == name, _LEASES.c.holder == holder)
            .values(holder=None, expires_at=None)
        )
