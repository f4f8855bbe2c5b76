"""The SQL side of payout runs (``domain.runs.PayoutStore``): batched, set-based."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.bank_details import BankAccount, valid_for
from domain.eligibility import PayeeProfile, SkipReason
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import REEVALUATED_BY_RUNS, Path, PayoutStatus, Trigger
from domain.money import Money
from domain.ports import (
    PaymentOrderRequest,
    ProviderKind,
    RunHandle,
    RunOutcome,
    RunSummary,
    Submission,
    SubmitOutcome,
)
from domain.routing import RailDecision
from domain.run_workflow import RunStatus
from domain.runs import Candidate, Evaluation, SubmissionResult, outcome_of
from domain.verification import VerificationState, VerificationStatus, hold_reason
from persistence import audit, lifecycle, metrics, outbox
from persistence.sql import chunked, insert_ignore, upsert
from persistence.tables import (
    Allocation,
    LiquidationEvent,
    Payee,
    Payout,
    PayoutRun,
    PayoutRunItem,
)
from persistence.tables import BankAccount as BankAccountRow
from persistence.verification_store import hold_of

_ITEMS = PayoutRunItem.__table__
# A run found again by its key in one of these is not executed again.
_ENDED = frozenset(
    s.value
    for s in (
        RunStatus.COMPLETED,
        RunStatus.CANCELLED,
        RunStatus.REJECTED,
        RunStatus.EXPIRED,
    )
)


class SqlPayoutStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        claim: timedelta = timedelta(minutes=5),
        *,
        reads: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        self._sessions = sessions
        # For reads that need no transaction (``persistence.db.create_engine(reads_only)``):
        # on SQLite a session of ``sessions`` begins with the write lock, so a run's check
        # for a stop request between batches queued behind the answers being written.
        self._reads = reads or sessions
        self._claim = claim  # how long a run or the dispatcher holds what it is sending

    # --- runs ---------------------------------------------------------------

    async def open_run(self, event_code: str, idempotency_key: str, now: datetime) -> RunHandle:
        async with self._sessions.begin() as session:
            event = await session.scalar(
                select(LiquidationEvent).where(LiquidationEvent.code == event_code)
            )
            if event is None:
                raise NotFound(f"no liquidation event {event_code!r}", field="liquidationEventId")
            existing = await _find_run(session, event.id, idempotency_key)
            if existing is None:
                try:
                    async with session.begin_nested():
                        existing = PayoutRun(
                            event_id=event.id,
                            idempotency_key=idempotency_key,
                            status="running",
                            started_at=now,
                        )
                        session.add(existing)
                except IntegrityError:  # the same key raced us; use that run
                    existing = await _find_run(session, event.id, idempotency_key)
                    assert existing is not None
                else:
                    await session.flush()
                    await audit.write(
                        session,
                        [
                            audit.audit_row(
                                "run.started",
                                now,
                                entity="run",
                                run_id=existing.id,
                                event=event_code,
                                idempotency_key=idempotency_key,
                            )
                        ],
                    )
                    await outbox.run_changed(session, existing.id, now)
            if existing.status == RunStatus.AWAITING_APPROVAL.value:
                raise InvalidInput(
                    "the run with this key is awaiting its approval", field="idempotencyKey"
                )
            if existing.status == RunStatus.QUEUED.value or existing.lease_until is not None:
                raise InvalidInput(
                    "the run with this key is executed by the job runner",
                    field="idempotencyKey",
                )
            return RunHandle(existing.id, event.id, event.code, existing.status in _ENDED)

    async def run_handle(self, run_id: int) -> RunHandle:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(PayoutRun.event_id, LiquidationEvent.code, PayoutRun.status)
                    .join(LiquidationEvent, LiquidationEvent.id == PayoutRun.event_id)
                    .where(PayoutRun.id == run_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"no run {run_id}", field="id")
        event_id, code, status = row
        return RunHandle(run_id, event_id, code, status in _ENDED)

    async def stop_requested(self, run_id: int) -> bool:
        async with self._reads() as session:
            return bool(
                await session.scalar(
                    select(PayoutRun.cancel_requested).where(PayoutRun.id == run_id)
                )
            )

    async def refresh_counts(self, run_ids: Sequence[int]) -> None:
        async with self._sessions.begin() as session:
            for run_id in run_ids:
                await _store_counts(session, run_id)

    async def finish_run(self, run_id: int, now: datetime) -> RunSummary:
        async with self._sessions.begin() as session:
            counts: dict[str, Any] = await _store_counts(session, run_id)
            cancelled = await session.scalar(
                select(PayoutRun.cancel_requested).where(PayoutRun.id == run_id)
            )
            status = RunStatus.CANCELLED if cancelled else RunStatus.COMPLETED
            # A completed run evaluated its whole event: its progress says so in the same
            # commit as its state, so that nobody reads "completed, 0 evaluated" before the
            # executor's last word on its progress (``run_queue.ended``) arrives.
            evaluated: Any = PayoutRun.progress_evaluated
            if not cancelled:
                evaluated = case(
                    (
                        PayoutRun.progress_total > PayoutRun.progress_evaluated,
                        PayoutRun.progress_total,
                    ),
                    else_=PayoutRun.progress_evaluated,
                )
            started_at = await session.scalar(
                update(PayoutRun)
                .where(PayoutRun.id == run_id)
                .values(
                    status=status.value,
                    finished_at=now,
                    claimed_by=None,
                    lease_until=None,
                    progress_evaluated=evaluated,
                )
                .returning(PayoutRun.started_at)
            )
            action = "run.cancelled" if cancelled else "run.finished"
            await audit.write(
                session,
                [audit.audit_row(action, now, entity="run", run_id=run_id, **counts)],
            )
            await outbox.run_changed(session, run_id, now)
        metrics.run_finished(started_at or now, now, int(counts.get("created", 0)))
        return await self.run_summary(run_id)

    async def run_summary(self, run_id: int) -> RunSummary:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(PayoutRun, LiquidationEvent.code)
                    .join(LiquidationEvent, LiquidationEvent.id == PayoutRun.event_id)
                    .where(PayoutRun.id == run_id)
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no run {run_id}", field="id")
            run, code = row
            breakdown = await skip_breakdowns(session, [run_id])
        reasons = breakdown.get(run_id, ())
        return RunSummary(
            run_id=run.id,
            event_code=code,
            status=run.status,
            total=run.total,
            created=run.created,
            skipped=run.skipped,
            failed=run.failed,
            in_flight=run.in_flight,
            skip_breakdown=reasons,
            already_submitted=dict(reasons).get(SkipReason.EXISTING_PAYMENT_ORDER.value, 0),
        )

    # --- evaluation ---------------------------------------------------------

    async def load_candidates(self, event_id: int) -> list[Candidate]:
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Allocation.id,
                        Allocation.payee_id,
                        Allocation.amount_minor,
                        Allocation.currency,
                        Payee.country,
                        Payee.payment_method,
                        Payout.id,
                        Payout.status,
                        Payout.idempotency_key,
                    )
                    .join(Payee, Payee.id == Allocation.payee_id)
                    .outerjoin(
                        Payout,
                        and_(
                            Payout.event_id == event_id,
                            Payout.payee_id == Allocation.payee_id,
                            ~_LATER_ATTEMPT.exists(),  # a run sees an allocation's last attempt
                        ),
                    )
                    .where(Allocation.event_id == event_id)
                    .order_by(Allocation.id)
                )
            ).all()
            accounts = await default_accounts(session, [row[1] for row in rows])
        return [
            Candidate(
                allocation_id=row[0],
                payee_id=row[1],
                amount=Money(row[2], row[3]),
                payee=PayeeProfile(country=row[4], payment_method=row[5]),
                account=accounts.get(row[1]),
                payout_id=row[6],
                payout_status=PayoutStatus(row[7]) if row[7] else None,
                payout_key=row[8],
            )
            for row in rows
        ]

    async def record_evaluations(
        self, run_id: int, evaluations: Sequence[Evaluation], now: datetime
    ) -> list[Submission]:
        """Write a batch of evaluations; return the payouts it made ``submitting`` (once
        this returns, their intent is committed and they may be sent). The run claims
        them until ``now + claim``, so that no other run or recovery re-asks about them
        while this one is sending them."""
        claimed_until = now + self._claim
        async with self._sessions.begin() as session:
            event_id = await session.scalar(
                select(PayoutRun.event_id).where(PayoutRun.id == run_id)
            )
            new = [e for e in evaluations if e.is_new]
            ids = await lifecycle.create(
                session,
                [_new_payout(e, event_id, run_id, now, claimed_until) for e in new],
                now,
                Trigger.RUN,
                run_id=run_id,
            )
            ids.update(await _reevaluate(session, run_id, evaluations, now, claimed_until))
            for e in evaluations:
                if e.candidate.payout_id is not None and not _reevaluated(e):
                    ids[e.idempotency_key] = e.candidate.payout_id
            audit_rows: list[dict[str, Any]] = []
            items: list[dict[str, Any]] = []
            for e in evaluations:
                payout_id = ids.get(e.idempotency_key)
                if payout_id is None:  # a concurrent run created or moved this payout first
                    continue
                audit_rows.extend(_evaluation_audit(e, payout_id, run_id, now))
                items.append(_evaluation_item(e, payout_id, run_id))
            await audit.write(session, audit_rows)
            await insert_ignore(session, _ITEMS, items, ["run_id", "payout_id"])
        sent = [(e, ids.get(e.idempotency_key), e.order_request) for e in evaluations]
        return [
            Submission(pid, ProviderKind(request_provider(e)), request, run_id)
            for e, pid, request in sent
            if pid is not None and request is not None
        ]

    # --- submission ---------------------------------------------------------

    async def claim_pending(self, limit: int, now: datetime) -> list[Submission]:
        """Move up to ``limit`` pending ad-hoc payouts to submitting (intent committed
        before any provider call). SKIP LOCKED lets several workers claim in parallel."""
        async with self._sessions.begin() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Payout.id)
                        .where(
                            Payout.status == PayoutStatus.PENDING.value,
                            # ad-hoc payouts, and attempts paying an allocation again
                            or_(Payout.event_id.is_(None), Payout.retry_of_payout_id.is_not(None)),
                        )
                        .order_by(Payout.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            if not ids:
                return []
            sending = Path.of(PayoutStatus.PENDING, PayoutStatus.SUBMITTING)
            await lifecycle.advance(
                session,
                [lifecycle.Move(pid, sending, {"claimed_until": now + self._claim}) for pid in ids],
                now,
                Trigger.DISPATCHER,
            )
            return await _submissions(session, _SUBMISSION.where(Payout.id.in_(ids)))

    async def claim_submitting(
        self,
        untouched_since: datetime,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        payout_ids: Sequence[int] | None = None,
        own_run: int | None = None,
    ) -> list[Submission]:
        """Payouts left in ``submitting`` since before ``untouched_since``, claimed until
        ``now + lease`` so that another worker polling at the same time skips them.
        ``own_run``: that run's own payouts are taken even while it claims them (the
        run is being resumed).

        A killed claimer's payouts come back when its lease ends. The claim is only about
        who asks the provider: the answer is written status-guarded, so a second asker
        could not pay twice either (the provider holds one order per key).
        """
        async with self._sessions.begin() as session:
            statement = (
                select(Payout.id)
                .where(
                    Payout.status == PayoutStatus.SUBMITTING.value,
                    Payout.updated_at <= untouched_since,
                    or_(
                        Payout.claimed_until.is_(None),
                        Payout.claimed_until < now,
                        *([Payout.run_id == own_run] if own_run is not None else []),
                    ),
                )
                .order_by(Payout.id)
                .with_for_update(skip_locked=True)
            )
            if limit is not None:
                statement = statement.limit(limit)
            slices = chunked(sorted(payout_ids)) if payout_ids is not None else [None]
            claimed: list[Submission] = []
            for wanted in slices:
                chosen = statement if wanted is None else statement.where(Payout.id.in_(wanted))
                ids = list((await session.scalars(chosen)).all())
                if ids:
                    await session.execute(
                        update(_PAYOUTS)
                        .where(_PAYOUTS.c.id.in_(ids))
                        .values(claimed_until=now + lease)
                    )
                    claimed += await _submissions(session, _SUBMISSION.where(Payout.id.in_(ids)))
            # Whoever re-asks about a leftover says so in its trace, beside the run.
            await audit.write(
                session,
                [
                    audit.audit_row(
                        "payout.recovering", now, payout_id=c.payout_id, run_id=own_run or c.run_id
                    )
                    for c in claimed
                ],
            )
            return claimed

    async def submitting(
        self, event_id: int | None, keys: Collection[str] | None = None
    ) -> list[Submission]:
        statement = _SUBMISSION.where(Payout.status == PayoutStatus.SUBMITTING)
        if event_id is not None:
            statement = statement.where(Payout.event_id == event_id)
        if keys is not None:
            statement = statement.where(Payout.idempotency_key.in_(sorted(keys)))
        async with self._sessions() as session:
            return await _submissions(session, statement)

    async def record_results(
        self, run_id: int | None, results: Sequence[SubmissionResult], now: datetime
    ) -> None:
        """Write provider answers for payouts still ``submitting``; later copies are no-ops.

        Two processes may re-ask about one payout at once (start-up recovery and a
        run): the bank holds one order, and only the first answer written here moves
        the payout and leaves audit rows.
        """
        async with self._sessions.begin() as session:
            rows = await lifecycle.lock(session, [r.submission.payout_id for r in results])
            still = {pid for pid, row in rows.items() if row.status == PayoutStatus.SUBMITTING}
            fresh = [r for r in results if r.submission.payout_id in still]
            moves, audit_rows, items = _result_rows(run_id, fresh, now)
            await lifecycle.advance(
                session, moves, now, Trigger.PROVIDER_ANSWER, run_id=run_id, locked=rows
            )
            await audit.write(session, audit_rows)
            await upsert(session, _ITEMS, items, ["run_id", "payout_id"], ["outcome", "reason"])
            unanswered = [r.submission.payout_id for r in fresh if outcome_of(r.result)[1] is None]
            if unanswered:  # free them for the next recovery at once, not when the lease ends
                await session.execute(
                    update(_PAYOUTS).where(_PAYOUTS.c.id.in_(unanswered)).values(claimed_until=None)
                )
            for earlier in {r.submission.run_id for r in fresh} - {run_id}:
                if earlier is not None:
                    await _store_counts(session, earlier)


_LATER = aliased(Payout)
_LATER_ATTEMPT = select(_LATER.id).where(
    _LATER.event_id == Payout.event_id,
    _LATER.payee_id == Payout.payee_id,
    _LATER.attempt > Payout.attempt,
)
_SUBMISSION = select(Payout.id, Payout.provider, Payout.order_request, Payout.run_id)


async def _submissions(session: AsyncSession, statement: Any) -> list[Submission]:
    """What re-asking the provider needs, for the payouts ``statement`` selects."""
    rows = (await session.execute(statement.order_by(Payout.id))).all()
    return [
        Submission(pid, ProviderKind(provider), request_from_json(req), run_id)
        for pid, provider, req, run_id in rows
    ]


def _result_rows(
    run_id: int | None, results: Sequence[SubmissionResult], now: datetime
) -> tuple[list[lifecycle.Move], list[dict[str, Any]], list[dict[str, Any]]]:
    """Each answer's move (accepted: submitted; refused: failed; no answer: none), its
    attempt audit rows and its run items."""
    moves: list[lifecycle.Move] = []
    audit_rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for r in results:
        outcome, status = outcome_of(r.result)
        pid = r.submission.payout_id
        item_run = run_id or r.submission.run_id
        # The run that made it submitting learns its fate too, not only the one that asked.
        for rid in {item_run, r.submission.run_id} - {None}:
            items.append(
                {
                    "run_id": rid,
                    "payout_id": pid,
                    "outcome": outcome.value,
                    "reason": r.result.error_code,
                }
            )
        audit_rows.extend(_result_audit(r, item_run, now))
        if status is not None:
            path = _path(PayoutStatus.SUBMITTING, status)
            moves.append(lifecycle.Move(pid, path, _answer_values(r), {status: _answer_detail(r)}))
    return moves, audit_rows, items


def _answer_values(r: SubmissionResult) -> dict[str, Any]:
    order = r.result.order
    if order is None:
        return {
            "failure_code": r.result.reason_code or r.result.error_code,
            "failure_reason": r.result.error_message,
        }
    return {
        "provider_order_id": order.order_id,
        "target_amount_minor": order.target_amount.minor if order.target_amount else None,
        "fx_rate": str(order.fx_rate) if order.fx_rate is not None else None,
    }


def _answer_detail(r: SubmissionResult) -> dict[str, Any]:
    attempts = r.result.attempts
    detail: dict[str, Any] = {
        "provider": r.submission.provider.value,
        "attempts": len(attempts),
        "result": attempts[-1].result if attempts else None,
    }
    if r.result.order is not None:
        return {**detail, "provider_order_id": r.result.order.order_id}
    return {**detail, "error_code": r.result.error_code, "error_message": r.result.error_message}


async def _store_counts(session: AsyncSession, run_id: int) -> dict[str, int]:
    """Recount a run's outcomes from its items and store them on the run row."""
    counts = dict(
        (
            await session.execute(
                select(PayoutRunItem.outcome, func.count())
                .where(PayoutRunItem.run_id == run_id)
                .group_by(PayoutRunItem.outcome)
            )
        ).all()
    )
    values = {o.value: int(counts.get(o.value, 0)) for o in RunOutcome}
    await session.execute(
        update(PayoutRun).where(PayoutRun.id == run_id).values(total=sum(values.values()), **values)
    )
    return values


