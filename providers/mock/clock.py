"""An accelerated clock for served and demo banks, so payouts move by themselves.

``now()`` is ``start`` plus the real time elapsed since the clock was made, times
``speed``: at 3600 a real second is a simulated hour (a one-day ACH settlement
takes 24 real seconds), at 86400 a second is a day, at 1 it is real time, and at
0 the clock stands still (a bank's ``advance`` still moves it). Real time is read
from a monotonic clock, so wall-clock adjustments neither stop nor rewind it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class AcceleratedClock:
    def __init__(
        self,
        speed: float,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError("the clock speed is a finite number >= 0")
        moment = start or datetime.now(UTC)
        if moment.tzinfo is None:
            raise ValueError("AcceleratedClock needs an aware start")
        self.speed = speed
        self._start = moment.astimezone(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        elapsed = self._monotonic() - self._origin
        return self._start + timedelta(seconds=elapsed * self.speed)
