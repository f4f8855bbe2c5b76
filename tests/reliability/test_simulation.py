"""A deterministic simulation of the engine against the real database, in the spirit of
TigerBeetle's VOPR: random operations and faults, and the books checked after every step.

Each seed drives ``STEPS`` random operations on a copy of a seeded database (SQLite and
PostgreSQL): create an event with random allocations to INV2- payees (exact amounts or
weights of a total; mostly USD, sometimes EUR; now and then above the ACH limit), run an
event (a new or a repeated idempotency key), merchant payouts (new keys, replayed keys,
keys reused for another amount), cancels, dispatches, recoveries, polls (the banks' view
applied directly, or the real polling job), reconciliations, made-up settlement reports
(duplicated in a batch and redelivered), clock advances, a payee's bank account off file
and back, and two things at once (two runs of one event, a run beside a recovery or a
settlement batch). The background workflow too: ``startRun`` (queued, or waiting for four
eyes), approvals and rejections by an approver (now and then the requester, in another
spelling, who must be refused), approvals expiring, waiting runs cancelled, the job runner
executing queued runs (one cancelled mid-run, between two batches; two workers racing
for them), and the webhook delivery job, its endpoints failing (500), timing out before
or after acting on an event, or acting on one and losing the answer (so it comes twice).
Interleaved with faults:

* at the providers: 5xx storms shorter or longer than the retry budget, 429 with
  Retry-After, a timeout after the order was created, an answer lost on the wire after
  the bank acted, a closed account;
* underneath the engine (``sim_faults``): the process **killed** at a random await point
  (the Nth statement, commit or provider request of an operation; nothing it does after
  reaches the database or a bank), then a new process on the same database recovers as
  ``serve`` does and the caller asks again (a run or a batch of deliveries the dead
  process held is taken over once its lease lapses); or the **database connection dropped**
  mid-transaction (terminated by the server on PostgreSQL), then the caller asks again.

After every step:

* ``ledger_checks.verify`` finds nothing (every transfer balanced per currency, cached
  totals equal the entries, no negative available balance, holds match payout statuses);
* each payout's ledger history is what its status says (reserve / post / void / return,
  each a two-leg transfer of the payout's amount between its payable and its provider's
  cash, the post or void resolving its reserve);
* every account's totals reconcile with the allocations and payouts tables;
* every order at every bank belongs to exactly one payout (by idempotency key, at that
  payout's provider) whose ``provider_order_id`` is the order id, or which is still
  ``submitting`` (a timeout after create; recovery learns the id); no payout has two
  orders, at one bank or across banks; every ``provider_order_id`` names a real order;
* payouts in ``submitted``/``completed``/``returned`` have a ``provider_order_id``;
* no audit row ever changes or goes away, and each payout's audited status changes chain
  into one legal path ending at its status (no change recorded twice); every synchronous
  run is completed; an ended run's counts add up to its items;
* no run executed by two processes at once (watched as it happens, and in the audit: one
  ``run.claimed``, then each ``run.resumed`` names the last holder and comes a lease
  after its claim at the earliest); a run is ``running`` between steps only under a
  killed process's lease; a waiting, rejected or expired run has no items;
* no approval decided by its requester's owner, every run's approval agrees with the
  run's status, and no run that needed one was executed without it;
* every outbox event is fanned out to every matching enabled endpoint, or still waiting
  to be; each delivery is pending, succeeded (and that endpoint did get the event), or
  failed after three days of tries; every attempt made is on record.

At the end of each seed the faults stop: queued runs are executed, every event reaches
every enabled endpoint it is for, recovery must leave nothing ``submitting``, a
repeated poll of the banks must change nothing, and a reconciliation may find nothing but
the status lags the made-up settlement reports caused.

A failure names the seed, the step and the whole operation log; all randomness comes from
``random.Random(seed)``, so ``PAYOUT_SIM_SEEDS=<seed>`` replays it exactly (add
``PAYOUT_SIM_STEPS=<n>`` for a longer one, ``PAYOUT_SIM_VERBOSE=1 -s`` to print each
seed's log); ``test_a_seed_replays_exactly`` holds the simulation to that. The one thing
a replay does not fix is how the two halves of a concurrent step interleave on the
database. ``PAYOUT_SIM_STATS=<file>`` appends where the kills and drops struck. The bench
variant runs thousands of seeds: ``pytest tests/reliability/test_simulation.py -m bench``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import case, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import aliased

from domain import webhooks as webhook_rules
from domain.auth import Caller, Role
from domain.clock import ManualClock
from domain.errors import ErrorCode, JobInProgress, ProviderUnavailable
from domain.events import AllocationInput, EventInput, plan_event, require
from domain.ledger import Balance
from domain.lifecycle import PayoutStatus, can_move
from domain.merchant_payouts import PayoutRequest
from domain.money import Money
from domain.ports import OrderStatus, ProviderKind
from domain.retries import fingerprint
from domain.run_workflow import APPROVAL_TTL, Decision, Requester, RunPreview
from domain.settlement import StatusReport
from jobs.run_executor import RunExecutor
from jobs.scheduled import Jobs
from jobs.webhooks import WebhookSender
from persistence import ledger_checks
from persistence.db import create_engine, sessionmaker
from persistence.event_store import SqlEventStore
from persistence.merchant_store import SqlMerchantPayouts
from persistence.retry_store import SqlPayoutRetries
from persistence.run_queue import Claim, SqlRunQueue
from persistence.settlement_store import SqlSettlementStore
from persistence.tables import (
    Allocation,
    Approval,
    AuditEvent,
    BankAccount,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    LiquidationEvent,
    Payee,
    Payout,
    PayoutRun,
    PayoutRunItem,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from persistence.webhook_store import SqlWebhooks
from providers.mock.bank import MockBank
from providers.mock.config import Fault, MockBankConfig
from providers.mock.orders import StoredOrder
from service.bootstrap import Container, build
from service.demo import seed as seed_demo
from service.settings import Settings
from tests.conftest import (
    BACKENDS,
    PG_ADMIN_URL,
    T0,
    FakeSleep,
    _admin,
    _libpq,
    _with_database,
)
from tests.jobs_harness import audit_changes, audit_rows, jobs_of
from tests.reliability.sim_faults import (
    PROVIDER,
    SQL,
    FaultyTransport,
    Injector,
    ProcessKilled,
    instrument,
)


def _ints(name: str, default: list[int]) -> list[int]:
    raw = os.environ.get(name, "").strip()
    return [int(part) for part in raw.split(",") if part.strip()] if raw else default


SEEDS = _ints("PAYOUT_SIM_SEEDS", list(range(100)))
STEPS = _ints("PAYOUT_SIM_STEPS", [12])[0]
BENCH_SEEDS = list(range(1000, 1000 + _ints("PAYOUT_SIM_BENCH_SEEDS", [1000])[0]))
REPLAYED_SEEDS = [0, 1, 2, 3, 4]  # between them: kills and dropped connections
# Where the simulated faults struck, over the session (see PAYOUT_SIM_STATS).
KILL_POINTS: Counter[str] = Counter()
DROP_POINTS: Counter[str] = Counter()
BENCH_STEPS = 24
# Short, so a simulated timeout-after-create costs 50 ms of wall time, not 0.5 s. The
# bank is in process (no network): a spurious timeout only means one more retry with
# the same idempotency key, which the invariants must survive anyway.
CALL_TIMEOUT_S = 0.05
MAX_ATTEMPTS = Settings(_env_file=None).provider_max_attempts
SEEDED_EVENTS = ("LIQ-2024-001", "LIQ-2024-002")
# Small batches: a queued run asked to stop stops between two of them, mid-run.
RUN_BATCH = 4
# Who asks for runs and who decides approvals (owners; an approver may be a requester).
PEOPLE = ("alice", "bob", "carol")
# The webhook endpoints: (host, events subscribed to, for the first INV2- payee only).
ENDPOINTS = (
    ("all.hooks.example", [], False),
    ("payouts.hooks.example", ["payout.*"], False),
    ("runs.hooks.example", ["run.*"], False),
    ("payee.hooks.example", [], True),
)
# How an endpoint answers for a while: it fails (500), times out before or after acting
# on the event, or acts on it and its answer is lost (so it gets the event twice).
HOOK_FAULTS = ("500", "timeout", "late_timeout", "twice")

HOLDING = frozenset({"pending", "submitting", "submitted"})
WITH_ORDER = frozenset({"submitted", "completed", "returned"})
# The transfers a payout has written, by its status (sorted kinds).
HISTORY = {
    "skipped": [],
    "pending": ["reserve"],
    "submitting": ["reserve"],
    "submitted": ["reserve"],
    "completed": ["post", "reserve"],
    "failed": ["reserve", "void"],
    "cancelled": ["reserve", "void"],
    "returned": ["post", "reserve", "return"],
}
# kind -> (phase, side of the payee's payable leg); the provider cash leg is opposite.
TRANSFER_SHAPE = {
    "reserve": ("pending", "debit"),
    "post": ("posted", "debit"),
    "void": ("voided", "debit"),
    "return": ("posted", "credit"),
}


@pytest.fixture
def call_timeout_s() -> float:
    """A timeout-after-create fault costs this much real time: keep it short here."""
    return CALL_TIMEOUT_S


# --- the simulated world ------------------------------------------------------------------


@dataclass
class Watch:
    """What the world outside the engine sees, across the engine's restarts: what each
    webhook endpoint accepted, how each answers now, which process executes which run."""

    accepted: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    modes: dict[str, tuple[str, int]] = field(default_factory=dict)  # host -> (fault, left)
    executing: dict[int, str] = field(default_factory=dict)  # run id -> worker, right now
    overlaps: list[str] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)  # workers of killed processes


class Receivers(httpx.AsyncBaseTransport):
    """Every webhook endpoint, in process: answers as its current fault says (then 200)."""

    def __init__(self, watch: Watch) -> None:
        self._watch = watch

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        host = request.url.host
        event_id = int(request.headers[webhook_rules.EVENT_ID_HEADER])
        mode, left = self._watch.modes.get(host, ("ok", 0))
        if left > 0:
            self._watch.modes[host] = (mode, left - 1)
        else:
            mode = "ok"
        if mode == "timeout":
            raise httpx.ReadTimeout("no answer in time", request=request)
        if mode == "500":
            return httpx.Response(500, json={"error": "down"})
        self._watch.accepted[host][event_id] += 1
        if mode == "late_timeout":
            raise httpx.ReadTimeout("acted on it, answered too late", request=request)
        if mode == "twice":
            raise httpx.ReadError("acted on it, the answer was lost", request=request)
        return httpx.Response(200, json={"ok": True})


async def public_address(_host: str, _port: int) -> list[str]:
    return ["93.184.216.34"]  # the endpoints' hosts stand for public ones


class WatchedExecutor(RunExecutor):
    """Notes which process executes which run, so two at once would show."""

    def __init__(self, watch: Watch, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watch = watch

    async def execute(self, claim: Claim) -> dict[str, Any]:
        executing = self._watch.executing
        other = executing.get(claim.run_id)
        if other is not None:
            self._watch.overlaps.append(f"run {claim.run_id}: {self.worker} began it under {other}")
        executing[claim.run_id] = self.worker
        try:
            return await super().execute(claim)
        finally:
            if executing.get(claim.run_id) == self.worker:
                del executing[claim.run_id]


def watched_jobs(container: Container, worker: str, watch: Watch) -> Jobs:
    """The process's jobs under ``worker``: webhooks posted to ``Receivers``, runs watched.
    (The heartbeat waits real seconds: a long one keeps a seed's statements the same on
    replay; a simulated run takes far less than the lease.)"""
    jobs = jobs_of(container, worker)
    jobs.webhooks = WebhookSender(
        SqlWebhooks(container.sessions),
        container.clock,
        worker,
        jobs.settings.webhooks,
        transport=Receivers(watch),
        resolver=public_address,
    )
    jobs.run_executor = WatchedExecutor(
        watch,
        SqlRunQueue(container.sessions),
        container.runner,
        container.clock,
        worker,
        lease=jobs.settings.run_lease,
        heartbeat_s=3600,
    )
    return jobs


@dataclass
class World:
    c: Container  # the engine "process": replaced by a new one when a fault kills it
    banks: dict[ProviderKind, MockBank]
    clock: ManualClock
    rng: random.Random
    payees: list[int]  # the INV2- investors events are made of
    injector: Injector
    watch: Watch
    first_event: int  # outbox events after this one happened after the endpoints existed
    events: list[str] = field(default_factory=lambda: list(SEEDED_EVENTS))
    keys: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    accounts_off: set[int] = field(default_factory=set)
    log: list[str] = field(default_factory=list)
    audit: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # every audit row seen
    restarts: int = 0
    counter: int = 0

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def note(self, text: str) -> None:
        self.log[-1] += f" -> {text}"


async def run(world: World, code: str, key: str) -> str:
    summary = await world.c.runner.run(code, key)
    if code not in world.keys or key not in world.keys[code]:
        world.keys[code].append(key)
    outcomes = {
        "created": summary.created,
        "skipped": summary.skipped,
        "failed": summary.failed,
        "in_flight": summary.in_flight,
    }
    assert sum(outcomes.values()) == summary.total, f"run {code}/{key}: {summary}"
    return f"total={summary.total} " + " ".join(f"{k}={v}" for k, v in outcomes.items())


def pick_event(world: World) -> str:
    """Mostly an event of the simulation; now and then a demo one (100 payouts, with the
    edge cases that skip, and the wire rail), which costs more to run."""
    created = [e for e in world.events if e not in SEEDED_EVENTS]
    if created and world.rng.random() < 0.9:
        return world.rng.choice(created)
    return world.rng.choice(world.events)


def pick_key(world: World, code: str) -> str:
    used = world.keys.get(code)
    if used and world.rng.random() < 0.35:
        return world.rng.choice(used)
    return f"k{world.next_id()}"


def amount(rng: random.Random) -> str:
    if rng.random() < 0.07:
        return "1200000.00"  # above the ACH limit: a US payee is skipped
    minor = rng.choices([1, rng.randint(2, 999), rng.randint(1_000, 500_000)], [1, 3, 6])[0]
    return f"{minor // 100}.{minor % 100:02d}"


async def op_create_event(world: World) -> None:
    rng = world.rng
    code = f"SIM-{world.next_id():03d}"
    currency = "EUR" if rng.random() < 0.15 else "USD"
    payees = rng.sample(world.payees, rng.randint(1, 6))
    if rng.random() < 0.3:
        total = f"{rng.randint(len(payees), 900_000)}.{rng.randint(0, 99):02d}"
        allocations = [AllocationInput(p, weight=rng.randint(1, 50)) for p in payees]
        data = EventInput(code, "Sim", "Sim fund", currency, allocations, total=total)
        world.log.append(f"create {code} {currency} total {total} over {len(payees)} payees")
    else:
        allocations = [AllocationInput(p, amount(rng)) for p in payees]
        data = EventInput(code, "Sim", "Sim fund", currency, allocations)
        shown = ", ".join(f"{a.payee_id}:{a.amount}" for a in allocations)
        world.log.append(f"create {code} {currency} [{shown}]")
    created = await SqlEventStore(world.c.sessions).create(
        require(plan_event(data)), world.clock.now()
    )
    assert isinstance(created, int), created
    world.events.append(code)


async def op_run(world: World) -> None:
    code = pick_event(world)
    key = pick_key(world, code)
    world.log.append(f"run {code} key={key}")
    world.note(await run(world, code, key))


def faults(world: World) -> tuple[ProviderKind, list[Fault], str]:
    rng = world.rng
    kinds = [ProviderKind.CROSS_BORDER, ProviderKind.ACH, ProviderKind.WIRE]
    kind = rng.choices(kinds, [5, 3, 1])[0]
    style = rng.choice(["storm", "long_storm", "rate_limited", "timeout", "timeout_storm"])
    status = rng.choice([500, 502, 503, 504])
    if style == "storm":
        n = rng.randint(1, MAX_ATTEMPTS - 1)
        return kind, [Fault.status(status)] * n, f"{n}x{status}"
    if style == "long_storm":
        n = rng.randint(MAX_ATTEMPTS, 3 * MAX_ATTEMPTS)
        return kind, [Fault.status(status)] * n, f"{n}x{status}"
    if style == "rate_limited":
        n, wait = rng.randint(1, 2 * MAX_ATTEMPTS), rng.randint(1, 5)
        return kind, [Fault.status(429, retry_after=wait)] * n, f"{n}x429(Retry-After {wait})"
    hang = [Fault.timeout_after_create(hang_seconds=5)] * rng.randint(1, 2)
    if style == "timeout":
        return kind, hang, f"{len(hang)}x timeout-after-create"
    storm = [Fault.status(status)] * rng.randint(MAX_ATTEMPTS - 1, 2 * MAX_ATTEMPTS)
    return kind, hang + storm, f"{len(hang)}x timeout-after-create then {len(storm)}x{status}"


async def op_fault_then_run(world: World) -> None:
    code = pick_event(world)
    key = pick_key(world, code)
    if world.rng.random() < 0.25:
        what = await close_an_account(world, code)
    elif world.rng.random() < 0.2:
        world.injector.lose_answers = world.rng.randint(1, 3)
        what = f"the next {world.injector.lose_answers} create answers are lost on the wire"
    else:
        kind, script, what = faults(world)
        world.banks[kind].script(*script)
        what = f"{kind.value}: {what}"
    world.log.append(f"fault {what}; run {code} key={key}")
    world.note(await run(world, code, key))


async def close_an_account(world: World, code: str) -> str:
    """Every bank refuses one payee of the event from now on (account closed)."""
    async with world.c.sessions() as session:
        rows = (
            await session.execute(
                select(Payee.id, BankAccount.details)
                .join(Allocation, Allocation.payee_id == Payee.id)
                .join(LiquidationEvent, LiquidationEvent.id == Allocation.event_id)
                .join(BankAccount, BankAccount.payee_id == Payee.id)
                .where(LiquidationEvent.code == code)
                .order_by(Payee.id, BankAccount.id)
            )
        ).all()
    if not rows:
        return "no account to close"
    payee_id, details = world.rng.choice(rows)
    number = next(
        (details[k] for k in ("iban", "account_number", "clabe") if k in details),
        max(details.values(), key=len),
    )
    for bank in world.banks.values():
        bank.reject_accounts(number)
    return f"account of payee {payee_id} closed"


async def op_recover(world: World) -> None:
    world.log.append("recover")
    world.note(f"{await world.c.runner.recover()} re-asked")


async def payouts_in(world: World, statuses: set[str] | None = None) -> list[Payout]:
    statement = select(Payout).order_by(Payout.id)
    if statuses is not None:
        statement = statement.where(Payout.status.in_(sorted(statuses)))
    async with world.c.sessions() as session:
        return list((await session.scalars(statement)).all())


REPORTED = [OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.RETURNED, OrderStatus.PROCESSING]
FAILURE_CODES = {
    OrderStatus.FAILED: ("AC04", "account closed"),
    OrderStatus.RETURNED: ("R01", "nsf"),
}


def report(payout_id: int, status: OrderStatus) -> StatusReport:
    code, reason = FAILURE_CODES.get(status, (None, None))
    return StatusReport(payout_id, status, code, reason)


async def settlement_batch(world: World) -> tuple[list[StatusReport], str]:
    """Random reports for submitted/completed payouts: some duplicated, some no-ops."""
    rng = world.rng
    open_ = await payouts_in(world, {"submitted", "completed"})
    others = await payouts_in(world, {"skipped", "failed", "returned"})
    if not open_:
        return [], "nothing submitted or completed"
    chosen = rng.sample(open_, min(len(open_), rng.randint(1, 4)))
    reports = [report(p.id, rng.choices(REPORTED, [4, 2, 2, 1])[0]) for p in chosen]
    if rng.random() < 0.3:
        reports.append(rng.choice(reports))  # the same report twice in one batch
    if others and rng.random() < 0.3:
        reports.append(report(rng.choice(others).id, rng.choice(REPORTED)))  # a no-op
    rng.shuffle(reports)
    return reports, "[" + ", ".join(f"{r.payout_id}:{r.status.value}" for r in reports) + "]"


async def op_settle(world: World) -> None:
    reports, shown = await settlement_batch(world)
    store = SqlSettlementStore(world.c.sessions)
    deliveries = 2 if world.rng.random() < 0.3 else 1
    world.log.append(f"settle x{deliveries} {shown}")
    moved = [await store.apply(reports, world.clock.now()) for _ in range(deliveries)]
    world.note(f"moved {moved}")
    if deliveries == 2:
        assert moved[1] == 0, f"a redelivered batch moved {moved[1]} payouts"


async def known_orders(world: World) -> list[tuple[Payout, MockBank, StoredOrder]]:
    """Orders the engine knows (by ``provider_order_id``), in payout order: order ids hash
    the payouts' random idempotency keys, so only this order replays the same."""
    found = []
    for payout in await payouts_in(world):
        if payout.provider_order_id is not None:
            bank = world.banks[ProviderKind(payout.provider)]
            order = bank.orders.get(payout.provider_order_id)
            if order is not None:
                found.append((payout, bank, order))
    return found


