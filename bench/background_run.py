"""A run's time from ``startRun`` to completed, now that runs execute in the background.

One process, one database, in-process mock banks. Two events of N payouts to the same
payees: the first is paid by the synchronous runner (``payout-engine run``, what
``startRun`` did inside the request before: the reference, measured in the same run);
the second through the API: ``startRun`` (no approval: ``RUN_APPROVAL_MIN_TOTAL=off``,
a person's decision is not what is measured), the job runner polling for queued runs
every ``--check-interval`` seconds as ``serve``/``worker`` do, and the client reading
``run(id) { state }`` every 0.2 s until COMPLETED.

    python -m bench.background_run --payouts 10000                   # SQLite temp file
    python -m bench.background_run --payouts 10000 --backend postgresql --latency-ms 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import database, report
from domain.auth import Role
from domain.clock import SystemClock
from domain.events import AllocationInput, EventInput
from persistence.api_keys import SqlApiKeys
from persistence.event_store import SqlEventStore
from persistence.migrate import upgrade
from service.bootstrap import Container, build, build_app
from service.demo import DEMO_OPS_KEY, _ensure_event, _insert_payees, large_fund
from service.settings import Settings

START = """mutation($key: String) { startRun(input: {liquidationEventId: "BENCH-BG",
  idempotencyKey: $key}) { run { id state } userErrors { code message } } }"""
STATE = "query($id: ID!) { run(id: $id) { state created progress { evaluated submitted } } }"


async def prepare(container: Container, n: int) -> None:
    now = datetime.now(UTC)
    async with container.sessions.begin() as session:
        ids = await _insert_payees(session, large_fund(n), now)
    allocations = [AllocationInput(pid, "1000.00") for pid in ids.values()]
    for code in ("BENCH-SYNC-1", "BENCH-BG", "BENCH-SYNC-2"):
        data = EventInput(
            code=code, name=code, fund_name="bench", currency="USD", allocations=allocations
        )
        await _ensure_event(SqlEventStore(container.sessions), container.sessions, now, data)
    await SqlApiKeys(container.sessions).issue(Role.OPS, "bench", now, key=DEMO_OPS_KEY)


async def job_runner(container: Container, interval_s: float) -> None:
    """What the scheduler does in serve and worker: look for queued runs, run them."""
    while True:
        await container.jobs.execute_queued_runs()
        await asyncio.sleep(interval_s)


async def background(container: Container, interval_s: float) -> dict[str, Any]:
    app = build_app(container, migrate=False, recover=False, scheduler=False)
    headers = {"Authorization": f"Api-Key {DEMO_OPS_KEY}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://b", headers=headers) as c:
        runner = asyncio.create_task(job_runner(container, interval_s))
        try:
            started = time.perf_counter()
            answer = await c.post("/graphql", json={"query": START, "variables": {"key": "b"}})
            run = answer.json()["data"]["startRun"]["run"]
            answered = time.perf_counter() - started
            while True:
                body = await c.post(
                    "/graphql", json={"query": STATE, "variables": {"id": run["id"]}}
                )
                state = body.json()["data"]["run"]
                if state["state"] == "COMPLETED":
                    break
                await asyncio.sleep(0.2)
            done = time.perf_counter() - started
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    return {"start_answered_s": answered, "completed_s": done, "created": state["created"]}


async def synchronous(container: Container, code: str) -> tuple[float, int]:
    """``payout-engine run``: the whole event in one call, as startRun used to do it."""
    started = time.perf_counter()
    summary = await container.runner.run(code, "sync")
    return time.perf_counter() - started, summary.created


async def main(n: int, url: str, latency_ms: float, interval_s: float) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        provider_rate_limit_per_s=1e9,
        mock_latency_ms=latency_ms,
        run_approval_min_total="off",
        run_check_interval_s=interval_s,
        _env_file=None,
    )
    container = build(settings, clock=SystemClock())
    try:
        await prepare(container, n)
        # The reference before and after, so that warming up favours neither.
        sync_1, created = await synchronous(container, "BENCH-SYNC-1")
        bg = await background(container, interval_s)
        sync_2, _ = await synchronous(container, "BENCH-SYNC-2")
        sync_s = (sync_1 + sync_2) / 2
    finally:
        await container.aclose()
    return {
        "workload": "background_run",
        "backend": url.split(":")[0],
        "payouts": n,
        "latency_ms": latency_ms,
        "check_interval_s": interval_s,
        "sync_run_s": round(sync_s, 2),
        "sync_runs_s": [round(sync_1, 2), round(sync_2, 2)],
        "sync_created": created,
        "start_run_answered_s": round(bg["start_answered_s"], 3),
        "start_to_completed_s": round(bg["completed_s"], 2),
        "background_created": bg["created"],
        "background_vs_sync": round(bg["completed_s"] / sync_s, 3),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payouts", type=int, default=10000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--check-interval", type=float, default=1.0)
    args = parser.parse_args()
    with database(args.backend) as url:
        upgrade(url)
        result = asyncio.run(main(args.payouts, url, args.latency_ms, args.check_interval))
    report("startRun to completed: background runner vs the synchronous one", [result])


if __name__ == "__main__":
    cli()