async def _find_run(session: AsyncSession, event_id: int, key: str) -> PayoutRun | None:
    return await session.scalar(
        select(PayoutRun).where(PayoutRun.event_id == event_id, PayoutRun.idempotency_key == key)
    )


async def default_accounts(
    session: AsyncSession, payee_ids: Sequence[int]
) -> dict[int, BankAccount]:
    """Each payee's default bank account (the lowest id if several), one query per
    10,000 payees."""
    found: dict[int, BankAccount] = {}
    c = _BANK_ACCOUNTS.c
    for chunk in chunked(sorted(set(payee_ids))):
        rows = await session.execute(
            select(*(c[name] for name in _ACCOUNT_COLUMNS))
            .where(c.payee_id.in_(chunk), c.is_default)
            .order_by(c.id.desc())
        )
        found.update((row.payee_id, _account_of(*row)) for row in rows.all())
    return found


_BANK_ACCOUNTS = BankAccountRow.__table__
# What a run needs of an account (Core rows: a tenth of the CPU of ORM entities).
_ACCOUNT_COLUMNS = (
    "id",
    "holder_name",
    "country",
    "currency",
    "details",
    "flag_code",
    "verification_status",
    "replaces_paid",
    "cleared_at",
    "payee_id",
    "details_verdict",
)


