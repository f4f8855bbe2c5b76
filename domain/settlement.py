"""What a provider's order status means for a payout: the path through the lifecycle.

A provider reports where an order *is*; the payout may be several steps behind (a
poll can miss the moment an order completed and see it already returned). The path
walks every step, so each one writes its own ledger effect and audit record.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.payouts import PayoutStatus, can_transition
from domain.ports import OrderStatus

_S = PayoutStatus
_TARGET = {
    OrderStatus.PROCESSING: _S.SUBMITTED,
    OrderStatus.COMPLETED: _S.COMPLETED,
    OrderStatus.FAILED: _S.FAILED,
    OrderStatus.RETURNED: _S.RETURNED,
}
_VIA = {(_S.SUBMITTED, _S.RETURNED): (_S.COMPLETED, _S.RETURNED)}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A provider's word on one payout's order."""

    payout_id: int
    status: OrderStatus
    failure_code: str | None = None
    failure_reason: str | None = None


def path(current: PayoutStatus, reported: OrderStatus) -> tuple[PayoutStatus, ...]:
    """The transitions that bring ``current`` to what the provider reports; () if none.

    Anything the lifecycle does not allow (a completed payout reported failed) is
    not a transition but a discrepancy for reconciliation, so it yields () too.
    """
    if current is _S.SUBMITTING:
        # Its order id is not recorded yet: recovery asks the provider with the payout's
        # key and records it; moving it on from a status report would lose the order.
        return ()
    target = _TARGET[reported]
    if current is target:
        return ()
    steps = _VIA.get((current, target), (target,))
    previous = current
    for step in steps:
        if not can_transition(previous, step):
            return ()
        previous = step
    return steps
