"""The SQL side of payout runs (``domain.runs.PayoutStore``): batched, set-based."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.bank_details import BankAccount
from domain.eligibility import PayeeProfile, SkipReason
from domain.errors import NotFound
from domain.money import Money
from domain.payouts import REEVALUATED_BY_RUNS, PayoutStatus
from domain.ports import (
    PaymentOrderRequest,
    ProviderKind,
    RunHandle,
    RunOutcome,
    RunSummary,
    Submission,
    SubmitOutcome,
)
from domain.runs import Candidate, Evaluation, SubmissionResult, outcome_of
from persistence import audit, ledger_store, transitions
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

_ITEMS = PayoutRunItem.__table__


class SqlPayoutStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

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
            return RunHandle(existing.id, event.id, event.code, existing.status == "completed")

    async def refresh_counts(self, run_ids: Sequence[int]) -> None:
        async with self._sessions.begin() as session:
            for run_id in run_ids:
                await _store_counts(session, run_id)

    async def finish_run(self, run_id: int, now: datetime) -> RunSummary:
        async with self._sessions.begin() as session:
            values = await _store_counts(session, run_id)
            await session.execute(
                update(PayoutRun)
                .where(PayoutRun.id == run_id)
                .values(status="completed", finished_at=now)
            )
            await audit.write(
                session,
                [audit.audit_row("run.finished", now, entity="run", run_id=run_id, **values)],
            )
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
                    select(Allocation, Payee, Payout.id, Payout.status, Payout.idempotency_key)
                    .join(Payee, Payee.id == Allocation.payee_id)
                    .outerjoin(
                        Payout,
                        and_(Payout.event_id == event_id, Payout.payee_id == Allocation.payee_id),
                    )
                    .where(Allocation.event_id == event_id)
                    .order_by(Allocation.id)
                )
            ).all()
            accounts = await default_accounts(session, [row[1].id for row in rows])
        return [
            Candidate(
                allocation_id=allocation.id,
                payee_id=payee.id,
                payee_name=payee.name,
                amount=Money(allocation.amount_minor, allocation.currency),
                payee=PayeeProfile(country=payee.country, payment_method=payee.payment_method),
                account=accounts.get(payee.id),
                payout_id=payout_id,
                payout_status=PayoutStatus(status) if status else None,
                payout_key=key,
            )
            for allocation, payee, payout_id, status, key in rows
        ]

    async def record_evaluations(
        self, run_id: int, evaluations: Sequence[Evaluation], now: datetime
    ) -> list[Submission]:
        """Write a batch of evaluations; return the payouts it made ``submitting`` (once
        this returns, their intent is committed and they may be sent)."""
        async with self._sessions.begin() as session:
            event_id = await session.scalar(
                select(PayoutRun.event_id).where(PayoutRun.id == run_id)
            )
            ids = await _insert_new_payouts(
                session, event_id, run_id, [e for e in evaluations if e.is_new], now
            )
            reevaluated = [e for e in evaluations if _reevaluated(e)]
            expected = {e.candidate.payout_id: e.candidate.payout_status for e in reevaluated}
            still = transitions.still_in(await transitions.lock(session, expected), expected)
            await _update_reevaluated(
                session, run_id, [e for e in reevaluated if e.candidate.payout_id in still], now
            )
            for e in evaluations:
                moved_elsewhere = _reevaluated(e) and e.candidate.payout_id not in still
                if e.candidate.payout_id is not None and not moved_elsewhere:
                    ids[e.idempotency_key] = e.candidate.payout_id
            audit_rows: list[dict[str, Any]] = []
            items: list[dict[str, Any]] = []
            for e in evaluations:
                payout_id = ids.get(e.idempotency_key)
                if payout_id is None:  # a concurrent run created this payout first
                    continue
                audit_rows.extend(_evaluation_audit(e, payout_id, run_id, now))
                items.append(_evaluation_item(e, payout_id, run_id))
            await _reserve(session, evaluations, ids, event_id, now)
            await audit.write(session, audit_rows)
            await insert_ignore(session, _ITEMS, items, ["run_id", "payout_id"])
        sent = [(e, ids.get(e.idempotency_key), _order_request(e)) for e in evaluations]
        return [
            Submission(pid, ProviderKind(_provider_of(e)), request, run_id)
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
                            Payout.status == PayoutStatus.PENDING.value, Payout.event_id.is_(None)
                        )
                        .order_by(Payout.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            )
            if not ids:
                return []
            await session.execute(
                update(_PAYOUTS)
                .where(_PAYOUTS.c.id.in_(ids), _PAYOUTS.c.status == PayoutStatus.PENDING.value)
                .values(
                    status=PayoutStatus.SUBMITTING.value,
                    updated_at=now,
                    version=_PAYOUTS.c.version + 1,
                )
            )
            await audit.write(
                session,
                [
                    audit.audit_row(
                        "payout.status_changed",
                        now,
                        payout_id=pid,
                        **{"from": PayoutStatus.PENDING.value, "to": PayoutStatus.SUBMITTING.value},
                    )
                    for pid in ids
                ],
            )
            return await _submissions(session, _SUBMISSION.where(Payout.id.in_(ids)))

    async def claim_submitting(
        self,
        untouched_since: datetime,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        payout_ids: Sequence[int] | None = None,
    ) -> list[Submission]:
        """Payouts left in ``submitting`` since before ``untouched_since``, claimed until
        ``now + lease`` so that another worker polling at the same time skips them.

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
                    or_(Payout.claimed_until.is_(None), Payout.claimed_until < now),
                )
                .order_by(Payout.id)
                .with_for_update(skip_locked=True)
            )
            if limit is not None:
                statement = statement.limit(limit)
            if payout_ids is not None:
                statement = statement.where(Payout.id.in_(list(payout_ids)))
            ids = list((await session.scalars(statement)).all())
            if not ids:
                return []
            await session.execute(
                update(_PAYOUTS).where(_PAYOUTS.c.id.in_(ids)).values(claimed_until=now + lease)
            )
            return await _submissions(session, _SUBMISSION.where(Payout.id.in_(ids)))

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
            rows = await transitions.lock(session, [r.submission.payout_id for r in results])
            still = transitions.still_in(rows, dict.fromkeys(rows, PayoutStatus.SUBMITTING))
            fresh = [r for r in results if r.submission.payout_id in still]
            accepted, rejected, audit_rows, items = _result_rows(run_id, fresh, now)
            if accepted:
                await session.execute(_SUBMITTED, accepted)
            if rejected:
                await session.execute(transitions.MOVE, rejected)
                refused = [
                    (rows[m["pid"]], PayoutStatus.SUBMITTING, (PayoutStatus.FAILED,))
                    for m in rejected
                ]
                await ledger_store.write(
                    session, await transitions.ledger_effects(session, refused), now
                )
            await audit.write(session, audit_rows)
            await upsert(session, _ITEMS, items, ["run_id", "payout_id"], ["outcome", "reason"])
            unanswered = [r.submission.payout_id for r in fresh if outcome_of(r.result)[1] is None]
            if unanswered:  # free them for the next recovery at once, not when the lease ends
                await session.execute(
                    update(_PAYOUTS).where(_PAYOUTS.c.id.in_(unanswered)).values(claimed_until=None)
                )
            for earlier in {r.submission.run_id for r in fresh} - {run_id, None}:
                await _store_counts(session, earlier)


