"""Runs between ``startRun`` and their execution: recorded with a preview, approved,
claimed under a lease, cancelled; and the approvals that guard them.

A run is claimed with a compare-and-set on its row (PostgreSQL also skips rows another
claimer has locked): ``queued``, or ``running`` with a lease that has lapsed, which is
what a killed process leaves. A legacy synchronous run (``payout-engine run``) holds no
lease and is never taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.auth import Caller
from domain.errors import ErrorCode, Problem
from domain.ports import RunOutcome
from domain.run_workflow import (
    CANCELLABLE,
    ApprovalKind,
    ApprovalStatus,
    Decision,
    PendingApproval,
    Requester,
    RunPreview,
    RunStatus,
    approval_outcome,
    decision_problem,
)
from persistence import approvals, audit, outbox, retry_store
from persistence.sql import rowcount
from persistence.tables import Approval, PayoutRun, PayoutRunItem
from persistence.verification_store import clear_approved

MAX_NOTE = 2000


def _claimable(now: datetime) -> Any:
    return or_(
        PayoutRun.status == RunStatus.QUEUED.value,
        and_(
            PayoutRun.status == RunStatus.RUNNING.value,
            PayoutRun.lease_until.is_not(None),
            PayoutRun.lease_until < now,
        ),
    )


@dataclass(frozen=True, slots=True)
class Claim:
    run_id: int
    resumed_from: str | None  # the process whose lease lapsed, when taken over


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    evaluated: int
    submitted: int
    failed: int
    skipped: int


class SqlRunQueue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- startRun -----------------------------------------------------------

    async def find_run(self, event_id: int, key: str) -> int | None:
        async with self._sessions() as session:
            found = await session.scalar(_run_by_key(event_id, key))
            return int(found) if found is not None else None

    async def create_run(
        self,
        event_id: int,
        key: str,
        preview: RunPreview,
        needs_approval: bool,
        requester: Requester,
        approval_ttl: timedelta,
        now: datetime,
    ) -> int:
        """Record the run (or find the one this key made first): awaiting an approval,
        with its request, or queued."""
        status = RunStatus.AWAITING_APPROVAL if needs_approval else RunStatus.QUEUED
        async with self._sessions.begin() as session:
            existing = await session.scalar(_run_by_key(event_id, key))
            if existing is not None:
                return int(existing)
            try:
                async with session.begin_nested():
                    run = PayoutRun(
                        event_id=event_id,
                        idempotency_key=key,
                        status=status.value,
                        started_at=now,
                        preview=preview.to_json(),
                        requested_by_key_id=requester.key_id,
                        requested_by_owner=requester.owner,
                        progress_total=preview.evaluated,
                    )
                    session.add(run)
                    await session.flush()
            except IntegrityError:  # the same key raced us: that run is this one
                found = await session.scalar(_run_by_key(event_id, key))
                assert found is not None
                return int(found)
            rows = [
                audit.audit_row(
                    "run.requested",
                    now,
                    entity="run",
                    run_id=run.id,
                    actor=requester.owner[:64],
                    status=status.value,
                    idempotency_key=key,
                    payouts=preview.payouts,
                    totals=[
                        {"amount": m.to_decimal_string(), "currency": m.currency}
                        for m in preview.totals()
                    ],
                )
            ]
            await outbox.run_changed(session, run.id, now)
            if needs_approval:
                approval = approvals.pending(
                    ApprovalKind.RUN,
                    run.id,
                    requester,
                    now,
                    approval_ttl,
                    {"run_id": run.id, "event_id": event_id, **preview.to_json()},
                )
                session.add(approval)
                await session.flush()
                rows.append(_approval_audit("approval.requested", approval, now, requester.owner))
            await audit.write(session, rows)
            return run.id

    # --- the executor -------------------------------------------------------

    async def claim(self, worker: str, now: datetime, lease: timedelta) -> Claim | None:
        """Take the oldest claimable run for ``worker`` until ``now + lease``."""
        async with self._sessions.begin() as session:
            found = (
                await session.execute(
                    select(PayoutRun.id, PayoutRun.claimed_by)
                    .where(_claimable(now))
                    .order_by(PayoutRun.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if found is None:
                return None
            run_id, previous = found
            taken = await session.execute(
                update(PayoutRun)
                .where(PayoutRun.id == run_id, _claimable(now))
                .values(status=RunStatus.RUNNING.value, claimed_by=worker, lease_until=now + lease)
            )
            if rowcount(taken) != 1:
                return None
            action = "run.resumed" if previous else "run.claimed"
            row = audit.audit_row(
                action, now, entity="run", run_id=run_id, worker=worker, previous=previous
            )
            await audit.write(session, [row])
            if not previous:  # a resumed run was running already: no change to tell
                await outbox.run_changed(session, run_id, now)
            return Claim(run_id, previous)

    async def renew(
        self, run_id: int, worker: str, now: datetime, lease: timedelta, evaluated: int
    ) -> bool:
        """Extend this worker's lease and store its progress; False if another process
        took the run over (a run that has just ended is not lost: its executor is
        finishing)."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(PayoutRun)
                .where(
                    PayoutRun.id == run_id,
                    PayoutRun.claimed_by == worker,
                    PayoutRun.status == RunStatus.RUNNING.value,
                )
                .values(lease_until=now + lease, progress_evaluated=_at_least(evaluated))
            )
            if rowcount(result) == 1:
                return True
            status = await session.scalar(select(PayoutRun.status).where(PayoutRun.id == run_id))
            return status != RunStatus.RUNNING.value

    async def release(self, run_id: int, worker: str, now: datetime) -> None:
        """Give a run up at once (this process is stopping): another takes it over."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PayoutRun)
                .where(
                    PayoutRun.id == run_id,
                    PayoutRun.claimed_by == worker,
                    PayoutRun.status == RunStatus.RUNNING.value,
                )
                .values(lease_until=now)
            )

    async def ended(self, run_id: int, evaluated: int) -> None:
        """The executor's last word on its progress."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(PayoutRun).where(PayoutRun.id == run_id).values(progress_evaluated=evaluated)
            )

    # --- cancelRun ----------------------------------------------------------

    async def cancel(self, run_id: int, caller: Caller, now: datetime) -> Problem | None:
        """A waiting or queued run ends ``cancelled`` now (its pending approval too); a
        running one is asked to stop, which its executor does before its next batch."""
        async with self._sessions.begin() as session:
            run = await session.scalar(
                select(PayoutRun).where(PayoutRun.id == run_id).with_for_update()
            )
            if run is None:
                return Problem("run_id", ErrorCode.NOT_FOUND, f"no run {run_id}")
            status = RunStatus(run.status)
            if status not in CANCELLABLE:
                message = f"the run has ended ({status.value})"
                return Problem("run_id", ErrorCode.RUN_NOT_CANCELLABLE, message)
            rows: list[dict[str, Any]] = []
            if status is RunStatus.RUNNING:
                run.cancel_requested = True
                rows.append(_run_audit("run.cancel_requested", run_id, now, caller.owner))
            else:
                run.status = RunStatus.CANCELLED.value
                run.finished_at = now
                rows.append(_run_audit("run.cancelled", run_id, now, caller.owner))
                pending = await session.scalar(_pending_approval(ApprovalKind.RUN, run_id))
                if pending is not None:
                    pending.status = ApprovalStatus.CANCELLED.value
                    pending.decided_at = now
                    rows.append(_approval_audit("approval.cancelled", pending, now, caller.owner))
            await audit.write(session, rows)
            if run.status == RunStatus.CANCELLED.value:
                await session.flush()
                await outbox.run_changed(session, run_id, now)
            return None

    async def stop_requested(self, run_id: int) -> bool:
        async with self._sessions() as session:
            return bool(
                await session.scalar(
                    select(PayoutRun.cancel_requested).where(PayoutRun.id == run_id)
                )
            )

    # --- approvals ----------------------------------------------------------

    async def decide(
        self,
        approval_id: int,
        decision: Decision,
        note: str | None,
        caller: Caller,
        now: datetime,
    ) -> Problem | None:
        if note is not None and len(note) > MAX_NOTE:
            return Problem("note", ErrorCode.INVALID_INPUT, f"note is longer than {MAX_NOTE}")
        async with self._sessions.begin() as session:
            approval = await session.scalar(
                select(Approval).where(Approval.id == approval_id).with_for_update()
            )
            if approval is None:
                return Problem("approval_id", ErrorCode.NOT_FOUND, f"no approval {approval_id}")
            pending = PendingApproval(
                ApprovalStatus(approval.status), approval.expires_at, approval.requested_by_owner
            )
            problem = decision_problem(pending, caller, now)
            if problem is not None:
                return problem
            approval_status, run_status = approval_outcome(decision)
            approval.status = approval_status.value
            approval.decided_by_key_id = caller.key_id
            approval.decided_by_owner = caller.owner
            approval.decided_at = now
            approval.note = note
            action = f"approval.{approval_status.value.lower()}"
            rows = [_approval_audit(action, approval, now, caller.owner, note=note)]
            if approval.kind == ApprovalKind.RUN.value:
                rows += await _move_waiting_run(
                    session, approval.subject_id, run_status, now, caller.owner
                )
            elif approval.kind == ApprovalKind.BANK_ACCOUNT.value and decision is Decision.APPROVE:
                asked = str(approval.summary.get("request_note") or "")
                rows += await clear_approved(session, approval.subject_id, asked, now, caller.owner)
            elif approval.kind == ApprovalKind.RETRY.value:
                rows += await retry_store.decided(
                    session, approval.subject_id, approval_status, now, caller.owner
                )
            await audit.write(session, rows)
            return None

    async def expire(self, now: datetime) -> int:
        """Pending approvals past their time end ``EXPIRED``; their runs ``expired``."""
        async with self._sessions.begin() as session:
            due = list(
                (
                    await session.scalars(
                        select(Approval)
                        .where(
                            Approval.status == ApprovalStatus.PENDING.value,
                            Approval.expires_at <= now,
                        )
                        .order_by(Approval.id)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            rows: list[dict[str, Any]] = []
            for approval in due:
                approval.status = ApprovalStatus.EXPIRED.value
                approval.decided_at = now
                rows.append(_approval_audit("approval.expired", approval, now, audit.SYSTEM))
                if approval.kind == ApprovalKind.RUN.value:
                    rows += await _move_waiting_run(
                        session, approval.subject_id, RunStatus.EXPIRED, now, audit.SYSTEM
                    )
                if approval.kind == ApprovalKind.RETRY.value:
                    rows += await retry_store.decided(
                        session, approval.subject_id, ApprovalStatus.EXPIRED, now, audit.SYSTEM
                    )
            await audit.write(session, rows)
            return len(due)


# --- reads ----------------------------------------------------------------------------


async def progress_of(session: AsyncSession, run: PayoutRun) -> Progress:
    counts = dict(
        (
            await session.execute(
                select(PayoutRunItem.outcome, func.count())
                .where(PayoutRunItem.run_id == run.id)
                .group_by(PayoutRunItem.outcome)
            )
        ).all()
    )
    return Progress(
        total=run.progress_total,
        evaluated=run.progress_evaluated,
        submitted=int(counts.get(RunOutcome.CREATED.value, 0)),
        failed=int(counts.get(RunOutcome.FAILED.value, 0)),
        skipped=int(counts.get(RunOutcome.SKIPPED.value, 0)),
    )


async def approval_for_run(session: AsyncSession, run_id: int) -> Approval | None:
    """The run's latest approval request, if it needed one."""
    return await session.scalar(
        select(Approval)
        .where(Approval.kind == ApprovalKind.RUN.value, Approval.subject_id == run_id)
        .order_by(Approval.id.desc())
        .limit(1)
    )


async def approval(session: AsyncSession, approval_id: int) -> Approval | None:
    return await session.get(Approval, approval_id)


async def approvals_page(
    session: AsyncSession,
    size: int,
    after: int | None,
    status: str | None,
    kind: str | None,
) -> list[Approval]:
    """Newest first; one more than ``size`` tells whether there is a next page."""
    statement = select(Approval).order_by(Approval.id.desc()).limit(size + 1)
    if after is not None:
        statement = statement.where(Approval.id < after)
    if status is not None:
        statement = statement.where(Approval.status == status)
    if kind is not None:
        statement = statement.where(Approval.kind == kind)
    return list((await session.scalars(statement)).all())


async def run_row(session: AsyncSession, run_id: int) -> PayoutRun | None:
    return await session.get(PayoutRun, run_id, populate_existing=True)


# --- helpers --------------------------------------------------------------------------


def _at_least(evaluated: int) -> Any:
    """Progress never goes back: a resumed run counts its evaluations from zero again."""
    return case(
        (PayoutRun.progress_evaluated > evaluated, PayoutRun.progress_evaluated),
        else_=evaluated,
    )


def _run_by_key(event_id: int, key: str) -> Any:
    return select(PayoutRun.id).where(
        PayoutRun.event_id == event_id, PayoutRun.idempotency_key == key
    )


def _pending_approval(kind: ApprovalKind, subject_id: int) -> Any:
    return (
        select(Approval)
        .where(
            Approval.kind == kind.value,
            Approval.subject_id == subject_id,
            Approval.status == ApprovalStatus.PENDING.value,
        )
        .with_for_update()
    )


async def _move_waiting_run(
    session: AsyncSession, run_id: int, status: RunStatus, now: datetime, actor: str
) -> list[dict[str, Any]]:
    """A run awaiting approval moves on: queued, rejected or expired (ended)."""
    ended = status is not RunStatus.QUEUED
    result = await session.execute(
        update(PayoutRun)
        .where(PayoutRun.id == run_id, PayoutRun.status == RunStatus.AWAITING_APPROVAL.value)
        .values(status=status.value, **({"finished_at": now} if ended else {}))
    )
    if rowcount(result) != 1:
        return []
    await outbox.run_changed(session, run_id, now)
    return [_run_audit(f"run.{status.value}", run_id, now, actor)]


def _run_audit(action: str, run_id: int, now: datetime, actor: str) -> dict[str, Any]:
    return audit.audit_row(action, now, entity="run", run_id=run_id, actor=actor[:64])


def _approval_audit(
    action: str, approval: Approval, now: datetime, actor: str, **detail: Any
) -> dict[str, Any]:
    return audit.audit_row(
        action,
        now,
        entity="approval",
        entity_id=approval.id,
        run_id=approval.subject_id if approval.kind == ApprovalKind.RUN.value else None,
        actor=actor[:64],
        kind=approval.kind,
        subject_id=approval.subject_id,
        **detail,
    )
