"""The GraphQL schema: queries and mutations of ARCHITECTURE.md section 11."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from domain import rails, routing
from domain.errors import PayoutEngineError
from domain.events import AllocationInput as DomainAllocation
from domain.events import EventInput, plan_event
from graph.context import Info
from graph.errors import ErrorCode, UserError, from_domain, query_error, user_error
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.types import (
    LedgerAccount,
    LiquidationEvent,
    Payee,
    PaymentMethod,
    Payout,
    PayoutRun,
    PayoutStatus,
    Rail,
    RailDecision,
    payout_connection,
)
from persistence import queries

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


def _int_id(value: str, field: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise PayoutEngineError(f"{value!r} is not an id", field=field)
    return int(value)


@strawberry.input
class PayoutFilter:
    country: str | None = None
    status: PayoutStatus | None = None  # type: ignore[valid-type]
    rail: str | None = None
    run_id: strawberry.ID | None = None
    event_id: strawberry.ID | None = None
    payee_id: strawberry.ID | None = None


def _filter_spec(f: PayoutFilter | None) -> queries.PayoutFilterSpec:
    if f is None:
        return queries.PayoutFilterSpec()

    def ident(value: str | None, name: str) -> int | None:
        if value is None:
            return None
        if not value.isdigit() or len(value) > 18:
            raise query_error(ErrorCode.INVALID_INPUT, f"{name} is not an id")
        return int(value)

    return queries.PayoutFilterSpec(
        country=f.country.upper() if f.country else None,
        status=f.status.value if f.status else None,
        rail=f.rail.upper() if f.rail else None,
        run_id=ident(f.run_id, "runId"),
        event_id=ident(f.event_id, "eventId"),
        payee_id=ident(f.payee_id, "payeeId"),
    )


async def _one(info: Info, loader: Any, ident: str, convert: Callable[[Any], Any]) -> Any:
    if not ident.isdigit() or len(ident) > 18:
        return None
    row = await loader.load(int(ident))
    return convert(row) if row is not None else None


@strawberry.type
class Query:
    @strawberry.field(description="Payouts, newest first.")
    async def payouts(
        self,
        info: Info,
        filter: PayoutFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Payout]:
        return await payout_connection(info, _filter_spec(filter), first, after)

    @strawberry.field
    async def payout(self, info: Info, id: strawberry.ID) -> Payout | None:
        return await _one(info, info.context.loaders.payouts, id, Payout.of)

    @strawberry.field
    async def runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PayoutRun]:
        size = page_size(first, info.context.deps.max_page_size)
        async with info.context.session() as session:
            page = await queries.runs_page(session, size, decode_cursor(after))
        return connection(page, PayoutRun.of, lambda row: row.id)

    @strawberry.field
    async def run(self, info: Info, id: strawberry.ID) -> PayoutRun | None:
        return await _one(info, info.context.loaders.runs, id, PayoutRun.of)

    @strawberry.field
    async def events(self, info: Info) -> list[LiquidationEvent]:
        async with info.context.session() as session:
            return [LiquidationEvent.of(row) for row in await queries.events(session)]

    @strawberry.field
    async def payees(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Payee]:
        size = page_size(first, info.context.deps.max_page_size)
        async with info.context.session() as session:
            page = await queries.payees_page(session, size, decode_cursor(after))
        return connection(page, Payee.of, lambda row: row.id)

    @strawberry.field
    async def payee(self, info: Info, id: strawberry.ID) -> Payee | None:
        return await _one(info, info.context.loaders.payees, id, Payee.of)

    @strawberry.field(description="Every ledger account with pending, posted and available.")
    async def ledger_accounts(self, info: Info) -> list[LedgerAccount]:
        async with info.context.session() as session:
            return [LedgerAccount.of(row) for row in await queries.ledger_accounts(session)]

    @strawberry.field(description="The routing table: every rail and the countries it serves.")
    def rails(self) -> list[Rail]:
        return [Rail.of(rail) for rail in rails.RAILS]

    @strawberry.field(description="Preview the routing decision for a destination.")
    def route(
        self,
        info: Info,
        country: str,
        has_us_bank_account: bool | None = False,
        payment_method: PaymentMethod | None = None,
    ) -> RailDecision:  # type: ignore[valid-type]
        method = payment_method or rails.PaymentMethod.BANK_TRANSFER
        try:
            decision = routing.route(
                routing.normalize_country(country),
                has_us_bank_account=bool(has_us_bank_account),
                payment_method=rails.PaymentMethod(method.value),
                now=info.context.deps.clock.now(),
            )
        except PayoutEngineError as exc:
            raise query_error(ErrorCode(exc.code), exc.message, field=exc.field) from None
        return RailDecision.of(decision)


@strawberry.input
class AllocationInput:
    payee_id: strawberry.ID
    amount: str | None = strawberry.field(default=None, description="Exact decimal string.")
    weight: int | None = strawberry.field(default=None, description="Share of `total`.")


@strawberry.input
class CreateLiquidationEventInput:
    code: str
    name: str
    fund_name: str
    currency: str = "USD"
    total: str | None = strawberry.field(
        default=None, description="With weights: the total, split by largest remainder."
    )
    allocations: list[AllocationInput]


@strawberry.type
class CreateLiquidationEventPayload:
    event: LiquidationEvent | None
    user_errors: list[UserError]


@strawberry.input
class StartRunInput:
    liquidation_event_id: strawberry.ID = strawberry.field(
        description="The event's id or its code, e.g. LIQ-2024-001."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Same key, same run: a retried request never starts a second run."
    )


@strawberry.type
class StartRunPayload:
    run: PayoutRun | None
    user_errors: list[UserError]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_liquidation_event(
        self, info: Info, input: CreateLiquidationEventInput
    ) -> CreateLiquidationEventPayload:
        errors: list[UserError] = []
        allocations = []
        for i, a in enumerate(input.allocations):
            try:
                payee_id = _int_id(a.payee_id, f"allocations.{i}.payeeId")
            except PayoutEngineError as exc:
                errors.append(user_error("NOT_FOUND", exc.message, exc.field))
                continue
            allocations.append(DomainAllocation(payee_id, a.amount, a.weight))
        plan = plan_event(
            EventInput(
                code=input.code,
                name=input.name,
                fund_name=input.fund_name,
                currency=input.currency,
                total=input.total,
                allocations=allocations,
            )
        )
        if errors or isinstance(plan, list):
            problems = plan if isinstance(plan, list) else []
            errors += [user_error(p.code, p.message, p.field) for p in problems]
            return CreateLiquidationEventPayload(event=None, user_errors=errors)
        created = await info.context.deps.events.create(plan, info.context.deps.clock.now())
        if isinstance(created, list):
            return CreateLiquidationEventPayload(
                event=None, user_errors=[user_error(p.code, p.message, p.field) for p in created]
            )
        row = await info.context.loaders.events.load(created)
        assert row is not None
        return CreateLiquidationEventPayload(event=LiquidationEvent.of(row), user_errors=[])

    @strawberry.mutation(description="Run an event's payouts; safe to repeat.")
    async def start_run(self, info: Info, input: StartRunInput) -> StartRunPayload:
        key = input.idempotency_key or f"run-{uuid.uuid4().hex}"
        if not IDEMPOTENCY_KEY.match(key):
            return StartRunPayload(
                run=None,
                user_errors=[
                    user_error(
                        "INVALID_INPUT",
                        "idempotencyKey is 1-128 printable ASCII characters",
                        "idempotency_key",
                    )
                ],
            )
        async with info.context.session() as session:
            event = await queries.event_by_ref(session, input.liquidation_event_id.strip())
        if event is None:
            return StartRunPayload(
                run=None,
                user_errors=[
                    user_error(
                        "NOT_FOUND",
                        f"no liquidation event {input.liquidation_event_id!r}",
                        "liquidation_event_id",
                    )
                ],
            )
        try:
            summary = await info.context.deps.runner.run(event.code, key)
        except PayoutEngineError as exc:
            return StartRunPayload(run=None, user_errors=[from_domain(exc)])
        row = await info.context.loaders.runs.load(summary.run_id)
        assert row is not None
        return StartRunPayload(run=PayoutRun.of(row), user_errors=[])


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask unexpected exceptions (no stack details leak); keep validation and coded errors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(
    max_depth: int = 8, max_tokens: int = 2000, max_aliases: int = 15
) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
        lambda: MaskErrors(should_mask_error=_is_unexpected),
    ]
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)