def _account_of(
    aid: int,
    holder: str,
    country: str | None,
    currency: str | None,
    details: dict[str, str],
    flag_code: str | None,
    verification: str,
    replaces_paid: bool,
    cleared_at: datetime | None,
    _payee_id: int,
    verdict: dict[str, Any] | None,
) -> BankAccount:
    state = VerificationState(VerificationStatus(verification), replaces_paid, cleared_at)
    hold = hold_reason(state)
    return BankAccount(
        str(aid), holder, country, currency, dict(details), hold, flag_code, valid_for(verdict)
    )


def account_from_row(row: BankAccountRow) -> BankAccount:
    return BankAccount(
        id=str(row.id),
        holder_name=row.holder_name,
        country=row.country,
        currency=row.currency,
        details=dict(row.details),
        hold=hold_of(row),
        flag_code=row.flag_code,
        fields_valid_for=valid_for(row.details_verdict),
    )


async def skip_breakdowns(
    session: AsyncSession, run_ids: Sequence[int]
) -> dict[int, tuple[tuple[str, int], ...]]:
    rows = (
        await session.execute(
            select(PayoutRunItem.run_id, PayoutRunItem.reason, func.count())
            .where(
                PayoutRunItem.run_id.in_(run_ids),
                PayoutRunItem.outcome == RunOutcome.SKIPPED.value,
            )
            .group_by(PayoutRunItem.run_id, PayoutRunItem.reason)
            .order_by(PayoutRunItem.run_id, func.count().desc(), PayoutRunItem.reason)
        )
    ).all()
    out: dict[int, list[tuple[str, int]]] = {}
    for run_id, reason, count in rows:
        out.setdefault(run_id, []).append((reason or "unknown", int(count)))
    return {k: tuple(v) for k, v in out.items()}


