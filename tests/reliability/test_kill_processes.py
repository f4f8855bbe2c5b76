"""``serve`` and ``worker`` killed with SIGKILL at random moments of a 2,000-payout run.

Real processes on PostgreSQL: three mock banks served by ``payout-engine mock-provider``
(latency, clocks running an hour a second, failures and returns), so they keep their
orders while the engine dies; ``payout-engine serve`` (scheduler on, short intervals)
runs the event through the ``startRun`` mutation, sent again with the same key after
every restart; ``payout-engine worker`` processes poll and settle beside it.

A seeded plan kills: serve once the banks hold a few more orders, or a random moment
into a step; serve and every worker at once (a host crash), then serve again in its
start-up recovery; a worker or serve while it reads a provider's feed. Every kill is
recorded with the phase it hit (the summary line counts them), and checked at once:
no order without its payout, whole books, the audit trail unchanged. Once the run is
done the banks' clocks jump a day at a time (orders complete, fail, come back) with
more kills in those polls, then ten days, and serve and the workers must bring every
payout to its order's status with:

* every ledger transfer balanced per currency, cached balances equal to a recomputation,
  no negative available balance, a hold exactly while a payout is in flight
  (``ledger_checks.verify``);
* each payout's status changes written once, as one chain ending at its status, with
  exactly the ledger transfers that status implies (its status matches its ledger);
* at most one order per payout, and each order held by exactly one payout;
* every audit row seen before a kill unchanged after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.ports import OrderStatus, ProviderKind
from persistence.db import create_engine, sessionmaker
from persistence.tables import LiquidationEvent, Payout, PayoutRun, ProviderCursor
from providers.client import remote_provider
from tests.jobs_harness import (
    PAYOUT_STATUS,
    Books,
    Child,
    audit_changes,
    audit_rows,
    check_moved_once,
    engine_command,
    eventually,
    only_on,
    read_books,
)

postgresql_only = only_on("postgresql")

EVENT = "LIQ-2024-002"
EVENT_SIZE = 2000
RUN_KEY = "kill-processes"
SEED = 20260302
LATENCY_MS = 30  # per bank request: time for a kill to land between a call and its commit
CLOCK_SPEED = 3600  # bank seconds per real second: same-day rails settle in 1 s, ACH in 24 s
FAILURE_RATE = 0.1
RETURN_RATE = 0.2
DAY_S = 86400
SETTLE_ALL_S = 10 * DAY_S  # the last jump of the banks' clocks: every order is final
START_TIMEOUT_S = 90  # the CLI alone takes seconds to import on a busy 2-core machine
STEP_TIMEOUT_S = 180
FINISH_TIMEOUT_S = 300
ENGINE_ENV = {
    "PROVIDER_CONCURRENCY": "8",
    "RUN_BATCH_SIZE": "100",
    "SCHEDULER_ENABLED": "true",
    "POLL_INTERVAL_S": "0.5",
    "DISPATCH_INTERVAL_S": "1",
    "STALE_SUBMITTING_AFTER_S": "3",
    "POLL_LEASE_S": "10",  # a killed poller's feeds are free again soon
    "RUN_APPROVAL_MIN_TOTAL": "off",  # four eyes are tested in tests/api/test_run_workflow.py
    "RUN_LEASE_S": "10",  # a killed process's run is resumed by another soon
    "RUN_CHECK_INTERVAL_S": "0.2",
}
START_RUN = """
mutation($event: ID!, $key: String!) {
  startRun(input: {liquidationEventId: $event, idempotencyKey: $key}) {
    run { id status total created skipped failed inFlight }
    userErrors { code message }
  }
}
"""


@dataclass(frozen=True)
class Plan:
    during_run: tuple[str, ...]  # STEPS, in order, while the run goes on
    while_settling: tuple[str, ...]  # STEPS once it is done, each after a day's jump
    workers: int
    share: tuple[float, float]  # serve@orders: more orders at the banks, of EVENT_SIZE
    env: tuple[tuple[str, str], ...] = ()  # over ENGINE_ENV


DEFAULT_PLAN = Plan(
    during_run=("crash@orders", "serve@startup", "worker@poll", "serve@orders", "serve@time"),
    while_settling=("worker@poll",),
    workers=1,
    share=(0.04, 0.15),
)


def bench_plan(rng: random.Random, steps: int = 30) -> Plan:
    kinds = ["serve@orders", "serve@time", "serve@poll", "worker@poll", "worker@time", "crash"]
    during: list[str] = []
    for kind in rng.choices(kinds, [5, 3, 1, 4, 2, 2], k=steps):
        during += ["crash@orders", "serve@startup"] if kind == "crash" else [kind]
    settling = rng.choices(["worker@poll", "worker@time", "serve@poll", "serve@time"], k=6)
    # One call at a time: a slower run, so that most kills land in it.
    slower = (("PROVIDER_CONCURRENCY", "1"),)
    return Plan(tuple(during), tuple(settling), workers=2, share=(0.01, 0.04), env=slower)


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def answering(child: Child, url: str, what: str) -> None:
    """Wait for ``url`` to answer 200 (fail at once if the process died)."""
    async with httpx.AsyncClient(timeout=2.0) as client:

        async def up() -> bool | None:
            if not child.alive():
                raise AssertionError(f"{what} exited:\n{child.output()}")
            try:
                return True if (await client.get(url)).status_code == 200 else None
            except httpx.TransportError:
                return None

        await eventually(up, f"{what} to answer", timeout=START_TIMEOUT_S)


@asynccontextmanager
async def served_banks(
    tmp_path: Path, *, clock_speed: float = CLOCK_SPEED
) -> AsyncIterator[dict[ProviderKind, str]]:
    """Three ``payout-engine mock-provider`` processes; their base URLs."""
    children: list[Child] = []
    urls: dict[ProviderKind, str] = {}
    try:
        for kind in ProviderKind:
            port = free_port()
            args = [
                *engine_command(),
                "mock-provider",
                *("--kind", kind.value, "--host", "127.0.0.1", "--port", str(port)),
                *("--seed", "7", "--latency-ms", str(LATENCY_MS)),
                *("--clock-speed", str(clock_speed)),
                *("--failure-rate", str(FAILURE_RATE), "--return-rate", str(RETURN_RATE)),
            ]
            children.append(await Child.start(args, {}, tmp_path / f"bank-{kind.value}.log"))
            urls[kind] = f"http://127.0.0.1:{port}"
        for child, (kind, url) in zip(children, urls.items(), strict=True):
            await answering(child, f"{url}/health", f"mock bank {kind}")
        yield urls
    finally:
        for child in children:
            await child.close()


@pytest_asyncio.fixture
async def banks(tmp_path: Path) -> AsyncIterator[dict[ProviderKind, str]]:
    async with served_banks(tmp_path) as urls:
        yield urls


class Banks:
    """The served banks over HTTP: their orders, and their clocks."""

    def __init__(self, urls: dict[ProviderKind, str]) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=30.0)
        self.clients = {kind: remote_provider(kind, url) for kind, url in urls.items()}

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        await self.http.aclose()

    async def orders(self) -> dict[str, dict[str, Any]]:
        """Every order at every bank by order id, tagged with its bank's kind.

        The listing is ordered by last change and the banks' clocks run: an order that
        changes while it is listed comes again on a later page (the later copy wins)."""
        listed = await asyncio.gather(*(self._list(kind) for kind in self.urls))
        orders: dict[str, dict[str, Any]] = {}
        for kind, found in zip(self.urls, listed, strict=True):
            for order in found:
                assert orders.get(order["id"], {}).get("bank", kind.value) == kind.value
                orders[order["id"]] = order | {"bank": kind.value}
        return orders

    async def count(self) -> int:
        return len(await self.orders())

    async def advance(self, seconds: float) -> None:
        for url in self.urls.values():
            response = await self.http.post(f"{url}/_admin/advance", json={"seconds": seconds})
            response.raise_for_status()

    async def _list(self, kind: ProviderKind) -> list[dict[str, Any]]:
        """The bank's orders as it sends them, through the engine's own client."""
        found: list[dict[str, Any]] = []
        async for page in self.clients[kind].iter_order_json():
            found.extend(json.loads(page)["data"])
        return found


async def start_run(base_url: str, key: str = RUN_KEY) -> dict[str, Any]:
    """``startRun`` over HTTP, then the same again (the same key: the same run, harmless)
    every half second until the run, which serve or a worker executes in the background,
    has ended; the run's payload. A database that is briefly away (503) is asked again."""
    from service.demo import DEMO_OPS_KEY

    async with httpx.AsyncClient(timeout=httpx.Timeout(STEP_TIMEOUT_S, connect=10)) as http:
        while True:
            response = await http.post(
                f"{base_url}/graphql",
                json={"query": START_RUN, "variables": {"event": EVENT, "key": key}},
                headers={"Authorization": f"Api-Key {DEMO_OPS_KEY}"},
            )
            if response.status_code == 503:
                await asyncio.sleep(0.5)
                continue
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body["errors"]
            payload = body["data"]["startRun"]
            assert payload["userErrors"] == [], payload
            if payload["run"]["status"] not in {"queued", "running"}:
                return dict(payload["run"])
            await asyncio.sleep(0.5)


