"""Paying failed or returned payouts again (``domain.retries``), one transaction each.

A request claims its idempotency key, checks every payout, and records a
``payout_retries`` row: awaiting an approval (``RETRY``), or done at once with its
attempts created. The attempts are created by ``lifecycle.create`` (status
``pending``, its hold reserved, its trace written) and sent by the dispatcher job
like any pending payout. Two requests for one payout cannot both create an attempt:
(event, payee, attempt) is unique and at most one attempt per allocation may be live
(partial unique index), so the second finds the first's attempt, or loses the insert
and is refused. A refused ``retryPayout`` rolls back, key claim included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.eligibility import MissingFxRate, PayeeProfile, check_eligibility
from domain.errors import ErrorCode, Problem
from domain.lifecycle import Path, PayoutStatus, Trigger
from domain.money import Money
from domain.orders import new_provider_key, order_for
from domain.retries import (
    RetryStatus,
    eligibility_problem,
    needs_approval,
    status_problem,
)
from domain.run_workflow import ApprovalKind, ApprovalStatus, Requester
from persistence import approvals, audit, idempotency_keys, lifecycle
from persistence.run_store import default_accounts, request_to_json, routed_note
from persistence.sql import rowcount
from persistence.tables import (
    Allocation,
    Approval,
    IdempotencyKey,
    Payee,
    Payout,
    PayoutRetry,
    PayoutRun,
)


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    retry_id: int
    status: RetryStatus
    created: tuple[int, ...]  # the new attempts' payout ids
    skipped: Mapping[str, int] = field(default_factory=dict)  # by error code
    approval_id: int | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    original: lifecycle.PayoutRow
    new: lifecycle.NewPayout
    amount: Money


class SqlPayoutRetries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def request(
        self,
        *,
        operation: str,
        scope: str,
        key: str,
        digest: str,
        payout_ids: Sequence[int],
        all_or_nothing: bool,
        requester: Requester,
        threshold: Decimal | None,
        approval_ttl: timedelta,
        rates: Mapping[str, Decimal],
        now: datetime,
    ) -> RetryOutcome | list[Problem]:
        """Retry the payouts: ``all_or_nothing`` (retryPayout) refuses with the first
        problem; otherwise the payouts that cannot be paid again are counted as skipped."""
        async with self._sessions() as session, session.begin() as transaction:
            held = await _claim_key(session, scope, key, operation, digest, now)
            if held is not None:
                if isinstance(held, list):
                    await transaction.rollback()
                    return held
                return await _outcome(session, held, replayed=True)
            plans, skipped = await _plans(session, payout_ids, rates, now)
            if all_or_nothing and skipped:
                await transaction.rollback()
                return [skipped[0]]
            amounts = [p.amount for p in plans]
            waiting = needs_approval(amounts, threshold)
            retry = PayoutRetry(
                status=(RetryStatus.AWAITING_APPROVAL if waiting else RetryStatus.DONE).value,
                request={
                    "ids": sorted(payout_ids),
                    "rates": {k: str(v) for k, v in rates.items()},
                },
                requested_by_key_id=requester.key_id,
                requested_by_owner=requester.owner,
                created_at=now,
                result={"skipped": _counts(skipped)},
            )
            session.add(retry)
            await session.flush()
            actor = requester.owner[:64]
            rows = [
                audit.audit_row(
                    "payout.retry_requested",
                    now,
                    payout_id=p.original.id,
                    actor=actor,
                    retry_id=retry.id,
                    awaiting_approval=waiting,
                )
                for p in plans
            ]
            if waiting:
                approval = approvals.pending(
                    ApprovalKind.RETRY,
                    retry.id,
                    requester,
                    now,
                    approval_ttl,
                    {
                        "retry_id": retry.id,
                        "payout_ids": [p.original.id for p in plans],
                        "totals": _totals(amounts),
                    },
                )
                session.add(approval)
                await session.flush()
                rows.append(
                    audit.audit_row(
                        "approval.requested",
                        now,
                        entity="approval",
                        entity_id=approval.id,
                        actor=actor,
                        kind=approval.kind,
                        retry_id=retry.id,
                    )
                )
            await audit.write(session, rows)
            if not waiting:
                created = await _create(session, retry, plans, now, actor)
                if all_or_nothing and len(created) < len(plans):
                    await transaction.rollback()
                    return [_raced()]
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
                .values(response={"retry_id": retry.id})
            )
            return await _outcome(session, retry.id, replayed=False)

    async def replay(
        self, scope: str, key: str, operation: str, digest: str, now: datetime
    ) -> RetryOutcome | list[Problem] | None:
        """What this key answered already (or why it may not be used), None if unused."""
        async with self._sessions() as session:
            held = await session.scalar(
                select(IdempotencyKey).where(
                    IdempotencyKey.scope == scope,
                    IdempotencyKey.key == key,
                    IdempotencyKey.expires_at > now,
                )
            )
            if held is None:
                return None
            found = _held_answer(held, operation, digest)
            if isinstance(found, list):
                return found
            return await _outcome(session, found, replayed=True)

    async def purge_expired(self, now: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
            )
            return rowcount(result)


async def decided(
    session: AsyncSession, retry_id: int, status: ApprovalStatus, now: datetime, actor: str
) -> list[dict[str, Any]]:
    """An approval of a retry was decided (or expired): approved, its attempts are
    created now, against the payouts and accounts as they are now; otherwise none."""
    retry = await session.scalar(
        select(PayoutRetry).where(PayoutRetry.id == retry_id).with_for_update()
    )
    if retry is None or retry.status != RetryStatus.AWAITING_APPROVAL.value:
        return []
    retry.decided_at = now
    if status is not ApprovalStatus.APPROVED:
        ended = RetryStatus.EXPIRED if status is ApprovalStatus.EXPIRED else RetryStatus.REJECTED
        retry.status = ended.value
        return []
    rates = {k: Decimal(v) for k, v in retry.request.get("rates", {}).items()}
    plans, skipped = await _plans(session, list(retry.request["ids"]), rates, now)
    retry.status = RetryStatus.DONE.value
    retry.result = {"skipped": _counts(skipped)}
    await _create(session, retry, plans, now, actor[:64])
    return []


async def _create(
    session: AsyncSession, retry: PayoutRetry, plans: Sequence[_Plan], now: datetime, actor: str
) -> list[int]:
    ids = await lifecycle.create(
        session, [p.new for p in plans], now, Trigger.OPERATOR, actor=actor
    )
    created = []
    rows = []
    for p in plans:
        pid = ids.get(p.new.values["idempotency_key"])
        if pid is None:
            continue
        created.append(pid)
        rows.append(
            audit.audit_row(
                "payout.retried",
                now,
                payout_id=p.original.id,
                actor=actor,
                retry_id=retry.id,
                attempt=p.new.values["attempt"],
                attempt_payout_id=pid,
            )
        )
    await audit.write(session, rows)
    retry.result = {**retry.result, "created": created}
    await session.flush()
    return created


async def _plans(
    session: AsyncSession, payout_ids: Sequence[int], rates: Mapping[str, Decimal], now: datetime
) -> tuple[list[_Plan], list[Problem]]:
    """Each payout's new attempt, or why it cannot have one."""
    originals = await lifecycle.lock(session, payout_ids)
    plans: list[_Plan] = []
    problems: list[Problem] = []
    found = [originals[i] for i in sorted(set(payout_ids)) if i in originals]
    for missing in sorted(set(payout_ids) - set(originals)):
        problems.append(Problem("payout_id", ErrorCode.NOT_FOUND, f"no payout {missing}"))
    allocated = [p for p in found if p.allocation_id is not None and p.event_id is not None]
    for p in found:
        if p not in allocated:
            problems.append(
                Problem(
                    "payout_id",
                    ErrorCode.NOT_RETRYABLE,
                    "only a payout of an allocation is paid again; request a new payout",
                )
            )
    payees = {
        row.id: row
        for row in (
            await session.scalars(
                select(Payee).where(Payee.id.in_({p.payee_id for p in allocated}))
            )
        ).all()
    }
    accounts = await default_accounts(session, [p.payee_id for p in allocated])
    for p in allocated:
        last = await session.scalar(
            select(func.max(Payout.attempt)).where(
                Payout.event_id == p.event_id, Payout.payee_id == p.payee_id
            )
        )
        problem = status_problem(PayoutStatus(p.status), last if last != p.attempt else None)
        if problem is not None:
            problems.append(problem)
            continue
        allocation = await session.get(Allocation, p.allocation_id)
        assert allocation is not None
        amount = Money(allocation.amount_minor, allocation.currency)
        payee = payees[p.payee_id]
        profile = PayeeProfile(country=payee.country, payment_method=payee.payment_method)
        account = accounts.get(p.payee_id)
        try:
            eligibility = check_eligibility(
                amount=amount, payee=profile, account=account, now=now, fx_rates=rates
            )
        except MissingFxRate:
            problems.append(
                Problem("payout_id", ErrorCode.PROVIDER_UNAVAILABLE, "no FX rate for its rail")
            )
            continue
        problem = eligibility_problem(eligibility)
        if problem is not None or eligibility.decision is None or account is None:
            problems.append(problem or Problem("payout_id", ErrorCode.INELIGIBLE, "ineligible"))
            continue
        decision = eligibility.decision
        key = new_provider_key()
        order = order_for(key, amount, decision, account, payee.country)
        attempt = int(last or p.attempt) + 1
        values = {
            "event_id": p.event_id,
            "payee_id": p.payee_id,
            "allocation_id": p.allocation_id,
            "run_id": None,  # the run's summary stays about what the run did
            "attempt": attempt,
            "retry_of_payout_id": p.id,
            "bank_account_id": int(account.id),
            "amount_minor": amount.minor,
            "currency": amount.currency,
            "country": payee.country,
            "rail": decision.rail.code,
            "provider": decision.rail.provider.value,
            "routing_rule": decision.rule.value,
            "target_currency": decision.currency,
            "expected_settlement_date": decision.expected_settlement_date,
            "idempotency_key": key,
            "order_request": request_to_json(order),
            "created_at": now,
            "updated_at": now,
        }
        detail = {
            PayoutStatus.PENDING: {
                "amount": amount.to_decimal_string(),
                "currency": amount.currency,
                "idempotency_key": key,
                "attempt": attempt,
                "retry_of": p.id,
            }
        }
        notes = {PayoutStatus.PENDING: [routed_note(decision)]}
        new = lifecycle.NewPayout(values, Path.of(None, PayoutStatus.PENDING), detail, notes)
        plans.append(_Plan(p, new, amount))
    return plans, problems


