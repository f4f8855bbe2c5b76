"""Per-key token buckets: a burst, then one request per 1/rate seconds; keys apart."""

from __future__ import annotations

from domain.auth import Role
from domain.rate_limit import RateLimiter, retry_after_header


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(ticks: Ticks, **rates: float) -> RateLimiter:
    per_role = {Role(role): rate for role, rate in rates.items()}
    return RateLimiter(per_role, burst_s=2.0, monotonic=ticks)


def test_a_key_gets_its_burst_then_waits_for_the_next_token() -> None:
    ticks = Ticks()
    limits = limiter(ticks, payee=5)  # 5 a second, 2 s of burst: 10 at once
    assert [limits.take(1, Role.PAYEE) for _ in range(10)] == [None] * 10
    assert limits.take(1, Role.PAYEE) == 0.2  # one token comes back every 0.2 s
    ticks.now += 0.2
    assert limits.take(1, Role.PAYEE) is None
    assert limits.take(1, Role.PAYEE) is not None


def test_a_flooding_key_does_not_use_up_another_keys_requests() -> None:
    ticks = Ticks()
    limits = limiter(ticks, payee=1)
    while limits.take(1, Role.PAYEE) is None:
        pass
    assert limits.take(2, Role.PAYEE) is None


def test_an_idle_key_refills_to_its_burst_and_no_further() -> None:
    ticks = Ticks()
    limits = limiter(ticks, ops=10)
    while limits.take(7, Role.OPS) is None:
        pass
    ticks.now += 3600
    assert sum(limits.take(7, Role.OPS) is None for _ in range(50)) == 20


def test_a_role_with_rate_zero_or_no_rate_is_not_limited() -> None:
    limits = limiter(Ticks(), ops=0)
    assert all(limits.take(1, Role.OPS) is None for _ in range(10_000))
    assert all(limits.take(2, Role.AUDITOR) is None for _ in range(10_000))


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"
