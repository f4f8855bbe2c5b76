"""GraphQL for operations: reconciliation runs and breaks, job executions, and the two
mutations that act on them (``runReconciliation``, ``resolveBreak``). Ops keys only."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.errors import PayoutEngineError, quoted
from graph.context import Info
from graph.errors import ErrorCode, UserError, from_domain, query_error, user_error
from graph.ids import parse_id
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.types import Payout
from persistence import queries, tables

MAX_NOTE = 2000
OLDEST_RECONCILABLE = timedelta(days=366)  # runReconciliation goes back at most a year


@strawberry.enum(description="What a reconciliation found to disagree.")
class BreakKind(Enum):
    MISSING_AT_PROVIDER = "missing_at_provider"
    UNKNOWN_AT_PROVIDER = "unknown_at_provider"
    STATUS_MISMATCH = "status_mismatch"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    DUPLICATE_PAYMENT = "duplicate_payment"
    LEDGER_MISMATCH = "ledger_mismatch"


@strawberry.enum
class BreakStatus(Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    AUTO_RESOLVED = "auto_resolved"


@strawberry.type(description="The reconciliation of one business date.")
class ReconciliationRun:
    id: strawberry.ID
    business_date: date
    status: str = strawberry.field(description="running, completed or failed.")
    trigger: str = strawberry.field(description="scheduled, startup or manual.")
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    counts: JSON = strawberry.field(
        description="Provider orders staged, breaks found by kind, auto-resolved, open, new,"
        " seen again, vanished, and each provider's settlement report totals."
    )
    error: str | None

    @classmethod
    def of(cls, row: tables.ReconciliationRun) -> ReconciliationRun:
        return cls(
            id=strawberry.ID(str(row.id)),
            business_date=row.business_date,
            status=row.status,
            trigger=row.trigger,
            attempts=row.attempts,
            started_at=row.started_at,
            finished_at=row.finished_at,
            counts=JSON(row.counts),
            error=row.error,
        )


@strawberry.type(description="A discrepancy between payouts, provider records and the ledger.")
class ReconciliationBreak:
    id: strawberry.ID
    kind: BreakKind
    status: BreakStatus
    detail: str
    evidence: JSON = strawberry.field(description="Both sides of the disagreement.")
    provider: str | None
    provider_order_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    payout_id: strawberry.Private[int | None]
    first_run_id: strawberry.Private[int]

    @strawberry.field
    async def payout(self, info: Info) -> Payout | None:
        if self.payout_id is None:
            return None
        row = await info.context.loaders.payouts.load(self.payout_id)
        return None if row is None else Payout.of(row)

    @classmethod
    def of(cls, row: tables.ReconciliationBreak) -> ReconciliationBreak:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=BreakKind(row.kind),
            status=BreakStatus(row.status),
            detail=row.detail,
            evidence=JSON(row.evidence),
            provider=row.provider,
            provider_order_id=row.provider_order_id,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            resolved_at=row.resolved_at,
            resolved_by=row.resolved_by,
            resolution_note=row.resolution_note,
            payout_id=row.payout_id,
            first_run_id=row.first_run_id,
        )


@strawberry.type(description="One execution of a scheduled job, or of its manual twin.")
class JobRun:
    id: strawberry.ID
    job: str
    trigger: str
    worker: str = strawberry.field(description="host:pid of the process that ran it.")
    status: str = strawberry.field(description="running, succeeded, failed or skipped.")
    started_at: datetime
    finished_at: datetime | None
    counts: JSON
    error: str | None

    @classmethod
    def of(cls, row: tables.JobRun) -> JobRun:
        return cls(
            id=strawberry.ID(str(row.id)),
            job=row.job,
            trigger=row.trigger,
            worker=row.worker,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            counts=JSON(row.counts),
            error=row.error,
        )


@strawberry.input
class BreakFilter:
    kind: BreakKind | None = None
    status: BreakStatus | None = None
    payout_id: strawberry.ID | None = None
    reconciliation_run_id: strawberry.ID | None = None


@strawberry.input
class RunReconciliationInput:
    business_date: date | None = strawberry.field(
        default=None, description="Default: the last business date whose nightly slot passed."
    )


@strawberry.type
class RunReconciliationPayload:
    reconciliation_run: ReconciliationRun | None
    user_errors: list[UserError]


@strawberry.input
class ResolveBreakInput:
    break_id: strawberry.ID
    note: str = strawberry.field(description=f"What was done about it; 1-{MAX_NOTE} characters.")


@strawberry.type
class ResolveBreakPayload:
    reconciliation_break: ReconciliationBreak | None = strawberry.field(name="break")
    user_errors: list[UserError]


def _ident(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if (ident := parse_id(value)) is None:
        raise query_error(ErrorCode.INVALID_INPUT, f"{name} is not an id")
    return ident


async def reconciliation_runs(
    info: Info, first: int | None, after: str | None
) -> Connection[ReconciliationRun]:
    size = page_size(first, info.context.deps.max_page_size)
    async with info.context.session() as session:
        page = await queries.reconciliation_runs_page(session, size, decode_cursor(after))
    return connection(page, ReconciliationRun.of, lambda row: row.id)


async def reconciliation_breaks(
    info: Info, filter: BreakFilter | None, first: int | None, after: str | None
) -> Connection[ReconciliationBreak]:
    size = page_size(first, info.context.deps.max_page_size)
    f = filter or BreakFilter()
    spec = queries.BreakFilterSpec(
        kind=f.kind.value if f.kind else None,
        status=f.status.value if f.status else None,
        payout_id=_ident(f.payout_id, "payoutId"),
        run_id=_ident(f.reconciliation_run_id, "reconciliationRunId"),
    )
    async with info.context.session() as session:
        page = await queries.breaks_page(session, spec, size, decode_cursor(after))
    return connection(page, ReconciliationBreak.of, lambda row: row.id)


async def job_runs(
    info: Info, job: str | None, first: int | None, after: str | None
) -> Connection[JobRun]:
    size = page_size(first, info.context.deps.max_page_size)
    async with info.context.session() as session:
        page = await queries.job_runs_page(session, job, size, decode_cursor(after))
    return connection(page, JobRun.of, lambda row: row.id)


async def run_reconciliation(info: Info, input: RunReconciliationInput) -> RunReconciliationPayload:
    jobs = info.context.deps.jobs
    if jobs is None:
        raise RuntimeError("this app was built without jobs")
    day = input.business_date or jobs.due_business_date()
    today = info.context.deps.clock.now().date()
    if day > today:
        error = user_error(ErrorCode.INVALID_INPUT, f"{day} has not happened yet", "business_date")
        return RunReconciliationPayload(reconciliation_run=None, user_errors=[error])
    if day < today - OLDEST_RECONCILABLE:
        message = f"{day} is more than a year ago; the providers' records do not go back so far"
        error = user_error(ErrorCode.INVALID_INPUT, message, "business_date")
        return RunReconciliationPayload(reconciliation_run=None, user_errors=[error])
    try:
        result = await jobs.reconcile(day, "manual")
    except PayoutEngineError as exc:
        return RunReconciliationPayload(reconciliation_run=None, user_errors=[from_domain(exc)])
    async with info.context.session() as session:
        rows = await queries.by_ids(session, tables.ReconciliationRun, [result.run_id])
    return RunReconciliationPayload(
        reconciliation_run=ReconciliationRun.of(_one(rows)), user_errors=[]
    )


async def resolve_break(info: Info, input: ResolveBreakInput) -> ResolveBreakPayload:
    ident = parse_id(input.break_id)
    if ident is None:
        message = f"no reconciliation break {quoted(input.break_id)}"
        error = user_error(ErrorCode.NOT_FOUND, message, "break_id")
        return ResolveBreakPayload(reconciliation_break=None, user_errors=[error])
    jobs = info.context.deps.jobs
    if jobs is None:
        raise RuntimeError("this app was built without jobs")
    try:
        await jobs.reconciler.store.resolve(
            ident, input.note, info.context.caller.scope, info.context.deps.clock.now()
        )
    except PayoutEngineError as exc:
        return ResolveBreakPayload(reconciliation_break=None, user_errors=[from_domain(exc)])
    async with info.context.session() as session:
        rows = await queries.by_ids(session, tables.ReconciliationBreak, [ident])
    return ResolveBreakPayload(
        reconciliation_break=ReconciliationBreak.of(_one(rows)), user_errors=[]
    )


def _one(rows: list[Any]) -> Any:
    assert rows and rows[0] is not None
    return rows[0]