async def seed(database_url: str, size: int = EVENT_SIZE) -> None:
    from service.demo import seed as load_demo

    engine = create_engine(database_url)
    try:
        await load_demo(sessionmaker(engine), datetime.now(UTC), large_event_size=size)
    finally:
        await engine.dispose()


def worker_id(child: Child) -> str:
    """The name a ``serve`` or ``worker`` process holds leases under."""
    return f"{socket.gethostname()}:{child.pid}"


# --- the stage: the database, the banks and the engine processes -------------------------


@dataclass(frozen=True)
class Kill:
    process: str  # serve | worker
    phase: str
    detail: str = ""
    ordered_unrecorded: int = 0  # payouts left submitting whose order the bank already held


@dataclass
class Stage:
    database_url: str
    banks: Banks
    tmp_path: Path
    rng: random.Random
    engine: AsyncEngine
    worker_count: int = 1
    env_overrides: dict[str, str] = field(default_factory=dict)
    serve: Child | None = None
    serve_url: str = ""
    workers: dict[str, Child] = field(default_factory=dict)
    run: asyncio.Task[dict[str, Any]] | None = None  # the startRun request in flight
    finished: dict[str, Any] | None = None  # the run, once a startRun answered it
    kills: list[Kill] = field(default_factory=list)
    audit: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # every audit row seen
    starts: Counter[str] = field(default_factory=Counter)
    behind: dict[int, str] = field(default_factory=dict)  # payouts not at their bank's status

    @classmethod
    @asynccontextmanager
    async def open(
        cls, database_url: str, urls: dict[ProviderKind, str], tmp_path: Path, **kwargs: Any
    ) -> AsyncIterator[Stage]:
        """The stage; every process it started is gone when the block ends, however."""
        engine = create_engine(database_url)
        stage = cls(database_url, Banks(urls), tmp_path, random.Random(SEED), engine, **kwargs)
        try:
            yield stage
        finally:
            await stage.stop()
            await stage.banks.aclose()
            await engine.dispose()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return sessionmaker(self.engine)

    @property
    def snapshot(self) -> async_sessionmaker[AsyncSession]:
        """Sessions that see one consistent state while the engine processes write."""
        return sessionmaker(self.engine.execution_options(isolation_level="REPEATABLE READ"))

    @property
    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "ACH_PROVIDER_URL": self.banks.urls[ProviderKind.ACH],
            "WIRE_PROVIDER_URL": self.banks.urls[ProviderKind.WIRE],
            "CROSS_BORDER_PROVIDER_URL": self.banks.urls[ProviderKind.CROSS_BORDER],
            **ENGINE_ENV,
            **self.env_overrides,
        }

    def log(self, name: str) -> Path:
        self.starts[name] += 1
        return self.tmp_path / f"{name}-{self.starts[name]}.log"

    async def stop(self) -> None:
        """Every engine process gone, the request in flight dropped."""
        for child in [self.serve, *self.workers.values()]:
            if child is not None:
                await child.close()
        if self.run is not None:
            self.run.cancel()
            await asyncio.gather(self.run, return_exceptions=True)
            self.run = None

    # -- serve and the run --------------------------------------------------------------

    async def start_serve(self, *, wait: bool = True) -> Child:
        port = free_port()
        env = self.env | {"HOST": "127.0.0.1", "PORT": str(port)}
        self.serve = await Child.start([*engine_command(), "serve"], env, self.log("serve"))
        self.serve_url = f"http://127.0.0.1:{port}"
        if wait:
            await answering(self.serve, f"{self.serve_url}/health", "serve")
        return self.serve

    def send_run(self) -> None:
        """startRun with the run's key, in the background (asked again until the run ends)."""
        assert not self.run_in_flight()
        self.run = asyncio.create_task(start_run(self.serve_url))

    def run_in_flight(self) -> bool:
        return self.run is not None and not self.run.done()

    def collect_run(self) -> None:
        """The answer of a startRun that ended: the run, or the connection a kill cut."""
        if self.run is None or not self.run.done():
            return
        with contextlib.suppress(httpx.TransportError):  # serve died under it
            self.finished = self.run.result()
        self.run = None

    async def restart_serve(self) -> None:
        """Serve again; the run resumed with its key unless it was done."""
        await self.start_serve()
        if self.finished is None:
            self.send_run()

    async def run_to_completion(self) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            assert self.serve is not None and self.serve.alive(), "serve died"
            self.collect_run()
            if self.finished is None and self.run is None:
                self.send_run()
            return self.finished

        return await eventually(done, "the run to complete", timeout=FINISH_TIMEOUT_S)

    # -- workers ------------------------------------------------------------------------

    async def start_workers(self) -> None:
        """The workers, started together; back once each is ready (recovered, jobs on)."""
        children = [await self.start_worker(f"worker{n}") for n in range(1, self.worker_count + 1)]

        async def ready() -> bool | None:
            for child in children:
                if not child.alive():
                    raise AssertionError(f"a worker exited:\n{child.output()}")
            return True if all("jobs:" in child.output() for child in children) else None

        await eventually(ready, "the workers to start their jobs", timeout=START_TIMEOUT_S)

    async def start_worker(self, name: str) -> Child:
        child = await Child.start([*engine_command(), "worker"], self.env, self.log(name))
        self.workers[name] = child
        return child

    # -- reading the books --------------------------------------------------------------

    async def count(self, statement: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(statement) or 0)

    async def claimed(self) -> int:
        """Payouts in ``submitting`` that someone claimed to re-ask about."""
        return await self.count(
            select(func.count())
            .select_from(Payout)
            .where(Payout.status == "submitting", Payout.claimed_until > func.now())
        )

    async def event_payouts(self) -> int:
        return await self.count(
            select(func.count())
            .select_from(Payout)
            .join(LiquidationEvent, LiquidationEvent.id == Payout.event_id)
            .where(LiquidationEvent.code == EVENT)
        )

    async def feeds_held_by(self, child: Child) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ProviderCursor.provider).where(ProviderCursor.holder == worker_id(child))
            )
            return sorted(rows)

    async def books(self) -> Books:
        return await read_books(self.snapshot)

    async def run_row(self, key: str = RUN_KEY) -> Any:
        async with self.sessions() as session:
            return (
                await session.execute(
                    select(PayoutRun)
                    .join(LiquidationEvent, LiquidationEvent.id == PayoutRun.event_id)
                    .where(LiquidationEvent.code == EVENT, PayoutRun.idempotency_key == key)
                )
            ).scalar_one()

    async def remember_audit(self) -> None:
        """Every audit row there is now: each must still be there, unchanged, later."""
        async with self.sessions() as session:
            self.audit |= await audit_rows(session)

    async def check_audit(self) -> None:
        async with self.sessions() as session:
            changed = audit_changes(self.audit, await audit_rows(session))
        assert changed == [], f"{len(changed)} audit rows changed or went away: {changed[:3]}"


