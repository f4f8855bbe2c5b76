"""PostgreSQL restarted in the middle of a run: the engine reconnects and carries on.

Real processes, as in ``test_kill_processes``: mock banks served over HTTP, one
``payout-engine serve`` running a 2,000-payout run for a ``startRun`` request (written
ten payouts a transaction, so the run is writing when the server goes), one
``payout-engine worker`` polling beside it. Once the banks hold a share of the orders
the cluster is restarted (``pg_ctlcluster ... restart``: every connection is cut, and
for a moment none can be made). Nobody touches the engine afterwards: the same
``startRun`` request must answer with the run completed, neither process may die, and
both must poll again (every payout reaches its order's status once the banks' clocks
jump ten days), with the books whole and the audit trail unchanged.

The restart cuts every connection to the server, other tests' too, so the test runs
only when asked for: ``.ci/run`` runs it alone after the suite (``-m pg_restart``).
Without ``pg_ctlcluster`` it is skipped on a developer machine and fails in CI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from jobs.scheduled import POLL
from persistence.tables import JobRun
from tests.jobs_harness import eventually, only_on
from tests.reliability.test_kill_processes import (
    EVENT_SIZE,
    SETTLE_ALL_S,
    STEP_TIMEOUT_S,
    Stage,
    all_settled,
    check_final,
    seed,
    served_banks,
    worker_id,
)

RESTART_AT = 0.3  # of the event's orders at the banks
STOP_TIMEOUT_S = 15
READY_TIMEOUT_S = 60


def cluster(database_url: str) -> list[str]:
    """``pg_ctlcluster`` arguments for the local cluster the test database is on
    (without one: skipped on a developer machine, a failure in CI)."""
    tool = shutil.which("pg_ctlcluster")
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    host = urlsplit(database_url).hostname
    if tool is None or not versions:
        problem = "no pg_ctlcluster here"
    elif host not in ("127.0.0.1", "localhost"):
        problem = f"the test database is on {host}, not on the local cluster"
    else:
        return [tool, "--skip-systemctl-redirect", versions[-1], "main"]
    if os.environ.get("CI"):
        pytest.fail(f"cannot restart PostgreSQL in CI: {problem}")
    pytest.skip(f"cannot restart PostgreSQL: {problem}")


def restart_postgresql(ctl: list[str]) -> tuple[float, str]:
    """Restart the cluster, wait until it accepts connections; the seconds that took
    and how it stopped. A fast shutdown can wait a minute for a half-open connection
    (``authentication_timeout``); after ``STOP_TIMEOUT_S`` it stops immediately."""
    started = time.monotonic()
    force = ["--force", *ctl[1:], "restart", "--", "-t", str(STOP_TIMEOUT_S)]
    try:
        done = subprocess.run([ctl[0], *force], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"pg_ctlcluster restart: {done.stdout}{done.stderr}"
    finally:
        wait_until_up(ctl)
    how = "immediate" if "immediately" in done.stdout else "fast"
    return time.monotonic() - started, how


def wait_until_up(ctl: list[str]) -> None:
    """Never leave the server down: start it if a restart left it stopped."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode:
        if subprocess.run([*ctl, "status"], capture_output=True, check=False).returncode == 3:
            subprocess.run([*ctl, "start"], capture_output=True, check=False, timeout=120)
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.2)


async def job_runs_since(stage: Stage, moment: datetime) -> list[Any]:
    async with stage.sessions() as session:
        return list(await session.scalars(select(JobRun).where(JobRun.started_at >= moment)))


@pytest.mark.pg_restart
# It cuts every connection to the server: only when asked for (-m pg_restart), never in
# a suite others may be running against the same server at the same time.
@pytest.mark.skipif(
    "'pg_restart' not in (config.getoption('markexpr') or '')",
    reason="restarts PostgreSQL: run with -m pg_restart",
)
@pytest.mark.slow
@pytest.mark.postgres
@only_on("postgresql")
async def test_a_run_goes_on_through_a_postgresql_restart(
    database_url: str, tmp_path: Path
) -> None:
    ctl = cluster(database_url)
    started = time.monotonic()
    await seed(database_url)
    async with (
        served_banks(tmp_path) as urls,
        Stage.open(database_url, urls, tmp_path, env_overrides={"RUN_BATCH_SIZE": "10"}) as stage,
    ):
        serve = await stage.start_serve()
        await stage.start_workers()
        worker = stage.workers["worker1"]
        stage.send_run()

        async def far_enough() -> bool | None:
            assert stage.run_in_flight(), "the run ended before the restart"
            await asyncio.sleep(0.05)
            return True if await stage.banks.count() >= RESTART_AT * EVENT_SIZE else None

        await eventually(far_enough, "the run to get going", timeout=STEP_TIMEOUT_S)
        await stage.remember_audit()
        restarted_at = datetime.now(UTC)
        down_s, how = await asyncio.to_thread(restart_postgresql, ctl)
        at_restart = await stage.banks.count()

        # The request sent before the restart answers, with the run done.
        assert stage.run is not None
        run = await asyncio.wait_for(stage.run, STEP_TIMEOUT_S)
        assert (run["status"], run["total"], run["inFlight"]) == ("completed", EVENT_SIZE, 0), run
        # serve or the worker executes the run in the background
        executors = serve.output() + worker.output()
        assert "database connection lost" in executors, "the run never met the restart"
        run_s = time.monotonic() - started

        await stage.banks.advance(SETTLE_ALL_S)
        books, orders = await all_settled(stage)
        assert serve.alive() and worker.alive(), "a process died with its connections"
        since = await job_runs_since(stage, restarted_at)
        polled = {r.worker for r in since if (r.job, r.status) == (POLL, "succeeded")}
        assert {worker_id(serve), worker_id(worker)} <= polled, "a process stopped polling"
        await stage.stop()
        await check_final(stage, books, orders)
    resumes = (serve.output() + worker.output()).count("database connection lost")
    outcomes = Counter(f"{r.job} {r.status}" for r in since)
    print(
        f"\nPostgreSQL restarted ({how} stop) at {at_restart}/{EVENT_SIZE} orders, accepting "
        f"connections again {down_s:.1f} s later; the run resumed itself {resumes} time(s), its "
        f"request answered {run_s:.0f} s into the test; job runs since the restart: "
        f"{dict(outcomes)}; whole test {time.monotonic() - started:.0f} s"
    )
