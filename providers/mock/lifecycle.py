"""What happens to an order a mock bank accepts, decided once at creation.

It is processing from acceptance; at settlement time (``config.settlement_delay``)
it completes, or fails for a seeded ``failure_rate`` fraction; a seeded
``return_rate`` fraction of the completed ones is returned a day later. A failed
order is never returned. Every draw hashes the seed and the order id, so the
outcome does not depend on the order in which requests arrive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.ports import OrderStatus
from providers.mock.config import MockBankConfig
from providers.mock.orders import StatusEvent
from providers.mock.seeded import unit_interval

RETURN_DELAY = timedelta(days=1)
# ISO 20022 reason codes for a credit transfer rejected by the receiving bank.
FAILURE_REASONS = (
    ("AC01", "incorrect_account_number"),
    ("AC04", "account_closed"),
    ("AM04", "insufficient_funds"),
)
# ACH return codes, kept as data whatever the rail.
RETURN_REASONS = (("R01", "insufficient_funds"), ("R03", "no_account"))


def plan(
    config: MockBankConfig, order_id: str, accepted_at: datetime, rail: str
) -> tuple[StatusEvent, ...]:
    accepted = StatusEvent(OrderStatus.PROCESSING, accepted_at)
    settles_at = accepted_at + config.settlement_delay(rail)
    if _drawn(config, "failure", order_id, config.failure_rate):
        code, reason = _reason(config, FAILURE_REASONS, order_id)
        return (accepted, StatusEvent(OrderStatus.FAILED, settles_at, code, reason))
    completed = StatusEvent(OrderStatus.COMPLETED, settles_at)
    if not _drawn(config, "return", order_id, config.return_rate):
        return (accepted, completed)
    code, reason = _reason(config, RETURN_REASONS, order_id)
    returned = StatusEvent(OrderStatus.RETURNED, settles_at + RETURN_DELAY, code, reason)
    return (accepted, completed, returned)


def _drawn(config: MockBankConfig, name: str, order_id: str, rate: float) -> bool:
    return rate > 0 and unit_interval(config.seed, name, order_id) < rate


def _reason(
    config: MockBankConfig, reasons: tuple[tuple[str, str], ...], order_id: str
) -> tuple[str, str]:
    return reasons[int(unit_interval(config.seed, "code", order_id) * len(reasons))]
