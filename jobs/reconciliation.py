"""Three-way reconciliation: payouts vs the providers' records vs the ledger.

For a business date: stage every order each provider lists, compare set-wise
(``persistence.reconciliation_store``), check the ledger's invariants, and record
the findings as breaks. Two kinds are fixed on the spot because the fix is provably
safe, each with an audit event:

* **status lag**: the provider is further along a path the lifecycle allows (the
  poller has not caught up): the status is applied exactly as the poller would;
* **orphaned order**: an order whose key is a payout still ``submitting`` (the
  process died between the provider call and its commit): the payout re-asks the
  provider with its own key and records the order the provider already holds.

Everything else stays open for an operator, with the evidence on both sides.

On PostgreSQL the ledger's invariants are checked on a connection of their own
while the providers are listed: both read committed state only, and what the run
changes afterwards (status lag, orphans) moves payouts and ledger together.

A run is keyed by its business date. A killed run leaves its row ``running`` and
its staging table gone with its connection; the next execution for the date starts
it again from scratch.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.lifecycle import AGREES_WITH_ORDER, PayoutStatus, reported_path
from domain.money import Money
from domain.ports import Clock, OrderStatus, PaymentProvider, ProviderKind
from domain.runs import PayoutRunner
from domain.settlement import StatusReport
from persistence import ledger_checks
from persistence.poll_store import SqlPollStore
from persistence.reconciliation_store import (
    RECONCILER,
    Break,
    Mismatch,
    Missing,
    SqlReconciliationStore,
    Staging,
    Unrecorded,
    staging,
)
from persistence.settlement_store import SqlSettlementStore

APPLY_BATCH = 500
T = TypeVar("T")


@runtime_checkable
class JsonListing(Protocol):
    """A provider that hands over its order listing as the JSON it received
    (``HttpPaymentProvider.iter_order_json``), so no object is built per order."""

    def iter_order_json(self, changed_since: datetime | None = None) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class ReconciliationResult:
    run_id: int
    business_date: date
    counts: dict[str, Any]
    breaks: tuple[Break, ...]

    @property
    def open(self) -> tuple[Break, ...]:
        return tuple(b for b in self.breaks if b.status == "open")


class Reconciler:
    def __init__(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        providers: Mapping[ProviderKind, PaymentProvider],
        runner: PayoutRunner,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._providers = providers
        self._runner = runner
        self._clock = clock
        self._store = SqlReconciliationStore(sessions)
        self._settlement = SqlSettlementStore(sessions)
        self._polls = SqlPollStore(sessions)

    @property
    def store(self) -> SqlReconciliationStore:
        return self._store

    async def reconcile(self, business_date: date, trigger: str = "manual") -> ReconciliationResult:
        run_id = await self._store.open_run(business_date, trigger, self._clock.now())
        try:
            breaks, counts = await self._compare(business_date)
            summary = await self._store.finish_run(run_id, breaks, counts, self._clock.now())
        except BaseException as exc:
            await self._store.fail_run(run_id, f"{type(exc).__name__}: {exc}", self._clock.now())
            raise
        counts |= summary
        return ReconciliationResult(run_id, business_date, counts, tuple(breaks))

    async def _compare(self, business_date: date) -> tuple[list[Break], dict[str, Any]]:
        async with self._ledger_checks() as ledger_breaks:
            async with staging(self._engine) as staged:
                listed_from = self._clock.now()
                for kind, provider in self._providers.items():
                    await _stage_listing(staged, kind, provider)
                await staged.finish()
                async with _meanwhile(self._settlement_totals(business_date)) as settled:
                    mismatches = await staged.mismatches(listed_from)
                    missing = await staged.missing([k.value for k in self._providers], listed_from)
                    unrecorded = await staged.unrecorded()
                    settlement_reports = await settled
                staged_orders = staged.rows
            breaks = [
                *await self._mismatch_breaks(mismatches),
                *(_missing_break(m) for m in missing),
                *await self._unrecorded_breaks(unrecorded),
                *await ledger_breaks(),
            ]
        counts: dict[str, Any] = {
            "provider_orders": staged_orders,
            "breaks_found": len(breaks),
            "auto_resolved": sum(b.status != "open" for b in breaks),
            "open": sum(b.status == "open" for b in breaks),
            "by_kind": _by_kind(breaks),
            "settlement_reports": settlement_reports,
        }
        return breaks, counts

    # -- orders we recorded, which the provider sees differently --------------

    async def _mismatch_breaks(self, mismatches: Sequence[Mismatch]) -> list[Break]:
        breaks = [b for m in mismatches if (b := _money_break(m)) is not None]
        lagging = []
        for m in mismatches:
            if AGREES_WITH_ORDER[OrderStatus(m.order_status)] == m.payout_status:
                continue
            walk = reported_path(PayoutStatus(m.payout_status), OrderStatus(m.order_status))
            steps = tuple(s.target for s in walk.steps) if walk else ()
            if steps:
                lagging.append(m)
                breaks.append(_status_break(m, steps))
            else:
                breaks.append(_status_break(m, ()))
        await self._apply(lagging)
        return breaks

    async def _apply(self, lagging: Sequence[Mismatch]) -> None:
        """Move lagging payouts on exactly as the poller would (status-guarded)."""
        reports = [
            StatusReport(m.payout_id, OrderStatus(m.order_status), m.failure_code) for m in lagging
        ]
        for start in range(0, len(reports), APPLY_BATCH):
            await self._settlement.apply(
                reports[start : start + APPLY_BATCH], self._clock.now(), actor=RECONCILER
            )

    # -- orders no payout has recorded ----------------------------------------

    async def _unrecorded_breaks(self, unrecorded: Sequence[Unrecorded]) -> list[Break]:
        by_key: dict[str, list[Unrecorded]] = defaultdict(list)
        for u in unrecorded:
            by_key[u.idempotency_key].append(u)
        orphans = {
            key: orders[0]
            for key, orders in by_key.items()
            if len(orders) == 1
            and orders[0].payout_status == PayoutStatus.SUBMITTING.value
            and orders[0].payout_order_id is None
        }
        recorded = await self._record_orphans(list(orphans.values()))
        breaks = []
        for key, orders in by_key.items():
            first = orders[0]
            if key in orphans and first.payout_id in recorded:
                breaks.append(_orphan_break(first))
            elif first.payout_id is not None and (first.payout_order_id or len(orders) > 1):
                breaks.append(_duplicate_break(key, orders))
            else:
                breaks += [_unknown_break(u) for u in orders]
        return breaks

    async def _record_orphans(self, orphans: Sequence[Unrecorded]) -> set[int]:
        """Re-ask the provider for each orphan's payout; the ids now recorded."""
        ids = [o.payout_id for o in orphans if o.payout_id is not None]
        if not ids:
            return set()
        await self._runner.recover(payout_ids=ids)
        now_recorded = await self._polls.payouts_by_order([o.order_id for o in orphans])
        return set(now_recorded.values())

    # -- the ledger -----------------------------------------------------------

    @asynccontextmanager
    async def _ledger_checks(self) -> AsyncIterator[Callable[[], Awaitable[list[Break]]]]:
        """The ledger's breaks, checked meanwhile on PostgreSQL. Not on SQLite, where
        every transaction takes the write lock first: the staging would only wait."""
        if self._engine.dialect.name == "sqlite":
            yield self._ledger_breaks
            return
        async with _meanwhile(self._ledger_breaks()) as checks:
            yield lambda: checks

    async def _ledger_breaks(self) -> list[Break]:
        async with self._sessions() as session:
            findings = await ledger_checks.verify(session)
        return [
            Break(
                "ledger_mismatch",
                f"{f.kind}:{f.subject}",
                f"{f.kind}: {f.subject}: {f.detail}",
                {"check": f.kind, "subject": f.subject, "detail": f.detail},
                payout_id=_payout_of(f.subject),
            )
            for f in findings
        ]

    async def _settlement_totals(self, day: date) -> dict[str, Any]:
        """Per provider and currency, what its report says settled on ``day``."""
        totals: dict[str, Any] = {}
        for kind, provider in self._providers.items():
            report = await provider.settlement_report(day)
            sums: dict[str, dict[str, Money]] = {}
            for entry in report.entries:
                zero = Money.zero(entry.amount.currency)
                row = sums.setdefault(entry.amount.currency, {"completed": zero, "returned": zero})
                row[entry.status.value] = row.get(entry.status.value, zero) + entry.amount
            totals[kind.value] = {
                "entries": len(report.entries),
                "by_currency": {
                    currency: {status: m.to_decimal_string() for status, m in row.items()}
                    for currency, row in sums.items()
                },
            }
        return totals


