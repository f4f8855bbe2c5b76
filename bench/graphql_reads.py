"""GraphQL reads through real uvicorn on 127.0.0.1, on PostgreSQL and SQLite.

N payouts are seeded by ``bench.seed`` (each with its audit trace and ledger entries).
The app is the one ``payout-engine serve`` runs (``service.bootstrap.build_app``),
served by uvicorn with one worker in a subprocess (scheduler off, access log off), so
the load generator does not share its event loop; the machine has two cores. Clients
are httpx AsyncClients with keep-alive and the demo operator key, in closed loops
for a bounded time after a warm-up.

Queries: ``payouts(first: 100, after: <random>)`` with nested rail, trace and
ledgerEntries; ``payout(id: <random>) { trace }``; and as limits measured in the same
run, ``{ __typename }`` (HTTP + auth + GraphQL, no data) and ``GET /health`` (HTTP and
one ``SELECT 1``). SQL statements per request are counted in-process (same app,
httpx ASGI transport) for page sizes 10, 50 and 100, and the captured statements are
replayed on a bare connection: the raw SQL time of one request.

    python -m bench.graphql_reads            # 10,000 payouts, 5 s per measurement
    python -m bench.graphql_reads --full     # 100,000 payouts, 20 s per measurement
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event

from bench.common import CpuMeter, database, percentile, report
from bench.seed import issue_ops_key, seed
from graph.pagination import encode_cursor
from persistence.migrate import upgrade
from service.bootstrap import Container, build, build_app
from service.settings import Settings

PAGE_QUERY = """
query Page($first: Int!, $after: String) {
  payouts(first: $first, after: $after) {
    edges {
      cursor
      node {
        id status amount { amount currency } providerOrderId updatedAt
        rail { code name currency settlementLagDays }
        trace { id occurredAt action actor detail }
        ledgerEntries { id transferId kind account side amount { amount currency } phase createdAt }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""
TRACE_QUERY = """
query One($id: ID!) {
  payout(id: $id) { id status trace { id occurredAt action actor detail } }
}"""
TYPENAME_QUERY = "{ __typename }"
GOAL_TRACE_RPS = 400  # payout(id) { trace } at 20 clients, one worker
GOAL_PAGE_P99_MS = 100  # payouts(first: 100) nested, p99 at 20 clients


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    query: str | None  # None: GET /health

    def body(self, rng: random.Random, n: int, first: int = 100) -> dict[str, Any]:
        if self.query is PAGE_QUERY:
            after = encode_cursor(rng.randint(first + 1, n + 1))
            return {"query": PAGE_QUERY, "variables": {"first": first, "after": after}}
        if self.query is TRACE_QUERY:
            return {"query": TRACE_QUERY, "variables": {"id": str(rng.randint(1, n))}}
        return {"query": self.query}


PAGE = Shape("payouts(first:100) nested", PAGE_QUERY)
TRACE = Shape("payout(id){trace}", TRACE_QUERY)
TYPENAME = Shape("{__typename} (limit)", TYPENAME_QUERY)
HEALTH = Shape("GET /health (limit)", None)
RUNS = ((HEALTH, 20), (TYPENAME, 20), (TRACE, 1), (TRACE, 20), (PAGE, 1), (PAGE, 20))


def _settings(url: str) -> Settings:
    return Settings(database_url=url, scheduler_enabled=False, _env_file=None)


# -- in-process: statements per request, raw SQL time ---------------------------------------


class Statements:
    """The SQL statements (and parameters) the engine executes while ``capturing``.

    SQLite's ``BEGIN IMMEDIATE`` (the write engine's begin hook; the API's reads
    take none) is counted apart: ``begins``."""

    def __init__(self, container: Container) -> None:
        self.captured: list[tuple[str, Any]] = []
        self.begins = 0
        self.capturing = False

        def _capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            if not self.capturing:
                return
            if statement.startswith("BEGIN"):
                self.begins += 1
            else:
                self.captured.append((statement, parameters))

        # The API reads on a pool of its own; its writes (none here) on the engine's.
        for engine in (container.engine, container.reads_engine):
            event.listen(engine.sync_engine, "before_cursor_execute", _capture)

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.captured = []
        self.begins = 0
        self.capturing = True
        try:
            yield self.captured
        finally:
            self.capturing = False


async def in_process(url: str, n: int, key: str) -> dict[str, Any]:
    """Statements per request by shape and page size, and their raw SQL time."""
    container = build(_settings(url))
    statements = Statements(container)
    app = build_app(container, migrate=False, recover=False, scheduler=False)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Api-Key {key}"}
    rng = random.Random(1)
    found: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://engine", headers=headers
        ) as http:
            for first in (10, 50, 100):
                body = PAGE.body(rng, n, first)
                await _checked(http, body, first)  # warm caches
                with statements.capture() as captured:
                    await _checked(http, body, first)
                found[f"statements_page_{first}"] = len(captured)
                found[f"begins_page_{first}"] = statements.begins
                if first == 100:
                    found["raw_sql_ms_page_100"] = await _replay(container, captured)
            body = TRACE.body(rng, n)
            await _checked(http, body, None)
            with statements.capture() as captured:
                await _checked(http, body, None)
            found["statements_payout_trace"] = len(captured)
            found["begins_payout_trace"] = statements.begins
            found["raw_sql_ms_payout_trace"] = await _replay(container, captured)
            with statements.capture() as captured:
                await _checked(http, TYPENAME.body(rng, n), None)
            found["statements_typename"] = len(captured)
    finally:
        await container.aclose()
    return found


async def _checked(http: httpx.AsyncClient, body: dict[str, Any], first: int | None) -> None:
    response = await http.post("/graphql", json=body)
    data = response.json()
    if response.status_code != 200 or data.get("errors"):
        raise RuntimeError(f"{response.status_code}: {str(data)[:500]}")
    if first is not None:
        edges = data["data"]["payouts"]["edges"]
        node = edges[0]["node"]
        if len(edges) != first or not node["trace"] or not node["ledgerEntries"]:
            raise RuntimeError(f"unexpected page: {len(edges)} edges, {str(node)[:300]}")


async def _replay(container: Container, captured: list[tuple[str, Any]], times: int = 30) -> float:
    """Median ms to run one request's statements, fetching all rows, on one connection."""
    spent = []
    async with container.engine.connect() as connection:
        for _ in range(times + 3):
            started = time.perf_counter()
            for statement, parameters in captured:
                result = await connection.exec_driver_sql(statement, parameters)
                result.fetchall()
            spent.append(time.perf_counter() - started)
            await connection.rollback()
    return round(statistics.median(spent[3:]) * 1000, 2)


# -- the served app and the load --------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The subprocess: the app ``payout-engine serve`` builds, on uvicorn, one worker."""
    import uvicorn

    app = build_app(build(_settings(url)), migrate=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def server(url: str) -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.graphql_reads", "--serve", url, "--port", str(port)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


async def load(
    base: str, key: str, shape: Shape, clients: int, seconds: float, n: int, cpu: CpuMeter
) -> dict[str, Any]:
    """``clients`` closed loops for ``seconds`` after a one-second warm-up."""
    start = time.perf_counter() + 1.0
    stop = start + seconds
    latencies: list[float] = []
    failures = 0

    async def meter() -> None:
        await asyncio.sleep(start - time.perf_counter())
        cpu.start()

    async def client(k: int) -> None:
        nonlocal failures
        rng = random.Random(k)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Api-Key {key}"}, timeout=60
        ) as http:
            while (sent := time.perf_counter()) < stop:
                if shape.query is None:
                    response = await http.get("/health")
                else:
                    response = await http.post("/graphql", json=shape.body(rng, n))
                took = time.perf_counter() - sent
                ok = response.status_code == 200 and b'"errors"' not in response.content
                if sent >= start:
                    latencies.append(took)
                    failures += not ok

    await asyncio.gather(meter(), *(client(k) for k in range(clients)))
    # Server CPU per request is the figure the load generator cannot distort: one
    # uvicorn worker serves at most 1000 / app_cpu_ms_per_req requests a second.
    cores = cpu.cores(time.perf_counter() - start, len(latencies))
    return {
        "query": shape.name,
        "clients": clients,
        "requests": len(latencies),
        "failed": failures,
        "req_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        **cores,
        "one_worker_max_req_per_s": round(1000 / cores["app_cpu_ms_per_req"], 1)
        if cores["app_cpu_ms_per_req"]
        else None,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # other work on the machine
    }


# -- one backend ------------------------------------------------------------------------------


async def prepare(url: str, n: int) -> tuple[str, dict[str, Any]]:
    container = build(_settings(url))
    try:
        seeded = await seed(container.engine, n)
        key = await issue_ops_key(container.engine, datetime.now(UTC))
    finally:
        await container.aclose()
    return key, {"seed_s": seeded.seconds["seed_s"], **await in_process(url, n, key)}


def run_backend(backend: str, n: int, seconds: float) -> list[dict[str, Any]]:
    with database(backend) as url:
        upgrade(url)
        key, facts = asyncio.run(prepare(url, n))
        print(f"  {backend}: seeded {n:,} payouts in {facts['seed_s']} s; {facts}")
        results = []
        with server(url) as (base, pid):
            for shape, clients in RUNS:
                cpu = CpuMeter(url, pid)
                result = asyncio.run(load(base, key, shape, clients, seconds, n, cpu))
                print(
                    f"  {backend:>10} {shape.name:<28} x{clients:<3}"
                    f" {result['req_per_s']:>8} req/s  p50 {result['p50_ms']:>8} ms"
                    f"  p99 {result['p99_ms']:>8} ms"
                    f"  server {result['app_cpu_ms_per_req']:>6} ms CPU/req"
                )
                results.append({"workload": "graphql_reads", "backend": backend, **result})
    return [_annotated(r, results, facts, n) for r in results]


def _annotated(
    result: dict[str, Any], results: list[dict[str, Any]], facts: dict[str, Any], n: int
) -> dict[str, Any]:
    """Add the statements, raw SQL time, the limits and the goal to each result."""
    at = {(r["query"], r["clients"]): r for r in results}
    ceiling = at[(TYPENAME.name, 20)]["req_per_s"]
    extra: dict[str, Any] = {"payouts": n}
    if result["query"] == PAGE.name:
        extra |= {
            "statements_per_request": facts["statements_page_100"],
            "statements_page_10_50_100": "/".join(
                str(facts[f"statements_page_{k}"]) for k in (10, 50, 100)
            ),
            "raw_sql_ms": facts["raw_sql_ms_page_100"],
            "begin_immediate_per_request": facts["begins_page_100"],
        }
        if result["clients"] == 20:
            extra["goal_p99_ms"] = GOAL_PAGE_P99_MS
            extra["goal_met"] = result["p99_ms"] <= GOAL_PAGE_P99_MS
    elif result["query"] == TRACE.name:
        extra |= {
            "statements_per_request": facts["statements_payout_trace"],
            "raw_sql_ms": facts["raw_sql_ms_payout_trace"],
            "begin_immediate_per_request": facts["begins_payout_trace"],
        }
        if result["clients"] == 20:
            extra["goal_req_per_s"] = GOAL_TRACE_RPS
            extra["goal_met"] = result["req_per_s"] >= GOAL_TRACE_RPS
    elif result["query"] == TYPENAME.name:
        extra["statements_per_request"] = facts["statements_typename"]
    if result["query"] != HEALTH.name:
        extra["vs_typename_ceiling"] = round(result["req_per_s"] / ceiling, 3)
    return result | extra


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 payouts, 20 s runs")
    parser.add_argument("--payouts", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--backends", nargs="*", default=["postgresql", "sqlite"])
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the server subprocess
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    n = args.payouts or (100_000 if args.full else 10_000)
    seconds = args.seconds or (20.0 if args.full else 5.0)
    results = [r for backend in args.backends for r in run_backend(backend, n, seconds)]
    report(f"Workload 3: GraphQL reads, {n:,} payouts, uvicorn (1 worker), {seconds:g} s", results)
    print(json.dumps({"goals": _goals(results)}))


def _goals(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{r['backend']} {r['query']} x{r['clients']}": r["goal_met"]
        for r in results
        if "goal_met" in r
    }


if __name__ == "__main__":
    cli()
