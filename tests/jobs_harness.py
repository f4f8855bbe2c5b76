"""What the job tests share: two engines on one database, banks served over HTTP in the
test's own event loop, engine subprocesses, and the exactly-once checks.

The checks read the books as an accountant would: every payout's audit trail is one
chain of status changes, none written twice, ending at its status; its ledger holds
exactly the transfers that status implies; and ``ledger_checks.verify`` finds nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.money import Money
from domain.ports import Clock, OrderStatus, PaymentProvider, ProviderKind, ProviderOrder
from jobs.scheduled import Jobs, JobSettings
from persistence import ledger_checks
from persistence.tables import AuditEvent, JobRun, LedgerTransfer, Payout
from providers.mock.bank import MockBank
from providers.mock.server import serving
from service.bootstrap import Container
from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# The payout status an order's status at the bank means.
PAYOUT_STATUS = {
    OrderStatus.PROCESSING: "submitted",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.FAILED: "failed",
    OrderStatus.RETURNED: "returned",
}
# The transfers a payout's ledger holds in each status once it was submitted.
TRANSFERS = {
    "submitting": {"reserve": 1},
    "submitted": {"reserve": 1},
    "completed": {"reserve": 1, "post": 1},
    "failed": {"reserve": 1, "void": 1},
    "returned": {"reserve": 1, "post": 1, "return": 1},
}


def only_on(backend: str) -> pytest.MarkDecorator:
    """Run a database test on one backend only (when that backend is tested at all)."""
    return pytest.mark.parametrize(
        "database_url", [b for b in BACKENDS if b == backend], indirect=True
    )


class ShiftedClock:
    """Real time plus an offset: a process that looks at the clock later than now."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def jobs_of(
    container: Container,
    worker: str,
    *,
    settings: JobSettings | None = None,
    providers: Mapping[ProviderKind, PaymentProvider] | None = None,
    clock: Clock | None = None,
) -> Jobs:
    """The container's job functions under a worker name of their own (two ``Jobs`` in one
    process would otherwise share ``host:pid`` and, with it, each other's leases)."""
    return Jobs(
        engine=container.engine,
        sessions=container.sessions,
        runner=container.runner,
        providers=providers or container.providers,
        clock=clock or container.clock,
        settings=settings or container.jobs.settings,
        worker=worker,
    )


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 10.0
) -> T:
    """Ask ``probe`` until it answers something other than None (or fail after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# --- banks served over HTTP from the test's loop -----------------------------------------


@asynccontextmanager
async def served(banks: Mapping[ProviderKind, MockBank]) -> AsyncIterator[dict[ProviderKind, str]]:
    """Serve each bank with uvicorn inside the running loop; their base URLs.

    Another process (a worker) reaches them over HTTP while the test keeps the bank
    objects in hand. The test must not block its loop while that process runs."""
    async with AsyncExitStack() as stack:
        yield {
            kind: await stack.enter_async_context(serving(bank.app)) for kind, bank in banks.items()
        }


def provider_env(urls: Mapping[ProviderKind, str]) -> dict[str, str]:
    return {
        "ACH_PROVIDER_URL": urls[ProviderKind.ACH],
        "WIRE_PROVIDER_URL": urls[ProviderKind.WIRE],
        "CROSS_BORDER_PROVIDER_URL": urls[ProviderKind.CROSS_BORDER],
    }


# --- engine subprocesses -------------------------------------------------------------------


def engine_command() -> list[str]:
    script = Path(sys.executable).with_name("payout-engine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


class Child:
    """A process the test started, its output in a file; asyncio-driven, so that the
    banks the test serves keep answering while it waits."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    @classmethod
    async def start(
        cls, args: list[str], env: Mapping[str, str], log: Path, *, stdin: bool = False
    ) -> Child:
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                env=os.environ | {"NO_COLOR": "1", "COLUMNS": "200", **env},
                cwd=ROOT,
            )
        return cls(proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.returncode is None

    async def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def wait(self, timeout: float) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"process {self.pid} still running after {timeout} s:\n{self.output()}"
            ) from None

    async def kill(self) -> int:
        """SIGKILL; the exit code (``-SIGKILL`` unless it had already ended)."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        return await self.wait(10)

    async def close(self) -> None:
        """Make sure it is gone (a test that failed half-way still cleans up)."""
        if self.alive():
            self.proc.kill()
            await self.proc.wait()


# --- a provider whose feed readers are watched ------------------------------------------------


@dataclass
class FeedLog:
    """Who read which provider's feed, when: two workers must never read one at once."""

    open: Counter[tuple[ProviderKind, str]]
    overlaps: list[str]
    concurrent_workers: int = 0

    @classmethod
    def new(cls) -> FeedLog:
        return cls(Counter(), [])


