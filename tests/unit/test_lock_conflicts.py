"""A transaction PostgreSQL rolled back to break a deadlock is run again; other
failures, a lost connection among them (its commit may have happened), are not."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from persistence.db import after_lock_conflicts, reconnecting


def failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, work


DEADLOCK = OperationalError("UPDATE ...", {}, psycopg.errors.DeadlockDetected("deadlock"))
LOST = OperationalError("COMMIT", {}, psycopg.OperationalError("server closed the connection"))


async def test_a_transaction_rolled_back_for_a_deadlock_runs_again() -> None:
    calls, work = failing(2, DEADLOCK)
    assert await after_lock_conflicts(work) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_a_lost_connection_is_not_run_again_and_conflicts_give_up() -> None:
    calls, work = failing(1, LOST)
    with pytest.raises(OperationalError):
        await after_lock_conflicts(work)  # type: ignore[arg-type]
    assert len(calls) == 1
    calls, work = failing(10, DEADLOCK)
    with pytest.raises(OperationalError):
        await after_lock_conflicts(work, attempts=3)  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_a_run_resumes_after_a_deadlock() -> None:
    async def no_sleep(_: float) -> None:
        return None

    calls, work = failing(1, DEADLOCK)
    assert await reconnecting(work, sleep=no_sleep) == "done"  # type: ignore[arg-type]
    assert len(calls) == 2