async def bank_reports(world: World) -> list[StatusReport]:
    """What a poller learns: each known order's status at its bank, now."""
    reports = []
    for payout, bank, order in await known_orders(world):
        event = order.current(bank.now())
        reports.append(
            StatusReport(payout.id, event.status, event.failure_code, event.failure_reason)
        )
    return reports


async def op_poll(world: World) -> None:
    """Sometimes a bank returns or fails an order first; then apply the banks' view."""
    rng = world.rng
    orders = await known_orders(world)
    text = "poll"
    if orders and rng.random() < 0.5:
        payout, bank, order = rng.choice(orders)
        status = rng.choice([OrderStatus.RETURNED, OrderStatus.FAILED])
        bank.force_status(order.order_id, status, FAILURE_CODES[status][0])
        text = f"bank {bank.kind.value} marks the order of payout {payout.id} {status.value}; poll"
    world.log.append(text)
    moved = await SqlSettlementStore(world.c.sessions).apply(
        await bank_reports(world), world.clock.now()
    )
    world.note(f"moved {moved}")


async def op_advance(world: World) -> None:
    delta = world.rng.choice(
        [timedelta(minutes=5), timedelta(hours=6), timedelta(days=1), timedelta(days=3)]
    )
    world.log.append(f"advance {delta}")
    advance(world, delta)


