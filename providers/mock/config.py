"""Knobs of a mock bank, and scripted faults for the next create calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from domain.rails import RAILS

DEFAULT_SETTLEMENT_LAG_DAYS = 1  # for rail codes the rail table does not know
RAIL_LAG_DAYS: Mapping[str, int] = {rail.code: rail.settlement_lag_days for rail in RAILS}
# Same-day rails (lag 0) still take this long, so a new order is first seen processing.
SAME_DAY_PROCESSING = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class MockBankConfig:
    seed: int = 0
    latency_ms: float = 0
    jitter_ms: float = 0  # real asyncio.sleep of latency +/- jitter per request
    rate_limit_per_s: float | None = None  # token bucket; over it -> 429 + Retry-After
    rate_limit_burst: float | None = None  # bucket size; default max(1, rate_limit_per_s)
    transient_error_rate: float = 0.0  # random 503 before doing anything, any endpoint
    timeout_after_create_rate: float = 0.0  # new order stored, then the answer is held
    hang_seconds: float = 30.0
    settlement_lag_days: Mapping[str, int] | None = None  # per rail code, over the rail table
    failure_rate: float = 0.0  # accepted orders failing at settlement time (AC01/AC04/AM04)
    return_rate: float = 0.0  # completed orders returned a day later (R01/R03)
    # Verification of payee (``providers.mock.verification``): seeded shares of answers.
    verification_no_match_rate: float = 0.0
    verification_close_match_rate: float = 0.0
    verification_unavailable_rate: float = 0.0
    verification_unavailable_asks: int = 1  # an unavailable account is so for this many asks

    def lag_days(self, rail: str) -> int:
        """Days from acceptance to settlement: the override, else the rail table's lag.

        The rail table counts business days; the mock counts calendar days (no
        weekends or holidays), which is close enough for a simulated bank.
        """
        overrides = self.settlement_lag_days or {}
        if rail in overrides:
            return overrides[rail]
        return RAIL_LAG_DAYS.get(rail, DEFAULT_SETTLEMENT_LAG_DAYS)

    def settlement_delay(self, rail: str) -> timedelta:
        return max(timedelta(days=self.lag_days(rail)), SAME_DAY_PROCESSING)


_ERROR_CODES = {
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted answer to one create call: a status, or create-then-hang."""

    status_code: int | None = None  # None: store the order, then hold the answer
    retry_after: int | None = None
    error: str | None = None
    hang_seconds: float | None = None  # None: the bank's configured hang_seconds

    @classmethod
    def status(
        cls, status_code: int, *, retry_after: int | None = None, error: str | None = None
    ) -> Fault:
        return cls(status_code, retry_after, error or _ERROR_CODES.get(status_code, "error"))

    @classmethod
    def timeout_after_create(cls, hang_seconds: float | None = None) -> Fault:
        return cls(hang_seconds=hang_seconds)

    @property
    def hangs(self) -> bool:
        return self.status_code is None