class WatchedProvider:
    """Delegates to a provider; records every ``iter_orders`` reader while it reads."""

    def __init__(self, inner: PaymentProvider, worker: str, log: FeedLog) -> None:
        self._inner = inner
        self._worker = worker
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def iter_orders(self, since: datetime | None) -> AsyncIterator[list[ProviderOrder]]:
        kind = self._inner.kind  # type: ignore[attr-defined]
        log = self._log
        others = [w for (k, w), n in log.open.items() if k == kind and w != self._worker and n]
        if others:
            log.overlaps.append(f"{self._worker} read {kind} while {others} did")
        if any(n and w != self._worker for (_, w), n in log.open.items()):
            log.concurrent_workers += 1
        log.open[(kind, self._worker)] += 1
        try:
            async for page in self._inner.iter_orders(since):
                yield page
        finally:
            log.open[(kind, self._worker)] -= 1


def watched(providers: Mapping[ProviderKind, PaymentProvider], worker: str, log: FeedLog) -> Any:
    return {kind: WatchedProvider(p, worker, log) for kind, p in providers.items()}


# --- the books --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Books:
    status: dict[int, str]  # payouts that went to a provider, by id
    order_of: dict[int, str | None]
    key_of: dict[int, str]
    steps: dict[int, list[tuple[str | None, str]]]  # payout.status_changed, in order
    actors: Counter[str]  # who wrote the status changes after submission
    transfers: dict[int, Counter[str]]
    findings: list[ledger_checks.Finding]


async def read_books(sessions: async_sessionmaker[AsyncSession]) -> Books:
    async with sessions() as session:
        payouts = (
            await session.execute(
                select(Payout.id, Payout.status, Payout.provider_order_id, Payout.idempotency_key)
                .where(Payout.provider.isnot(None), Payout.status != "skipped")
                .order_by(Payout.id)
            )
        ).all()
        audit = await session.execute(
            select(AuditEvent.payout_id, AuditEvent.actor, AuditEvent.detail)
            .where(AuditEvent.action == "payout.status_changed")
            .order_by(AuditEvent.id)
        )
        steps: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
        actors: Counter[str] = Counter()
        for payout_id, actor, detail in audit.all():
            steps[payout_id].append((detail["from"], detail["to"]))
            if detail["from"] in ("submitted", "completed"):
                actors[actor] += 1
        transfers: dict[int, Counter[str]] = defaultdict(Counter)
        rows = await session.execute(
            select(LedgerTransfer.payout_id, LedgerTransfer.kind).where(
                LedgerTransfer.payout_id.isnot(None)
            )
        )
        for payout_id, kind in rows.all():
            transfers[payout_id][kind] += 1
        findings = await ledger_checks.verify(session)
    return Books(
        status={p.id: p.status for p in payouts},
        order_of={p.id: p.provider_order_id for p in payouts},
        key_of={p.id: p.idempotency_key for p in payouts},
        steps=dict(steps),
        actors=actors,
        transfers=dict(transfers),
        findings=findings,
    )


def check_moved_once(books: Books) -> None:
    """Every status change written once, as one chain ending at the payout's status,
    with exactly the ledger transfers that status implies; the ledger checks clean."""
    assert books.findings == [], books.findings
    problems: dict[int, Any] = {}
    for payout_id, status in books.status.items():
        steps = books.steps.get(payout_id, [])
        twice = [step for step, n in Counter(steps).items() if n > 1]
        chained = all(a[1] == b[0] for a, b in pairwise(steps))
        if twice or not chained or not steps or steps[-1][1] != status:
            problems[payout_id] = (status, steps)
        elif status in TRANSFERS and books.transfers.get(payout_id) != Counter(TRANSFERS[status]):
            problems[payout_id] = (status, books.transfers.get(payout_id))
    assert problems == {}, problems


def bank_statuses(banks: Mapping[ProviderKind, MockBank]) -> dict[str, str]:
    """The payout status each order at the banks stands for now, by order id."""
    return {
        order_id: PAYOUT_STATUS[order.current(bank.now()).status]
        for bank in banks.values()
        for order_id, order in bank.orders.items()
    }