def advance(world: World, delta: timedelta) -> None:
    world.clock.advance(delta)
    for bank in world.banks.values():
        bank.advance(delta)


async def op_toggle_account(world: World) -> None:
    """A payee's bank account goes off file (their next payouts skip) or comes back (a
    later run re-evaluates the skipped payouts and pays them)."""
    rng = world.rng
    if world.accounts_off and rng.random() < 0.5:
        payee_id, on = rng.choice(sorted(world.accounts_off)), True
        world.accounts_off.discard(payee_id)
    else:
        async with world.c.sessions() as session:
            in_events = (
                await session.scalars(
                    select(Allocation.payee_id)
                    .join(LiquidationEvent, LiquidationEvent.id == Allocation.event_id)
                    .where(LiquidationEvent.code.like("SIM-%"))
                    .distinct()
                    .order_by(Allocation.payee_id)
                )
            ).all()
        payee_id, on = rng.choice(list(in_events) or world.payees), False
        world.accounts_off.add(payee_id)
    async with world.c.sessions.begin() as session:
        await session.execute(
            update(BankAccount).where(BankAccount.payee_id == payee_id).values(is_default=on)
        )
    world.log.append(f"bank account of payee {payee_id} {'back on' if on else 'off'} file")


async def op_concurrent(world: World) -> None:
    """Two things at once: runs of one event, a run or settlement beside a recovery."""
    rng = world.rng
    store = SqlSettlementStore(world.c.sessions)

    async def settled(reports: list[StatusReport]) -> str:
        return f"moved {await store.apply(reports, world.clock.now())}"

    async def recovered() -> str:
        return f"{await world.c.runner.recover()} re-asked"

    code = pick_event(world)
    key = pick_key(world, code)
    first: tuple[str, Callable[[], Awaitable[str]]] = (
        f"run {code} key={key}",
        lambda: run(world, code, key),
    )
    choice = rng.choice(["run", "recover", "settle"])
    if choice == "run":
        other = f"k{world.next_id()}"
        second = (f"run {code} key={other}", lambda: run(world, code, other))
    elif choice == "recover":
        second = ("recover", recovered)
    else:
        reports, shown = await settlement_batch(world)
        second = (f"settle {shown}", lambda: settled(reports))
    if rng.random() < 0.5:
        first, second = second, first
    world.log.append(f"concurrently: {first[0]} | {second[0]}")
    results = await asyncio.gather(first[1](), second[1]())
    world.note(" | ".join(results))


Op = Callable[[World], Awaitable[None]]


async def merchants(world: World) -> list[tuple[int, int]]:
    """(payee id, bank account id) of the demo merchants (INR balances)."""
    async with world.c.sessions() as session:
        rows = await session.execute(
            select(Payee.id, BankAccount.id)
            .join(BankAccount, BankAccount.payee_id == Payee.id)
            .where(Payee.kind == "merchant")
            .order_by(Payee.id)
        )
        return [(payee, account) for payee, account in rows.all()]


async def merchant_request(world: World) -> Action:
    """A merchant asks for money: a new key, a replayed key, or a key reused for another
    amount. Whatever happens, the checks after the step prove nothing was overdrawn."""
    payee, account = world.rng.choice(await merchants(world))
    used = world.keys[f"merchant:{payee}"]  # "key amount" of each request that was made
    replay = bool(used) and world.rng.random() < 0.4
    amount = world.rng.choice(["0.50", "5.00", "25.00", "60.00", "99.99", "150.00"])
    if replay:
        key, first_amount = world.rng.choice(used).split()
        amount = first_amount if world.rng.random() < 0.5 else amount  # identical, or not
    else:
        key = f"mkey-{world.next_id():06d}-{payee}"

    async def call() -> str:
        outcome = await SqlMerchantPayouts(world.c.sessions).create(
            f"payee:{payee}",
            PayoutRequest(payee, Money.parse(amount, "INR"), account, key),
            world.clock.now(),
        )
        if isinstance(outcome, list):
            codes = sorted({p.code for p in outcome})
            assert set(codes) <= {"INSUFFICIENT_FUNDS", "IDEMPOTENCY_KEY_REUSED"}, codes
            return f"refused {codes}"
        if f"{key} {amount}" not in used:
            used.append(f"{key} {amount}")
        return f"payout {outcome.payout_id}{' (replayed)' if outcome.replayed else ''}"

    return Action(
        f"merchant {payee} asks {amount} INR with {'old' if replay else 'new'} key {key}", call
    )


