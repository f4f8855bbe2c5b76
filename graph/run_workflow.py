"""Runs in the background behind four eyes: the preview, approvals, progress,
cancelRun, and runUpdated over WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.permission import BasePermission

from domain import run_workflow as workflow
from domain.auth import Role
from domain.errors import ErrorCode, PayoutEngineError, Problem
from domain.money import Money as DomainMoney
from domain.run_workflow import Requester, RunPreview, approval_required
from graph.context import Info
from graph.errors import UserError, from_domain, from_problems, query_error
from graph.ids import parse_id
from graph.pagination import Connection, Edge, PageInfo, decode_cursor, encode_cursor, page_size
from graph.types import Money, PayoutRun, SkipCount
from persistence import run_queue, tables
from persistence.run_queue import SqlRunQueue

strawberry.enum(workflow.ApprovalKind, name="ApprovalKind")
strawberry.enum(workflow.ApprovalStatus, name="ApprovalStatus")
strawberry.enum(workflow.Decision, name="ApprovalDecision")
ApprovalKind = workflow.ApprovalKind
ApprovalStatus = workflow.ApprovalStatus
ApprovalDecision = workflow.Decision


@strawberry.enum(description="Where a run is: AWAITING_APPROVAL -> QUEUED -> RUNNING -> ...")
class RunState(Enum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Decides(BasePermission):
    """Approver keys only: they decide approvals (and change nothing else)."""

    message = "this needs an approver API key"

    def __init__(self) -> None:
        self.error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: object, info: Info, **kwargs: object) -> bool:
        return info.context.caller.role is Role.APPROVER


DECIDE: list[type[BasePermission]] = [Decides]


@strawberry.type(description="Payouts of one rail (or provider) in one currency.")
class PreviewLine:
    key: str = strawberry.field(description="The rail code, or the provider.")
    count: int
    total: Money


@strawberry.type(description="What a run would pay, computed from the event as it stood.")
class RunPreviewInfo:
    payouts: int
    totals: list[Money]
    by_rail: list[PreviewLine]
    cash_by_provider: list[PreviewLine] = strawberry.field(
        description="The cash each provider needs, per currency."
    )
    skips: list[SkipCount] = strawberry.field(description="Predicted skips by reason.")

    @classmethod
    def of(cls, preview: RunPreview) -> RunPreviewInfo:
        def lines(rows: tuple[workflow.PreviewLine, ...]) -> list[PreviewLine]:
            return [PreviewLine(key=r.key, count=r.count, total=_money(r.total)) for r in rows]

        return cls(
            payouts=preview.payouts,
            totals=[_money(m) for m in preview.totals()],
            by_rail=lines(preview.by_rail),
            cash_by_provider=lines(preview.by_provider),
            skips=[SkipCount(reason=r, count=c) for r, c in preview.skips],
        )


def _money(m: DomainMoney) -> Money:
    return Money.of(m.minor, m.currency)


@strawberry.type(description="How far a run has got.")
class RunProgress:
    total: int = strawberry.field(description="Allocations of the event when it was started.")
    evaluated: int
    submitted: int = strawberry.field(description="Accepted by a provider.")
    failed: int
    skipped: int


@strawberry.type(description="A four-eyes request: a run, or a bank account held back.")
class Approval:
    id: strawberry.ID
    kind: ApprovalKind
    subject_id: strawberry.ID
    status: ApprovalStatus
    requested_by: str = strawberry.field(description="The requesting key's owner.")
    requested_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, row: tables.Approval) -> Approval:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=workflow.ApprovalKind(row.kind),
            subject_id=strawberry.ID(str(row.subject_id)),
            status=workflow.ApprovalStatus(row.status),
            requested_by=row.requested_by_owner,
            requested_at=row.requested_at,
            expires_at=row.expires_at,
            decided_by=row.decided_by_owner,
            decided_at=row.decided_at,
            note=row.note,
        )

    @strawberry.field(description="The run this approval is about, for a RUN approval.")
    async def run(self, info: Info) -> PayoutRun | None:
        if self.kind is not workflow.ApprovalKind.RUN:
            return None
        row = await info.context.loaders.runs.load(int(self.subject_id))
        return PayoutRun.of(row) if row is not None else None


@strawberry.input
class ApprovalFilter:
    status: ApprovalStatus | None = None
    kind: ApprovalKind | None = None


@strawberry.input
class DecideApprovalInput:
    approval_id: strawberry.ID
    decision: ApprovalDecision
    note: str | None = None


@strawberry.type
class DecideApprovalPayload:
    approval: Approval | None
    user_errors: list[UserError]


@strawberry.input
class CancelRunInput:
    run_id: strawberry.ID


@strawberry.type
class CancelRunPayload:
    run: PayoutRun | None
    user_errors: list[UserError]


# --- resolvers ------------------------------------------------------------------------


def _queue(info: Info) -> SqlRunQueue:
    queue = info.context.deps.run_queue
    assert queue is not None, "the app is built with a run queue"
    return queue


async def request_run(info: Info, event_id: int, key: str) -> int:
    """Record the run for this key (or find it): its preview, then an approval request or
    the queue. Raises PayoutEngineError (an FX quote unavailable, say)."""
    deps = info.context.deps
    queue = _queue(info)
    existing = await queue.find_run(event_id, key)
    if existing is not None:
        return existing
    preview = await deps.runner.preview(event_id)
    caller = info.context.caller
    return await queue.create_run(
        event_id,
        key,
        preview,
        approval_required(preview, deps.run_approval_threshold),
        Requester(caller.key_id, caller.owner or caller.name),
        deps.approval_ttl,
        deps.clock.now(),
    )


async def decide_approval(info: Info, input: DecideApprovalInput) -> DecideApprovalPayload:
    ident = parse_id(input.approval_id)
    if ident is None:
        bad = Problem("approval_id", ErrorCode.NOT_FOUND, "not an approval id")
        return DecideApprovalPayload(approval=None, user_errors=from_problems([bad]))
    now = info.context.deps.clock.now()
    problem = await _queue(info).decide(ident, input.decision, input.note, info.context.caller, now)
    if problem is not None:
        return DecideApprovalPayload(approval=None, user_errors=from_problems([problem]))
    async with info.context.session() as session:
        row = await run_queue.approval(session, ident)
    assert row is not None
    return DecideApprovalPayload(approval=Approval.of(row), user_errors=[])


async def cancel_run(info: Info, input: CancelRunInput) -> CancelRunPayload:
    ident = parse_id(input.run_id)
    if ident is None:
        bad = Problem("run_id", ErrorCode.NOT_FOUND, "not a run id")
        return CancelRunPayload(run=None, user_errors=from_problems([bad]))
    now = info.context.deps.clock.now()
    try:
        problem = await _queue(info).cancel(ident, info.context.caller, now)
    except PayoutEngineError as exc:
        return CancelRunPayload(run=None, user_errors=[from_domain(exc)])
    if problem is not None:
        return CancelRunPayload(run=None, user_errors=from_problems([problem]))
    async with info.context.session() as session:
        row = await run_queue.run_row(session, ident)
    assert row is not None
    return CancelRunPayload(run=PayoutRun.of(row), user_errors=[])


async def approvals_page(
    info: Info, filter: ApprovalFilter | None, first: int | None, after: str | None
) -> Connection[Approval]:
    size = page_size(first, info.context.deps.max_page_size)
    status = filter.status.value if filter and filter.status else None
    kind = filter.kind.value if filter and filter.kind else None
    async with info.context.session() as session:
        rows = await run_queue.approvals_page(session, size, decode_cursor(after), status, kind)
    edges = [Edge(cursor=encode_cursor(r.id), node=Approval.of(r)) for r in rows[:size]]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > size, end_cursor=edges[-1].cursor if edges else None
        ),
    )


async def preview_of(info: Info, run_id: int) -> RunPreviewInfo | None:
    async with info.context.session() as session:
        row = await run_queue.run_row(session, run_id)
    if row is None or row.preview is None:
        return None
    return RunPreviewInfo.of(RunPreview.from_json(row.preview))


async def progress_of(info: Info, run_id: int) -> RunProgress | None:
    async with info.context.session() as session:
        row = await run_queue.run_row(session, run_id)
        if row is None:
            return None
        p = await run_queue.progress_of(session, row)
    return RunProgress(
        total=p.total,
        evaluated=p.evaluated,
        submitted=p.submitted,
        failed=p.failed,
        skipped=p.skipped,
    )


async def approval_of(info: Info, run_id: int) -> Approval | None:
    async with info.context.session() as session:
        row = await run_queue.approval_for_run(session, run_id)
    return Approval.of(row) if row is not None else None


# --- runUpdated -----------------------------------------------------------------------

# How often a subscribed run is read again; a change is sent, nothing else.
RUN_POLL_S = 0.25
_ENDED = {s.value for s in workflow.RunStatus} - {s.value for s in workflow.CANCELLABLE}


async def run_updates(info: Info, run_id: strawberry.ID) -> AsyncIterator[PayoutRun]:
    ident = parse_id(run_id)
    if ident is None:
        raise query_error(ErrorCode.INVALID_INPUT, "runId is not an id", field="runId")
    return _watch(info, ident)


async def _watch(info: Info, run_id: int) -> AsyncIterator[PayoutRun]:
    """The run now, then each time its status or progress changes, until it has ended."""
    last: tuple[object, ...] | None = None
    while True:
        async with info.context.session() as session:
            row = await run_queue.run_row(session, run_id)
            if row is None:
                raise query_error(ErrorCode.NOT_FOUND, f"no run {run_id}", field="runId")
            p = await run_queue.progress_of(session, row)
            seen = (row.status, row.cancel_requested, p)
        if seen != last:
            last = seen
            yield PayoutRun.of(row)
        if row.status in _ENDED:
            return
        await asyncio.sleep(RUN_POLL_S)