_SUBMISSION = select(Payout.id, Payout.provider, Payout.order_request, Payout.run_id)


async def _submissions(session: AsyncSession, statement: Any) -> list[Submission]:
    """What re-asking the provider needs, for the payouts ``statement`` selects."""
    rows = (await session.execute(statement.order_by(Payout.id))).all()
    return [
        Submission(pid, ProviderKind(provider), request_from_json(req), run_id)
        for pid, provider, req, run_id in rows
    ]


async def _reserve(
    session: AsyncSession,
    evaluations: Sequence[Evaluation],
    ids: dict[str, int],
    event_id: int | None,
    now: datetime,
) -> None:
    """Hold each newly payable amount on its payee's payable account (pending transfer)."""
    paying = [
        (e, ids[e.idempotency_key])
        for e in evaluations
        if e.status is PayoutStatus.SUBMITTING
        and e.eligibility is not None
        and e.idempotency_key in ids
    ]
    if not paying:
        return
    holds = [
        ledger.reserve(
            e.candidate.payee_id, e.candidate.amount, e.eligibility.decision.rail.provider.value
        )
        for e, _ in paying
    ]
    balances = await ledger_store.lock_balances(session, [h.legs[0].account for h in holds])
    for hold in holds:
        leg = hold.legs[0]
        ledger_store.require_available(balances, leg.account, leg.amount)
        balances[leg.account.code] = (
            balances.get(leg.account.code, ledger.Balance())
            + ledger.balance_deltas(hold)[leg.account.code]
        )
    await ledger_store.write(
        session,
        [
            ledger_store.Posting(hold, payout_id=pid, event_id=event_id)
            for hold, (_, pid) in zip(holds, paying, strict=True)
        ],
        now,
    )