async def op_merchant_payout(world: World) -> None:
    action = await merchant_request(world)
    world.log.append(action.text)
    world.note(await action.call())


async def op_cancel(world: World) -> None:
    pending = [p for p in await payouts_in(world, {"pending"}) if p.event_id is None]
    world.log.append("cancel a pending merchant payout")
    if not pending:
        world.note("none pending")
        return
    outcome = await cancel(world, world.rng.choice(pending).id)
    assert outcome.startswith("cancelled"), outcome
    world.note(outcome)


async def op_dispatch(world: World) -> None:
    world.log.append("dispatch pending merchant payouts")
    world.note(f"{await world.c.runner.dispatch()} sent")


async def retry_request(world: World) -> Action:
    """Pay a failed or returned event payout again (an attempt), as retryPayout does;
    asked again after a failure with the same key."""
    later = aliased(Payout)
    last = (
        ~select(later.id)
        .where(
            later.event_id == Payout.event_id,
            later.payee_id == Payout.payee_id,
            later.attempt > Payout.attempt,
        )
        .exists()
    )
    async with world.c.sessions() as session:
        found = (
            await session.execute(
                select(Payout.id, Payout.currency)
                .where(Payout.event_id.is_not(None), Payout.status.in_(["failed", "returned"]))
                .where(last)
                .order_by(Payout.id)
            )
        ).all()
    chosen, currency = world.rng.choice(found) if found else (None, "USD")
    key = f"retry-{world.next_id()}"
    if chosen is not None and world.rng.random() < 0.7:
        # the payee gives a new account: its flag goes (the bank may still refuse it)
        async with world.c.sessions.begin() as session:
            payee_id = select(Payout.payee_id).where(Payout.id == chosen).scalar_subquery()
            await session.execute(
                update(BankAccount)
                .where(BankAccount.payee_id == payee_id)
                .values(flag_code=None, flagged_at=None, flagged_by_payout_id=None)
            )

    async def call() -> str:
        if chosen is None:
            return "nothing to retry"
        try:
            rates = await world.c.runner.limit_rates({currency})
        except ProviderUnavailable:
            return "no FX quotes: not retried"
        outcome = await SqlPayoutRetries(world.c.sessions).request(
            operation="retryPayout",
            scope="ops:sim",
            key=key,
            digest=fingerprint("retryPayout", {"payout_id": chosen}),
            payout_ids=[chosen],
            all_or_nothing=True,
            requester=Requester(None, "sim"),
            threshold=None,
            approval_ttl=timedelta(hours=1),
            rates=rates,
            now=world.clock.now(),
        )
        if isinstance(outcome, list):
            return f"retry {chosen} refused {sorted(p.code for p in outcome)}"
        return f"retry {chosen}: attempts {list(outcome.created)}"

    return Action(f"retry payout {chosen} key={key}", call)


async def op_retry(world: World) -> None:
    action = await retry_request(world)
    world.log.append(action.text)
    world.note(await action.call())


# --- faults underneath the engine: a killed process, a dropped connection ----------------


async def boot(
    database_url: str,
    world_clock: ManualClock,
    banks: dict[ProviderKind, MockBank],
    injector: Injector,
    incarnation: int,
    watch: Watch,
) -> Container:
    """An engine process: wired as ``serve`` wires it, its awaits routed through ``injector``.

    Providers get one request at a time, so a seed's provider await points come in the
    same order on every replay."""
    settings = Settings(
        database_url=database_url,
        provider_concurrency=1,
        run_batch_size=RUN_BATCH,
        _env_file=None,
    )
    options = {
        "sleep": FakeSleep(),
        "call_timeout_s": CALL_TIMEOUT_S,
        "wrap": lambda inner: FaultyTransport(inner, injector),
    }
    container = build(settings, clock=world_clock, banks=banks, provider_options=options)
    admin = None if database_url.startswith("sqlite") else _libpq(database_url)
    instrument(container.engine, injector, admin)
    # each incarnation is a process of its own: leases taken by a dead one are not its own
    container.__dict__["jobs"] = watched_jobs(container, f"sim-{incarnation}", watch)
    return container


async def restart(world: World) -> str:
    """The dead process is gone; a new one starts on the same database and banks and
    recovers, as ``serve`` does at start-up."""
    with contextlib.suppress(ProcessKilled):
        await world.c.aclose()
    world.watch.dead |= {f"sim-{world.restarts}", f"sim-{world.restarts}b"}
    world.restarts += 1
    world.injector = Injector()
    world.c = await boot(
        world.c.settings.database_url,
        world.clock,
        world.banks,
        world.injector,
        world.restarts,
        world.watch,
    )
    return f"restarted, {await world.c.runner.recover()} re-asked"


@dataclass(frozen=True)
class Action:
    """Something a caller asks of the engine; asked again after a failure, as a client
    (or an operator) would: the same run key, the same merchant idempotency key."""

    text: str
    call: Callable[[], Awaitable[str]]
    lease: timedelta = timedelta(0)  # what a killed process held is free again after this


async def pick_action(world: World) -> Action:
    """Chosen (and its inputs read) before the fault is armed, so only the engine's own
    await points count."""
    rng = world.rng
    what = rng.choices(
        [
            "run",
            "merchant",
            "cancel",
            "dispatch",
            "recover",
            "poll",
            "reconcile",
            "settle",
            "retry",
            "execute",
            "webhooks",
        ],
        [6, 4, 1, 2, 1, 3, 2, 2, 2, 3, 2],
    )[0]
    if what == "retry":
        return await retry_request(world)
    if what == "execute":
        await some_queued(world, 1)
        # what a kill leaves running is taken over once its lease has lapsed
        lease = world.c.jobs.settings.run_lease
        return Action("execute queued runs", lambda: execute_runs(world), lease)
    if what == "webhooks":
        lease = world.c.jobs.settings.webhooks.lease
        return Action("deliver webhooks", lambda: deliver(world), lease)
    if what == "run":
        code = pick_event(world)
        key = pick_key(world, code)
        return Action(f"run {code} key={key}", lambda: run(world, code, key))
    if what == "merchant":
        return await merchant_request(world)
    if what == "cancel":
        pending = [p.id for p in await payouts_in(world, {"pending"}) if p.event_id is None]
        if pending:
            chosen = rng.choice(pending)
            return Action(f"cancel payout {chosen}", lambda: cancel(world, chosen))
        what = "dispatch"
    if what == "dispatch":
        return Action("dispatch", lambda: dispatch(world))
    if what == "recover":
        return Action("recover", lambda: recover(world))
    if what == "poll":
        return Action("poll job", lambda: poll_job(world))
    if what == "reconcile":
        return Action("reconcile", lambda: reconcile(world))
    reports, shown = await settlement_batch(world)
    return Action(f"settle {shown}", lambda: settle(world, reports))


async def settle(world: World, reports: list[StatusReport]) -> str:
    """Through the live process's sessions (a restart replaces them)."""
    return f"moved {await SqlSettlementStore(world.c.sessions).apply(reports, world.clock.now())}"


async def dispatch(world: World) -> str:
    return f"{await world.c.runner.dispatch()} sent"


async def recover(world: World) -> str:
    return f"{await world.c.runner.recover()} re-asked"


async def cancel(world: World, payout_id: int) -> str:
    problems = await SqlMerchantPayouts(world.c.sessions).cancel(
        "ops:sim", payout_id, None, world.clock.now()
    )
    return f"refused {sorted(p.code for p in problems)}" if problems else f"cancelled {payout_id}"


async def poll_job(world: World) -> str:
    outcome = await world.c.jobs.poll_provider_status()
    return f"poll {outcome.status} {outcome.counts}"


async def reconcile(world: World) -> str:
    day = world.c.jobs.due_business_date()
    try:
        result = await world.c.jobs.reconcile(day)
    except JobInProgress:
        return f"reconcile {day}: in progress elsewhere"
    return f"reconcile {day}: {result.counts.get('by_kind')}, open {result.counts.get('open')}"


async def op_crash(world: World) -> None:
    """The engine process dies at a random await point of an operation; a new one starts,
    recovers, and the caller asks again."""
    kind = world.rng.choices([SQL, PROVIDER], [3, 2])[0]
    if kind == PROVIDER and world.rng.random() < 0.6:
        # a run with orders to send: the kill lands before or after a bank creates one
        await op_create_event(world)
        code, key = world.events[-1], f"k{world.next_id()}"
        action = Action(f"run {code} key={key}", lambda: run(world, code, key))
    else:
        action = await pick_action(world)
    # most operations have a few dozen await points; now and then aim further in
    at = world.rng.randint(1, 8 if kind == PROVIDER else 12 if world.rng.random() < 0.6 else 40)
    world.log.append(f"kill at {kind} point {at} of: {action.text}")
    world.injector.arm("crash", kind, at)
    try:
        result = await action.call()
    except ProcessKilled:
        KILL_POINTS[world.injector.hit or "?"] += 1
        world.note(f"killed at {world.injector.hit}; {await restart(world)}")
        if action.lease:
            advance(world, action.lease + timedelta(seconds=1))
            world.note(f"{action.lease} later")
        world.note(f"again: {await action.call()}")
        return
    finally:
        world.injector.disarm()
    world.note(f"{result} (finished before point {at})")


