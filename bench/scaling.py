"""Several server processes on one PostgreSQL: ``payout-engine serve --workers N``.

For N = 1, 2 and 4 (``--workers``), the real command serves a fresh database with its
jobs off, its access log off, no rate limits and the default read pool split between
the processes (25 connections in all; the three mock banks served over HTTP, since
several processes cannot share in-process ones; nothing calls them here). Once
every process answers, two loads run against it:

* reads: ``payout(id){trace}`` at 20 clients over seeded payouts (``bench.seed`` and
  the closed-loop clients of ``bench.graphql_reads``);
* creates: ``createPayout`` spread over 100 merchants, 16 clients (``bench.merchant_payouts``'
  merchants, clients and checks: no overdraft, the books whole).

Each row gives requests a second, p50/p99, the speed-up against one process in the same
run, where the two cores went (the server's processes, this load generator, the
PostgreSQL backends, the rest of the machine) and the load average. The load is one
Python process (httpx) on the same cores. The clients hold keep-alive connections, so
the kernel assigns each to a process once, when it connects.

    python -m bench.scaling                      # 1, 2, 4 processes; 8 s per load
    python -m bench.scaling --workers 1 2 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import httpx

from bench.common import CpuMeter, child, database, report
from bench.graphql_reads import TRACE, measure, payout_ids, summary
from bench.merchant_payouts import (
    LARGE_BALANCE,
    Merchant,
    Options,
    Tally,
    check,
    deadline,
    free_port,
    run_payouts,
    summarize,
)
from bench.merchant_payouts import seed as seed_merchants
from bench.seed import issue_ops_key, seed
from domain.auth import Role
from domain.ports import ProviderKind
from persistence.db import create_engine
from persistence.migrate import upgrade

READ_CLIENTS = 20
READ_POOL = 25  # the default READ_POOL_SIZE of one process
CREATE_CLIENTS = 16
MERCHANTS = 100
# Each load runs this long unmeasured first: a process's first requests import what they
# use, and the clients' construction blocks this event loop (seconds on a busy machine).
WARM_UP_S = 3.0
START_TIMEOUT_S = 180  # each process imports the whole engine; slow on a busy machine
ENGINE = [sys.executable, "-m", "service.cli"]


# -- the processes ----------------------------------------------------------------------------


def _output(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-4000:]


@contextlib.contextmanager
def served_banks() -> Iterator[dict[str, str]]:
    """The three mock banks, each a ``payout-engine mock-provider``; their settings."""
    with contextlib.ExitStack() as stack:
        urls = {}
        for kind in ProviderKind:
            port = free_port()
            command = [*ENGINE, "mock-provider", "--kind", kind.value, "--port", str(port)]
            process, log = stack.enter_context(child(command, dict(os.environ)))
            url = f"http://127.0.0.1:{port}"
            _until(lambda url=url: _healthy(url), process, log)
            urls[f"{kind.value.upper()}_PROVIDER_URL"] = url
        yield urls


@contextlib.contextmanager
def server(database_url: str, workers: int, banks: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``payout-engine serve --workers N``; its URL and the supervisor's pid, once every
    process answers (a process not yet up would get none of the clients' connections)."""
    port = free_port()
    env = {
        **os.environ,
        **banks,
        **{f"RATE_LIMIT_{role.value.upper()}": "0" for role in Role},
        "DATABASE_URL": database_url,
        # N processes share one read pool's worth of connections (PostgreSQL's
        # max_connections is shared with everything else on the server)
        "READ_POOL_SIZE": str(-(-READ_POOL // workers)),
        "SCHEDULER_ENABLED": "false",
        "GRAPHIQL": "false",
    }
    command = [*ENGINE, "serve", "--workers", str(workers), "--port", str(port), "--no-demo"]
    with child([*command, "--no-access-log"], env) as (process, log):
        base = f"http://127.0.0.1:{port}"
        seen: set[str] = set()
        _until(lambda: len(_answering(base, seen)) >= workers, process, log)
        yield base, process.pid


def _until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    started = time.monotonic()
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"exited {process.returncode}:\n{_output(log)}")
        if time.monotonic() - started > START_TIMEOUT_S:
            raise RuntimeError(f"not ready in {START_TIMEOUT_S} s:\n{_output(log)}")
        time.sleep(0.2)


def _healthy(base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    return False


def _answering(base: str, seen: set[str]) -> set[str]:
    """Add the processes that answer a few scrapes of /metrics (``payout_engine_process``
    names the one answering), each on a connection of its own."""
    for _ in range(8):
        with contextlib.suppress(httpx.HTTPError, StopIteration):
            text = httpx.get(f"{base}/metrics", timeout=2).text
            line = next(x for x in text.splitlines() if x.startswith("payout_engine_process"))
            seen.add(line.split('worker="', 1)[1].split('"', 1)[0])
    return seen


# -- the loads --------------------------------------------------------------------------------


async def reads(
    base: str, url: str, pid: int, key: str, payouts: int, seconds: float
) -> dict[str, Any]:
    ids = payout_ids(payouts)
    warm = CpuMeter(url, pid)
    await measure(base, key, TRACE, READ_CLIENTS, WARM_UP_S, payouts, warm, ids, seed=1)
    cpu = CpuMeter(url, pid)
    sample = await measure(base, key, TRACE, READ_CLIENTS, seconds, payouts, cpu, ids, seed=2)
    found = summary(TRACE, READ_CLIENTS, [sample])
    return {"load": "reads payout(id){trace}", **_common(found)}


@dataclass
class Spread:
    """The merchants the creates pay out for, seeded once: ``measured`` ones, ``warm`` ones
    for the warm-ups, and every payout the clients were answered as created so far (the
    books are checked against all of them after each round)."""

    measured: list[Merchant]
    warm: list[Merchant]
    answered: Tally = field(default_factory=Tally)
    rounds: int = 0  # idempotency keys are new in every round

    @classmethod
    async def seed(cls, url: str) -> Spread:
        merchants = await seed_merchants(url, [LARGE_BALANCE] * (MERCHANTS + CREATE_CLIENTS))
        return cls(merchants[:MERCHANTS], merchants[MERCHANTS:])


async def creates(base: str, url: str, pid: int, seconds: float, spread: Spread) -> dict[str, Any]:
    options = Options(
        seconds=seconds, clients=CREATE_CLIENTS, replay_rate=0.03, race_payouts=0, workers=0
    )
    spread.rounds += 1
    tag = str(spread.rounds)
    await run_payouts(base, spread.warm, options, lambda: deadline(WARM_UP_S), f"w{tag}-")
    cpu = CpuMeter(url, pid)
    cpu.start()
    tally = await run_payouts(base, spread.measured, options, lambda: deadline(seconds), f"s{tag}-")
    found = summarize("spread", tally, CREATE_CLIENTS)
    found |= cpu.cores(tally.seconds, len(tally.latencies))
    spread.answered.created |= tally.created
    books = await check(url, spread.measured, spread.answered)
    return {
        "load": f"createPayout x{MERCHANTS} merchants",
        **_common(found | {"req_per_s": found["requests_per_s"]}),
        "errors": found["errors"],
        "replay_mismatches": found["replay_mismatches"],
        "overdrawn_merchants": books["overdrawn_merchants"],
        "ledger_findings": books["ledger_findings"],
        "stored_eq_answered": books["stored_eq_answered"],
    }


def _common(found: dict[str, Any]) -> dict[str, Any]:
    keys = ("clients", "requests", "req_per_s", "p50_ms", "p99_ms", "cpu_server")
    keys += ("cpu_load_gen", "cpu_postgres", "cpu_rest_of_machine", "app_cpu_ms_per_req")
    return {key: found[key] for key in keys} | {"load_avg_1m": round(os.getloadavg()[0], 2)}


# -- the run ----------------------------------------------------------------------------------


async def prepare(url: str, payouts: int) -> tuple[str, Spread]:
    """Payouts to read (and the key to read them with), and the merchants."""
    engine = create_engine(url)
    try:
        await seed(engine, payouts)
        key = await issue_ops_key(engine, datetime.now(UTC))
    finally:
        await engine.dispose()
    return key, await Spread.seed(url)


def main(workers: list[int], payouts: int, seconds: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with database("postgresql") as url, served_banks() as banks:
        upgrade(url)
        key, spread = asyncio.run(prepare(url, payouts))
        for n in workers:
            with server(url, n, banks) as (base, pid):
                rows.append(_row(n, asyncio.run(reads(base, url, pid, key, payouts, seconds))))
                rows.append(_row(n, asyncio.run(creates(base, url, pid, seconds, spread))))
    return [_with_speedup(row, rows) for row in rows]


def _row(processes: int, found: dict[str, Any]) -> dict[str, Any]:
    print(
        f"  {processes} process(es) {found['load']:<28} {found['req_per_s']:>8} req/s"
        f"  p99 {found['p99_ms']:>8} ms  load {found['load_avg_1m']}"
    )
    return {"processes": processes, **found}


def _with_speedup(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    one = next((r for r in rows if r["load"] == row["load"] and r["processes"] == 1), None)
    speedup = round(row["req_per_s"] / one["req_per_s"], 2) if one and one["req_per_s"] else None
    cores = ("cpu_server", "cpu_load_gen", "cpu_postgres", "cpu_rest_of_machine")
    return {
        "workload": "scaling",
        **row,
        "speedup_vs_1": speedup,
        "cpu_total": round(sum(row[c] for c in cores), 2),
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--payouts", type=int, default=2_000, help="seeded for the reads")
    parser.add_argument("--seconds", type=float, default=8.0, help="per load")
    args = parser.parse_args()
    results = main(sorted(set(args.workers) | {1}), args.payouts, args.seconds)
    report(
        f"Scaling: serve --workers N on PostgreSQL, {os.cpu_count()} cores,"
        f" {args.seconds:g} s per load",
        results,
    )


if __name__ == "__main__":
    cli()
