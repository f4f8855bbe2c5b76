"""Orders held by a mock bank, and their status on the bank's clock.

A stored order is an immutable record of what was asked and decided at creation:
its ``lifecycle`` (processing, then completed or failed, then perhaps returned;
see ``providers.mock.lifecycle``). Its status is evaluated from the clock on every
read. An injected discrepancy (``forced``) replaces everything after acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from domain.money import Money
from domain.ports import OrderStatus, ProviderOrder

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
    lifecycle: tuple[StatusEvent, ...]  # accepted (processing) first, in time order
    forced: StatusEvent | None = None

    @property
    def created_at(self) -> datetime:
        return self.lifecycle[0].at

    @property
    def completes_at(self) -> datetime:
        """When the planned lifecycle ends processing (completed or failed)."""
        return self.lifecycle[1].at

    def events(self) -> tuple[StatusEvent, ...]:
        if self.forced is None:
            return self.lifecycle
        return (self.lifecycle[0], self.forced)

    def changes_at(self, at: datetime) -> bool:
        return any(event.at == at for event in self.events())

    def current(self, now: datetime) -> StatusEvent:
        return next(event for event in reversed(self.events()) if event.at <= now)

    def settlement_times(self) -> tuple[datetime, ...]:
        return tuple(event.at for event in self.events() if event.status in SETTLEMENT_STATUSES)

    def settlements_at(self, at: datetime) -> tuple[StatusEvent, ...]:
        return tuple(
            event
            for event in self.events()
            if event.at == at and event.status in SETTLEMENT_STATUSES
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