async def op_drop_connection(world: World) -> None:
    """The database connection of an operation is dropped mid-transaction; it fails (or
    copes), the process lives on, and the caller asks again."""
    action = await pick_action(world)
    at = world.rng.randint(1, 25)
    world.log.append(f"drop the connection at statement {at} of: {action.text}")
    world.injector.arm("drop", SQL, at)
    try:
        result = await action.call()
    except DBAPIError as exc:
        DROP_POINTS[world.injector.hit or "?"] += 1
        world.injector.disarm()
        world.note(f"dropped at {world.injector.hit}: {type(exc).__name__}")
        if action.lease:
            # what it had claimed before the drop (a run, a batch of deliveries) stays
            # claimed by this process until the lease lapses: then it is taken up again
            advance(world, action.lease + timedelta(seconds=1))
            world.note(f"{action.lease} later")
        world.note(f"again: {await action.call()}")
        return
    finally:
        world.injector.disarm()
    hit = world.injector.hit
    if hit is not None:
        DROP_POINTS[hit] += 1
    world.note(f"{result} ({f'coped with a drop at {hit}' if hit else 'finished first'})")


async def op_poll_job(world: World) -> None:
    world.log.append("poll job")
    world.note(await poll_job(world))


async def op_reconcile(world: World) -> None:
    world.log.append("reconcile")
    world.note(await reconcile(world))


# --- runs through startRun, four eyes, the job runner; webhook deliveries ------------------


async def event_id_of(world: World, code: str) -> int:
    async with world.c.sessions() as session:
        found = await session.scalar(
            select(LiquidationEvent.id).where(LiquidationEvent.code == code)
        )
    assert found is not None, code
    return int(found)


async def op_request_run(world: World, needs: bool | None = None) -> None:
    """startRun: the run is recorded and waits for an approval, or is queued. Its keys
    are its own (a run of the job runner refuses the synchronous path's key)."""
    rng = world.rng
    code = pick_event(world)
    key = pick_key(world, f"queue:{code}")
    needs = rng.random() < 0.6 if needs is None else needs
    owner = rng.choice(PEOPLE)
    world.log.append(f"startRun {code} key={key} by {owner}{' (four eyes)' if needs else ''}")
    nothing = RunPreview(0, (), (), ())  # what it would pay is not what is checked here
    run_id = await SqlRunQueue(world.c.sessions).create_run(
        await event_id_of(world, code),
        key,
        nothing,
        needs,
        Requester(None, owner),
        APPROVAL_TTL,
        world.clock.now(),
    )
    if key not in world.keys[f"queue:{code}"]:
        world.keys[f"queue:{code}"].append(key)
    async with world.c.sessions() as session:
        status = await session.scalar(select(PayoutRun.status).where(PayoutRun.id == run_id))
    world.note(f"run {run_id} {status}")


async def op_decide(world: World) -> None:
    """An approver approves or rejects a pending run approval; now and then the approver
    is the requester (in another spelling), which must be refused."""
    rng = world.rng
    async with world.c.sessions() as session:
        pending = list(
            (
                await session.scalars(
                    select(Approval).where(Approval.status == "PENDING").order_by(Approval.id)
                )
            ).all()
        )
    if not pending:
        world.log.append("decide an approval -> none pending")
        return
    approval = rng.choice(pending)
    own = rng.random() < 0.3
    owner = (
        approval.requested_by_owner
        if own
        else rng.choice([p for p in PEOPLE if p != approval.requested_by_owner])
    )
    if own and rng.random() < 0.5:
        owner = f" {owner.upper()} "
    decision = Decision.APPROVE if rng.random() < 0.75 else Decision.REJECT
    world.log.append(f"{owner!r} decides {decision.value} on approval {approval.id}")
    caller = Caller(key_id=0, role=Role.APPROVER, name="sim", owner=owner)
    problem = await SqlRunQueue(world.c.sessions).decide(
        approval.id, decision, None, caller, world.clock.now()
    )
    expired = approval.expires_at <= world.clock.now()
    world.note("done" if problem is None else f"refused {problem.code}")
    if own:
        assert problem is not None, "the requester decided their own approval"
        assert expired or problem.code is ErrorCode.SELF_APPROVAL, problem
    elif not expired:
        assert problem is None, problem


async def some_queued(world: World, at_least: int) -> None:
    """Runs for the job runner to execute: queued ones (a new event's, now and then)."""
    async with world.c.sessions() as session:
        queued = await session.scalar(select(func.count()).where(PayoutRun.status == "queued"))
    for _ in range(at_least - int(queued or 0)):
        if world.rng.random() < 0.5:
            await op_create_event(world)
        await op_request_run(world, needs=False)


async def execute_runs(world: World, jobs: Jobs | None = None) -> str:
    outcomes = await (jobs or world.c.jobs).execute_queued_runs("manual")
    for outcome in outcomes:
        if outcome.exception is not None:
            raise outcome.exception
    return "executed " + (
        ", ".join(f"run {o.counts['run_id']} {o.counts['status']}" for o in outcomes) or "none"
    )


async def op_execute_runs(world: World) -> None:
    """The job runner executes the queued runs."""
    await some_queued(world, 1)
    world.log.append("execute queued runs")
    world.note(await execute_runs(world))


async def op_cancel_mid_run(world: World) -> None:
    """The job runner executes the queued runs, and an operator cancels the run being
    executed just before one of its orders goes out (so between two batches)."""
    await some_queued(world, 1)
    world.injector.hook_at = world.rng.randint(1, 6)
    world.injector.hook = lambda: cancel_running(world)
    at = world.injector.hook_at
    world.log.append(f"execute queued runs, cancelling the one running before order {at}")
    try:
        world.note(await execute_runs(world))
    finally:
        world.injector.hook = None


async def cancel_running(world: World) -> None:
    async with world.c.sessions() as session:
        running = (
            await session.scalars(
                select(PayoutRun.id).where(PayoutRun.status == "running").order_by(PayoutRun.id)
            )
        ).all()
    ops = Caller(key_id=0, role=Role.OPS, name="sim", owner="ops")
    for run_id in running:
        problem = await SqlRunQueue(world.c.sessions).cancel(run_id, ops, world.clock.now())
        world.note(f"cancel run {run_id}: {problem.code if problem else 'asked'}")


async def op_race_workers(world: World) -> None:
    """Two workers look for queued runs at the same moment."""
    await some_queued(world, 2)
    other = watched_jobs(world.c, f"sim-{world.restarts}b", world.watch)
    world.log.append("two workers execute queued runs at once")
    first, second = await asyncio.gather(execute_runs(world), execute_runs(world, other))
    world.note(f"{first} | {second}")


async def op_cancel_run(world: World) -> None:
    async with world.c.sessions() as session:
        waiting = (
            await session.scalars(
                select(PayoutRun.id)
                .where(PayoutRun.status.in_(["awaiting_approval", "queued"]))
                .order_by(PayoutRun.id)
            )
        ).all()
    world.log.append("cancel a waiting run")
    if not waiting:
        world.note("none waiting")
        return
    run_id = world.rng.choice(list(waiting))
    ops = Caller(key_id=0, role=Role.OPS, name="sim", owner="ops")
    problem = await SqlRunQueue(world.c.sessions).cancel(run_id, ops, world.clock.now())
    assert problem is None, problem
    world.note(f"run {run_id} cancelled")


async def op_expire_approvals(world: World) -> None:
    world.log.append("expire approvals")
    outcome = await world.c.jobs.expire_approvals("manual")
    if outcome.exception is not None:
        raise outcome.exception
    world.note(f"{outcome.counts}")


async def deliver(world: World) -> str:
    outcome = await world.c.jobs.deliver_webhooks("manual")
    if outcome.exception is not None:
        raise outcome.exception
    return f"webhooks {outcome.status} {outcome.counts}"


async def op_webhooks(world: World) -> None:
    """Sometimes an endpoint starts failing, timing out or answering twice; deliver."""
    rng = world.rng
    text = "deliver webhooks"
    if rng.random() < 0.6:
        host = rng.choice(ENDPOINTS)[0]
        fault, count = rng.choice(HOOK_FAULTS), rng.randint(1, 30)
        world.watch.modes[host] = (fault, count)
        text = f"{host} answers {fault} to the next {count}; {text}"
    world.log.append(text)
    world.note(await deliver(world))


