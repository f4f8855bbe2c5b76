"""What happens to an order a mock bank accepts, decided once at creation.

It is processing from acceptance; at settlement time (``config.settlement_delay``)
it completes, or fails for a seeded ``failure_rate`` fraction; a seeded
``return_rate`` fraction of the completed ones is returned a day later. A failed
order is never returned. Every draw hashes the seed and the order id, so the
outcome does not depend on the order in which requests arrive.

Reasons are what the rail's scheme would send: NACHA return codes on ACH, ISO 20022
status and return reasons on SEPA, the other local rails and wires. A test forces
one order's fate with an ``Outcome`` (``MockBank.set_outcome``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.ports import OrderStatus
from providers.mock.config import MockBankConfig
from providers.mock.orders import StatusEvent
from providers.mock.seeded import unit_interval

RETURN_DELAY = timedelta(days=1)
Reasons = tuple[tuple[str, str], ...]
ACH_RAILS = frozenset({"ACH"})
# ACH: an entry the receiving bank cannot post comes back with an R-code.
ACH_FAILURE_REASONS: Reasons = (
    ("R02", "account_closed"),
    ("R03", "no_account"),
    ("R04", "invalid_account_number"),
    ("R16", "account_frozen"),
    ("R20", "non_transaction_account"),
)
ACH_RETURN_REASONS: Reasons = (
    ("R01", "insufficient_funds"),
    ("R03", "no_account"),
    ("R10", "not_authorized"),
    ("R15", "beneficiary_deceased"),
    ("R29", "corporate_not_authorized"),
)
# ISO 20022 reason codes for a credit transfer rejected (pacs.002) or returned (pacs.004).
FAILURE_REASONS: Reasons = (
    ("AC01", "incorrect_account_number"),
    ("AC04", "account_closed"),
    ("AC06", "account_blocked"),
    ("AG01", "transaction_forbidden"),
    ("AM04", "insufficient_funds"),
    ("BE04", "missing_creditor_address"),
    ("TECH", "technical_problem"),
)
RETURN_REASONS: Reasons = (
    ("AC04", "account_closed"),
    ("AC06", "account_blocked"),
    ("MD07", "end_customer_deceased"),
    ("MS02", "refused_by_customer"),
    ("RR04", "regulatory_reason"),
)
_KNOWN = dict(ACH_FAILURE_REASONS + ACH_RETURN_REASONS + FAILURE_REASONS + RETURN_REASONS)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A forced fate: fail at settlement time, or complete and come back, with ``code``."""

    status: OrderStatus  # FAILED or RETURNED
    code: str

    def __post_init__(self) -> None:
        if self.status not in (OrderStatus.FAILED, OrderStatus.RETURNED):
            raise ValueError("a forced outcome is failed or returned")

    @property
    def reason(self) -> str:
        return _KNOWN.get(self.code, self.code.lower())


def reasons_for(rail: str) -> tuple[Reasons, Reasons]:
    """The (failure, return) reasons the rail's scheme uses."""
    if rail in ACH_RAILS:
        return ACH_FAILURE_REASONS, ACH_RETURN_REASONS
    return FAILURE_REASONS, RETURN_REASONS


def plan(
    config: MockBankConfig,
    order_id: str,
    accepted_at: datetime,
    rail: str,
    forced: Outcome | None = None,
) -> tuple[StatusEvent, ...]:
    accepted = StatusEvent(OrderStatus.PROCESSING, accepted_at)
    settles_at = accepted_at + config.settlement_delay(rail)
    if forced is not None:
        return _forced(accepted, settles_at, forced)
    failures, returns = reasons_for(rail)
    if _drawn(config, "failure", order_id, config.failure_rate):
        code, reason = _reason(config, failures, order_id)
        return (accepted, StatusEvent(OrderStatus.FAILED, settles_at, code, reason))
    completed = StatusEvent(OrderStatus.COMPLETED, settles_at)
    if not _drawn(config, "return", order_id, config.return_rate):
        return (accepted, completed)
    code, reason = _reason(config, returns, order_id)
    returned = StatusEvent(OrderStatus.RETURNED, settles_at + RETURN_DELAY, code, reason)
    return (accepted, completed, returned)


def _forced(
    accepted: StatusEvent, settles_at: datetime, forced: Outcome
) -> tuple[StatusEvent, ...]:
    if forced.status is OrderStatus.FAILED:
        return (accepted, StatusEvent(OrderStatus.FAILED, settles_at, forced.code, forced.reason))
    completed = StatusEvent(OrderStatus.COMPLETED, settles_at)
    returned_at = settles_at + RETURN_DELAY
    return (
        accepted,
        completed,
        StatusEvent(OrderStatus.RETURNED, returned_at, forced.code, forced.reason),
    )


def _drawn(config: MockBankConfig, name: str, order_id: str, rate: float) -> bool:
    return rate > 0 and unit_interval(config.seed, name, order_id) < rate


def _reason(config: MockBankConfig, reasons: Reasons, order_id: str) -> tuple[str, str]:
    return reasons[int(unit_interval(config.seed, "code", order_id) * len(reasons))]
