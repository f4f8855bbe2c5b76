"""Orders held by a mock bank, and their lifecycle on the bank's clock.

A stored order is an immutable record of what was asked and decided at creation
(settlement time, whether and when it will be returned). Its status is evaluated
from the clock on every read: processing, completed at ``completes_at``, returned
at ``return_event.at`` when the seed chose a return. An injected discrepancy
(``forced``) replaces that lifecycle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from domain.money import Money
from domain.ports import OrderStatus, ProviderOrder

# ACH return codes, kept as data whatever the rail.
RETURN_REASONS = (("R01", "insufficient_funds"), ("R03", "no_account"))
SETTLEMENT_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.RETURNED})


@dataclass(frozen=True, slots=True)
class OrderBody:
    """A validated create request; equal bodies make a create call a replay."""

    amount: Money
    target_currency: str
    rail: str
    beneficiary_name: str
    beneficiary_country: str | None
    account: tuple[tuple[str, str], ...]  # sorted items, so bodies compare by value
    reference: str

    def account_values(self) -> set[str]:
        return {value for _, value in self.account}


@dataclass(frozen=True, slots=True)
class StatusEvent:
    status: OrderStatus
    at: datetime
    failure_code: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoredOrder:
    order_id: str
    idempotency_key: str
    body: OrderBody
    amount: Money
    target_amount: Money | None
    fx_rate: Decimal | None
    created_at: datetime
    completes_at: datetime
    return_event: StatusEvent | None = None
    forced: StatusEvent | None = None

    def events(self) -> tuple[StatusEvent, ...]:
        created = StatusEvent(OrderStatus.PROCESSING, self.created_at)
        if self.forced is not None:
            return (created, self.forced)
        completed = StatusEvent(OrderStatus.COMPLETED, self.completes_at)
        returned = () if self.return_event is None else (self.return_event,)
        return (created, completed, *returned)

    def events_until(self, now: datetime) -> tuple[StatusEvent, ...]:
        return tuple(event for event in self.events() if event.at <= now)

    def current(self, now: datetime) -> StatusEvent:
        return self.events_until(now)[-1]

    def settlements_on(self, day: date, now: datetime) -> tuple[StatusEvent, ...]:
        return tuple(
            event
            for event in self.events_until(now)
            if event.status in SETTLEMENT_STATUSES and event.at.date() == day
        )

    def view(self, now: datetime) -> ProviderOrder:
        event = self.current(now)
        return ProviderOrder(
            order_id=self.order_id,
            idempotency_key=self.idempotency_key,
            status=event.status,
            amount=self.amount,
            target_amount=self.target_amount,
            fx_rate=self.fx_rate,
            rail=self.body.rail,
            created_at=self.created_at,
            updated_at=event.at,
            failure_code=event.failure_code,
            failure_reason=event.failure_reason,
        )

    def with_status(self, event: StatusEvent) -> StoredOrder:
        return replace(self, forced=event)