def _reevaluated(e: Evaluation) -> bool:
    return e.candidate.payout_status in REEVALUATED_BY_RUNS


def _payout_fields(e: Evaluation, now: datetime) -> dict[str, Any]:
    """What an evaluation writes on its payout, beside the status."""
    c = e.candidate
    decision = e.eligibility.decision if e.eligibility else None
    reason = e.skip_reason if not e.pays else None
    request = e.order_request
    return {
        "bank_account_id": int(c.account.id) if c.account else None,
        "country": c.payee.country,
        "rail": decision.rail.code if decision else None,
        "provider": decision.rail.provider.value if decision else None,
        "routing_rule": decision.rule.value if decision else None,
        "target_currency": decision.currency if decision else None,
        "expected_settlement_date": decision.expected_settlement_date if decision else None,
        "skip_reason": reason.value if reason else None,
        "skip_detail": "; ".join(f.detail for f in e.findings) or None,
        "updated_at": now,
        "order_request": request_to_json(request) if request is not None else None,
    }


def request_provider(e: Evaluation) -> str:
    assert e.eligibility is not None and e.eligibility.decision is not None
    return e.eligibility.decision.rail.provider.value


def _path_of(e: Evaluation) -> Path:
    """The lifecycle steps an evaluation takes its payout through."""
    if e.pays:
        return _path(e.candidate.payout_status, PayoutStatus.PENDING, PayoutStatus.SUBMITTING)
    return _path(e.candidate.payout_status, PayoutStatus.SKIPPED)


