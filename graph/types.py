"""GraphQL object types: thin views over rows and domain values."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from domain import eligibility, ledger, lifecycle, new_accounts, rails, reason_codes, routing
from domain.errors import Problem
from domain.money import Money as DomainMoney
from graph.account_verification import BankAccountVerification
from graph.context import Info
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.reasons import AccountFlag, FailureCategory
from persistence import queries, tables

# The API's enums are the domain's, registered with Strawberry under these names.
strawberry.enum(lifecycle.PayoutStatus, name="PayoutStatus")
strawberry.enum(rails.PaymentMethod, name="PaymentMethod")
PayoutStatus = lifecycle.PayoutStatus
PaymentMethod = rails.PaymentMethod

if TYPE_CHECKING:
    from graph.run_workflow import Approval, RunPreviewInfo, RunProgress, RunState


@strawberry.type(description="An exact amount: a decimal string in the currency's minor unit.")
class Money:
    amount: str
    currency: str

    @classmethod
    def of(cls, minor: int, currency: str) -> Money:
        return cls(amount=DomainMoney(minor, currency).to_decimal_string(), currency=currency)


@strawberry.type(description="A payment rail and what an operator needs to know about it.")
class Rail:
    code: str
    name: str
    countries: list[str]
    currency: str
    provider: str
    required_fields: list[str]
    settlement_lag_days: int
    cutoff: str = strawberry.field(description="Local cut-off time, HH:MM in `timezone`.")
    timezone: str
    calendar: str
    max_amount: Money | None
    payment_type: str | None
    purpose_code: str | None

    @classmethod
    def of(cls, rail: rails.Rail) -> Rail:
        limit = rail.max_amount
        return cls(
            code=rail.code,
            name=rail.name,
            countries=list(rail.countries),
            currency=rail.currency,
            provider=rail.provider.value,
            required_fields=list(rail.required_fields),
            settlement_lag_days=rail.settlement_lag_days,
            cutoff=rail.cutoff.strftime("%H:%M"),
            timezone=rail.timezone,
            calendar=rail.calendar.name,
            max_amount=Money.of(limit.minor, limit.currency) if limit else None,
            payment_type=rail.payment_type,
            purpose_code=rail.purpose_code,
        )


@strawberry.type
class RailDecision:
    rail: Rail
    currency: str
    fx_mode: str
    rule: str
    explanation: str
    expected_settlement_date: date

    @classmethod
    def of(cls, decision: routing.RailDecision) -> RailDecision:
        return cls(
            rail=Rail.of(decision.rail),
            currency=decision.currency,
            fx_mode=decision.fx_mode.value,
            rule=decision.rule.value,
            explanation=decision.explanation,
            expected_settlement_date=decision.expected_settlement_date,
        )


@strawberry.type(description="One append-only audit record.")
class AuditEvent:
    id: strawberry.ID
    occurred_at: datetime
    action: str
    actor: str
    detail: JSON

    @classmethod
    def of(cls, row: tables.AuditEvent) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            occurred_at=row.occurred_at,
            action=row.action,
            actor=row.actor,
            detail=JSON(row.detail),
        )


@strawberry.type
class AccountField:
    name: str
    value: str = strawberry.field(description="Masked but for the last four characters.")


@strawberry.type(description="A payee's bank account; never changed, retired when replaced.")
class BankAccount:
    id: strawberry.ID
    holder_name: str
    country: str | None
    currency: str | None
    details: list[AccountField]
    in_use: bool = strawberry.field(description="The account the payee's next payout goes to.")
    retired_at: datetime | None
    created_at: datetime
    rail_code: str | None = strawberry.field(
        description="The rail that pays this account for the payee as it is now."
    )
    verification: BankAccountVerification
    flag: AccountFlag | None = strawberry.field(
        default=None,
        description="Set when a payment came back with a code that makes the account "
        "unusable; runs skip it (bank_account_flagged) until the payee adds a new account.",
    )

    @classmethod
    def of(cls, row: tables.BankAccount, rail_code: str | None = None) -> BankAccount:
        return cls(
            id=strawberry.ID(str(row.id)),
            holder_name=row.holder_name,
            country=row.country,
            currency=row.currency,
            details=[
                AccountField(name=k, value=_mask(str(v))) for k, v in sorted(row.details.items())
            ],
            in_use=row.is_default and row.retired_at is None,
            retired_at=row.retired_at,
            created_at=row.created_at,
            rail_code=rail_code,
            verification=BankAccountVerification.of(row),
            flag=AccountFlag.of(row.flag_code, row.flagged_at, row.flagged_by_payout_id),
        )


def _mask(value: str) -> str:
    return value if len(value) <= 4 else "•" * (len(value) - 4) + value[-4:]


@strawberry.type(description="A ledger account with its cached totals in minor-unit-exact money.")
class LedgerAccount:
    id: strawberry.ID
    code: str
    type: str
    currency: str
    pending_debits: Money
    pending_credits: Money
    posted_debits: Money
    posted_credits: Money
    posted_balance: Money = strawberry.field(description="On the account's normal side.")
    available: Money = strawberry.field(description="Posted balance less pending holds.")

    @classmethod
    def of(cls, row: tables.LedgerAccount) -> LedgerAccount:
        balance = ledger.Balance(
            row.pending_debits, row.pending_credits, row.posted_debits, row.posted_credits
        )
        kind = ledger.AccountType(row.type)

        def money(minor: int) -> Money:
            return Money.of(minor, row.currency)

        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            type=row.type,
            currency=row.currency,
            pending_debits=money(row.pending_debits),
            pending_credits=money(row.pending_credits),
            posted_debits=money(row.posted_debits),
            posted_credits=money(row.posted_credits),
            posted_balance=money(balance.posted_balance(kind)),
            available=money(balance.available(kind)),
        )


@strawberry.type(description="One leg of a ledger transfer.")
class LedgerEntry:
    id: strawberry.ID
    transfer_id: strawberry.ID
    kind: str
    account: str
    side: str
    amount: Money
    phase: str
    created_at: datetime

    @classmethod
    def of(cls, row: queries.EntryView) -> LedgerEntry:
        return cls(
            id=strawberry.ID(str(row.id)),
            transfer_id=strawberry.ID(str(row.transfer_id)),
            kind=row.kind,
            account=row.account_code,
            side=row.side,
            amount=Money.of(row.amount_minor, row.currency),
            phase=row.phase,
            created_at=row.created_at,
        )


@strawberry.type
class Payee:
    id: strawberry.ID
    reference: str
    name: str
    kind: str
    country: str | None
    payment_method: str
    email: str | None
    created_at: datetime

    @strawberry.field(description="The fund's own id for the payee (same as `reference`).")
    def external_id(self) -> str:
        return self.reference

    @strawberry.field(description="Every account, newest first; retired ones included.")
    async def bank_accounts(self, info: Info) -> list[BankAccount]:
        rows = await info.context.loaders.bank_accounts.load(int(self.id))
        return [self._account(info, row) for row in rows]

    @strawberry.field(description="The account the next payout goes to, if any.")
    async def account_in_use(self, info: Info) -> BankAccount | None:
        rows = await info.context.loaders.bank_accounts.load(int(self.id))
        in_use = [row for row in rows if row.is_default and row.retired_at is None]
        return self._account(info, in_use[0]) if in_use else None

    def _account(self, info: Info, row: tables.BankAccount) -> BankAccount:
        has_us_routing = bool(str(row.details.get("aba_routing") or "").strip())
        rail = new_accounts.rail_for(
            self.country, self.payment_method, has_us_routing, info.context.deps.clock.now()
        )
        return BankAccount.of(row, rail_code=None if isinstance(rail, Problem) else rail.code)

    @strawberry.field(description="The payee's ledger accounts, one per currency.")
    async def balances(self, info: Info) -> list[LedgerAccount]:
        rows = await info.context.loaders.balances.load(int(self.id))
        return [LedgerAccount.of(row) for row in rows]

    @strawberry.field(description="The payee's payouts, newest first (a payee key: its own).")
    async def payouts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Payout]:
        caller = info.context.caller
        mine = caller.reads_everything or caller.payee_id == int(self.id)
        spec = queries.PayoutFilterSpec(payee_id=int(self.id) if mine else -1)
        return await payout_connection(info, spec, first, after)

    @classmethod
    def of(cls, row: tables.Payee) -> Payee:
        return cls(
            id=strawberry.ID(str(row.id)),
            reference=row.reference,
            name=row.name,
            kind=row.kind,
            country=row.country,
            payment_method=row.payment_method,
            email=row.email,
            created_at=row.created_at,
        )


@strawberry.type
class LiquidationEvent:
    id: strawberry.ID
    code: str
    name: str
    fund_name: str
    total: Money
    created_at: datetime

    @strawberry.field
    async def allocation_count(self, info: Info) -> int:
        return await info.context.loaders.allocation_counts.load(int(self.id))

    @classmethod
    def of(cls, row: tables.LiquidationEvent) -> LiquidationEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            code=row.code,
            name=row.name,
            fund_name=row.fund_name,
            total=Money.of(row.total_minor, row.currency),
            created_at=row.created_at,
        )


@strawberry.type
class SkipCount:
    reason: str
    count: int


@strawberry.type(description="One run of a liquidation event and what it did.")
class PayoutRun:
    id: strawberry.ID
    idempotency_key: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    total: int
    created: int = strawberry.field(
        description="Payment orders accepted by a provider in this run."
    )
    skipped: int
    failed: int = strawberry.field(description="Payouts a provider rejected permanently.")
    in_flight: int = strawberry.field(
        description="Payouts whose provider could not be reached; recovery asks again."
    )
    event_id: strawberry.Private[int]

    @strawberry.field
    async def event(self, info: Info) -> LiquidationEvent:
        row = await info.context.loaders.events.load(self.event_id)
        assert row is not None
        return LiquidationEvent.of(row)

    @strawberry.field
    async def skip_breakdown(self, info: Info) -> list[SkipCount]:
        rows = await info.context.loaders.breakdowns.load(int(self.id))
        return [SkipCount(reason=reason, count=count) for reason, count in rows]

    @strawberry.field(description="Payouts reported as already having a payment order.")
    async def already_submitted(self, info: Info) -> int:
        rows = await info.context.loaders.breakdowns.load(int(self.id))
        return dict(rows).get(eligibility.SkipReason.EXISTING_PAYMENT_ORDER.value, 0)

    @strawberry.field
    async def payouts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Payout, strawberry.lazy("graph.types")]]:
        spec = queries.PayoutFilterSpec(run_id=int(self.id))
        return await payout_connection(info, spec, first, after)

    @strawberry.field(description="The status as an enum: AWAITING_APPROVAL, QUEUED, ...")
    def state(self) -> Annotated[RunState, strawberry.lazy("graph.run_workflow")]:
        from graph.run_workflow import RunState

        return RunState(self.status)

    @strawberry.field(description="What the run would pay, as the event stood at startRun.")
    async def preview(
        self, info: Info
    ) -> Annotated[RunPreviewInfo, strawberry.lazy("graph.run_workflow")] | None:
        from graph.run_workflow import preview_of

        return await preview_of(info, int(self.id))

    @strawberry.field(description="How far the run has got.")
    async def progress(
        self, info: Info
    ) -> Annotated[RunProgress, strawberry.lazy("graph.run_workflow")] | None:
        from graph.run_workflow import progress_of

        return await progress_of(info, int(self.id))

    @strawberry.field(description="The approval the run asked for, if it needed one.")
    async def approval(
        self, info: Info
    ) -> Annotated[Approval, strawberry.lazy("graph.run_workflow")] | None:
        from graph.run_workflow import approval_of

        return await approval_of(info, int(self.id))

    @classmethod
    def of(cls, row: tables.PayoutRun) -> PayoutRun:
        return cls(
            id=strawberry.ID(str(row.id)),
            idempotency_key=row.idempotency_key,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            total=row.total,
            created=row.created,
            skipped=row.skipped,
            failed=row.failed,
            in_flight=row.in_flight,
            event_id=row.event_id,
        )


@strawberry.type(description="A payout to one payee, with its route and audit trace.")
class Payout:
    id: strawberry.ID
    status: PayoutStatus
    amount: Money
    target_amount: Money | None
    fx_rate: str | None
    country: str | None
    rail_code: str | None
    provider: str | None
    routing_rule: str | None
    expected_settlement_date: date | None
    skip_reason: str | None
    skip_detail: str | None
    idempotency_key: str
    provider_order_id: str | None
    failure_code: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    payee_id: strawberry.Private[int]
    event_id: strawberry.Private[int | None]
    attempt: int = strawberry.field(
        default=1, description="Which attempt at paying its allocation (retryPayout)."
    )
    retry_of_id: strawberry.Private[int | None] = None

    @strawberry.field(description="The payout this attempt pays again.")
    async def retry_of(self, info: Info) -> Payout | None:
        if self.retry_of_id is None:
            return None
        row = await info.context.loaders.payouts.load(self.retry_of_id)
        return Payout.of(row) if row else None

    @strawberry.field(description="Every attempt at paying this payout's allocation, in order.")
    async def attempts(self, info: Info) -> list[Payout]:
        if self.event_id is None:
            return [self]
        async with info.context.session() as session:
            rows = await queries.attempts_of(session, self.event_id, self.payee_id)
        return [Payout.of(row) for row in rows]

    @strawberry.field
    def rail(self) -> Rail | None:
        return Rail.of(rails.rail_by_code(self.rail_code)) if self.rail_code else None

    @strawberry.field(description="What `failureCode` means (OTHER for a code not in the table).")
    def failure_category(self) -> FailureCategory | None:
        reason = reason_codes.explain(self.failure_code)
        return reason.category if reason else None

    @strawberry.field(description="Whether paying again can work, given `failureCode`.")
    def retryable(self) -> bool | None:
        reason = reason_codes.explain(self.failure_code)
        return reason.retryable if reason else None

    @strawberry.field(description="The failure or return code in words.")
    def failure_description(self) -> str | None:
        reason = reason_codes.explain(self.failure_code)
        return reason.description if reason else None

    @strawberry.field
    async def payee(self, info: Info) -> Payee:
        row = await info.context.loaders.payees.load(self.payee_id)
        assert row is not None
        return Payee.of(row)

    @strawberry.field
    async def event(self, info: Info) -> LiquidationEvent | None:
        if self.event_id is None:
            return None
        row = await info.context.loaders.events.load(self.event_id)
        return LiquidationEvent.of(row) if row else None

    @strawberry.field(description="Every audit record of this payout, oldest first.")
    async def trace(self, info: Info) -> list[AuditEvent]:
        return [AuditEvent.of(row) for row in await info.context.loaders.traces.load(int(self.id))]

    @strawberry.field(description="The ledger entries this payout caused, oldest first.")
    async def ledger_entries(self, info: Info) -> list[LedgerEntry]:
        rows = await info.context.loaders.ledger_entries.load(int(self.id))
        return [LedgerEntry.of(row) for row in rows]

    @classmethod
    def of(cls, row: tables.Payout) -> Payout:
        target = row.target_amount_minor
        return cls(
            id=strawberry.ID(str(row.id)),
            status=lifecycle.PayoutStatus(row.status),
            amount=Money.of(row.amount_minor, row.currency),
            target_amount=Money.of(target, row.target_currency)
            if target is not None and row.target_currency
            else None,
            fx_rate=row.fx_rate,
            country=row.country,
            rail_code=row.rail,
            provider=row.provider,
            routing_rule=row.routing_rule,
            expected_settlement_date=row.expected_settlement_date,
            skip_reason=row.skip_reason,
            skip_detail=row.skip_detail,
            idempotency_key=row.idempotency_key,
            provider_order_id=row.provider_order_id,
            failure_code=row.failure_code,
            failure_reason=row.failure_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
            payee_id=row.payee_id,
            event_id=row.event_id,
            attempt=row.attempt,
            retry_of_id=row.retry_of_payout_id,
        )


async def payout_connection(
    info: Info, spec: queries.PayoutFilterSpec, first: int | None, after: str | None
) -> Connection[Payout]:
    size = page_size(first, info.context.deps.max_page_size)
    cursor = decode_cursor(after)
    async with info.context.session() as session:
        page = await queries.payouts_page(session, spec, size, cursor)
    for row in page.rows:  # prime the loader so nested `payout` look-ups cost nothing
        info.context.loaders.payouts.prime(row.id, row)
    return connection(page, Payout.of, lambda row: row.id)


PayoutConnection = Connection[Payout]