# --- checks ------------------------------------------------------------------------------


async def whole_after_kill(stage: Stage) -> int:
    """What holds the moment after a kill, whatever the other processes are doing; how
    many payouts are left ``submitting`` although a bank holds their order."""
    await stage.check_audit()
    orders = await stage.banks.orders()  # first the banks, then the database
    books = await stage.books()
    check_moved_once(books)
    keys = {key: pid for pid, key in books.key_of.items()}
    # The intent is committed before the call: no order without its payout.
    assert [o["id"] for o in orders.values() if o["idempotency_key"] not in keys] == []
    ordered = {o["idempotency_key"] for o in orders.values()}
    return sum(
        1 for pid, s in books.status.items() if s == "submitting" and books.key_of[pid] in ordered
    )


def bank_status(order: dict[str, Any]) -> str:
    return PAYOUT_STATUS[OrderStatus(order["status"])]


async def settled(stage: Stage) -> tuple[Books, dict[str, dict[str, Any]]] | None:
    """The books and the banks' orders once every payout is at its order's status."""
    orders = await stage.banks.orders()
    books = await stage.books()
    at_bank = {order_id: bank_status(o) for order_id, o in orders.items()}
    stage.behind = {
        pid: f"{status}, bank says {at_bank.get(books.order_of[pid] or '')}"
        for pid, status in books.status.items()
        if at_bank.get(books.order_of[pid] or "") != status
    }
    if stage.behind:
        await asyncio.sleep(0.2)
        return None
    return books, orders