@functools.cache
def _path(source: PayoutStatus | None, *targets: PayoutStatus) -> Path:
    """``Path.of``, built once per walk (a Path is immutable): not once per payout."""
    return Path.of(source, *targets)


def _path_detail(e: Evaluation) -> lifecycle.Detail:
    c = e.candidate
    return {
        PayoutStatus.PENDING: {
            "amount": c.amount.to_decimal_string(),
            "currency": c.amount.currency,
        },
        PayoutStatus.SUBMITTING: {"idempotency_key": e.idempotency_key},
    }


def _path_notes(e: Evaluation) -> lifecycle.Notes:
    decision = e.eligibility.decision if e.eligibility else None
    if not e.pays or decision is None:
        return {}
    return {PayoutStatus.PENDING: [routed_note(decision)]}


def _new_payout(
    e: Evaluation, event_id: int | None, run_id: int, now: datetime, claimed_until: datetime
) -> lifecycle.NewPayout:
    values = {
        "event_id": event_id,
        "payee_id": e.candidate.payee_id,
        "allocation_id": e.candidate.allocation_id,
        "run_id": run_id,
        "amount_minor": e.candidate.amount.minor,
        "currency": e.candidate.amount.currency,
        "idempotency_key": e.idempotency_key,
        "created_at": now,
        "claimed_until": claimed_until if e.pays else None,
        **_payout_fields(e, now),
    }
    return lifecycle.NewPayout(values, _path_of(e), _path_detail(e), _path_notes(e))