OPS: list[tuple[Op, int]] = [
    (op_create_event, 4),
    (op_run, 5),
    (op_fault_then_run, 5),
    (op_recover, 2),
    (op_settle, 4),
    (op_poll, 2),
    (op_advance, 2),
    (op_toggle_account, 1),
    (op_concurrent, 2),
    (op_merchant_payout, 8),
    (op_cancel, 2),
    (op_dispatch, 2),
    (op_poll_job, 2),
    (op_reconcile, 1),
    (op_retry, 5),
    (op_crash, 5),
    (op_drop_connection, 3),
    (op_request_run, 4),
    (op_decide, 3),
    (op_execute_runs, 3),
    (op_cancel_mid_run, 2),
    (op_race_workers, 2),
    (op_cancel_run, 1),
    (op_expire_approvals, 1),
    (op_webhooks, 4),
    # Retries of failed and returned payouts (issue 16, on another branch) belong here:
    # an op that retries a random failed/returned payout (sometimes twice, sometimes
    # killed midway through ``pick_action``), with HISTORY and audit_problems taught the
    # retried payout's path, and a check that a payout and its retries hold at most one
    # live order between them.
]


# --- the invariants -------------------------------------------------------------------------


def pay_code(payee_id: int, currency: str) -> str:
    return f"payee:{payee_id}:payable:{currency}"


def cash_code(provider: str, currency: str) -> str:
    return f"platform:provider:{provider}:{currency}"


async def check(world: World) -> list[str]:
    problems: list[str] = []
    async with world.c.sessions() as session:
        findings = await ledger_checks.verify(session)
        problems += [f"ledger_checks: {f.kind} {f.subject}: {f.detail}" for f in findings]
        payouts = list((await session.scalars(select(Payout).order_by(Payout.id))).all())
        transfers = (
            await session.execute(
                select(
                    LedgerTransfer.id,
                    LedgerTransfer.payout_id,
                    LedgerTransfer.kind,
                    LedgerTransfer.phase,
                    LedgerTransfer.resolves_id,
                )
                .where(LedgerTransfer.payout_id.isnot(None))
                .order_by(LedgerTransfer.id)
            )
        ).all()
        legs = (
            await session.execute(
                select(
                    LedgerEntry.transfer_id,
                    LedgerAccount.code,
                    LedgerEntry.side,
                    LedgerEntry.amount_minor,
                    LedgerEntry.currency,
                    LedgerEntry.phase,
                )
                .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
                .where(LedgerTransfer.payout_id.isnot(None))
            )
        ).all()
        accounts = {a.code: a for a in (await session.scalars(select(LedgerAccount))).all()}
        allocated = (
            await session.execute(
                select(
                    Allocation.payee_id, Allocation.currency, func.sum(Allocation.amount_minor)
                ).group_by(Allocation.payee_id, Allocation.currency)
            )
        ).all()
        funded = (
            await session.execute(
                select(LedgerAccount.code, func.sum(LedgerEntry.amount_minor))
                .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
                .join(LedgerTransfer, LedgerTransfer.id == LedgerEntry.transfer_id)
                .where(LedgerTransfer.kind == "merchant_funding", LedgerEntry.side == "credit")
                .group_by(LedgerAccount.code)
            )
        ).all()
        audit = await audit_rows(session)
        changes = (
            await session.execute(
                select(AuditEvent.payout_id, AuditEvent.detail)
                .where(AuditEvent.action == "payout.status_changed")
                .order_by(AuditEvent.id)
            )
        ).all()
        runs = list((await session.scalars(select(PayoutRun).order_by(PayoutRun.id))).all())
        approvals = list((await session.scalars(select(Approval).order_by(Approval.id))).all())
        claims = (
            await session.execute(
                select(
                    AuditEvent.run_id, AuditEvent.action, AuditEvent.detail, AuditEvent.occurred_at
                )
                .where(AuditEvent.action.in_(["run.claimed", "run.resumed"]))
                .order_by(AuditEvent.id)
            )
        ).all()
        events = (
            await session.execute(
                select(
                    WebhookEvent.id,
                    WebhookEvent.type,
                    WebhookEvent.payee_id,
                    WebhookEvent.created_at,
                    WebhookEvent.fanned_out,
                ).where(WebhookEvent.id > world.first_event)
            )
        ).all()
        endpoints = list((await session.scalars(select(WebhookEndpoint))).all())
        deliveries = list((await session.scalars(select(WebhookDelivery))).all())
        attempts = {
            d: (int(n), int(ok or 0))
            for d, n, ok in (
                await session.execute(
                    select(
                        WebhookAttempt.delivery_id,
                        func.count(),
                        func.sum(case((WebhookAttempt.succeeded.is_(True), 1), else_=0)),
                    ).group_by(WebhookAttempt.delivery_id)
                )
            ).all()
        }
        allocations = {
            (a.event_id, a.payee_id): a.amount_minor
            for a in (await session.scalars(select(Allocation))).all()
        }
        items = dict(
            (
                await session.execute(
                    select(PayoutRunItem.run_id, func.count()).group_by(PayoutRunItem.run_id)
                )
            ).all()
        )

    problems += history_problems(payouts, transfers, legs)
    problems += attempt_problems(payouts, allocations)
    problems += balance_problems(payouts, accounts, allocated, funded)
    problems += order_problems(world, payouts)

    for audit_id, seen, now in audit_changes(world.audit, audit):  # never change nor go
        problems.append(f"audit row {audit_id} was {seen}, is now {now}")
    world.audit = audit
    problems += audit_problems(payouts, changes)
    problems += run_problems(world, runs, items, approvals, claims)
    problems += webhook_problems(world, events, endpoints, deliveries, attempts)
    return problems


ENDED = {"completed", "cancelled"}
NEVER_RAN = {"awaiting_approval", "queued", "rejected", "expired"}


def run_problems(
    world: World, runs: list[PayoutRun], items: dict[int, int], approvals: Any, claims: Any
) -> list[str]:
    """Every run where its workflow says; no run executed by two processes at once; no
    approval decided by its requester, and no run that needed one executed without it."""
    problems = [f"two processes executed a run at once: {o}" for o in world.watch.overlaps]
    lease = world.c.jobs.settings.run_lease
    approval_of = {a.subject_id: a for a in approvals if a.kind == "RUN"}
    claims_of: dict[int, list[Any]] = defaultdict(list)
    for claim in claims:
        claims_of[claim.run_id].append(claim)
    for r in runs:
        counts = (r.created, r.skipped, r.failed, r.in_flight)
        legacy = r.requested_by_owner is None
        if legacy and r.status != "completed":
            problems.append(f"run {r.id} left {r.status} between steps")
        elif r.status == "running" and r.claimed_by not in world.watch.dead:
            problems.append(f"run {r.id} left running by the live process {r.claimed_by}")
        if r.status in ENDED and (sum(counts) != r.total or r.total != items.get(r.id, 0)):
            problems.append(
                f"run {r.id}: counts {counts}, total {r.total}, {items.get(r.id)} items"
            )
        if r.status in NEVER_RAN and (items.get(r.id) or claims_of.get(r.id)):
            problems.append(f"run {r.id} is {r.status} with items or claims")
        # claims: one run.claimed, then each run.resumed takes over from the last
        # holder once its lease (at least ``lease`` from its claim) had lapsed
        holder = None
        for n, c in enumerate(claims_of.get(r.id, [])):
            want = "run.claimed" if n == 0 else "run.resumed"
            if c.action != want or c.detail.get("previous") != (
                holder.detail["worker"] if holder else None
            ):
                problems.append(f"run {r.id}: claim {n} is {c.action} {c.detail} after {holder}")
            elif holder is not None and c.occurred_at < holder.occurred_at + lease:
                problems.append(f"run {r.id} taken over at {c.occurred_at} within the lease")
            holder = c
        approval = approval_of.get(r.id)
        if approval is None:
            if r.status in ("awaiting_approval", "rejected", "expired"):
                problems.append(f"run {r.id} is {r.status} without an approval")
            continue
        want_approval = {
            "awaiting_approval": {"PENDING"},
            "rejected": {"REJECTED"},
            "expired": {"EXPIRED"},
            "queued": {"APPROVED"},
            "running": {"APPROVED"},
            "completed": {"APPROVED", "CANCELLED"},
            "cancelled": {"APPROVED", "CANCELLED"},
        }[r.status]
        if approval.status not in want_approval:
            problems.append(f"run {r.id} is {r.status}, its approval {approval.status}")
        if claims_of.get(r.id) and approval.status != "APPROVED":
            problems.append(f"run {r.id} was executed with its approval {approval.status}")
    for a in approvals:
        if a.status in ("APPROVED", "REJECTED"):
            by = (a.decided_by_owner or "").strip().casefold()
            if not by or by == a.requested_by_owner.strip().casefold():
                problems.append(
                    f"approval {a.id} requested by {a.requested_by_owner!r} was "
                    f"decided by {a.decided_by_owner!r}"
                )
    return problems


