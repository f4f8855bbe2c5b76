"""A run whose database connection is lost half-way resumes by itself and pays nobody twice.

The composition root gives ``PayoutRunner`` the ``reconnecting`` resume policy: a run cut
off by a lost connection starts again with its key once the database answers, exactly
what a restarted process would do, and as safely. Shown here: which failures count as a
lost connection; on PostgreSQL, the run's connections terminated by the server at
several points of one run; on both databases, the worst case for any retry, the
connection lost while a commit went through (the caller cannot tell that it did), at
each step of a run that writes.
"""

from __future__ import annotations

import functools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import errors
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError, OperationalError

from domain.clock import ManualClock
from domain.ports import ProviderKind
from domain.runs import PayoutRunner
from persistence.db import is_disconnect, reconnecting
from persistence.tables import AuditEvent
from providers.mock.bank import MockBank
from service.bootstrap import Container, build
from service.settings import Settings
from tests.conftest import FakeSleep
from tests.jobs_harness import check_moved_once, only_on, read_books

EVENT = "LIQ-2024-002"
EVENT_SIZE = 200


def dbapi_error(cause: Exception, *, invalidated: bool = False) -> OperationalError:
    return OperationalError("SELECT 1", None, cause, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (dbapi_error(psycopg.OperationalError("connection failed: Connection refused")), True),
        (dbapi_error(errors.AdminShutdown("terminating connection")), True),
        (dbapi_error(errors.CrashShutdown("crash")), True),
        (dbapi_error(errors.CannotConnectNow("the database system is starting up")), True),
        (dbapi_error(errors.ConnectionFailure("connection failure")), True),
        (dbapi_error(ValueError("any cause"), invalidated=True), True),
        (dbapi_error(errors.LockNotAvailable("lock timeout")), False),
        (dbapi_error(errors.QueryCanceled("statement timeout")), False),
        (dbapi_error(errors.SerializationFailure("could not serialize")), False),
        (IntegrityError("INSERT", None, errors.UniqueViolation("duplicate key")), False),
        (ValueError("not a database error"), False),
    ],
    ids=lambda v: "" if isinstance(v, bool) else type(getattr(v, "orig", v)).__name__,
)
def test_which_failures_are_a_lost_connection(error: Exception, lost: bool) -> None:
    assert is_disconnect(error) is lost


async def test_reconnecting_starts_the_work_again_only_after_a_lost_connection() -> None:
    sleep = FakeSleep()
    calls = Counter[str]()

    async def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise dbapi_error(errors.AdminShutdown("terminating connection"))
        return "done"

    async def broken() -> str:
        calls["broken"] += 1
        raise IntegrityError("INSERT", None, errors.UniqueViolation("duplicate key"))

    assert await reconnecting(flaky, sleep=sleep) == "done"
    assert calls["flaky"] == 3 and sleep.calls == [0.5, 1.0]
    with pytest.raises(IntegrityError):
        await reconnecting(broken, sleep=sleep)
    assert calls["broken"] == 1

    async def down() -> str:
        raise dbapi_error(psycopg.OperationalError("connection failed"))

    with pytest.raises(OperationalError):  # a server away for longer is an operator's matter
        await reconnecting(down, sleep=FakeSleep(), give_up_after_s=0)


# --- what a run that lost connections must have done ---------------------------------------


async def check_paid_once(container: Container, banks: dict[ProviderKind, MockBank]) -> None:
    """One order per payout that went to a bank, none else; the books whole; the run
    opened once and finished once."""
    books = await read_books(container.sessions)
    check_moved_once(books)
    orders = {o.idempotency_key: o for bank in banks.values() for o in bank.orders.values()}
    counts = Counter(o.idempotency_key for bank in banks.values() for o in bank.orders.values())
    assert [k for k, n in counts.items() if n > 1] == []
    assert set(orders) == set(books.key_of.values())
    assert {pid: orders[key].order_id for pid, key in books.key_of.items()} == books.order_of
    async with container.sessions() as session:
        actions = Counter(
            await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("run.%")))
        )
    assert actions == {"run.started": 1, "run.finished": 1}, actions


async def seed(container: Container) -> None:
    from service.demo import seed as load_demo

    await load_demo(container.sessions, container.clock.now(), large_event_size=EVENT_SIZE)


# --- on PostgreSQL: the server terminates the run's connections -----------------------------