async def _reevaluate(
    session: AsyncSession,
    run_id: int,
    evaluations: Sequence[Evaluation],
    now: datetime,
    claimed_until: datetime,
) -> dict[str, int]:
    """Write the evaluations of payouts a run evaluates again: those it pays move on
    (with the lifecycle), those still skipped get their new reasons. A payout that
    moved on elsewhere meanwhile is left alone. Returns ids by key of those written."""
    again = [e for e in evaluations if _reevaluated(e)]
    if not again:
        return {}
    rows = await lifecycle.lock(session, [_payout_id(e) for e in again])
    current = [
        e
        for e in again
        if _payout_id(e) in rows and rows[_payout_id(e)].status == e.candidate.payout_status
    ]
    paying = [
        lifecycle.Move(
            _payout_id(e),
            _path_of(e),
            {"run_id": run_id, "claimed_until": claimed_until, **_payout_fields(e, now)},
            _path_detail(e),
            _path_notes(e),
        )
        for e in current
        if e.pays
    ]
    await lifecycle.advance(session, paying, now, Trigger.RUN, run_id=run_id, locked=rows)
    still_skipped = [
        {"pid": _payout_id(e), "run_id": run_id, **_payout_fields(e, now)}
        for e in current
        if not e.pays
    ]
    if still_skipped:
        await session.execute(_REFRESH_SKIPPED, still_skipped)
    return {e.idempotency_key: _payout_id(e) for e in current}