def webhook_problems(
    world: World, events: Any, endpoints: Any, deliveries: Any, attempts: dict[int, tuple[int, int]]
) -> list[str]:
    """Every outbox event is fanned out to every matching enabled endpoint (or still
    waiting to be); each delivery is pending, succeeded (and the endpoint has it), or
    failed after three days of tries; every attempt is on record."""
    problems = []
    delivered = {(d.event_id, d.endpoint_id): d for d in deliveries}
    for e in events:
        if not e.fanned_out:
            continue
        for p in endpoints:
            matches = (
                webhook_rules.subscribed(p.events, e.type)
                and (p.payee_id is None or p.payee_id == e.payee_id)
                and e.created_at >= p.created_at
            )
            if matches and p.enabled and (e.id, p.id) not in delivered:
                problems.append(f"event {e.id} ({e.type}) was never meant for endpoint {p.id}")
    host_of = {p.id: httpx.URL(p.url).host for p in endpoints}
    for d in deliveries:
        tried, ok = attempts.get(d.id, (0, 0))
        if d.attempts != tried:
            problems.append(f"delivery {d.id}: {d.attempts} attempts, {tried} on record")
        if d.status == "succeeded":
            if not ok or world.watch.accepted[host_of[d.endpoint_id]][d.event_id] < 1:
                problems.append(f"delivery {d.id} succeeded, but the endpoint never had it")
        elif d.status == "failed":
            if d.last_attempt_at < d.first_attempt_at + webhook_rules.RETRY_FOR:
                problems.append(f"delivery {d.id} given up before three days of tries")
        elif d.status != "pending":
            problems.append(f"delivery {d.id} is {d.status}")
    return problems


def attempt_problems(payouts: list[Payout], allocations: dict[tuple[int, int], int]) -> list[str]:
    """At most one attempt per allocation that is not failed, returned or cancelled; the
    money that reached the payee (completed, not returned) never exceeds the allocation."""
    problems = []
    live: Counter[tuple[int, int]] = Counter()
    reached: Counter[tuple[int, int]] = Counter()
    for p in payouts:
        if p.event_id is None:
            continue
        allocation = (p.event_id, p.payee_id)
        if p.status not in ("failed", "returned", "cancelled"):
            live[allocation] += 1
        if p.status == "completed":
            reached[allocation] += p.amount_minor
    for allocation, n in live.items():
        if n > 1:
            problems.append(f"allocation {allocation}: {n} live attempts")
    for allocation, minor in reached.items():
        if minor > allocations.get(allocation, 0):
            problems.append(f"allocation {allocation}: {minor} reached the payee, above it")
    return problems


def audit_problems(payouts: list[Payout], changes: Any) -> list[str]:
    """The audited status changes of each payout chain into one legal path to its status."""
    trail: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for payout_id, detail in changes:
        trail[payout_id].append((detail["from"], detail["to"]))
    problems = []
    for p in payouts:
        steps = trail.get(p.id, [])
        at: str | None = None  # every payout's trail starts at its creation
        for was, to in steps:
            source = PayoutStatus(was) if was is not None else None
            legal = was == at and can_move(source, PayoutStatus(to))
            if not legal:
                problems.append(f"payout {p.id}: audited changes {steps} are not one legal path")
                break
            at = to
        else:
            if at != p.status:
                problems.append(f"payout {p.id} is {p.status}, its audit trail ends at {at}")
    return problems


def history_problems(payouts: list[Payout], transfers: Any, legs: Any) -> list[str]:
    problems = []
    by_payout: dict[int, list[Any]] = defaultdict(list)
    for t in transfers:
        by_payout[t.payout_id].append(t)
    legs_of: dict[int, list[Any]] = defaultdict(list)
    for leg in legs:
        legs_of[leg.transfer_id].append(leg)
    for p in payouts:
        history = by_payout.get(p.id, [])
        kinds = sorted(t.kind for t in history)
        if kinds != HISTORY[p.status]:
            problems.append(f"payout {p.id} is {p.status} with transfers {kinds}")
            continue
        reserve = next((t.id for t in history if t.kind == "reserve"), None)
        for t in history:
            phase, payable_side = TRANSFER_SHAPE[t.kind]
            want_resolves = reserve if t.kind in ("post", "void") else None
            if t.phase != phase or t.resolves_id != want_resolves:
                problems.append(
                    f"payout {p.id}: {t.kind} transfer {t.id} is {t.phase}, resolves "
                    f"{t.resolves_id} (want {phase}, resolving {want_resolves})"
                )
            cash_side = "credit" if payable_side == "debit" else "debit"
            want = sorted(
                [
                    (pay_code(p.payee_id, p.currency), payable_side, p.amount_minor, p.currency),
                    (
                        cash_code(p.provider or "?", p.currency),
                        cash_side,
                        p.amount_minor,
                        p.currency,
                    ),
                ]
            )
            got = sorted((x.code, x.side, x.amount_minor, x.currency) for x in legs_of[t.id])
            if got != want or any(x.phase != phase for x in legs_of[t.id]):
                problems.append(f"payout {p.id}: {t.kind} transfer {t.id} has legs {got}")
    return problems


def balance_problems(
    payouts: list[Payout], accounts: dict[str, LedgerAccount], allocated: Any, funded: Any
) -> list[str]:
    """Every account's cached totals, rebuilt from the allocations and payouts tables."""
    expected: dict[str, Balance] = defaultdict(Balance)
    for payee_id, currency, total in allocated:
        if total:
            expected[pay_code(payee_id, currency)] += Balance(posted_credits=int(total))
            expected[f"platform:fund:{currency}"] += Balance(posted_debits=int(total))
    for code, total in funded:
        expected[code] += Balance(posted_credits=int(total))
    for p in payouts:
        pay, amount = pay_code(p.payee_id, p.currency), p.amount_minor
        cash = cash_code(p.provider or "?", p.currency)
        if p.status in HOLDING:
            expected[pay] += Balance(pending_debits=amount)
            expected[cash] += Balance(pending_credits=amount)
        if p.status in ("completed", "returned"):
            expected[pay] += Balance(posted_debits=amount)
            expected[cash] += Balance(posted_credits=amount)
        if p.status == "returned":
            expected[pay] += Balance(posted_credits=amount)
            expected[cash] += Balance(posted_debits=amount)
    problems = []
    for code in sorted(set(expected) | set(accounts)):
        if code.startswith("platform:merchant_funding:"):
            continue
        row = accounts.get(code)
        cached = (
            Balance(row.pending_debits, row.pending_credits, row.posted_debits, row.posted_credits)
            if row is not None
            else Balance()
        )
        if cached != expected[code]:
            problems.append(f"account {code}: cached {cached} != from payouts {expected[code]}")
    return problems


def order_problems(world: World, payouts: list[Payout]) -> list[str]:
    problems = []
    by_key = {p.idempotency_key: p for p in payouts}
    orders_per_key: Counter[str] = Counter()
    order_ids: dict[ProviderKind, set[str]] = {}
    for kind, bank in world.banks.items():
        order_ids[kind] = set(bank.orders)
        for order in bank.orders.values():
            orders_per_key[order.idempotency_key] += 1
            payout = by_key.get(order.idempotency_key)
            where = f"{kind.value} order {order.order_id}"
            if payout is None:
                problems.append(f"{where} belongs to no payout")
            elif payout.provider != kind.value:
                problems.append(f"{where} belongs to payout {payout.id} of {payout.provider}")
            elif payout.provider_order_id is None and payout.status != "submitting":
                problems.append(f"{where}: payout {payout.id} is {payout.status} without it")
            elif payout.provider_order_id not in (None, order.order_id):
                problems.append(f"{where}: payout {payout.id} has {payout.provider_order_id}")
    for p in payouts:
        if orders_per_key[p.idempotency_key] > 1:
            problems.append(f"payout {p.id} has {orders_per_key[p.idempotency_key]} orders")
        if p.status in WITH_ORDER and p.provider_order_id is None:
            problems.append(f"payout {p.id} is {p.status} without a provider order id")
        if p.provider_order_id is not None:
            kind = ProviderKind(p.provider)
            if p.provider_order_id not in order_ids[kind]:
                problems.append(f"payout {p.id}: no order {p.provider_order_id} at {kind.value}")
            elif world.banks[kind].orders[p.provider_order_id].idempotency_key != p.idempotency_key:
                problems.append(f"payout {p.id}: order {p.provider_order_id} has another key")
    return problems


# --- the driver -----------------------------------------------------------------------------


