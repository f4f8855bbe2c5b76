"""The GraphQL schema: queries and mutations of ARCHITECTURE.md section 11."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import replace
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.types import ExecutionContext

from domain import rails, routing
from domain.errors import PayoutEngineError, Problem, quoted
from domain.events import EVENT_CODE, EventInput, plan_event
from domain.events import AllocationInput as DomainAllocation
from domain.idempotency import key_problem
from domain.merchant_payouts import parse_request
from graph import imports, keys, onboarding, reasons, retries, run_workflow, verification, webhooks
from graph import reconciliation as ops
from graph.context import Info
from graph.errors import (
    CodedErrors,
    ErrorCode,
    UserError,
    from_domain,
    from_problems,
    log_error,
    query_error,
    user_error,
)
from graph.execution import Planned
from graph.guards import RefuseUnstorableText
from graph.ids import parse_id
from graph.introspection import IntrospectionDepthLimit
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.permissions import OPS, READ, WRITE
from graph.reconciliation import (
    BreakFilter,
    JobRun,
    ReconciliationBreak,
    ReconciliationRun,
    ResolveBreakInput,
    ResolveBreakPayload,
    RunReconciliationInput,
    RunReconciliationPayload,
)
from graph.subscriptions import OverWebSocketOnly, Subscription
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
from persistence import queries, tables

T = TypeVar("T")
# Parsed and validated documents kept per process (LRU): frontends send a few shapes.
CACHED_DOCUMENTS = 256


def _int_id(value: str, field: str) -> int:
    ident = parse_id(value)
    if ident is None:
        raise PayoutEngineError(f"{quoted(value)} is not an id", field=field)
    return ident


@strawberry.input
class PayoutFilter:
    country: str | None = None
    status: PayoutStatus | None = None
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
        if (parsed := parse_id(value)) is None:
            raise query_error(ErrorCode.INVALID_INPUT, f"{name} is not an id")
        return parsed

    return queries.PayoutFilterSpec(
        country=f.country.upper() if f.country else None,
        status=f.status.value if f.status else None,
        rail=f.rail.upper() if f.rail else None,
        run_id=ident(f.run_id, "runId"),
        event_id=ident(f.event_id, "eventId"),
        payee_id=ident(f.payee_id, "payeeId"),
    )


async def _one(
    info: Info,
    loader: Any,
    ident: str,
    convert: Callable[[Any], T],
    owner: Callable[[Any], int] | None = None,
) -> T | None:
    """One row by id; a payee caller asking for another payee's row gets "not found"."""
    if (parsed := parse_id(ident)) is None:
        return None
    row = await loader.load(parsed)
    if row is None or (owner and not info.context.caller.may_see_payee(owner(row))):
        return None
    return convert(row)