@asynccontextmanager
async def _meanwhile(work: Coroutine[Any, Any, T]) -> AsyncIterator[asyncio.Task[T]]:
    """``work`` as a task beside the block, which awaits it; stopped if the block fails
    first (the block's failure is the run's, and a failure of the task is not news)."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved, so that it is not reported as lost


async def _stage_listing(staged: Staging, kind: ProviderKind, provider: PaymentProvider) -> None:
    """Every order ``provider`` lists, a page at a time, as it came when it can."""
    if isinstance(provider, JsonListing):
        async for page in provider.iter_order_json(None):
            await staged.add_page(kind.value, page)
    else:
        async for orders in provider.iter_orders(None):
            await staged.add(kind.value, orders)


def _money(minor: int, currency: str) -> str:
    return f"{Money(minor, currency).to_decimal_string()} {currency}"


def _evidence(m: Mismatch) -> dict[str, Any]:
    return {
        "ours": {
            "payout_id": m.payout_id,
            "status": m.payout_status,
            "amount": _money(m.payout_amount_minor, m.payout_currency),
        },
        "provider": {
            "provider": m.provider,
            "order_id": m.order_id,
            "status": m.order_status,
            "amount": _money(m.order_amount_minor, m.order_currency),
            "failure_code": m.failure_code,
        },
    }


def _where(m: Mismatch) -> dict[str, Any]:
    return {"payout_id": m.payout_id, "provider": m.provider, "provider_order_id": m.order_id}


def _money_break(m: Mismatch) -> Break | None:
    """A different currency or amount at the provider: never guessed about, always open."""
    ours = _money(m.payout_amount_minor, m.payout_currency)
    theirs = _money(m.order_amount_minor, m.order_currency)
    if m.order_currency != m.payout_currency:
        kind = "currency_mismatch"
    elif m.order_amount_minor != m.payout_amount_minor:
        kind = "amount_mismatch"
    else:
        return None
    detail = f"payout {m.payout_id} is {ours}; the provider's order is {theirs}"
    return Break(kind, f"order:{m.order_id}", detail, _evidence(m), **_where(m))


def _status_break(m: Mismatch, steps: Sequence[PayoutStatus]) -> Break:
    """A status the provider reports: lag along the lifecycle (``steps``, auto-resolved by
    applying them) or one the lifecycle cannot reach (open)."""
    fingerprint = f"order:{m.order_id}:{m.payout_status}->{m.order_status}"
    if not steps:
        detail = (
            f"payout {m.payout_id} is {m.payout_status}; the provider says {m.order_status},"
            " which the payout lifecycle cannot reach from there"
        )
        return Break("status_mismatch", fingerprint, detail, _evidence(m), **_where(m))
    walked = " -> ".join([m.payout_status, *(step.value for step in steps)])
    return Break(
        "status_mismatch",
        fingerprint,
        f"payout {m.payout_id} was {m.payout_status}, behind the provider's {m.order_status}",
        _evidence(m),
        **_where(m),
        status="auto_resolved",
        note=f"status lag: applied the provider's status ({walked})",
    )


def _missing_break(m: Missing) -> Break:
    return Break(
        "missing_at_provider",
        f"order:{m.order_id}",
        f"payout {m.payout_id} ({m.payout_status}) recorded order {m.order_id}, which"
        f" {m.provider} does not list",
        {"ours": {"payout_id": m.payout_id, "status": m.payout_status, "order_id": m.order_id}},
        m.payout_id,
        m.provider,
        m.order_id,
    )


def _order_evidence(u: Unrecorded) -> dict[str, Any]:
    return {
        "provider": u.provider,
        "order_id": u.order_id,
        "idempotency_key": u.idempotency_key,
        "status": u.order_status,
        "amount": _money(u.amount_minor, u.currency),
    }


def _orphan_break(u: Unrecorded) -> Break:
    return Break(
        "unknown_at_provider",
        f"order:{u.order_id}",
        f"order {u.order_id} belongs to payout {u.payout_id}, left submitting by an interrupted"
        " call",
        {"provider": _order_evidence(u), "ours": {"payout_id": u.payout_id}},
        u.payout_id,
        u.provider,
        u.order_id,
        status="auto_resolved",
        note="orphaned order: the payout re-asked with its idempotency key and recorded it",
    )


def _duplicate_break(key: str, orders: Sequence[Unrecorded]) -> Break:
    first = orders[0]
    recorded = first.payout_order_id
    extra = [u.order_id for u in orders]
    return Break(
        "duplicate_payment",
        f"key:{key}",
        f"payout {first.payout_id} has {len(extra) + (1 if recorded else 0)} orders at"
        f" {first.provider} for one idempotency key",
        {
            "ours": {
                "payout_id": first.payout_id,
                "status": first.payout_status,
                "order_id": recorded,
            },
            "provider_orders": [_order_evidence(u) for u in orders],
        },
        first.payout_id,
        first.provider,
        extra[0],
    )


def _unknown_break(u: Unrecorded) -> Break:
    why = (
        "no payout has its idempotency key"
        if u.payout_id is None
        else f"its key is payout {u.payout_id}'s, which is {u.payout_status} with no order"
    )
    return Break(
        "unknown_at_provider",
        f"order:{u.order_id}",
        f"{u.provider} holds order {u.order_id} ({_money(u.amount_minor, u.currency)},"
        f" {u.order_status}) and {why}",
        {
            "provider": _order_evidence(u),
            "ours": None
            if u.payout_id is None
            else {"payout_id": u.payout_id, "status": u.payout_status},
        },
        u.payout_id,
        u.provider,
        u.order_id,
    )


def _payout_of(subject: str) -> int | None:
    kind, _, ident = subject.partition(" ")
    return int(ident) if kind == "payout" and ident.isdigit() else None


def _by_kind(breaks: Sequence[Break]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for b in breaks:
        counts[b.kind] += 1
    return dict(sorted(counts.items()))
