"""The engine's Prometheus series that the database layer knows first.

Payout status changes are counted once their transaction commits: ``lifecycle`` notes
each step on the session (``note_steps``) and a session ``after_commit`` hook adds them
up; a rolled-back transaction counts nothing. A transaction that moves one payout also
names it in the log context (a request's lines then carry its ``payout_id``). Open
reconciliation breaks are counted at scrape time (``refresh``), one grouped query.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from domain import log_context
from persistence.tables import ReconciliationBreak

PAYOUTS = Counter(
    "payout_engine_payouts",
    "Payouts that reached a status (each step of a payout's path counts once), by rail.",
    ["status", "rail"],
)
RUN_SECONDS = Histogram(
    "payout_engine_run_duration_seconds",
    "Payout runs, from start to finish on the engine's clock.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
RUN_RATE = Histogram(
    "payout_engine_run_payouts_per_second",
    "Payouts a run created, per second of the run.",
    buckets=(10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
)
JOB_RUNS = Counter(
    "payout_engine_job_runs", "Scheduled job executions, by job and outcome.", ["job", "outcome"]
)
OPEN_BREAKS = Gauge(
    "payout_engine_reconciliation_breaks_open", "Open reconciliation breaks, by kind.", ["kind"]
)

WEBHOOK_LAG = Histogram(
    "payout_engine_webhook_delivery_lag_seconds",
    "From a webhook event's creation to its delivery acknowledged by the endpoint (2xx),"
    " on the engine's clock; retries included.",
    buckets=(1, 5, 15, 30, 60, 300, 900, 3600, 21600, 86400, 259200),
)

_PENDING = "payout_engine.metrics.pending"
NO_RAIL = "none"  # a payout refused before routing has no rail


def note_steps(
    session: AsyncSession, moved: Sequence[tuple[int, Iterable[Any], str | None]]
) -> None:
    """Each (payout id, steps, rail) reached, counted when the transaction commits."""
    pending: Tally[tuple[str, str]] = session.info.setdefault(_PENDING, Tally())
    for _, steps, rail in moved:
        for step in steps:
            pending[(step.target.value, rail or NO_RAIL)] += 1
    if len(moved) == 1:
        log_context.bind(payout_id=moved[0][0])


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    pending: Tally[tuple[str, str]] | None = session.info.pop(_PENDING, None)
    for (status, rail), n in (pending or {}).items():
        PAYOUTS.labels(status=status, rail=rail).inc(n)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, _previous: object) -> None:
    session.info.pop(_PENDING, None)


def webhooks_delivered(lags: Iterable[timedelta]) -> None:
    for lag in lags:
        WEBHOOK_LAG.observe(max(lag.total_seconds(), 0.0))


def run_finished(started_at: datetime, finished_at: datetime, created: int) -> None:
    seconds = max((finished_at - started_at).total_seconds(), 0.0)
    RUN_SECONDS.observe(seconds)
    if seconds > 0:
        RUN_RATE.observe(created / seconds)


def job_finished(job: str, outcome: str) -> None:
    JOB_RUNS.labels(job=job, outcome=outcome).inc()


async def refresh(reads: async_sessionmaker[AsyncSession]) -> None:
    """The series read from the database when /metrics is scraped."""
    async with reads() as session:
        rows = await session.execute(
            select(ReconciliationBreak.kind, func.count())
            .where(ReconciliationBreak.status == "open")
            .group_by(ReconciliationBreak.kind)
        )
        counts = {kind: int(n) for kind, n in rows.all()}
    for family in OPEN_BREAKS.collect():  # kinds no longer open read 0
        for sample in family.samples:
            counts.setdefault(sample.labels["kind"], 0)
    for kind, n in counts.items():
        OPEN_BREAKS.labels(kind=kind).set(n)
