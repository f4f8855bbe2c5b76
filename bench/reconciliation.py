"""Reconciliation at scale: N payouts on PostgreSQL, 0.1% injected discrepancies.

Each size gets a fresh database seeded by ``bench.seed`` (payouts, audit trail, a
consistent ledger) and in-process mock banks holding the matching orders. Then one
discrepancy per 1,000 payouts is injected, spread over every break kind (through the
banks' injection methods, a payout left ``submitting`` by a "crash", and a corrupted
cached ledger balance), and ``container.jobs.reconcile(day)`` runs as the nightly job
would. Reported: wall time and time per payout, where it went (listing the providers,
staging, the comparison queries, the ledger checks, writing breaks), peak memory, and
whether exactly the injected breaks were found, each with the right kind and status.
Phases overlap (a page is staged while the next is listed, the ledger is checked
meanwhile on PostgreSQL), so each is reported as busy seconds and, in ``timeline``, as
a span from the start; ``rest_s`` is the time no phase was busy.

Limits measured in the same run: listing the banks in-process (no HTTP, no JSON), and
COPYing the same rows the engine stages into a plain temporary table.

    python -m bench.reconciliation            # 10k and 100k payouts
    python -m bench.reconciliation --full     # and 1M
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import event, update

from bench.common import database, report
from bench.seed import Layout, mock_banks, seed, status_of
from domain.clock import SystemClock
from domain.lifecycle import PayoutStatus
from domain.money import Money
from domain.ports import OrderStatus, PaymentProvider, ProviderKind, ProviderOrder
from persistence.migrate import upgrade
from persistence.tables import LedgerAccount, Payout
from providers.mock.bank import MockBank
from service.bootstrap import Container, build
from service.settings import Settings

SIZES = (10_000, 100_000)
FULL_SIZES = (*SIZES, 1_000_000)
PER_MILLE = 1  # injected discrepancies per 1,000 payouts
PAGE = 500  # the client's listing page size
T = TypeVar("T")

# -- injected discrepancies -------------------------------------------------------------

_S = PayoutStatus


@dataclass(frozen=True, slots=True)
class Injection:
    """One discrepancy: which payout it needs, how it is made, the break it should give."""

    name: str
    needs: PayoutStatus
    kind: str
    status: str  # open | auto_resolved


INJECTIONS = (
    Injection("dropped order", _S.COMPLETED, "missing_at_provider", "open"),
    Injection("status the lifecycle cannot reach", _S.COMPLETED, "status_mismatch", "open"),
    Injection("status lag", _S.SUBMITTED, "status_mismatch", "auto_resolved"),
    Injection("amount", _S.COMPLETED, "amount_mismatch", "open"),
    Injection("currency", _S.COMPLETED, "currency_mismatch", "open"),
    Injection("duplicate order", _S.COMPLETED, "duplicate_payment", "open"),
    Injection("unknown order", _S.COMPLETED, "unknown_at_provider", "open"),
    Injection("orphaned order", _S.SUBMITTED, "unknown_at_provider", "auto_resolved"),
    Injection("cached balance", _S.COMPLETED, "ledger_mismatch", "open"),
)


def targets(layout: Layout) -> Iterator[tuple[Injection, int]]:
    """0.1% of the payouts, spread evenly over the ids, the kinds taking turns."""
    count = max(len(INJECTIONS), layout.n * PER_MILLE // 1000)
    stride = layout.n // count
    for j in range(count):
        injection = INJECTIONS[j % len(INJECTIONS)]
        i = 1 + j * stride
        while status_of(i) is not injection.needs:
            i += 1
        yield injection, i


async def inject(
    container: Container, banks: dict[ProviderKind, MockBank], layout: Layout
) -> dict[tuple[str, str], str]:
    """Make every discrepancy; returns the expected breaks: (kind, fingerprint) -> status."""
    expected: dict[tuple[str, str], str] = {}
    crashed: list[int] = []
    corrupted: list[int] = []
    for injection, i in targets(layout):
        provider = layout.destination(i).provider
        bank = banks[provider]
        order_id = layout.order_id(i, provider)
        fingerprint = f"order:{order_id}"
        match injection.name:
            case "dropped order":
                bank.drop_order(order_id)
            case "status the lifecycle cannot reach":
                bank.force_status(order_id, OrderStatus.FAILED, "AC04", "account_closed")
                fingerprint += ":completed->failed"
            case "status lag":
                bank.force_status(order_id, OrderStatus.COMPLETED)
                fingerprint += ":submitted->completed"
            case "amount":
                bank.override_amount(order_id, Money(layout.amount_minor(i) + 1, "USD"))
            case "currency":
                bank.override_currency(order_id, "EUR")
            case "duplicate order":
                bank.duplicate_order(order_id)
                fingerprint = f"key:{layout.key(i)}"
            case "unknown order":
                fingerprint = f"order:{bank.inject_unknown_order()}"
            case "orphaned order":
                crashed.append(i)  # the order exists; the payout never recorded it
            case "cached balance":
                corrupted.append(i)
                fingerprint = f"cached_balance:payee:{i}:payable:USD"
        expected[(injection.kind, fingerprint)] = injection.status
    async with container.sessions.begin() as session:
        if crashed:
            await session.execute(
                update(Payout)
                .where(Payout.id.in_(crashed))
                .values(
                    status=_S.SUBMITTING.value,
                    provider_order_id=None,
                    target_amount_minor=None,
                    fx_rate=None,
                )
            )
        if corrupted:
            await session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.owner_payee_id.in_(corrupted))
                .values(posted_credits=LedgerAccount.posted_credits + 1)
            )
    return expected


# -- measuring ----------------------------------------------------------------------------


class TimedProvider:
    """A provider whose order listing is timed (HTTP, JSON and parsing: the engine's
    side of listing, without what the caller does with each page), whichever way the
    engine reads it (objects, or the JSON as it came)."""

    def __init__(self, inner: PaymentProvider, timeline: Timeline) -> None:
        self.inner = inner
        self.timeline = timeline
        self.listing_s = 0.0
        self.pages = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def iter_orders(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[list[ProviderOrder]]:
        return self._timed(self.inner.iter_orders(changed_since))

    def iter_order_json(self, changed_since: datetime | None = None) -> AsyncIterator[bytes]:
        return self._timed(self.inner.iter_order_json(changed_since))  # type: ignore[attr-defined]

    async def _timed(self, listing: AsyncIterator[T]) -> AsyncIterator[T]:
        pages = listing.__aiter__()
        while True:
            started = time.perf_counter()
            try:
                page = await pages.__anext__()
            except StopAsyncIteration:
                return
            finally:
                ended = time.perf_counter()
                self.listing_s += ended - started
                self.timeline.add("listing", started, ended)
            self.pages += 1
            yield page


class Timeline:
    """When each phase was busy: phases overlap (the ledger checks run while the banks
    are listed, a page is staged while the next is fetched), so they are also reported
    as spans, and what no phase accounts for is what is left of the wall time."""

    def __init__(self) -> None:
        self.intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.origin = 0.0
        self.enabled = False

    def start(self) -> None:
        self.intervals.clear()
        self.origin = time.perf_counter()
        self.enabled = True

    def add(self, phase: str, started: float, ended: float) -> None:
        if self.enabled:
            self.intervals[phase].append((started, ended))

    def spans(self) -> str:
        """``phase first-start..last-end`` in seconds from the start, by first start."""
        spans = sorted(
            (min(a for a, _ in iv) - self.origin, max(b for _, b in iv) - self.origin, phase)
            for phase, iv in self.intervals.items()
        )
        return " | ".join(f"{phase} {a:.1f}..{b:.1f}" for a, b, phase in spans)

    def covered_s(self) -> float:
        """Seconds during which at least one phase was busy."""
        total, reach = 0.0, float("-inf")
        for a, b in sorted(iv for ivs in self.intervals.values() for iv in ivs):
            if b > reach:
                total += b - max(a, reach)
                reach = b
        return total


class BankClock:
    """Time spent inside the mock banks' apps (answering the listing): in production
    that is the provider's machine, here it shares the engine's process and loop."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def attach(self, banks: dict[ProviderKind, MockBank]) -> None:
        for bank in banks.values():
            bank.app.add_middleware(_TimedApp, clock=self)


