"""Mock payment providers: Starlette apps simulating ACH, wire and cross-border banks."""

from domain.clock import ManualClock
from providers.mock.bank import BankStats, MockBank
from providers.mock.config import Fault, MockBankConfig
from providers.mock.orders import StoredOrder

__all__ = ["BankStats", "Fault", "ManualClock", "MockBank", "MockBankConfig", "StoredOrder"]
