"""Provider-bound run: N payouts through mock banks that are slow, rate-limited and flaky.

Each in-process bank (httpx ASGI transport) answers after ``latency_ms`` +/- ``jitter_ms``
of real sleep, allows ``rate`` requests/s (429 + Retry-After beyond it) and fails a
share of requests with a transient 503. The engine's client retries with real sleeps.

The limit is the busiest provider's payouts at its rate limit: max over providers of
(payouts routed there / rate). The demo's large fund spreads investors over every
rail country, so cross-border (37 of 38 countries) carries about 97% of them.
The wall time splits, at the busiest bank, into the time before its first create call
(the run evaluates and commits every payout first), the span of its calls (compare
``requests_limit_s``: its requests, retries included, at the rate), and what follows.

    python -m bench.provider_run                       # 2,000 payouts, 1% faults, SQLite
    python -m bench.provider_run --full                # 10,000 payouts, 1% and 5% faults
    python -m bench.provider_run --backend postgresql --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import database, report
from domain import calendars
from domain.clock import SystemClock
from domain.events import AllocationInput, EventInput
from domain.ports import ProviderKind, RunSummary
from domain.rails import RAILS
from persistence.event_store import SqlEventStore
from persistence.migrate import upgrade
from persistence.tables import Payout
from providers.mock.bank import BankStats, MockBank
from providers.mock.config import MockBankConfig
from service.bootstrap import Container, build
from service.demo import _ensure_event, _insert_payees, large_fund
from service.settings import Settings

EVENT_CODE = "BENCH-PROVIDER"
GOAL_WALL_VS_LIMIT = 1.15
GOAL_RATE_LIMITED = 0.01
GOAL_FULL_RUN_S = 60.0


@dataclass(frozen=True, slots=True)
class Scenario:
    payouts: int
    fault_rate: float
    rate: float = 200.0  # requests/s each bank allows, and the engine's client-side limit
    concurrency: int = 64  # Settings.provider_concurrency: run-wide and per-client bound
    latency_ms: float = 100.0
    jitter_ms: float = 20.0
    backend: str = "sqlite"
    seed: int = 7


# -- what the limit and the goals are, from counts (pure, tested) --------------------


def limit_seconds(routed: Mapping[str, int], rate: float) -> float:
    """The fastest any engine could pay: the busiest provider's payouts at its rate."""
    return max(routed.values(), default=0) / rate


def rate_limited_fraction(stats: Iterable[BankStats]) -> float:
    """Share of all requests the banks answered 429."""
    totals = list(stats)
    requests = sum(s.requests for s in totals)
    return sum(s.by_status[429] for s in totals) / requests if requests else 0.0


def keys_with_several_orders(keys: Iterable[str]) -> int:
    """Idempotency keys holding more than one order (each is a payout paid twice)."""
    return sum(1 for n in Counter(keys).values() if n > 1)


class InFlightMeter:
    """ASGI wrapper counting requests inside a bank: peak and time-weighted average."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.current = 0
        self.peak = 0
        self._area = 0.0
        self._since = time.perf_counter()
        self._started = self._since
        self.first_in: float | None = None  # perf_counter of the first create call in
        self.last_out: float | None = None  # and of the last answer to one out

    def _tick(self, delta: int) -> None:
        now = time.perf_counter()
        self._area += self.current * (now - self._since)
        self._since = now
        self.current += delta
        self.peak = max(self.peak, self.current)

    def average(self) -> float:
        self._tick(0)
        elapsed = self._since - self._started
        return self._area / elapsed if elapsed > 0 else 0.0

    def reset(self) -> None:
        self._area, self._since, self._started = 0.0, time.perf_counter(), time.perf_counter()
        self.peak = self.current
        self.first_in = self.last_out = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._tick(+1)
        create = scope.get("method") == "POST"
        if create and self.first_in is None:
            self.first_in = self._since
        try:
            await self.app(scope, receive, send)
        finally:
            self._tick(-1)
            if create:
                self.last_out = self._since


# -- the run -----------------------------------------------------------------------------


def banks_for(scenario: Scenario) -> tuple[dict[ProviderKind, MockBank], dict[str, InFlightMeter]]:
    config = MockBankConfig(
        seed=scenario.seed,
        latency_ms=scenario.latency_ms,
        jitter_ms=scenario.jitter_ms,
        rate_limit_per_s=scenario.rate,
        transient_error_rate=scenario.fault_rate,
    )
    banks = {kind: MockBank(kind, config) for kind in ProviderKind}
    meters = {}
    for kind, bank in banks.items():
        meters[kind.value] = InFlightMeter(bank.app)
        bank.app = meters[kind.value]  # type: ignore[assignment]  # the transport calls it
    return banks, meters


async def prepare(container: Container, n: int) -> None:
    now = datetime.now(UTC)
    # What a worker does at start-up: the holiday calendars (and the ``holidays``
    # package's country modules) are built once per process, not in the run.
    calendars.warm(RAILS, now.date())
    async with container.sessions.begin() as session:
        ids = await _insert_payees(session, large_fund(n), now)
    await _ensure_event(
        SqlEventStore(container.sessions),
        container.sessions,
        now,
        EventInput(
            code=EVENT_CODE,
            name="provider-bound bench",
            fund_name="bench",
            currency="USD",
            allocations=[AllocationInput(pid, "1000.00") for pid in ids.values()],
        ),
    )


async def routed_counts(container: Container) -> dict[str, int]:
    """Payouts per provider that the run meant to pay (everything not skipped)."""
    async with container.sessions() as session:
        rows = await session.execute(
            select(Payout.provider, func.count())
            .where(Payout.provider.isnot(None), Payout.status != "skipped")
            .group_by(Payout.provider)
        )
        return {str(provider): int(n) for provider, n in rows.all()}


async def order_keys_match(container: Container, banks: Mapping[ProviderKind, MockBank]) -> bool:
    """Every order at a bank belongs to a payout of ours with that provider and key."""
    async with container.sessions() as session:
        rows = (await session.execute(select(Payout.provider, Payout.idempotency_key))).all()
    ours = {(str(provider), key) for provider, key in rows}
    return all(
        (kind.value, order.idempotency_key) in ours
        for kind, bank in banks.items()
        for order in bank.orders.values()
    )


class Phases:
    """When the run started, last reported evaluation progress, and ended."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ended = self.started
        self.last: dict[str, float] = {}

    def __call__(self, phase: str, _done: int, _total: int) -> None:
        self.last[phase] = time.perf_counter()

    def evaluated_after(self) -> float:
        return self.last.get("evaluate", self.started) - self.started


