"""The API's own Prometheus series, and what /metrics refreshes before it answers."""

from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence import metrics

RATE_LIMITED = Counter(
    "payout_engine_rate_limited_requests",
    "API requests refused with 429 because their key sent too many, by the key's role.",
    ["role"],
)


def rate_limited(role: str) -> None:
    RATE_LIMITED.labels(role=role).inc()


async def refresh(reads: async_sessionmaker[AsyncSession]) -> None:
    await metrics.refresh(reads)