@pytest_asyncio.fixture
async def batched(
    database_url: str,
    clock: ManualClock,
    banks: dict[ProviderKind, MockBank],
    fake_sleep: FakeSleep,
) -> AsyncIterator[Container]:
    """As conftest's container, with a run written fifty payouts a transaction."""
    settings = Settings(
        database_url=database_url, provider_concurrency=8, run_batch_size=50, _env_file=None
    )
    built = build(settings, clock=clock, banks=banks, provider_options={"sleep": fake_sleep})
    yield built
    await built.aclose()


class Terminator:
    """Before the ``nth`` statement matching ``pattern``, the server terminates every
    connection to the database (as a restart does): that statement meets a dead one."""

    def __init__(self, database_url: str, cuts: list[tuple[str, int]]) -> None:
        self._libpq = database_url.replace("postgresql+psycopg://", "postgresql://")
        self._cuts = [(re.compile(pattern, re.IGNORECASE), nth) for pattern, nth in cuts]
        self._seen = Counter[str]()
        self.hit: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sql = " ".join(statement.split())
        for pattern, nth in self._cuts:
            if pattern.search(sql):
                self._seen[pattern.pattern] += 1
                if self._seen[pattern.pattern] == nth:
                    self.hit.append(f"{pattern.pattern} #{nth}")
                    self._terminate_all()

    def _terminate_all(self) -> None:
        others = (
            "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(self._libpq, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) {others}")
            deadline = time.monotonic() + 10
            while admin.execute(f"SELECT count(*) {others}").fetchone() != (0,):
                assert time.monotonic() < deadline, "terminated backends did not go"
                time.sleep(0.01)


@pytest.mark.postgres
@only_on("postgresql")
async def test_a_run_whose_connections_the_server_cuts_finishes_and_pays_once(
    database_url: str, batched: Container, banks: dict[ProviderKind, MockBank]
) -> None:
    await seed(batched)
    cut = Terminator(
        database_url,
        [
            (r"^INSERT INTO payouts ", 2),  # writing the second batch's intents
            # reserving funds: the accounts' totals, after the entries' COPY
            (r'^UPDATE "ledger_accounts" AS t ', 3),
            (r'^UPDATE "payouts" AS t SET .*provider_order_id', 2),  # writing answers
        ],
    )
    event.listen(batched.engine.sync_engine, "before_cursor_execute", cut)
    try:
        summary = await batched.runner.run(EVENT, "cut")
    finally:
        event.remove(batched.engine.sync_engine, "before_cursor_execute", cut)
    assert len(cut.hit) == 3, cut.hit
    assert (summary.status, summary.total, summary.in_flight) == ("completed", EVENT_SIZE, 0)
    assert summary.created + summary.skipped + summary.failed == EVENT_SIZE
    await check_paid_once(batched, banks)


# --- on both databases: lost while the commit went through ----------------------------------


class LosesConnectionAfterCommit:
    """The store, but the ``nth`` call of ``method`` loses its connection just after
    its transaction committed: the caller sees a lost connection, the database has
    the work."""

    def __init__(self, inner: Any, method: str, nth: int) -> None:
        self._inner = inner
        self._method = method
        self._nth = nth
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        async def committed_then_lost(*args: Any, **kwargs: Any) -> Any:
            result = await attr(*args, **kwargs)
            self.calls += 1
            if self.calls == self._nth:
                raise dbapi_error(psycopg.OperationalError("server closed the connection"))
            return result

        return committed_then_lost


@pytest.mark.parametrize(
    ("method", "nth"),
    [
        ("open_run", 1),
        ("record_evaluations", 2),  # intents written and funds reserved: not twice
        ("record_results", 1),  # answers written: the orders are not asked for twice
        ("finish_run", 1),
    ],
)
async def test_a_run_that_lost_its_connection_as_a_commit_went_through_pays_once(
    container: Container,
    banks: dict[ProviderKind, MockBank],
    fake_sleep: FakeSleep,
    method: str,
    nth: int,
) -> None:
    await seed(container)
    store = LosesConnectionAfterCommit(container.store, method, nth)
    runner = PayoutRunner(
        store,
        container.providers,
        container.clock,
        batch_size=20,
        resume=functools.partial(reconnecting, sleep=fake_sleep),
    )
    summary = await runner.run(EVENT, "lost")
    assert store.calls >= nth and fake_sleep.calls[-1] == 0.5  # it was lost, then resumed
    assert (summary.status, summary.total, summary.in_flight) == ("completed", EVENT_SIZE, 0)
    await check_paid_once(container, banks)
