"""The ports the domain needs; persistence and providers implement them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from domain.money import Money


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class ProviderKind(StrEnum):
    ACH = "ach"
    WIRE = "wire"
    CROSS_BORDER = "cross_border"


class OrderStatus(StrEnum):
    """A payment order's status as the provider reports it."""

    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class PaymentOrderRequest:
    idempotency_key: str  # the payout's own key; the same payout always sends the same one
    amount: Money  # what we pay out, in the funding currency (fixed side of the FX)
    target_currency: str  # what the beneficiary receives
    rail: str
    beneficiary_name: str
    beneficiary_country: str | None
    account: Mapping[str, str]
    reference: str

    def body(self) -> dict[str, Any]:
        """The order as JSON; the idempotency key travels beside it, not inside."""
        return {
            "amount": {"amount": self.amount.to_decimal_string(), "currency": self.amount.currency},
            "target_currency": self.target_currency,
            "rail": self.rail,
            "beneficiary_name": self.beneficiary_name,
            "beneficiary_country": self.beneficiary_country,
            "account": dict(self.account),
            "reference": self.reference,
        }

    @classmethod
    def from_body(cls, idempotency_key: str, body: Mapping[str, Any]) -> PaymentOrderRequest:
        amount = body["amount"]
        return cls(
            idempotency_key=idempotency_key,
            amount=Money.parse(amount["amount"], amount["currency"]),
            target_currency=body["target_currency"],
            rail=body["rail"],
            beneficiary_name=body["beneficiary_name"],
            beneficiary_country=body["beneficiary_country"],
            account=dict(body["account"]),
            reference=body["reference"],
        )


@dataclass(frozen=True, slots=True)
class ProviderOrder:
    order_id: str
    idempotency_key: str
    status: OrderStatus
    amount: Money
    target_amount: Money | None
    fx_rate: Decimal | None
    rail: str
    created_at: datetime
    updated_at: datetime
    failure_code: str | None = None
    failure_reason: str | None = None


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"  # the provider holds an order for this key
    REJECTED = "rejected"  # permanent 4xx: retrying cannot help
    UNAVAILABLE = "unavailable"  # retries exhausted on 429/5xx/timeouts: safe to ask again


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt, kept for the payout's audit trace."""

    number: int
    result: str  # "http_201", "http_429", "http_503", "timeout", "transport_error", ...
    status_code: int | None
    wait_seconds: float | None  # how long the client waited before the next attempt


@dataclass(frozen=True, slots=True)
class SubmitResult:
    outcome: SubmitOutcome
    order: ProviderOrder | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: tuple[Attempt, ...] = field(default=())
    reason_code: str | None = None  # a refusal's scheme code (R02, AC04), when the provider says


@dataclass(frozen=True, slots=True)
class SettlementEntry:
    """One line of a provider's daily settlement report: an order completed or returned."""

    order_id: str
    idempotency_key: str
    status: OrderStatus
    at: datetime
    amount: Money


@dataclass(frozen=True, slots=True)
class SettlementReport:
    provider: str
    day: date
    entries: tuple[SettlementEntry, ...]


@dataclass(frozen=True, slots=True)
class FxQuote:
    source_currency: str
    target_currency: str
    rate: Decimal  # target units per one source unit
    quoted_at: datetime


class PaymentProvider(Protocol):
    kind: ProviderKind

    async def create_order(self, request: PaymentOrderRequest) -> SubmitResult:
        """Create (or find, by idempotency key) the order. Never raises for HTTP faults."""
        ...

    def iter_orders(
        self, changed_since: datetime | None = None
    ) -> AsyncIterator[list[ProviderOrder]]:
        """Orders changed at or after ``changed_since`` (all when None), a page at a time,
        ordered by their last change."""
        ...

    async def settlement_report(self, day: date) -> SettlementReport: ...

    async def fx_quote(self, source_currency: str, target_currency: str) -> FxQuote: ...


# --- the payout store: each method is one atomic database transaction ---------


class RunOutcome(StrEnum):
    """What a run did with one payout; the run summary counts these."""

    CREATED = "created"  # the provider accepted a payment order in this run
    SKIPPED = "skipped"  # not eligible, or it already has a payment order
    FAILED = "failed"  # the provider rejected it permanently
    IN_FLIGHT = "in_flight"  # provider unreachable after retries; recovery re-asks


@dataclass(frozen=True, slots=True)
class RunHandle:
    run_id: int
    event_id: int
    event_code: str
    completed: bool  # a finished run found again by its idempotency key


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    event_code: str
    status: str
    total: int
    created: int
    skipped: int
    failed: int
    in_flight: int
    skip_breakdown: tuple[tuple[str, int], ...]
    already_submitted: int


@dataclass(frozen=True, slots=True)
class Submission:
    """A payout in ``submitting``: everything needed to (re-)ask the provider."""

    payout_id: int
    provider: ProviderKind
    request: PaymentOrderRequest
    run_id: int | None = None  # the run that made it submitting
