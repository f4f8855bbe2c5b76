"""Engine-bound run: N payouts, zero-latency in-process banks, one database.

Measures the whole run (evaluate, commit as submitting, submit, write answers,
audit rows) and compares it with the same rows written by plain Core ``insert()``
batches in the same process: the engine's write floor on this machine.

    python -m bench.engine_run --payouts 2000            # SQLite temp file
    DATABASE_URL=postgresql+psycopg://... python -m bench.engine_run --payouts 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert

from domain.clock import SystemClock
from domain.events import AllocationInput, EventInput
from domain.ports import PaymentOrderRequest, ProviderKind, SubmitOutcome, SubmitResult
from persistence.event_store import SqlEventStore
from persistence.migrate import upgrade
from persistence.tables import AuditEvent, LiquidationEvent, Payout, PayoutRun, PayoutRunItem
from providers.mock.bank import MockBank
from providers.mock.validation import parse_order_body
from service.bootstrap import Container, build
from service.demo import _ensure_event, _insert_payees, large_fund
from service.settings import Settings


def count_statements(container: Container) -> dict[str, int]:
    counts = {"statements": 0}

    @event.listens_for(container.engine.sync_engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        counts["statements"] += 1

    return counts


async def prepare(container: Container, n: int) -> None:
    now = datetime.now(UTC)
    async with container.sessions.begin() as session:
        ids = await _insert_payees(session, large_fund(n), now)
    allocations = [AllocationInput(pid, "1000.00") for pid in ids.values()]
    await _ensure_event(
        SqlEventStore(container.sessions),
        container.sessions,
        now,
        EventInput(
            code="BENCH-1", name="bench", fund_name="bench", currency="USD", allocations=allocations
        ),
    )


async def raw_write_seconds(container: Container, n: int) -> float:
    """The same rows the run writes (payouts, 4 audit rows each, run items), Core batches."""
    now = datetime.now(UTC)
    async with container.sessions.begin() as session:
        event_id = await session.scalar(
            insert(LiquidationEvent)
            .values(
                code="BENCH-RAW",
                name="raw",
                fund_name="raw",
                currency="USD",
                total_minor=0,
                created_at=now,
            )
            .returning(LiquidationEvent.id)
        )
        run_id = await session.scalar(
            insert(PayoutRun)
            .values(
                event_id=event_id,
                idempotency_key="raw",
                status="completed",
                started_at=now,
                total=0,
                created=0,
                skipped=0,
                failed=0,
                in_flight=0,
            )
            .returning(PayoutRun.id)
        )
    started = time.perf_counter()
    for start in range(0, n, 500):
        size = min(500, n - start)
        async with container.sessions.begin() as session:
            ids = (
                (
                    await session.execute(
                        insert(Payout).returning(Payout.id),
                        [
                            {
                                "event_id": event_id,
                                "payee_id": start + i + 1,
                                "run_id": run_id,
                                "status": "submitted",
                                "amount_minor": 100000,
                                "currency": "USD",
                                "idempotency_key": f"raw-{start + i}",
                                "created_at": now,
                                "updated_at": now,
                                "version": 1,
                                "order_request": {"k": "v"},
                            }
                            for i in range(size)
                        ],
                    )
                )
                .scalars()
                .all()
            )
            await session.execute(
                insert(AuditEvent),
                [
                    {
                        "occurred_at": now,
                        "entity": "payout",
                        "entity_id": pid,
                        "payout_id": pid,
                        "run_id": run_id,
                        "action": "raw",
                        "actor": "bench",
                        "detail": {"k": "v"},
                    }
                    for pid in ids
                    for _ in range(4)
                ],
            )
            await session.execute(
                insert(PayoutRunItem),
                [{"run_id": run_id, "payout_id": pid, "outcome": "created"} for pid in ids],
            )
    return time.perf_counter() - started


class DirectProvider:
    """A mock bank called without HTTP: what the engine costs when the provider's own
    work (and the HTTP stack on both sides) is not in this process's CPU budget."""

    def __init__(self, bank: MockBank) -> None:
        self.kind = bank.kind
        self._bank = bank

    async def create_order(self, request: PaymentOrderRequest) -> SubmitResult:
        created = self._bank.create(request.idempotency_key, parse_order_body(request.body()))
        return SubmitResult(SubmitOutcome.ACCEPTED, created.order.view(self._bank.now()))

    def __getattr__(self, name: str) -> Any:  # the rest of the port is not used by a run
        raise AttributeError(name)


async def main(n: int, database_url: str, direct: bool = False) -> dict[str, Any]:
    container = build(
        Settings(database_url=database_url, provider_rate_limit_per_s=1e9, _env_file=None),
        clock=SystemClock(),
    )
    if direct:  # FX quotes still go through HTTP: one call per run
        quotes = container.providers[ProviderKind.CROSS_BORDER]
        direct_providers = {k: DirectProvider(b) for k, b in container.banks.items()}
        direct_providers[ProviderKind.CROSS_BORDER].fx_quote = quotes.fx_quote  # type: ignore[attr-defined]
        container.providers.update(direct_providers)  # type: ignore[arg-type]
    try:
        await prepare(container, n)
        counts = count_statements(container)
        started = time.perf_counter()
        summary = await container.runner.run("BENCH-1", "bench")
        run_s = time.perf_counter() - started
        statements = counts["statements"]
        raw_s = await raw_write_seconds(container, n)
    finally:
        await container.aclose()
    return {
        "workload": "engine_run",
        "backend": database_url.split(":")[0],
        "providers": "direct" if direct else "http-in-process",
        "payouts": n,
        "created": summary.created,
        "run_seconds": round(run_s, 3),
        "payouts_per_s": round(n / run_s, 1),
        "statements_per_payout": round(statements / n, 3),
        "raw_write_seconds": round(raw_s, 3),
        "run_vs_raw": round(run_s / raw_s, 2),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payouts", type=int, default=2000)
    parser.add_argument(
        "--direct", action="store_true", help="call the mock banks without HTTP (engine cost only)"
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    upgrade(url)
    result = asyncio.run(main(args.payouts, url, args.direct))
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(result))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    cli()