def _own_payouts(info: Info, spec: queries.PayoutFilterSpec) -> queries.PayoutFilterSpec:
    """A payee sees only its own payouts, whatever filter it sends."""
    caller = info.context.caller
    if caller.reads_everything:
        return spec
    if spec.payee_id not in (None, caller.payee_id):
        return replace(spec, payee_id=-1)  # someone else's: an empty page, not an error
    return replace(spec, payee_id=caller.payee_id)


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
        return await payout_connection(info, _own_payouts(info, _filter_spec(filter)), first, after)

    @strawberry.field
    async def payout(self, info: Info, id: strawberry.ID) -> Payout | None:
        return await _one(
            info, info.context.loaders.payouts, id, Payout.of, lambda row: row.payee_id
        )

    @strawberry.field(permission_classes=READ)
    async def runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PayoutRun]:
        size = page_size(first, info.context.deps.max_page_size)
        async with info.context.session() as session:
            page = await queries.runs_page(session, size, decode_cursor(after))
        return connection(page, PayoutRun.of, lambda row: row.id)

    @strawberry.field(permission_classes=READ)
    async def run(self, info: Info, id: strawberry.ID) -> PayoutRun | None:
        return await _one(info, info.context.loaders.runs, id, PayoutRun.of)

    @strawberry.field(permission_classes=READ)
    async def events(self, info: Info) -> list[LiquidationEvent]:
        async with info.context.session() as session:
            return [LiquidationEvent.of(row) for row in await queries.events(session)]

    @strawberry.field(permission_classes=READ, description="Payees, newest first.")
    async def payees(
        self,
        info: Info,
        filter: onboarding.PayeeFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Payee]:
        return await onboarding.payees_page(info, filter, first, after)

    @strawberry.field
    async def payee(self, info: Info, id: strawberry.ID) -> Payee | None:
        return await _one(info, info.context.loaders.payees, id, Payee.of, lambda row: row.id)

    @strawberry.field(
        description="Every ledger account with pending, posted and available.",
        permission_classes=READ,
    )
    async def ledger_accounts(self, info: Info) -> list[LedgerAccount]:
        async with info.context.session() as session:
            return [LedgerAccount.of(row) for row in await queries.ledger_accounts(session)]

    @strawberry.field(
        description="The routing table: every rail and the countries it serves.",
        permission_classes=READ,
    )
    def rails(self) -> list[Rail]:
        return [Rail.of(rail) for rail in rails.RAILS]

    @strawberry.field(
        description="Preview the routing decision for a destination.", permission_classes=READ
    )
    def route(
        self,
        info: Info,
        country: str,
        has_us_bank_account: bool | None = False,
        payment_method: PaymentMethod | None = None,
    ) -> RailDecision:
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

    @strawberry.field(description="Reconciliation runs, newest first.", permission_classes=READ)
    async def reconciliation_runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ReconciliationRun]:
        return await ops.reconciliation_runs(info, first, after)

    @strawberry.field(
        description="Reconciliation breaks, newest first; filter by kind and status.",
        permission_classes=READ,
    )
    async def reconciliation_breaks(
        self,
        info: Info,
        filter: BreakFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ReconciliationBreak]:
        return await ops.reconciliation_breaks(info, filter, first, after)

    @strawberry.field(
        description="Executions of the scheduled jobs, newest first.", permission_classes=READ
    )
    async def job_runs(
        self,
        info: Info,
        job: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[JobRun]:
        return await ops.job_runs(info, job, first, after)

    me: keys.Me = strawberry.field(resolver=keys.me, description="Who is calling.")
    api_keys: Connection[keys.ApiKeyNode] = strawberry.field(
        resolver=keys.api_keys_page, description="API keys, newest first.", permission_classes=READ
    )
    webhook_endpoints: list[webhooks.WebhookEndpoint] = strawberry.field(
        resolver=webhooks.endpoints, description="Webhook endpoints (a payee key: its own)."
    )
    webhook_deliveries: Connection[webhooks.WebhookDelivery] = strawberry.field(
        resolver=webhooks.deliveries_page,
        description="Webhook deliveries and their attempts, newest first (a payee key: "
        "to its own endpoints).",
    )

    @strawberry.field(description="Approval requests, newest first.", permission_classes=READ)
    async def approvals(
        self,
        info: Info,
        filter: run_workflow.ApprovalFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[run_workflow.Approval]:
        return await run_workflow.approvals_page(info, filter, first, after)

    reason_codes: list[reasons.ReasonCode] = strawberry.field(
        resolver=reasons.reason_code_table,
        description="Provider failure and return codes the engine knows, and what each means.",
        permission_classes=READ,
    )


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
    @strawberry.mutation(permission_classes=OPS)
    async def create_liquidation_event(
        self, info: Info, input: CreateLiquidationEventInput
    ) -> CreateLiquidationEventPayload:
        errors: list[UserError] = []
        allocations = []
        for i, a in enumerate(input.allocations):
            try:
                payee_id = _int_id(a.payee_id, f"allocations.{i}.payeeId")
            except PayoutEngineError as exc:
                errors.append(user_error(ErrorCode.NOT_FOUND, exc.message, exc.field))
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
            errors += from_problems(problems)
            return CreateLiquidationEventPayload(event=None, user_errors=errors)
        created = await info.context.deps.events.create(plan, info.context.deps.clock.now())
        if isinstance(created, list):
            return CreateLiquidationEventPayload(event=None, user_errors=from_problems(created))
        row = await info.context.loaders.events.load(created)
        assert row is not None
        return CreateLiquidationEventPayload(event=LiquidationEvent.of(row), user_errors=[])

    @strawberry.mutation(
        description="Request a payout against the payee's balance.", permission_classes=WRITE
    )
    async def create_payout(self, info: Info, input: CreatePayoutInput) -> CreatePayoutPayload:
        return await create_payout(info, input)

    @strawberry.mutation(
        description="Cancel a payout that has not been sent yet.", permission_classes=WRITE
    )
    async def cancel_payout(self, info: Info, input: CancelPayoutInput) -> CancelPayoutPayload:
        return await cancel_payout(info, input)

    @strawberry.mutation(
        description="Record a run of an event's payouts, with its preview, and return at once:"
        " it awaits an approval (RUN_APPROVAL_MIN_TOTAL) or is queued for the job runner."
        " Same key, same run.",
        permission_classes=OPS,
    )
    async def start_run(self, info: Info, input: StartRunInput) -> StartRunPayload:
        key = input.idempotency_key
        if key is None:
            key = f"run-{uuid.uuid4().hex}"
        bad_key = key_problem(key)
        if bad_key is not None:
            return StartRunPayload(run=None, user_errors=from_problems([bad_key]))
        event = None
        ref = input.liquidation_event_id.strip()
        # A code or an id; anything else names no event (and an id of 19 digits or more
        # would overflow the database's integer).
        if parse_id(ref) is not None or (EVENT_CODE.match(ref) and not ref.isdigit()):
            async with info.context.session() as session:
                event = await queries.event_by_ref(session, ref)
        if event is None:
            return StartRunPayload(
                run=None,
                user_errors=[
                    user_error(
                        ErrorCode.NOT_FOUND,
                        f"no liquidation event {quoted(input.liquidation_event_id)}",
                        "liquidation_event_id",
                    )
                ],
            )
        try:
            run_id = await run_workflow.request_run(info, event.id, key)
        except PayoutEngineError as exc:
            return StartRunPayload(run=None, user_errors=[from_domain(exc)])
        row = await info.context.loaders.runs.load(run_id)
        assert row is not None
        return StartRunPayload(run=PayoutRun.of(row), user_errors=[])

    @strawberry.mutation(
        description="Pay a failed or returned payout again: a new attempt (new provider key,"
        " new hold, the payee's current account), behind the run approval rule.",
        permission_classes=OPS,
    )
    async def retry_payout(
        self, info: Info, input: retries.RetryPayoutInput
    ) -> retries.RetryPayoutPayload:
        return await retries.retry_payout(info, input)

    @strawberry.mutation(
        description="Pay again each failed or returned payout of a run that the filter picks.",
        permission_classes=OPS,
    )
    async def retry_payouts(
        self, info: Info, input: retries.RetryPayoutsInput
    ) -> retries.RetryPayoutsPayload:
        return await retries.retry_payouts(info, input)

    @strawberry.mutation(description="Onboard a payee.", permission_classes=OPS)
    async def create_payee(
        self, info: Info, input: onboarding.CreatePayeeInput
    ) -> onboarding.CreatePayeePayload:
        return await onboarding.create_payee(info, input)

    @strawberry.mutation(description="Change a payee's details.", permission_classes=OPS)
    async def update_payee(
        self, info: Info, input: onboarding.UpdatePayeeInput
    ) -> onboarding.UpdatePayeePayload:
        return await onboarding.update_payee(info, input)

    @strawberry.mutation(
        description="Give a payee a new account in use; the one it replaces is retired.",
        permission_classes=OPS,
    )
    async def add_bank_account(
        self, info: Info, input: onboarding.AddBankAccountInput
    ) -> onboarding.AddBankAccountPayload:
        return await onboarding.add_bank_account(info, input)

    @strawberry.mutation(description="Stop paying an account.", permission_classes=OPS)
    async def retire_bank_account(
        self, info: Info, input: onboarding.RetireBankAccountInput
    ) -> onboarding.RetireBankAccountPayload:
        return await onboarding.retire_bank_account(info, input)

    @strawberry.mutation(
        description="Reconcile a business date now (again, if it was).", permission_classes=OPS
    )
    async def run_reconciliation(
        self, info: Info, input: RunReconciliationInput
    ) -> RunReconciliationPayload:
        return await ops.run_reconciliation(info, input)

    @strawberry.mutation(description="Close an open break with a note.", permission_classes=OPS)
    async def resolve_break(self, info: Info, input: ResolveBreakInput) -> ResolveBreakPayload:
        return await ops.resolve_break(info, input)

    create_api_key: keys.CreateApiKeyPayload = strawberry.mutation(
        resolver=keys.create_api_key,
        description="A new key; its secret is shown once.",
        permission_classes=OPS,
    )
    revoke_api_key: keys.RevokeApiKeyPayload = strawberry.mutation(
        resolver=keys.revoke_api_key, description="Revoke a key, at once.", permission_classes=OPS
    )
    verify_bank_account: verification.VerifyBankAccountPayload = strawberry.mutation(
        resolver=verification.verify_bank_account,
        description="Ask for an account held by verification of payee to be cleared, with why; "
        "an approver key of another owner decides it (decideApproval).",
        permission_classes=OPS,
    )
    create_webhook_endpoint: webhooks.CreateWebhookEndpointPayload = strawberry.mutation(
        resolver=webhooks.create_endpoint,
        description="A new webhook endpoint; its signing secret is shown once.",
        permission_classes=WRITE,
    )
    replay_webhook_event: webhooks.ReplayWebhookEventPayload = strawberry.mutation(
        resolver=webhooks.replay, description="Send an event again.", permission_classes=OPS
    )
    set_webhook_endpoint_enabled: webhooks.SetWebhookEndpointEnabledPayload = strawberry.mutation(
        resolver=webhooks.set_enabled,
        description="Disable an endpoint, or enable it again (its pending deliveries resume).",
        permission_classes=OPS,
    )

    @strawberry.mutation(
        description="Approve or reject a request; an approver key of another owner than the "
        "requester's.",
        permission_classes=run_workflow.DECIDE,
    )
    async def decide_approval(
        self, info: Info, input: run_workflow.DecideApprovalInput
    ) -> run_workflow.DecideApprovalPayload:
        return await run_workflow.decide_approval(info, input)

    @strawberry.mutation(
        description="Stop a run: a waiting or queued one at once; a running one before its "
        "next batch (what a provider already has goes on to its outcome).",
        permission_classes=OPS,
    )
    async def cancel_run(
        self, info: Info, input: run_workflow.CancelRunInput
    ) -> run_workflow.CancelRunPayload:
        return await run_workflow.cancel_run(info, input)

    import_liquidation_event: imports.ImportLiquidationEventPayload = strawberry.mutation(
        resolver=imports.import_event,
        description="Check (dryRun) or import an event from a CSV; all or nothing.",
        permission_classes=OPS,
    )


@strawberry.input
class CreatePayoutInput:
    payee_id: strawberry.ID
    amount: str = strawberry.field(description="Exact decimal string in `currency`.")
    currency: str
    bank_account_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description=(
            "1-128 printable ASCII characters. Same key and input: the same payout,"
            " not a second one."
        )
    )


@strawberry.type
class CreatePayoutPayload:
    payout: Payout | None
    replayed: bool = strawberry.field(description="True when this key had already been used.")
    user_errors: list[UserError]


@strawberry.input
class CancelPayoutInput:
    payout_id: strawberry.ID


@strawberry.type
class CancelPayoutPayload:
    payout: Payout | None
    user_errors: list[UserError]


async def create_payout(info: Info, input: CreatePayoutInput) -> CreatePayoutPayload:
    caller = info.context.caller
    parsed = parse_request(
        input.payee_id, input.amount, input.currency, input.bank_account_id, input.idempotency_key
    )
    if not isinstance(parsed, list) and not caller.may_change_payee(parsed.payee_id):
        parsed = [Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {input.payee_id}")]
    if isinstance(parsed, list):
        return CreatePayoutPayload(payout=None, replayed=False, user_errors=from_problems(parsed))
    outcome = await info.context.deps.merchants.create(
        caller.scope, parsed, info.context.deps.clock.now()
    )
    if isinstance(outcome, list):
        return CreatePayoutPayload(payout=None, replayed=False, user_errors=from_problems(outcome))
    row = outcome.row or await info.context.loaders.payouts.load(outcome.payout_id)
    assert row is not None
    return CreatePayoutPayload(payout=Payout.of(row), replayed=outcome.replayed, user_errors=[])


async def cancel_payout(info: Info, input: CancelPayoutInput) -> CancelPayoutPayload:
    caller = info.context.caller
    ident = parse_id(input.payout_id)
    if ident is None:
        problem = Problem("payout_id", ErrorCode.NOT_FOUND, f"no payout {quoted(input.payout_id)}")
        return CancelPayoutPayload(payout=None, user_errors=from_problems([problem]))
    problems = await info.context.deps.merchants.cancel(
        caller.scope,
        ident,
        None if caller.operates else caller.payee_id,
        info.context.deps.clock.now(),
    )
    if problems:
        return CancelPayoutPayload(payout=None, user_errors=from_problems(problems))
    async with info.context.session() as session:
        rows = await queries.by_ids(session, tables.Payout, [ident])
    cancelled = rows[0]
    assert cancelled is not None
    return CancelPayoutPayload(payout=Payout.of(cancelled), user_errors=[])


class _ParserCache(ParserCache):
    """Strawberry's ParserCache raises a syntax error out of its hook, past the error
    handling (a socket's subscriber then gets a bare "complete"); here a document that
    does not parse is left to Strawberry's own parse, which answers with the error."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Strawberry logs every error with its traceback, a refused page size as loudly
        as a crash; here only a crash keeps it (``graph.errors.log_error``)."""
        for error in errors:
            log_error(error)


def build_schema(
    max_depth: int = 8, max_tokens: int = 2000, max_aliases: int = 15
) -> strawberry.Schema:
    # The limit rules are built once: the validation cache keys on the rule classes,
    # and per-request limiter instances would make new classes (and never hit).
    limits = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        IntrospectionDepthLimit,  # the depth limiter above skips introspection
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    ]
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: _ParserCache(maxsize=CACHED_DOCUMENTS),
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
        RefuseUnstorableText,
        OverWebSocketOnly,
        CodedErrors,
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=Planned,
    )
