"""Prometheus series of the provider clients: request latency, retries and 429s."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "payout_engine_provider_request_duration_seconds",
    "One HTTP attempt to a provider, by provider and result (http_201, timeout, ...).",
    ["provider", "result"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter(
    "payout_engine_provider_retries", "Attempts that repeated a provider call.", ["provider"]
)
THROTTLED = Counter(
    "payout_engine_provider_throttled",
    "Provider answers 429 Too Many Requests.",
    ["provider"],
)


def attempt(provider: str, result: str, status_code: int | None, seconds: float) -> None:
    REQUEST_SECONDS.labels(provider=provider, result=result).observe(seconds)
    if status_code == 429:
        THROTTLED.labels(provider=provider).inc()


def retried(provider: str, times: int) -> None:
    if times > 0:
        RETRIES.labels(provider=provider).inc(times)