async def all_settled(stage: Stage) -> tuple[Books, dict[str, dict[str, Any]]]:
    try:
        return await eventually(
            lambda: settled(stage), "every payout at its order's status", FINISH_TIMEOUT_S
        )
    except AssertionError as exc:
        behind = Counter(stage.behind.values())
        raise AssertionError(f"{exc}: {len(stage.behind)} behind: {behind}") from None


def check_orders(books: Books, orders: dict[str, dict[str, Any]]) -> None:
    """At most one order per payout; each order held by exactly one payout, which holds it."""
    keys = Counter(o["idempotency_key"] for o in orders.values())
    assert [k for k, n in keys.items() if n > 1] == [], "a payout was ordered twice"
    payout_of_key = {key: pid for pid, key in books.key_of.items()}
    assert len(payout_of_key) == len(books.key_of), "two payouts share a key"
    for order_id, order in orders.items():
        pid = payout_of_key.get(order["idempotency_key"])
        assert pid is not None, f"order {order_id} belongs to no payout"
        assert books.order_of[pid] == order_id, (pid, order_id, books.order_of[pid])
    held = [o for o in books.order_of.values() if o is not None]
    assert len(held) == len(set(held)) == len(orders), "an order held twice, or by nobody"


async def check_final(stage: Stage, books: Books, orders: dict[str, dict[str, Any]]) -> None:
    check_moved_once(books)
    check_orders(books, orders)
    await stage.check_audit()
    final = Counter(books.status.values())
    assert set(final) <= {"completed", "failed", "returned"}, final
    run = await stage.run_row()
    assert (run.status, run.total, run.in_flight) == ("completed", EVENT_SIZE, 0)
    assert run.created + run.failed == len(books.status) == len(orders)


