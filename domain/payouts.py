"""The payout state machine: every status change goes through ``transition``.

    pending --> submitting --> submitted --> completed --> returned
       |            |              |
       |            +--> failed <--+
       +--> cancelled       skipped (re-evaluated by the next run)

``submitting`` is committed *before* the provider is called, so a crash leaves a
payout that recovery re-asks the provider about with the same idempotency key.
"""

from __future__ import annotations

from enum import StrEnum

from domain.errors import IllegalTransition


class PayoutStatus(StrEnum):
    SKIPPED = "skipped"
    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    RETURNED = "returned"
    CANCELLED = "cancelled"


_S = PayoutStatus
ALLOWED: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    _S.SKIPPED: frozenset({_S.PENDING, _S.SKIPPED}),
    _S.PENDING: frozenset({_S.SUBMITTING, _S.CANCELLED}),
    _S.SUBMITTING: frozenset({_S.SUBMITTED, _S.FAILED}),
    _S.SUBMITTED: frozenset({_S.COMPLETED, _S.FAILED}),
    _S.COMPLETED: frozenset({_S.RETURNED}),
    _S.FAILED: frozenset(),
    _S.RETURNED: frozenset(),
    _S.CANCELLED: frozenset(),
}

# The only statuses a run evaluates again; any other means a payment order exists or
# existed (existing_payment_order), so a later run must not create another one.
REEVALUATED_BY_RUNS = frozenset({_S.SKIPPED, _S.PENDING})
TERMINAL = frozenset(s for s, targets in ALLOWED.items() if not targets)


def can_transition(current: PayoutStatus, target: PayoutStatus) -> bool:
    return target in ALLOWED[current]


def transition(current: PayoutStatus, target: PayoutStatus) -> PayoutStatus:
    """Return ``target`` if the lifecycle allows it, else raise ``IllegalTransition``."""
    if not can_transition(current, target):
        raise IllegalTransition(f"a {current} payout cannot become {target}")
    return target
