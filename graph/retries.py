"""retryPayout / retryPayouts: pay failed or returned payouts again (``domain.retries``)."""

from __future__ import annotations

from enum import Enum

import strawberry
from sqlalchemy import select

from domain import reason_codes
from domain.errors import ErrorCode, Problem
from domain.idempotency import key_problem
from domain.lifecycle import PayoutStatus
from domain.retries import RetryStatus as DomainRetryStatus
from domain.retries import fingerprint
from domain.run_workflow import Requester
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.ids import parse_id
from graph.reasons import FailureCategory
from graph.types import Payout
from persistence import queries, retry_store, tables
from persistence.retry_store import RetryOutcome, SqlPayoutRetries

strawberry.enum(DomainRetryStatus, name="RetryStatus")
RetryStatus = DomainRetryStatus


@strawberry.enum
class RetryableStatus(Enum):
    FAILED = "failed"
    RETURNED = "returned"


@strawberry.input
class RetryPayoutInput:
    payout_id: strawberry.ID
    idempotency_key: str


@strawberry.input
class RetryFilter:
    status: list[RetryableStatus] = strawberry.field(
        default_factory=lambda: [RetryableStatus.FAILED, RetryableStatus.RETURNED]
    )
    failure_category: FailureCategory | None = None
    retryable_only: bool = strawberry.field(
        default=False,
        description="Only payouts whose failure code says paying again can work (a flagged"
        " account is refused anyway until the payee has a new one).",
    )


@strawberry.input
class RetryPayoutsInput:
    run_id: strawberry.ID
    idempotency_key: str
    filter: RetryFilter | None = None


@strawberry.type
class RetrySkipCount:
    code: str
    count: int


@strawberry.type(description="What a retry request did: its attempts, or its approval.")
class PayoutRetry:
    id: strawberry.ID
    status: RetryStatus
    approval_id: strawberry.ID | None
    skipped: list[RetrySkipCount]
    created_ids: strawberry.Private[tuple[int, ...]]

    @strawberry.field(description="The new attempts, pending until the dispatcher sends them.")
    async def attempts(self, info: Info) -> list[Payout]:
        rows = await info.context.loaders.payouts.load_many(list(self.created_ids))
        return [Payout.of(row) for row in rows if row is not None]

    @classmethod
    def of(cls, outcome: RetryOutcome) -> PayoutRetry:
        return cls(
            id=strawberry.ID(str(outcome.retry_id)),
            status=outcome.status,
            approval_id=strawberry.ID(str(outcome.approval_id)) if outcome.approval_id else None,
            skipped=[RetrySkipCount(code=c, count=n) for c, n in sorted(outcome.skipped.items())],
            created_ids=outcome.created,
        )


@strawberry.type
class RetryPayoutPayload:
    retry: PayoutRetry | None
    replayed: bool
    user_errors: list[UserError]


@strawberry.type
class RetryPayoutsPayload:
    retry: PayoutRetry | None
    replayed: bool
    user_errors: list[UserError]

    @classmethod
    def of(cls, one: RetryPayoutPayload) -> RetryPayoutsPayload:
        return cls(retry=one.retry, replayed=one.replayed, user_errors=one.user_errors)


def _failed(problems: list[Problem]) -> RetryPayoutPayload:
    return RetryPayoutPayload(retry=None, replayed=False, user_errors=from_problems(problems))


async def _request(
    info: Info, operation: str, key: str, digest: str, ids: list[int], all_or_nothing: bool
) -> RetryPayoutPayload:
    deps = info.context.deps
    async with info.context.session() as session:
        currencies = set(
            (
                await session.scalars(
                    select(tables.Payout.currency).where(tables.Payout.id.in_(ids))
                )
            ).all()
        )
    rates = await deps.runner.limit_rates(currencies) if currencies else {}
    caller = info.context.caller
    outcome = await SqlPayoutRetries(deps.sessions).request(
        operation=operation,
        scope=caller.scope,
        key=key,
        digest=digest,
        payout_ids=ids,
        all_or_nothing=all_or_nothing,
        requester=Requester(caller.key_id, caller.owner or caller.name),
        threshold=deps.run_approval_threshold,
        approval_ttl=deps.approval_ttl,
        rates=rates,
        now=deps.clock.now(),
    )
    if isinstance(outcome, list):
        return _failed(outcome)
    return RetryPayoutPayload(
        retry=PayoutRetry.of(outcome), replayed=outcome.replayed, user_errors=[]
    )


async def retry_payout(info: Info, input: RetryPayoutInput) -> RetryPayoutPayload:
    bad_key = key_problem(input.idempotency_key)
    if bad_key is not None:
        return _failed([bad_key])
    ident = parse_id(input.payout_id)
    if ident is None:
        return _failed([Problem("payout_id", ErrorCode.NOT_FOUND, "not a payout id")])
    digest = fingerprint("retryPayout", {"payout_id": ident})
    return await _request(info, "retryPayout", input.idempotency_key, digest, [ident], True)


async def retry_payouts(info: Info, input: RetryPayoutsInput) -> RetryPayoutsPayload:
    return RetryPayoutsPayload.of(await _retry_payouts(info, input))


async def _retry_payouts(info: Info, input: RetryPayoutsInput) -> RetryPayoutPayload:
    bad_key = key_problem(input.idempotency_key)
    if bad_key is not None:
        return _failed([bad_key])
    run_id = parse_id(input.run_id)
    chosen = input.filter or RetryFilter()
    if not chosen.status:
        return _failed([Problem("filter.status", ErrorCode.INVALID_INPUT, "name a status")])
    operation = "retryPayouts"
    digest = fingerprint(
        operation,
        {
            "run_id": run_id,
            "status": sorted(s.value for s in chosen.status),
            "failure_category": chosen.failure_category.value if chosen.failure_category else None,
            "retryable_only": chosen.retryable_only,
        },
    )
    deps = info.context.deps
    store = SqlPayoutRetries(deps.sessions)
    scope, key = info.context.caller.scope, input.idempotency_key
    replayed = await store.replay(scope, key, operation, digest, deps.clock.now())
    if isinstance(replayed, list):
        return _failed(replayed)
    if replayed is not None:
        return RetryPayoutPayload(retry=PayoutRetry.of(replayed), replayed=True, user_errors=[])
    async with info.context.session() as session:
        run = await session.get(tables.PayoutRun, run_id) if run_id is not None else None
        if run is None:
            return _failed([Problem("run_id", ErrorCode.NOT_FOUND, "no such run")])
        ids = await retry_store.last_attempts(session, run.id, [s.value for s in chosen.status])
        rows = await queries.by_ids(session, tables.Payout, ids)
    wanted = [row.id for row in rows if row is not None and _matches(row, chosen)]
    if not wanted:
        return _failed([Problem("filter", ErrorCode.NOT_FOUND, "no payout of the run matches")])
    return await _request(info, operation, key, digest, wanted, False)


def _matches(row: tables.Payout, chosen: RetryFilter) -> bool:
    reason = reason_codes.explain(row.failure_code)
    if chosen.failure_category is not None and (
        reason is None or reason.category != chosen.failure_category
    ):
        return False
    return not (chosen.retryable_only and (reason is None or not reason.retryable))


__all__ = [
    "PayoutStatus",
    "RetryPayoutPayload",
    "RetryPayoutsPayload",
    "retry_payout",
    "retry_payouts",
]