async def run_once(scenario: Scenario, database_url: str) -> dict[str, Any]:
    banks, meters = banks_for(scenario)
    settings = Settings(
        database_url=database_url,
        provider_rate_limit_per_s=scenario.rate,
        provider_concurrency=scenario.concurrency,
        _env_file=None,
    )
    container = build(settings, clock=SystemClock(), banks=banks)
    try:
        await prepare(container, scenario.payouts)
        for meter in meters.values():
            meter.reset()
        phases = Phases()
        summary = await container.runner.run(EVENT_CODE, "bench", phases)
        phases.ended = time.perf_counter()
        wall = phases.ended - phases.started
        routed = await routed_counts(container)
        keys_match = await order_keys_match(container, banks)
    finally:
        await container.aclose()
    return _result(scenario, summary, wall, phases, routed, banks, meters, keys_match)


def _result(
    scenario: Scenario,
    summary: RunSummary,
    wall: float,
    phases: Phases,
    routed: Mapping[str, int],
    banks: Mapping[ProviderKind, MockBank],
    meters: Mapping[str, InFlightMeter],
    keys_match: bool,
) -> dict[str, Any]:
    stats = [bank.stats for bank in banks.values()]
    limit = limit_seconds(routed, scenario.rate)
    requests = sum(s.requests for s in stats)
    busiest = max(routed, key=lambda k: routed[k])
    busiest_requests = banks[ProviderKind(busiest)].stats.requests
    eligible = sum(routed.values())
    orders = sum(s.orders_created for s in stats)
    duplicates = sum(
        keys_with_several_orders(o.idempotency_key for o in bank.orders.values())
        for bank in banks.values()
    )
    fraction_429 = rate_limited_fraction(stats)
    meter = meters[busiest]
    first_in = meter.first_in or phases.started
    last_out = meter.last_out or phases.ended
    return {
        "workload": "provider_run",
        "backend": scenario.backend,
        "payouts": scenario.payouts,
        "fault_rate": scenario.fault_rate,
        "rate_per_s": scenario.rate,
        "concurrency": scenario.concurrency,
        "latency_ms": f"{scenario.latency_ms:g}+-{scenario.jitter_ms:g}",
        **{f"routed_{k}": routed.get(k.value, 0) for k in ProviderKind},
        "eligible": eligible,
        "created": summary.created,
        "failed": summary.failed,
        "in_flight": summary.in_flight,
        "orders_created": orders,
        "duplicate_orders": duplicates,
        "orders_are_ours": keys_match,
        "limit_s": round(limit, 2),
        "wall_s": round(wall, 2),
        "wall_vs_limit": round(wall / limit, 3) if limit else None,
        "evaluated_after_s": round(phases.evaluated_after(), 2),
        "before_first_call_s": round(first_in - phases.started, 2),
        "calls_span_s": round(last_out - first_in, 2),
        "after_last_call_s": round(phases.ended - last_out, 2),
        "requests": requests,
        "requests_limit_s": round(busiest_requests / scenario.rate, 2),
        "http_429": sum(s.by_status[429] for s in stats),
        "http_503": sum(s.by_status[503] for s in stats),
        "frac_429": round(fraction_429, 5),
        "avg_in_flight": round(meter.average(), 1),
        "peak_in_flight": meter.peak,
        "goal_wall": limit > 0 and wall / limit <= GOAL_WALL_VS_LIMIT,
        "goal_429": fraction_429 < GOAL_RATE_LIMITED,
        "goal_exact": summary.created == eligible == orders and duplicates == 0 and keys_match,
        "goal_60s": wall < GOAL_FULL_RUN_S and summary.created == eligible,
    }


def measure(scenario: Scenario) -> dict[str, Any]:
    load_before = round(os.getloadavg()[0], 2)  # the machine is shared: how busy it was
    with database(scenario.backend) as url:
        upgrade(url)
        return asyncio.run(run_once(scenario, url)) | {"loadavg_before": load_before}


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    payouts = 10_000 if args.full else args.payouts
    faults = [0.01, 0.05] if args.full else args.fault_rates
    return [
        Scenario(
            payouts=payouts,
            fault_rate=fault,
            rate=args.rate,
            concurrency=args.concurrency,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            backend=args.backend,
        )
        for fault in faults
    ]


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payouts", type=int, default=2000)
    parser.add_argument("--full", action="store_true", help="10,000 payouts, 1%% and 5%% faults")
    parser.add_argument("--fault-rates", type=float, nargs="+", default=[0.01])
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s per provider")
    parser.add_argument(
        "--concurrency", type=int, default=Settings.model_fields["provider_concurrency"].default
    )
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--jitter-ms", type=float, default=20.0)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    results = [measure(scenario) for scenario in scenarios(args)]
    report("provider-bound run (limit = busiest provider's payouts / its rate limit)", results)


if __name__ == "__main__":
    cli()