# --- kills -------------------------------------------------------------------------------


async def kill(child: Child) -> None:
    if child.alive():
        child.proc.send_signal(signal.SIGKILL)
    await child.wait(10)


async def serve_phase(stage: Stage, serve: Child, in_run: bool) -> str:
    """What the killed serve was doing (its output and the database tell)."""
    output = serve.output()
    feeds = await stage.feeds_held_by(serve)
    polling = f", reading the {'/'.join(feeds)} feed" if feeds else ""
    if "Application startup complete" not in output:
        return "start-up recovery" if "Waiting for application startup" in output else "booting"
    if in_run:
        evaluated = await stage.event_payouts() == EVENT_SIZE
        return ("run: submitting" if evaluated else "run: evaluating + submitting") + polling
    return ("jobs only (run done)" if stage.finished else "jobs only (run not resent)") + polling


async def worker_phase(stage: Stage, worker: Child) -> str:
    if "jobs:" not in worker.output():
        return "starting (migration, start-up recovery)"
    feeds = await stage.feeds_held_by(worker)
    return f"mid-poll, reading the {'/'.join(feeds)} feed" if feeds else "between polls"


async def kill_serve_when(
    stage: Stage, ready: Callable[[], Awaitable[bool]], trigger: str, *, crash: bool = False
) -> None:
    """SIGKILL serve once ``ready`` says so (and with ``crash`` every worker with it), then
    start it again and resume the run, unless a crash's next step starts it."""
    serve = stage.serve
    assert serve is not None
    await stage.remember_audit()

    async def due() -> bool | None:
        if not serve.alive():
            raise AssertionError(f"serve exited by itself:\n{serve.output()}")
        return True if await ready() else None

    await eventually(due, trigger, timeout=STEP_TIMEOUT_S)
    in_run = stage.run_in_flight()
    workers = list(stage.workers.values()) if crash else []
    await asyncio.gather(*(kill(child) for child in [serve, *workers]))
    stage.collect_run()
    kills = [Kill("serve", await serve_phase(stage, serve, in_run), trigger)]
    kills += [Kill("worker", await worker_phase(stage, w), "with serve") for w in workers]
    unrecorded = await whole_after_kill(stage)
    stage.kills += [Kill(k.process, k.phase, k.detail, unrecorded) for k in kills]
    if crash:
        stage.workers.clear()
    else:
        await stage.restart_serve()