def _result_rows(
    run_id: int | None, results: Sequence[SubmissionResult], now: datetime
) -> tuple[list[dict[str, Any]], ...]:
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
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
        if status is PayoutStatus.SUBMITTED:
            accepted.append(_accepted_values(r, now))
        elif status is PayoutStatus.FAILED:
            rejected.append(
                transitions.move(
                    pid,
                    PayoutStatus.SUBMITTING,
                    PayoutStatus.FAILED,
                    now,
                    failure_code=r.result.error_code,
                    failure_reason=r.result.error_message,
                )
            )
    return accepted, rejected, audit_rows, items


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
    for chunk in chunked(sorted(set(payee_ids))):
        rows = await session.scalars(
            select(BankAccountRow)
            .where(BankAccountRow.payee_id.in_(chunk), BankAccountRow.is_default)
            .order_by(BankAccountRow.id.desc())
        )
        found.update((row.payee_id, account_from_row(row)) for row in rows.all())
    return found


def account_from_row(row: BankAccountRow) -> BankAccount:
    return BankAccount(
        id=str(row.id),
        holder_name=row.holder_name,
        country=row.country,
        currency=row.currency,
        details=dict(row.details),
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
    c = e.candidate
    decision = e.eligibility.decision if e.eligibility else None
    paying = e.status is PayoutStatus.SUBMITTING
    reason = e.skip_reason if not paying else None
    fields: dict[str, Any] = {
        "status": e.status.value,
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
        "order_request": None,
    }
    request = _order_request(e)
    if request is not None:
        fields["order_request"] = request_to_json(request)
    return fields


def _order_request(e: Evaluation) -> PaymentOrderRequest | None:
    """What the provider is asked for a payout this evaluation pays; None otherwise."""
    c = e.candidate
    decision = e.eligibility.decision if e.eligibility else None
    if e.status is not PayoutStatus.SUBMITTING or decision is None or c.account is None:
        return None
    return PaymentOrderRequest(
        idempotency_key=e.idempotency_key,
        amount=c.amount,
        target_currency=decision.currency,
        rail=decision.rail.code,
        beneficiary_name=c.account.holder_name,
        beneficiary_country=c.payee.country,
        account=dict(c.account.details),
        reference=f"payout {e.idempotency_key}",
    )


def _provider_of(e: Evaluation) -> str:
    assert e.eligibility is not None and e.eligibility.decision is not None
    return e.eligibility.decision.rail.provider.value


async def _insert_new_payouts(
    session: AsyncSession,
    event_id: int | None,
    run_id: int,
    evaluations: Sequence[Evaluation],
    now: datetime,
) -> dict[str, int]:
    if not evaluations:
        return {}
    rows = [
        {
            "event_id": event_id,
            "payee_id": e.candidate.payee_id,
            "allocation_id": e.candidate.allocation_id,
            "run_id": run_id,
            "amount_minor": e.candidate.amount.minor,
            "currency": e.candidate.amount.currency,
            "idempotency_key": e.idempotency_key,
            "created_at": now,
            "version": 1,
            **_payout_fields(e, now),
        }
        for e in evaluations
    ]
    await insert_ignore(session, Payout.__table__, rows, ["event_id", "payee_id"])
    keys = [e.idempotency_key for e in evaluations]
    found = await session.execute(
        select(Payout.idempotency_key, Payout.id).where(Payout.idempotency_key.in_(keys))
    )
    return dict(found.all())


async def _update_reevaluated(
    session: AsyncSession, run_id: int, evaluations: Sequence[Evaluation], now: datetime
) -> None:
    if not evaluations:
        return
    rows = []
    for e in evaluations:
        was = e.candidate.payout_status
        assert was is not None
        rows.append(
            {
                "pid": e.candidate.payout_id,
                "was": was.value,
                "run_id": run_id,
                **_payout_fields(e, now),
            }
        )
    columns = [k for k in rows[0] if k not in ("pid", "was")]
    values: dict[str, Any] = {k: bindparam(k) for k in columns}
    values["version"] = _PAYOUTS.c.version + 1
    statement = (
        update(_PAYOUTS)
        .where(_PAYOUTS.c.id == bindparam("pid"), _PAYOUTS.c.status == bindparam("was"))
        .values(**values)
    )
    await session.execute(statement, rows)


def _evaluation_audit(
    e: Evaluation, payout_id: int, run_id: int, now: datetime
) -> list[dict[str, Any]]:
    def row(action: str, **kw: Any) -> dict[str, Any]:
        return audit.audit_row(action, now, payout_id=payout_id, run_id=run_id, **kw)

    c = e.candidate
    if e.eligibility is None:
        if e.status is PayoutStatus.SUBMITTING:
            return [row("payout.recovering", status=e.status.value)]
        return [
            row(
                "payout.skipped",
                reasons=[SkipReason.EXISTING_PAYMENT_ORDER.value],
                detail=f"already {e.status.value}",
            )
        ]
    findings = [{"reason": f.reason.value, "detail": f.detail} for f in e.findings]
    if e.status is PayoutStatus.SKIPPED:
        return [row("payout.skipped", reasons=[f["reason"] for f in findings], findings=findings)]
    decision = e.eligibility.decision
    assert decision is not None
    routed = row(
        "payout.routed",
        rail=decision.rail.code,
        rule=decision.rule.value,
        currency=decision.currency,
        explanation=decision.explanation,
        expected_settlement_date=decision.expected_settlement_date.isoformat(),
    )
    previous = c.payout_status.value if c.payout_status else None
    return [
        row(
            "payout.status_changed",
            **{"from": previous, "to": PayoutStatus.PENDING.value},
            amount=c.amount.to_decimal_string(),
            currency=c.amount.currency,
        ),
        routed,
        row(
            "payout.status_changed",
            **{"from": PayoutStatus.PENDING.value, "to": PayoutStatus.SUBMITTING.value},
            idempotency_key=e.idempotency_key,
        ),
    ]


def _evaluation_item(e: Evaluation, payout_id: int, run_id: int) -> dict[str, Any]:
    if e.status is PayoutStatus.SUBMITTING:
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
    last = attempts[-1].result if attempts else None
    common = {"provider": r.submission.provider.value, "attempts": len(attempts), "result": last}
    if r.result.outcome is SubmitOutcome.ACCEPTED and r.result.order:
        rows.append(
            audit.audit_row(
                "payout.status_changed",
                now,
                payout_id=pid,
                run_id=run_id,
                **{"from": PayoutStatus.SUBMITTING.value, "to": PayoutStatus.SUBMITTED.value},
                provider_order_id=r.result.order.order_id,
                **common,
            )
        )
    elif r.result.outcome is SubmitOutcome.REJECTED:
        rows.append(
            audit.audit_row(
                "payout.status_changed",
                now,
                payout_id=pid,
                run_id=run_id,
                **{"from": PayoutStatus.SUBMITTING.value, "to": PayoutStatus.FAILED.value},
                error_code=r.result.error_code,
                error_message=r.result.error_message,
                **common,
            )
        )
    else:
        rows.append(
            audit.audit_row(
                "provider.unavailable",
                now,
                payout_id=pid,
                run_id=run_id,
                error_code=r.result.error_code,
                error_message=r.result.error_message,
                **common,
            )
        )
    return rows


def _accepted_values(r: SubmissionResult, now: datetime) -> dict[str, Any]:
    order = r.result.order
    assert order is not None
    return {
        "pid": r.submission.payout_id,
        "provider_order_id": order.order_id,
        "target_amount_minor": order.target_amount.minor if order.target_amount else None,
        "fx_rate": str(order.fx_rate) if order.fx_rate is not None else None,
        "updated_at": now,
    }


_PAYOUTS = Payout.__table__
_SUBMITTED = (
    update(_PAYOUTS)
    .where(_PAYOUTS.c.id == bindparam("pid"), _PAYOUTS.c.status == PayoutStatus.SUBMITTING.value)
    .values(
        status=PayoutStatus.SUBMITTED.value,
        provider_order_id=bindparam("provider_order_id"),
        target_amount_minor=bindparam("target_amount_minor"),
        fx_rate=bindparam("fx_rate"),
        updated_at=bindparam("updated_at"),
        version=_PAYOUTS.c.version + 1,
    )
)


def request_to_json(request: PaymentOrderRequest) -> dict[str, Any]:
    """The frozen snapshot stored on a submitting payout."""
    return {"idempotency_key": request.idempotency_key, **request.body()}


def request_from_json(data: dict[str, Any]) -> PaymentOrderRequest:
    return PaymentOrderRequest.from_body(data["idempotency_key"], data)