async def _claim_key(
    session: AsyncSession, scope: str, key: str, operation: str, digest: str, now: datetime
) -> int | list[Problem] | None:
    """None: the key is ours now. Otherwise the retry it made first, or why not."""
    held = await idempotency_keys.take(session, scope, key, operation, digest, now)
    if held is None:
        return None
    return _held_answer(held, operation, digest)


def _held_answer(held: IdempotencyKey, operation: str, digest: str) -> int | list[Problem]:
    retry_id = held.response.get("retry_id")
    if held.request_hash != digest or held.operation != operation or retry_id is None:
        return [
            Problem(
                "idempotency_key",
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "this idempotencyKey was used for a different request",
            )
        ]
    return int(retry_id)


async def _outcome(session: AsyncSession, retry_id: int, *, replayed: bool) -> RetryOutcome:
    retry = await session.get(PayoutRetry, retry_id)
    assert retry is not None
    approval_id = await session.scalar(
        select(Approval.id).where(
            Approval.kind == ApprovalKind.RETRY.value, Approval.subject_id == retry_id
        )
    )
    return RetryOutcome(
        retry_id=retry.id,
        status=RetryStatus(retry.status),
        created=tuple(retry.result.get("created", ())),
        skipped=dict(retry.result.get("skipped", {})),
        approval_id=approval_id,
        replayed=replayed,
    )


