"""Webhook delivery throughput: N outbox events posted, signed, to a local receiver.

The outbox is filled as the engine fills it (one row per payout change, five changes
for each of N/5 payouts, so per-payout ordering holds deliveries back), one endpoint
listens to everything, and the delivery job runs until nothing is pending. The
receiver (uvicorn, 200 to everything) runs in this process and shares its CPU.
Reported: events delivered per second, the outbox write cost per event (the part a
payout run pays), and the job's fan-out time.

    python -m bench.webhooks                      # 5,000 events, SQLite and PostgreSQL
    python -m bench.webhooks --events 20000 --backends postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.common import database, report
from domain.clock import SystemClock
from persistence import outbox
from persistence.migrate import upgrade
from persistence.webhook_store import SqlWebhooks
from providers.mock.server import serving
from service.bootstrap import build
from service.settings import Settings

STATUSES = ("pending", "submitting", "submitted", "completed", "returned")


def receiver() -> tuple[Starlette, list[int]]:
    seen = [0]

    async def hook(request: Request) -> Response:
        await request.body()
        seen[0] += 1
        return Response(b"{}", media_type="application/json")

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), seen


def payout(pid: int) -> dict[str, Any]:
    return {"amount_minor": 100_000 + pid, "currency": "USD", "payee_id": pid, "run_id": 1}


async def fill(container: Any, n: int) -> float:
    """Write ``n`` outbox events in the engine's batches; seconds taken."""
    now = datetime.now(UTC)
    payouts = max(n // len(STATUSES), 1)
    started = time.perf_counter()
    for status in STATUSES:
        for first in range(0, payouts, 500):
            changed = [
                (pid, status, payout(pid)) for pid in range(first, min(first + 500, payouts))
            ]
            async with container.sessions.begin() as session:
                await outbox.payouts_changed(session, changed, now)
    return time.perf_counter() - started


async def run(backend: str, url: str, n: int) -> dict[str, Any]:
    settings = Settings(database_url=url, webhook_allow_private_networks=True, _env_file=None)
    container = build(settings, clock=SystemClock())
    app, seen = receiver()
    try:
        async with serving(app) as base:
            store = SqlWebhooks(container.sessions)
            await store.create_endpoint(f"{base}/hook", [], None, "bench", datetime.now(UTC))
            write_s = await fill(container, n)
            sender = container.jobs.webhooks
            started = time.perf_counter()
            while await sender.store.fan_out(datetime.now(UTC)):
                pass
            fan_out_s = time.perf_counter() - started
            job_runs = 0
            while await store.pending_count():
                outcome = await container.jobs.deliver_webhooks("manual")
                assert outcome.status == "succeeded", outcome.error
                job_runs += 1
            total_s = time.perf_counter() - started
    finally:
        await container.aclose()
    return {
        "workload": "webhooks",
        "backend": backend,
        "events": n,
        "received": seen[0],
        "job_runs": job_runs,
        "outbox_write_us_per_event": round(write_s / n * 1e6, 1),
        "fan_out_seconds": round(fan_out_s, 3),
        "deliver_seconds": round(total_s, 3),
        "events_per_s": round(n / total_s, 1),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = []
    for backend in args.backends:
        with database(backend) as url:
            upgrade(url)
            results.append(asyncio.run(run(backend, url, args.events)))
    report("Webhook delivery: events signed and posted to a local receiver", results)


if __name__ == "__main__":
    cli()