class _TimedApp:
    def __init__(self, app: Any, clock: BankClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.clock.seconds += time.perf_counter() - started


PHASES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("staging", lambda sql: "recon_staged_orders" in sql and not sql.startswith("SELECT")),
    ("comparing", lambda sql: sql.startswith("SELECT") and "recon_staged_orders" in sql),
    ("ledger_checks", lambda sql: sql.startswith("SELECT") and "ledger_entries" in sql),
    ("writing_breaks", lambda sql: "reconciliation_breaks" in sql or "audit_events" in sql),
)


@dataclass
class SqlClock:
    """Time spent in SQL statements, by reconciliation phase (by statement text)."""

    timeline: Timeline
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_statement: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    statements: int = 0
    enabled: bool = False

    def attach(self, container: Container) -> None:
        engine = container.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, *_: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if not self.enabled:
                return
            self.statements += 1
            ended = time.perf_counter()
            started = conn.info.pop("bench_started", ended)
            elapsed = ended - started
            sql = statement.lstrip()
            phase = next((name for name, test in PHASES if test(sql)), "other_sql")
            self.seconds[phase] += elapsed
            self.timeline.add(phase, started, ended)
            self.by_statement[f"{phase}: {' '.join(sql.split())[:110]}"] += elapsed

    def slowest(self, count: int = 6) -> list[tuple[str, float]]:
        return sorted(self.by_statement.items(), key=lambda item: -item[1])[:count]


