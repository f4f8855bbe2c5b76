"""Mock payment providers: Starlette apps simulating ACH, wire and cross-border banks."""

from domain.clock import ManualClock
from providers.mock.bank import SAMPLE_BODIES, BankStats, MockBank
from providers.mock.clock import AcceleratedClock
from providers.mock.config import Fault, MockBankConfig
from providers.mock.orders import OrderBody, StatusEvent, StoredOrder

__all__ = [
    "SAMPLE_BODIES",
    "AcceleratedClock",
    "BankStats",
    "Fault",
    "ManualClock",
    "MockBank",
    "MockBankConfig",
    "OrderBody",
    "StatusEvent",
    "StoredOrder",
]