async def serve_at_orders(stage: Stage, plan: Plan, *, crash: bool = False) -> None:
    """Kill serve once the banks hold a few more orders (or now, if the run is done)."""
    threshold = await stage.banks.count() + round(stage.rng.uniform(*plan.share) * EVENT_SIZE)

    async def enough() -> bool:
        if not stage.run_in_flight():
            return True
        await asyncio.sleep(0.05)
        return await stage.banks.count() >= threshold

    await kill_serve_when(stage, enough, f"at {threshold} orders", crash=crash)


async def crash_at_orders(stage: Stage, plan: Plan) -> None:
    await serve_at_orders(stage, plan, crash=True)


async def serve_at_time(stage: Stage, _plan: Plan) -> None:
    delay = stage.rng.uniform(0.2, 4.0)
    deadline = time.monotonic() + delay

    async def later() -> bool:
        return time.monotonic() >= deadline

    await kill_serve_when(stage, later, f"{delay:.1f} s into the step")


async def serve_at_poll(stage: Stage, _plan: Plan) -> None:
    serve = stage.serve
    assert serve is not None

    async def polling() -> bool:
        return bool(await stage.feeds_held_by(serve))

    await kill_serve_when(stage, polling, "while its scheduler held a feed")


async def serve_at_startup(stage: Stage, _plan: Plan) -> None:
    """Serve started after a crash, killed while its start-up recovery re-asks the banks
    about the payouts the crash left submitting; then serve and the workers again."""
    before = await stage.claimed()
    await stage.remember_audit()
    serve = await stage.start_serve(wait=False)

    async def recovering() -> bool | None:
        if not serve.alive():
            raise AssertionError(f"serve exited:\n{serve.output()}")
        if "Application startup complete" in serve.output():
            return True  # too late: nothing was left, or it recovered everything first
        return True if await stage.claimed() > before else None

    await eventually(recovering, "serve's start-up recovery", timeout=START_TIMEOUT_S)
    await asyncio.sleep(stage.rng.uniform(0, 0.2))
    await kill(serve)
    phase = await serve_phase(stage, serve, False)
    stage.kills.append(Kill("serve", phase, "after a crash", await whole_after_kill(stage)))
    await stage.restart_serve()
    await stage.start_workers()


