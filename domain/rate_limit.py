"""Request rate limits per API key: a token bucket per key, its rate set by the key's role.

A bucket holds ``burst_s`` seconds' worth of requests and refills continuously at
``rate`` a second; a request takes one token or is refused with the seconds until one
is back. Buckets live in this process (each server process limits on its own).
Time comes from ``monotonic`` (injected, so tests move it by hand).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from domain.auth import Role

# Buckets of keys not seen for this long are forgotten (they would be full by then).
FORGET_AFTER_S = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(
        self,
        per_role: Mapping[Role, float],
        *,
        burst_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rates = dict(per_role)
        self._burst_s = burst_s
        self._monotonic = monotonic
        self._buckets: dict[int, _Bucket] = {}
        self._swept = monotonic()

    def take(self, key_id: int, role: Role) -> float | None:
        """None when the key may go on now; else the seconds until it may (> 0)."""
        rate = self._rates.get(role, 0.0)
        if rate <= 0:
            return None
        now = self._monotonic()
        self._sweep(now)
        capacity = max(1.0, rate * self._burst_s)
        bucket = self._buckets.setdefault(key_id, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / rate

    def _sweep(self, now: float) -> None:
        if now - self._swept < FORGET_AFTER_S:
            return
        self._swept = now
        stale = [k for k, b in self._buckets.items() if now - b.at > FORGET_AFTER_S]
        for key_id in stale:
            del self._buckets[key_id]


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` takes whole seconds: rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