WAY_TO = {
    "submitted": {"submitted"},
    "completed": {"submitted", "completed"},
    "failed": {"submitted", "failed"},
    "returned": {"submitted", "completed", "returned"},
}


def behind_or_at(books: Books, banks: Mapping[ProviderKind, MockBank]) -> dict[int, str]:
    """Payouts whose status is not on the way to what their bank says (should be {})."""
    return {
        pid: f"{status}, bank says {at_bank}"
        for pid, status, at_bank in _beside_banks(books, banks)
        if status not in WAY_TO[at_bank]
    }


def lagging(books: Books, banks: Mapping[ProviderKind, MockBank]) -> dict[int, str]:
    """Payouts whose status differs from what their bank says now (caught up: {})."""
    return {
        pid: f"{status}, bank says {at_bank}"
        for pid, status, at_bank in _beside_banks(books, banks)
        if status != at_bank
    }


def _beside_banks(
    books: Books, banks: Mapping[ProviderKind, MockBank]
) -> list[tuple[int, str, str]]:
    """(payout, its status, its order's status at the bank) for orders a bank holds."""
    at_bank = bank_statuses(banks)
    return [
        (pid, status, at_bank[order_id])
        for pid, status in books.status.items()
        if (order_id := books.order_of[pid]) is not None and order_id in at_bank
    ]


async def audit_rows(session: AsyncSession) -> dict[int, tuple[Any, ...]]:
    """Every audit row, whole, by id: what an append-only trail must still hold later."""
    rows = await session.execute(
        select(
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.entity,
            AuditEvent.entity_id,
            AuditEvent.payout_id,
            AuditEvent.run_id,
            AuditEvent.action,
            AuditEvent.actor,
            AuditEvent.detail,
        )
    )
    return {row[0]: tuple(row[1:]) for row in rows.all()}


def audit_changes(
    seen: Mapping[int, tuple[Any, ...]], now: Mapping[int, tuple[Any, ...]]
) -> list[tuple[int, tuple[Any, ...], tuple[Any, ...] | None]]:
    """Rows seen earlier that changed or went away: (id, as seen, as now)."""
    return [(i, row, now.get(i)) for i, row in seen.items() if now.get(i) != row]


async def job_runs(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    async with sessions() as session:
        return list((await session.execute(select(JobRun).order_by(JobRun.id))).scalars())


async def running_job_runs(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    return [(r.job, r.worker) for r in await job_runs(sessions) if r.status == "running"]


async def pg_advisory_locks(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    return int(found or 0)


async def pg_staging_tables(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Staging tables alive in any session (temporary tables are listed in pg_class)."""
    async with sessions() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM pg_class WHERE relname = 'recon_staged_orders'")
        )
    return int(found or 0)


# --- discrepancies for reconciliation -------------------------------------------------------

OPEN_BREAKS = {
    "missing_at_provider": 1,
    "amount_mismatch": 1,
    "unknown_at_provider": 1,
    "duplicate_payment": 1,
}


def inject_breaks(bank: MockBank) -> None:
    """One discrepancy of each kind that stays open for an operator (``OPEN_BREAKS``)."""
    first, second, third = sorted(bank.orders)[:3]
    bank.drop_order(first)
    order = bank.orders[second]
    bank.override_amount(second, order.amount + Money(1, order.amount.currency))
    bank.duplicate_order(third)
    bank.inject_unknown_order()


# --- a reconciliation process that waits for its cue --------------------------------------
#
# ``python -m tests.jobs_harness reconcile-on-cue 2026-03-02`` builds the engine from the
# environment (as ``payout-engine reconcile`` does), prints "ready", and reconciles the
# date when a line arrives on stdin: the seconds of imports are spent before the test
# needs the process, so the test can kill it at a moment it chooses.


async def _reconcile_on_cue(day: str) -> None:
    from service.bootstrap import build
    from service.settings import Settings

    container = build(Settings())
    try:
        print("ready", flush=True)
        cue = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if not cue:  # the test went away without giving the cue
            return
        result = await container.jobs.reconcile(date.fromisoformat(day))
        print(f"reconciled {day} in run {result.run_id}", flush=True)
    finally:
        await container.aclose()


if __name__ == "__main__":
    command, day = sys.argv[1:3]
    assert command == "reconcile-on-cue", command
    asyncio.run(_reconcile_on_cue(day))