def _counts(problems: Sequence[Problem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.code.value] = counts.get(p.code.value, 0) + 1
    return counts


def _totals(amounts: Sequence[Money]) -> list[dict[str, str]]:
    totals: dict[str, int] = {}
    for m in amounts:
        totals[m.currency] = totals.get(m.currency, 0) + m.minor
    return [
        {"amount": Money(minor, c).to_decimal_string(), "currency": c}
        for c, minor in sorted(totals.items())
    ]


def _raced() -> Problem:
    return Problem(
        "payout_id", ErrorCode.NOT_RETRYABLE, "another request paid this payout again first"
    )


async def last_attempts(session: AsyncSession, run_id: int, statuses: Sequence[str]) -> list[int]:
    """The last attempts, in these statuses, of the allocations the run paid."""
    later = aliased(Payout)
    paid = select(Payout.payee_id).where(Payout.run_id == run_id)
    event_id = select(PayoutRun.event_id).where(PayoutRun.id == run_id).scalar_subquery()
    rows = await session.scalars(
        select(Payout.id)
        .where(
            Payout.event_id == event_id,
            Payout.payee_id.in_(paid),
            Payout.status.in_(statuses),
            ~select(later.id)
            .where(
                later.event_id == Payout.event_id,
                later.payee_id == Payout.payee_id,
                later.attempt > Payout.attempt,
            )
            .exists(),
        )
        .order_by(Payout.id)
    )
    return list(rows.all())