async def simulate(
    database_url: str, seed: int, steps: int, ops: Sequence[tuple[Op, int]] = OPS
) -> list[str]:
    """Drive one seed on a seeded database; its operation log (the replay's yardstick)."""
    clock = ManualClock(T0)
    banks = {kind: MockBank(kind, MockBankConfig(seed=7)) for kind in ProviderKind}
    injector = Injector()
    watch = Watch()
    container = await boot(database_url, clock, banks, injector, 0, watch)
    async with container.sessions() as session:
        payees = list(
            (
                await session.scalars(
                    select(Payee.id).where(Payee.reference.like("INV2-%")).order_by(Payee.id)
                )
            ).all()
        )
    assert len(payees) >= 6
    first_event = await subscribe(container, payees[0])
    world = World(
        container, banks, clock, random.Random(seed), payees, injector, watch, first_event
    )
    chosen, weights = zip(*ops, strict=True)

    async def step(number: int, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
            problems = await check(world)
        except (Exception, ProcessKilled) as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            pytest.fail(failure(seed, steps, number, world.log, problems), pytrace=False)

    try:
        await step(0, lambda: op_create_event(world))
        for number in range(1, steps + 1):
            op = world.rng.choices(chosen, weights)[0]
            await step(number, lambda op=op: op(world))
        await step(steps + 1, lambda: quiesce(world))
        if os.environ.get("PAYOUT_SIM_VERBOSE"):
            statuses = Counter(p.status for p in await payouts_in(world))
            print(f"\nseed {seed}: {dict(sorted(statuses.items()))}", *world.log, sep="\n  ")
    finally:
        with contextlib.suppress(ProcessKilled):
            await world.c.aclose()
    return world.log


async def subscribe(c: Container, payee_id: int) -> int:
    """The webhook endpoints, subscribed from now on: the demo's history is told to
    nobody (its events count as delivered). The last event before them."""
    async with c.sessions.begin() as session:
        last = await session.scalar(select(func.max(WebhookEvent.id)))
        await session.execute(update(WebhookEvent).values(fanned_out=True))
    store = SqlWebhooks(c.sessions)
    for host, events, own in ENDPOINTS:
        url = f"https://{host}/hook"
        await store.create_endpoint(url, events, payee_id if own else None, "sim", c.clock.now())
    return int(last or 0)


async def quiesce(world: World) -> None:
    """The faults stop and a week passes (so the leases a killed process held on payouts
    or feeds run out): recovery finishes every submission, and polling settles."""
    for bank in world.banks.values():
        while bank.next_scripted_fault() is not None:
            pass
    world.injector.lose_answers = 0
    world.watch.modes.clear()
    world.log.append(
        "faults stop; advance 7 days; execute runs; expire approvals; recover;"
        " deliver webhooks; poll twice; reconcile"
    )
    advance(world, timedelta(days=7))
    world.note(await execute_runs(world))
    await op_expire_approvals(world)
    async with world.c.sessions() as session:
        running = (
            await session.scalars(select(PayoutRun.id).where(PayoutRun.status == "running"))
        ).all()
    assert not running, f"runs never finished: {list(running)}"
    await world.c.runner.recover()
    for _ in range(10):  # a payout's later events wait for its earlier ones
        sent = await deliver(world)
        if "'sent': 0" in sent:
            break
    await every_event_delivered(world)
    stuck = await payouts_in(world, {"submitting"})
    assert not stuck, f"still submitting after recovery: {[p.id for p in stuck]}"
    store = SqlSettlementStore(world.c.sessions)
    first = await store.apply(await bank_reports(world), world.clock.now())
    again = await store.apply(await bank_reports(world), world.clock.now())
    world.note(f"moved {first}, then {again}")
    assert again == 0, f"a repeated poll moved {again} payouts"
    # Every order belongs to one payout and agrees on amount and currency, and the ledger
    # is sound (checked after every step): the only break left to find is a status the
    # simulation's made-up settlement reports put ahead of what the bank says.
    try:
        result = await world.c.jobs.reconcile(world.c.jobs.due_business_date())
    except JobInProgress:  # a killed reconciliation's lease (SQLite) outlives the week
        world.note("reconciliation still leased by a killed process")
        return
    kinds = {b.kind for b in result.open}
    world.note(f"reconciled: {result.counts.get('by_kind')}")
    assert kinds <= {"status_mismatch"}, f"reconciliation found {sorted(kinds)}"


async def every_event_delivered(world: World) -> None:
    """Every endpoint answering again: each event reached each enabled endpoint it was
    for (the checks after every step hold the receivers to the deliveries)."""
    async with world.c.sessions() as session:
        unfanned = await session.scalar(
            select(func.count()).where(WebhookEvent.fanned_out.is_(False))
        )
        stuck = (
            await session.execute(
                select(WebhookDelivery.id, WebhookDelivery.event_id, WebhookEndpoint.url)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == "pending", WebhookEndpoint.enabled.is_(True))
            )
        ).all()
    assert not unfanned, f"{unfanned} outbox events never fanned out"
    assert not stuck, f"deliveries still pending to enabled endpoints: {stuck[:10]}"


def failure(seed: int, steps: int, number: int, log: list[str], problems: list[str]) -> str:
    shown = "\n  ".join(problems[:30])
    more = f"\n  ... and {len(problems) - 30} more" if len(problems) > 30 else ""
    trail = "\n".join(f"  {i:3d}. {line}" for i, line in enumerate(log))
    return (
        f"seed {seed}: invariants broken after step {number}:\n  {shown}{more}\n"
        f"operations:\n{trail}\n"
        f"replay: PAYOUT_SIM_SEEDS={seed} PAYOUT_SIM_STEPS={steps} "
        ".venv/bin/pytest tests/reliability/test_simulation.py"
        " -k 'random_operations and not long'"
    )


# --- seeded databases, copied per seed ----------------------------------------------------


async def _seed_demo(url: str) -> None:
    engine = create_engine(url)
    try:
        await seed_demo(sessionmaker(engine), T0, large_event_size=40)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("simulation") / "seeded.db"
    shutil.copy(sqlite_template, path)
    asyncio.run(_seed_demo(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def seeded_postgres(pg_template: str | None) -> Iterator[str | None]:
    if pg_template is None:
        yield None
        return
    name = f"{pg_template}_sim"
    _admin(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    try:
        asyncio.run(_seed_demo(_with_database(PG_ADMIN_URL, name)))
        yield name
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def fresh_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes copies of the seeded database (demo data at T0), one per call."""
    made: list[str] = []
    # resolved now: the session fixtures seed with asyncio.run, outside the test's loop
    template = request.getfixturevalue(
        "seeded_sqlite" if request.param == "sqlite" else "seeded_postgres"
    )
    if template is None:
        pytest.skip("PostgreSQL not reachable (set PAYOUT_TEST_PG_URL)")

    def new() -> str:
        if request.param == "sqlite":
            path = tmp_path / f"sim{len(made)}.db"
            shutil.copy(template, path)
            made.append(str(path))
            return f"sqlite+aiosqlite:///{path}"
        name = f"payout_s_{uuid.uuid4().hex[:12]}"
        _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        made.append(name)
        return _with_database(PG_ADMIN_URL, name)

    yield new
    if request.param != "sqlite":
        for name in made:
            _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(autouse=True)
def _record_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """With PAYOUT_SIM_STATS=<file>, append each test's fault counts as a JSON line."""
    kills, drops = Counter(KILL_POINTS), Counter(DROP_POINTS)
    yield
    target = os.environ.get("PAYOUT_SIM_STATS")
    if target:
        line = {
            "test": request.node.nodeid,
            "kills": dict(KILL_POINTS - kills),
            "drops": dict(DROP_POINTS - drops),
        }
        with open(target, "a") as out:
            out.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("seed", SEEDS, ids=lambda seed: f"seed{seed}")
async def test_books_hold_under_random_operations(
    fresh_databases: Callable[[], str], seed: int
) -> None:
    await simulate(fresh_databases(), seed, STEPS)


async def test_a_seed_replays_exactly(fresh_databases: Callable[[], str]) -> None:
    """The same seed twice, faults included, takes the same path with the same outcomes.
    (Two operations at once are left out: how they interleave is the database's call.)"""
    # (nor whether a cancel lands before the run's concurrent sends are all out)
    unpinned = (op_concurrent, op_race_workers, op_cancel_mid_run)
    sequential = [(op, weight) for op, weight in OPS if op not in unpinned]
    logs: list[str] = []
    for seed in REPLAYED_SEEDS:
        first = await simulate(fresh_databases(), seed, STEPS, sequential)
        again = await simulate(fresh_databases(), seed, STEPS, sequential)
        assert again == first, f"seed {seed} took another path on replay"
        logs += first
    # the replayed seeds do exercise both faults
    assert any(line.startswith("kill") and "killed at" in line for line in logs)
    assert any(line.startswith("drop") and "dropped at" in line for line in logs)


@pytest.mark.bench
# pyproject's addopts does not deselect bench tests, so skip unless asked for (-m bench),
# before any fixture (a seeded database) is built.
@pytest.mark.skipif(
    "'bench' not in (config.getoption('markexpr') or '')", reason="long: run with -m bench"
)
@pytest.mark.parametrize("seed", BENCH_SEEDS, ids=lambda seed: f"seed{seed}")
async def test_books_hold_under_random_operations_long(
    fresh_databases: Callable[[], str], seed: int
) -> None:
    await simulate(fresh_databases(), seed, BENCH_STEPS)