def _still_as_evaluated(rows: dict[int, Payout], e: Evaluation) -> bool:
    row = rows.get(_payout_id(e))
    return row is not None and row.status == e.candidate.payout_status


def _payout_id(e: Evaluation) -> int:
    assert e.candidate.payout_id is not None
    return e.candidate.payout_id


def _evaluation_audit(
    e: Evaluation, payout_id: int, run_id: int, now: datetime
) -> list[dict[str, Any]]:
    """Why a payout is (still) skipped. An existing payment order gets nothing: that is
    the run's bookkeeping (its items), not news about the payout."""
    if e.eligibility is not None and not e.pays:
        findings = [{"reason": f.reason.value, "detail": f.detail} for f in e.findings]
        reasons = [f["reason"] for f in findings]
        return [
            audit.audit_row(
                "payout.skipped",
                now,
                payout_id=payout_id,
                run_id=run_id,
                reasons=reasons,
                findings=findings,
            )
        ]
    return []


def routed_note(decision: RailDecision) -> tuple[str, dict[str, Any]]:
    """The audit row, told after ``pending``, that says where a payout goes, and why."""
    return (
        "payout.routed",
        {
            "rail": decision.rail.code,
            "rule": decision.rule.value,
            "currency": decision.currency,
            "explanation": decision.explanation,
            "expected_settlement_date": decision.expected_settlement_date.isoformat(),
        },
    )


def _evaluation_item(e: Evaluation, payout_id: int, run_id: int) -> dict[str, Any]:
    """In flight when this run sends it; otherwise skipped with its reason (a payout
    another run is sending is an existing payment order, unless this run ends up asking
    about it as a leftover, when the answer replaces this item)."""
    if e.pays:
        return {
            "run_id": run_id,
            "payout_id": payout_id,
            "outcome": RunOutcome.IN_FLIGHT.value,
            "reason": None,
        }
    reason = e.skip_reason
    return {
        "run_id": run_id,
        "payout_id": payout_id,
        "outcome": RunOutcome.SKIPPED.value,
        "reason": reason.value if reason else None,
    }


def _result_audit(r: SubmissionResult, run_id: int | None, now: datetime) -> list[dict[str, Any]]:
    pid = r.submission.payout_id
    attempts = r.result.attempts
    rows = [
        audit.audit_row(
            "provider.attempt_failed",
            now,
            payout_id=pid,
            run_id=run_id,
            attempt=a.number,
            result=a.result,
            status_code=a.status_code,
            wait_seconds=a.wait_seconds,
            provider=r.submission.provider.value,
        )
        for a in attempts[:-1]
    ]
    if r.result.outcome is SubmitOutcome.UNAVAILABLE:
        last = attempts[-1].result if attempts else None
        rows.append(
            audit.audit_row(
                "provider.unavailable",
                now,
                payout_id=pid,
                run_id=run_id,
                error_code=r.result.error_code,
                error_message=r.result.error_message,
                provider=r.submission.provider.value,
                attempts=len(attempts),
                result=last,
            )
        )
    return rows


_PAYOUTS = Payout.__table__
# A payout a run evaluated again and skipped again: new reasons, same status.
_REFRESH_SKIPPED = (
    update(_PAYOUTS)
    .where(_PAYOUTS.c.id == bindparam("pid"), _PAYOUTS.c.status == PayoutStatus.SKIPPED.value)
    .values(
        {
            name: bindparam(name)
            for name in (
                "run_id",
                "bank_account_id",
                "country",
                "rail",
                "provider",
                "routing_rule",
                "target_currency",
                "expected_settlement_date",
                "skip_reason",
                "skip_detail",
                "updated_at",
                "order_request",
            )
        }
        | {"version": _PAYOUTS.c.version + 1}
    )
)


def request_to_json(request: PaymentOrderRequest) -> dict[str, Any]:
    """The frozen snapshot stored on a submitting payout."""
    return {"idempotency_key": request.idempotency_key, **request.body()}


def request_from_json(data: dict[str, Any]) -> PaymentOrderRequest:
    return PaymentOrderRequest.from_body(data["idempotency_key"], data)
