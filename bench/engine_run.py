"""Engine-bound run: N payouts, zero-latency in-process banks, one database.

Three figures for the same payees, each with an event of its own, in one process:

* the **reference run**: the same work the way a simple service would do it, plainly
  with the SQLAlchemy ORM in one transaction and no crash safety (payouts, their
  ledger rows, the mock bank's create-order called in-process, the status updated);
* the **engine's run** (evaluate, commit as submitting, submit, write the answers,
  ledger, audit), with the banks called in-process (``direct``) and through the
  in-process HTTP mock banks (``http``);
* the **raw-insert floor**: the rows a run writes, as plain Core ``insert()`` batches.

    python -m bench.engine_run                          # 2,000 payouts, both databases
    python -m bench.engine_run --payouts 10000 --backends sqlite --providers direct
    python -m bench.engine_run --payouts 10000 --profile /tmp/run.prof   # cProfile the run
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import database, report
from domain import calendars, ledger
from domain.clock import SystemClock
from domain.events import AllocationInput, EventInput
from domain.money import Money
from domain.orders import new_provider_key, order_for
from domain.ports import PaymentOrderRequest, ProviderKind, SubmitOutcome, SubmitResult
from domain.rails import RAILS
from domain.routing import route
from persistence.event_store import SqlEventStore
from persistence.migrate import upgrade
from persistence.run_store import account_from_row
from persistence.sql import chunked
from persistence.tables import (
    Allocation,
    AuditEvent,
    LedgerAccount,
    LedgerEntry,
    LedgerTransfer,
    LiquidationEvent,
    Payee,
    Payout,
    PayoutRun,
    PayoutRunItem,
)
from persistence.tables import BankAccount as BankAccountRow
from providers.mock.bank import MockBank
from providers.mock.validation import parse_order_body
from service.bootstrap import Container, build
from service.demo import _ensure_event, _insert_payees, large_fund
from service.settings import Settings

REFERENCE, DIRECT, HTTP = "BENCH-REF", "BENCH-1", "BENCH-HTTP"


def count_statements(container: Container) -> dict[str, int]:
    counts = {"statements": 0}

    @event.listens_for(container.engine.sync_engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        counts["statements"] += 1

    return counts


async def prepare(container: Container, n: int, codes: tuple[str, ...] = (DIRECT,)) -> None:
    """N payees with a bank account each, and one event per code allocating to all."""
    now = datetime.now(UTC)
    async with container.sessions.begin() as session:
        ids = await _insert_payees(session, large_fund(n), now)
    allocations = [AllocationInput(pid, "1000.00") for pid in ids.values()]
    for code in codes:
        await _ensure_event(
            SqlEventStore(container.sessions),
            container.sessions,
            now,
            EventInput(
                code=code, name=code, fund_name="bench", currency="USD", allocations=allocations
            ),
        )
    calendars.warm(RAILS, now.date())  # holiday calendars load once per process, not in either run


# -- the reference: what a simple service would write ---------------------------------


async def reference_run(container: Container, event_code: str) -> int:
    """Pay the event the way a plain ORM service would: one transaction, every row an
    ORM object, the bank called in-process for each payout, nothing to resume from if
    the process dies half-way (no intent committed, no audit trail). Returns how many
    orders the banks accepted."""
    now = datetime.now(UTC)
    async with container.sessions.begin() as session:
        event_row = await session.scalar(
            select(LiquidationEvent).where(LiquidationEvent.code == event_code)
        )
        assert event_row is not None
        rows = (
            await session.execute(
                select(Allocation, Payee, BankAccountRow)
                .join(Payee, Payee.id == Allocation.payee_id)
                .join(
                    BankAccountRow,
                    and_(BankAccountRow.payee_id == Payee.id, BankAccountRow.is_default),
                )
                .where(Allocation.event_id == event_row.id)
                .order_by(Allocation.id)
            )
        ).all()
        payouts = []
        for allocation, payee, account_row in rows:
            account = account_from_row(account_row)
            decision = route(
                payee.country,
                has_us_bank_account=account.has_us_routing,
                payment_method=payee.payment_method,
                now=now,
                funding_currency=allocation.currency,
            )
            payout = Payout(
                event_id=event_row.id,
                payee_id=payee.id,
                allocation_id=allocation.id,
                bank_account_id=account_row.id,
                status="pending",
                amount_minor=allocation.amount_minor,
                currency=allocation.currency,
                country=payee.country,
                rail=decision.rail.code,
                provider=decision.rail.provider.value,
                routing_rule=decision.rule.value,
                target_currency=decision.currency,
                expected_settlement_date=decision.expected_settlement_date,
                idempotency_key=new_provider_key(),
                created_at=now,
                updated_at=now,
            )
            session.add(payout)
            request = order_for(
                payout.idempotency_key,
                Money(allocation.amount_minor, allocation.currency),
                decision,
                account,
                payee.country,
            )
            payouts.append((payout, request))
        await session.flush()  # the payouts' ids, for their ledger rows
        await _reference_ledger(session, [p for p, _ in payouts], now)
        accepted = 0
        for payout, request in payouts:
            bank = container.banks[ProviderKind(payout.provider)]
            order = bank.create(request.idempotency_key, parse_order_body(request.body())).order
            payout.status = "submitted"
            payout.provider_order_id = order.order_id
            payout.target_amount_minor = order.target_amount.minor if order.target_amount else None
            payout.fx_rate = str(order.fx_rate) if order.fx_rate is not None else None
            payout.updated_at = now
            accepted += 1
    return accepted


async def _reference_ledger(session: AsyncSession, payouts: list[Payout], now: datetime) -> None:
    """A reserve transfer per payout, debiting what the payee is owed and crediting the
    provider's cash, with the accounts' cached totals kept up to date."""
    codes = {
        code
        for p in payouts
        for code in (
            ledger.payable(p.payee_id, p.currency).code,
            ledger.provider_cash(p.provider or "", p.currency).code,
        )
    }
    accounts: dict[str, LedgerAccount] = {}
    for chunk in chunked(sorted(codes)):
        found = await session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(chunk)))
        accounts.update((a.code, a) for a in found.all())
    for code in sorted(codes - set(accounts)):  # the providers' cash, on a first run
        kind, currency = code.split(":")[2:]
        ref = ledger.provider_cash(kind, currency)
        accounts[code] = LedgerAccount(
            code=code,
            type=ref.type.value,
            currency=currency,
            pending_debits=0,
            pending_credits=0,
            posted_debits=0,
            posted_credits=0,
            created_at=now,
        )
        session.add(accounts[code])
    transfers = [
        LedgerTransfer(
            kind="reserve", phase="pending", payout_id=p.id, event_id=p.event_id, created_at=now
        )
        for p in payouts
    ]
    session.add_all(transfers)
    await session.flush()
    for p, transfer in zip(payouts, transfers, strict=True):
        owed = accounts[ledger.payable(p.payee_id, p.currency).code]
        cash = accounts[ledger.provider_cash(p.provider or "", p.currency).code]
        for account, side in ((owed, "debit"), (cash, "credit")):
            session.add(
                LedgerEntry(
                    transfer_id=transfer.id,
                    account_id=account.id,
                    side=side,
                    amount_minor=p.amount_minor,
                    currency=p.currency,
                    phase="pending",
                )
            )
        owed.pending_debits += p.amount_minor
        cash.pending_credits += p.amount_minor


# -- the floor: raw inserts of the rows a run writes -----------------------------------


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


def _direct_providers(container: Container) -> dict[ProviderKind, Any]:
    """The banks without HTTP; FX quotes still go through HTTP (one call per run)."""
    quotes = container.providers[ProviderKind.CROSS_BORDER]
    direct: dict[ProviderKind, Any] = {k: DirectProvider(b) for k, b in container.banks.items()}
    direct[ProviderKind.CROSS_BORDER].fx_quote = quotes.fx_quote
    return direct


async def _engine_run(
    container: Container, code: str, profile: cProfile.Profile | None
) -> tuple[float, float, int, int]:
    """(seconds, CPU seconds of this process, payouts created, statements) of one run."""
    counts = count_statements(container)
    if profile is not None:
        profile.enable()
    started, cpu = time.perf_counter(), time.process_time()
    summary = await container.runner.run(code, "bench")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profile is not None:
        profile.disable()
    return seconds, cpu, summary.created, counts["statements"]


async def measure(
    n: int, url: str, providers: list[str], profile: str | None = None
) -> dict[str, Any]:
    container = build(
        Settings(database_url=url, provider_rate_limit_per_s=1e9, _env_file=None),
        clock=SystemClock(),
    )
    http_providers = dict(container.providers)
    codes = (REFERENCE, *(DIRECT if p == "direct" else HTTP for p in providers))
    result: dict[str, Any] = {
        "workload": "engine_run",
        "backend": url.split("+")[0].split(":")[0],
        "payouts": n,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    profiler = cProfile.Profile() if profile else None
    try:
        await prepare(container, n, codes)
        started, cpu = time.perf_counter(), time.process_time()
        accepted = await reference_run(container, REFERENCE)
        ref_s, cpu = time.perf_counter() - started, time.process_time() - cpu
        result |= {
            "reference_payouts_per_s": round(n / ref_s, 1),
            "reference_cpu_ms_per_payout": round(cpu * 1000 / n, 3),
            "reference_accepted": accepted,
        }
        for mode in providers:
            if mode == "direct":
                container.providers.update(_direct_providers(container))
            else:
                container.providers.update(http_providers)
            code = DIRECT if mode == "direct" else HTTP
            seconds, cpu, created, statements = await _engine_run(
                container, code, profiler if mode == "direct" else None
            )
            rate = n / seconds
            result |= {
                f"{mode}_payouts_per_s": round(rate, 1),
                f"{mode}_cpu_ms_per_payout": round(cpu * 1000 / n, 3),
                f"{mode}_created": created,
                f"{mode}_vs_reference": round(rate / result["reference_payouts_per_s"], 2),
                f"{mode}_statements_per_payout": round(statements / n, 3),
            }
        if "direct" in providers and "http" in providers:
            result["http_vs_direct"] = round(
                result["http_payouts_per_s"] / result["direct_payouts_per_s"], 2
            )
        raw_s = await raw_write_seconds(container, n)
        result["raw_insert_payouts_per_s"] = round(n / raw_s, 1)
        result["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    finally:
        await container.aclose()
    if profiler is not None and profile:
        profiler.dump_stats(f"{profile}.{result['backend']}")
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payouts", type=int, default=2000)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--providers",
        nargs="*",
        choices=["direct", "http"],
        default=["direct", "http"],
        help="direct: the mock banks called without HTTP; http: the in-process HTTP mock banks",
    )
    parser.add_argument(
        "--direct", action="store_true", help="the same as --providers direct (engine cost only)"
    )
    parser.add_argument("--profile", help="cProfile the direct run into PROFILE.<backend>")
    args = parser.parse_args()
    providers = ["direct"] if args.direct else args.providers
    results = []
    for backend in args.backends:
        with database(backend) as url:
            upgrade(url)
            results.append(asyncio.run(measure(args.payouts, url, providers, args.profile)))
    report(f"engine-bound run, {args.payouts:,} payouts", results)


if __name__ == "__main__":
    cli()
