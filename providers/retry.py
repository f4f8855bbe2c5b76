"""Retry policy for provider calls: which answers to retry and how long to wait.

Waits back off 1, 2, 4, 8, 16 s, capped at 30 s, unless the provider sent
``Retry-After``, which then decides (also capped). No jitter: the client-side
rate limiter already spreads concurrent calls, and fixed waits are testable.

A tenacity ``AsyncRetrying`` keeps per-call state in a thread-local, which all
asyncio tasks share; so build one per call (``retrying()``), never share one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

MAX_WAIT_S = 30.0
# 500 too: after a 5xx nobody knows whether the order exists, and the same
# Idempotency-Key makes asking again safe; calling it "rejected" would not be.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

_BACKOFF = wait_exponential(multiplier=1, min=1, max=MAX_WAIT_S)

Sleep = Callable[[float], Awaitable[None]]


class RetryableReply(Protocol):
    @property
    def retryable(self) -> bool: ...

    @property
    def retry_after(self) -> float | None: ...


def wait_seconds(state: RetryCallState) -> float:
    """``Retry-After`` when the last reply carried one, else exponential backoff."""
    hint = _retry_after(state)
    return min(hint, MAX_WAIT_S) if hint is not None else _BACKOFF(state)


def _retry_after(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    reply: RetryableReply = outcome.result()
    return reply.retry_after


def _is_retryable(reply: RetryableReply) -> bool:
    return reply.retryable


def _last_reply(state: RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()


def retrying(max_attempts: int, sleep: Sleep, on_wait: Callable[[float], None]) -> AsyncRetrying:
    """A fresh retry loop: retries retryable replies, returns the last one when exhausted.

    Exceptions are not retried (the attempt function turns HTTP faults into replies,
    so an exception is a bug and should surface).
    """
    return AsyncRetrying(
        sleep=sleep,
        stop=stop_after_attempt(max_attempts),
        wait=wait_seconds,
        retry=retry_if_result(_is_retryable),
        before_sleep=lambda state: on_wait(state.upcoming_sleep),
        retry_error_callback=_last_reply,
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - now).total_seconds(), 0.0)