def _kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        found = re.search(rf"{field_name}:\s+(\d+) kB", status.read())
    return int(found.group(1)) if found else 0


def reset_peak_rss() -> bool:
    """Linux: make VmHWM (peak RSS) start again from the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def bank_listing_s(banks: dict[ProviderKind, MockBank]) -> tuple[float, int]:
    """List every bank in-process, PAGE orders at a time: the provider side alone."""
    started = time.perf_counter()
    listed = 0
    for bank in banks.values():
        after = None
        while True:
            page = bank.changed_since(None, after, PAGE)
            listed += len(page.orders)
            if page.next_after is None:
                break
            after = page.next_after
    return time.perf_counter() - started, listed


async def copy_floor_s(container: Container, banks: dict[ProviderKind, MockBank]) -> float:
    """COPY the rows the engine stages (one per listed order) into a plain temp table."""
    rows = []
    for kind, bank in banks.items():
        now = bank.now()
        for order in bank.orders.values():
            view = order.view(now)
            rows.append(
                (
                    kind.value,
                    view.order_id,
                    view.idempotency_key,
                    view.status.value,
                    view.amount.minor,
                    view.amount.currency,
                    view.failure_code,
                )
            )
    async with container.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.execute(
            "CREATE TEMP TABLE bench_floor (provider varchar(16), order_id varchar(64),"
            " idempotency_key varchar(128), status varchar(16), amount_minor bigint,"
            " currency varchar(3), failure_code varchar(64))"
        )
        started = time.perf_counter()
        async with driver.cursor() as cursor, cursor.copy("COPY bench_floor FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        await driver.commit()
        elapsed = time.perf_counter() - started
        await driver.execute("DROP TABLE bench_floor")
        await driver.commit()
    return elapsed


# -- one size -----------------------------------------------------------------------------


async def measure(url: str, n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    banks = mock_banks(now)
    container = build(
        Settings(database_url=url, scheduler_enabled=False, _env_file=None),
        clock=SystemClock(),
        banks=banks,
    )
    timeline = Timeline()
    timed = {
        kind: TimedProvider(provider, timeline) for kind, provider in container.providers.items()
    }
    container.providers = dict(timed)  # type: ignore[arg-type]
    sql = SqlClock(timeline)
    sql.attach(container)
    in_banks = BankClock()
    in_banks.attach(banks)
    try:
        seeded = await seed(container.engine, n, now, banks)
        expected = await inject(container, banks, seeded.layout)
        day: date = (now - timedelta(days=1)).date()
        rss_before = _kib("VmRSS")
        peak_tracked = reset_peak_rss()
        sql.enabled = True
        timeline.start()
        started = time.perf_counter()
        result = await container.jobs.reconcile(day)
        wall = time.perf_counter() - started
        sql.enabled = timeline.enabled = False
        peak = _kib("VmHWM") if peak_tracked else 0
        found = {(b.kind, b.fingerprint): b.status for b in result.breaks}
        bank_s, listed = bank_listing_s(banks)
        floor_s = await copy_floor_s(container, banks)
    finally:
        await container.aclose()
    missed = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    print(f"  slowest SQL at {n:,} payouts (total seconds):")
    for statement, seconds in sql.slowest():
        print(f"    {seconds:8.3f}  {statement}")
    for label, keys in (("missed", missed), ("extra", extra), ("wrong status", wrong)):
        for key in keys[:5]:
            print(f"  {label}: {key} expected {expected.get(key)} found {found.get(key)}")
    listing = sum(p.listing_s for p in timed.values())
    phases = {
        "listing_s": listing,
        **{f"{name}_s": sql.seconds.get(name, 0.0) for name, _ in PHASES},
        "other_sql_s": sql.seconds.get("other_sql", 0.0),
    }
    phases["rest_s"] = wall - timeline.covered_s()  # no phase busy: Python between them
    phases["of_which_in_mock_banks_s"] = in_banks.seconds
    phases["wall_without_banks_s"] = wall - in_banks.seconds
    return {
        "workload": "reconciliation",
        "backend": "postgresql",
        "payouts": n,
        "provider_orders": result.counts.get("provider_orders"),
        "seed_s": seeded.seconds["seed_s"],
        "injected": len(expected),
        "breaks_found": len(found),
        "missed": len(missed),
        "extra": len(extra),
        "wrong_status": len(wrong),
        "all_found_no_false": not (missed or extra or wrong),
        "wall_s": round(wall, 3),
        "us_per_payout": round(wall / n * 1e6, 1),
        **{k: round(v, 3) for k, v in phases.items()},
        "timeline": timeline.spans(),
        "list_pages": sum(p.pages for p in timed.values()),
        "sql_statements": sql.statements,
        "rss_before_mb": round(rss_before / 1024),
        "peak_rss_mb": round(peak / 1024),
        "peak_growth_mb": round((peak - rss_before) / 1024) if peak else None,
        "limit_bank_list_s": round(bank_s, 3),
        "limit_bank_listed": listed,
        "limit_copy_rows_s": round(floor_s, 3),
        "wall_vs_bank_list": round(wall / bank_s, 1),
        "us_per_payout_without_banks": round(phases["wall_without_banks_s"] / n * 1e6, 1),
        "wall_vs_copy": round(wall / floor_s, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def run(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    results = []
    for n in sizes:
        with database("postgresql") as url:
            upgrade(url)
            result = asyncio.run(measure(url, n))
        print(
            f"  {n:>9,} payouts: {result['wall_s']:.2f} s"
            f" ({result['us_per_payout']} us/payout), all found: {result['all_found_no_false']}"
        )
        results.append(result)
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add 1,000,000 payouts")
    parser.add_argument("--sizes", type=int, nargs="*", help="payout counts to run instead")
    args = parser.parse_args()
    sizes = tuple(args.sizes) if args.sizes else FULL_SIZES if args.full else SIZES
    results = run(sizes)
    report("Workload 5: reconciliation at scale (PostgreSQL, 0.1% injected breaks)", results)


if __name__ == "__main__":
    cli()
