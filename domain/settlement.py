"""A provider's word on one payout's order, as the status poller and reconciliation
read it; ``domain.lifecycle.reported_path`` says where it takes the payout."""

from __future__ import annotations

from dataclasses import dataclass

from domain.ports import OrderStatus


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A provider's word on one payout's order."""

    payout_id: int
    status: OrderStatus
    failure_code: str | None = None
    failure_reason: str | None = None