async def worker_at_poll(stage: Stage, _plan: Plan) -> None:
    name, worker = stage.rng.choice(sorted(stage.workers.items()))
    await stage.remember_audit()

    async def polling() -> bool | None:
        if not worker.alive():
            raise AssertionError(f"{name} exited:\n{worker.output()}")
        return True if await stage.feeds_held_by(worker) else None

    await eventually(polling, f"{name} to read a feed", timeout=STEP_TIMEOUT_S)
    await asyncio.sleep(stage.rng.uniform(0, 0.05))
    await kill_worker(stage, name, "once it held a feed")


async def worker_at_time(stage: Stage, _plan: Plan) -> None:
    name = stage.rng.choice(sorted(stage.workers))
    await stage.remember_audit()
    delay = stage.rng.uniform(0.1, 3.0)
    await asyncio.sleep(delay)
    await kill_worker(stage, name, f"{delay:.1f} s into the step")


async def kill_worker(stage: Stage, name: str, trigger: str) -> None:
    worker = stage.workers[name]
    await kill(worker)
    phase = await worker_phase(stage, worker)
    stage.kills.append(Kill("worker", phase, trigger, await whole_after_kill(stage)))
    await stage.start_worker(name)


STEPS: dict[str, Callable[[Stage, Plan], Awaitable[None]]] = {
    "serve@orders": serve_at_orders,
    "serve@time": serve_at_time,
    "serve@poll": serve_at_poll,
    "serve@startup": serve_at_startup,
    "crash@orders": crash_at_orders,
    "worker@poll": worker_at_poll,
    "worker@time": worker_at_time,
}


def summary(kills: list[Kill]) -> str:
    by_phase = Counter(f"{k.process}: {k.phase.split(', reading')[0]}" for k in kills)
    between = sum(k.ordered_unrecorded > 0 for k in kills)
    phases = ", ".join(f"{phase} x{n}" for phase, n in sorted(by_phase.items()))
    return f"{len(kills)} kills ({between} left orders at a bank unrecorded): {phases}"


# --- the tests ---------------------------------------------------------------------------


async def play(
    database_url: str, urls: dict[ProviderKind, str], tmp_path: Path, plan: Plan
) -> None:
    started = time.monotonic()
    await seed(database_url)
    async with Stage.open(
        database_url, urls, tmp_path, worker_count=plan.workers, env_overrides=dict(plan.env)
    ) as stage:
        await stage.start_serve()
        await stage.start_workers()
        stage.send_run()
        for step in plan.during_run:
            await STEPS[step](stage, plan)
        run = await stage.run_to_completion()
        assert (run["status"], run["inFlight"]) == ("completed", 0), run
        ran_s = time.monotonic() - started
        for step in plan.while_settling:
            await stage.banks.advance(DAY_S)
            await STEPS[step](stage, plan)
        await stage.banks.advance(SETTLE_ALL_S)
        books, orders = await all_settled(stage)
        await stage.stop()
        await check_final(stage, books, orders)
    print(
        f"\n{summary(stage.kills)}; {len(orders)} orders, "
        f"{dict(Counter(books.status.values()))}; run done {ran_s:.0f} s in, "
        f"whole test {time.monotonic() - started:.0f} s"
    )
    for k in stage.kills:
        print(f"  {k.process}: {k.phase} ({k.detail}; {k.ordered_unrecorded} orders unrecorded)")


@pytest.mark.slow
@pytest.mark.postgres
@postgresql_only
async def test_killed_serve_and_workers_lose_nothing_and_pay_once(
    database_url: str, banks: dict[ProviderKind, str], tmp_path: Path
) -> None:
    await play(database_url, banks, tmp_path, DEFAULT_PLAN)


@pytest.mark.bench
# Deselected by pyproject's addopts; skipped too when another -m replaces them.
@pytest.mark.skipif(
    "'bench' not in (config.getoption('markexpr') or '')", reason="long: run with -m bench"
)
@pytest.mark.postgres
@postgresql_only
async def test_many_kills_of_serve_and_workers_lose_nothing_and_pay_once(
    database_url: str, banks: dict[ProviderKind, str], tmp_path: Path
) -> None:
    await play(database_url, banks, tmp_path, bench_plan(random.Random(SEED)))
