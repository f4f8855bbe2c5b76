"""Merchant payouts: ``createPayout`` over GraphQL through real uvicorn, on PostgreSQL
and SQLite.

The server runs in a child process (one uvicorn worker unless ``--workers``, no
scheduler, no access log) on 127.0.0.1; this process is the load: ``--clients``
httpx clients with keep-alive, each sending one request at a time for a bounded
time. Every request has a unique idempotency key, except a few percent that repeat
one of the client's own earlier keys with the same input and must replay it.

Phases, each compared with limits measured in the same run:

* ``typename``: ``{ __typename }`` with the same API key, the HTTP + auth + GraphQL ceiling;
* ``raw_insert``: single-row INSERT + COMMIT transactions/s on the same database;
* ``hot``: one merchant (one hot ledger account) with a large balance (goal: 300 req/s
  with p99 <= 250 ms at 16 clients);
* ``spread``: 100 merchants with large balances, each client cycling over its own share;
* ``race``: a merchant with the balance for exactly N payouts, the clients sending 3N.

Afterwards ``ledger_checks.verify`` must find nothing, every merchant's payouts must
sum to no more than its opening balance, and the race must pay exactly N. With one
worker the server also counts its SQL statements and write transactions (commits), so
each phase reports statements per request and requests per transaction (how many
requests a group commit carried, on average).

    python -m bench.merchant_payouts                  # 10 s per phase
    python -m bench.merchant_payouts --full           # 30 s per phase
    python -m bench.merchant_payouts --backend sqlite # one database only
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from sqlalchemy import case, event, func, select, text
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.common import CpuMeter, child, database, percentile, report
from domain import ledger
from domain.auth import Role
from domain.money import Money
from persistence import ledger_checks, ledger_store
from persistence.api_keys import SqlApiKeys
from persistence.db import create_engine, is_sqlite, sessionmaker
from persistence.migrate import upgrade
from persistence.tables import BankAccount, Payout
from service.bootstrap import build, build_app
from service.demo import _insert_payees, _merchant
from service.settings import Settings

CREATE = """mutation($input: CreatePayoutInput!) { createPayout(input: $input) {
  payout { id status } replayed userErrors { code } } }"""
TYPENAME = "{ __typename }"
AMOUNT = Money.parse("1.00", "INR")
LARGE_BALANCE = Money.parse("1000000000.00", "INR")
URL_ENV = "PAYOUT_BENCH_SERVER_DATABASE_URL"
SCHEDULER_ENV = "PAYOUT_BENCH_SERVER_SCHEDULER"  # "1": the server runs its jobs too
GOAL_RPS, GOAL_P99_MS = 300.0, 250.0  # issue 18, goal 4: one hot merchant
COUNTS_PATH = "/bench/statements"
GAVE_BACK = ("failed", "cancelled", "returned")


@dataclass(frozen=True, slots=True)
class Merchant:
    payee_id: int
    account_id: int
    key: str  # its payee API key
    opening_minor: int


# -- answers ---------------------------------------------------------------------------


def classify(status_code: int, body: Any) -> tuple[str, int | None]:
    """(outcome code, payout id) of one createPayout answer.

    The code is ``created``, ``replayed``, the first userError code, ``GRAPHQL_ERROR``
    or ``HTTP_<status>``.
    """
    if status_code != 200 or not isinstance(body, dict):
        return f"HTTP_{status_code}", None
    if body.get("errors") or not isinstance(body.get("data"), dict):
        return "GRAPHQL_ERROR", None
    payload = body["data"].get("createPayout")
    if payload is None:
        return "ok", None  # a query without createPayout (the ceiling)
    errors = payload.get("userErrors") or []
    if errors:
        return str(errors[0].get("code")), None
    payout_id = int(payload["payout"]["id"])
    return ("replayed" if payload.get("replayed") else "created"), payout_id


@dataclass
class Tally:
    """What one phase's requests got."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    # (payee id, idempotency key) -> payout id, for answers that created a payout
    created: dict[tuple[int, str], int] = field(default_factory=dict)
    replay_mismatches: int = 0  # a repeated key answered with another payout, or not replayed
    seconds: float = 0.0

    def errors(self) -> dict[str, int]:
        ok = {"ok", "created", "replayed"}
        return {code: n for code, n in sorted(self.outcomes.items()) if code not in ok}


# -- one client ------------------------------------------------------------------------


@dataclass
class Sent:
    merchant: Merchant
    key: str
    replay_of: int | None  # the payout id a repeated key must come back with


class PayoutClient:
    """One client's stream of createPayout requests over ``merchants`` (round robin),
    repeating one of its own earlier keys with probability ``replay_rate``."""

    def __init__(
        self, name: str, merchants: Sequence[Merchant], replay_rate: float, seed: int
    ) -> None:
        self._name = name
        self._merchants = merchants
        self._replay_rate = replay_rate
        self._random = random.Random(seed)
        self._sequence = 0
        self._done: list[tuple[Merchant, str, int]] = []

    def next(self) -> Sent:
        if self._done and self._random.random() < self._replay_rate:
            merchant, key, payout_id = self._random.choice(self._done)
            return Sent(merchant, key, payout_id)
        self._sequence += 1
        merchant = self._merchants[self._sequence % len(self._merchants)]
        return Sent(merchant, f"{self._name}-{self._sequence:07d}", None)

    def remember(self, sent: Sent, payout_id: int) -> None:
        self._done.append((sent.merchant, sent.key, payout_id))


def payout_body(sent: Sent) -> dict[str, Any]:
    return {
        "query": CREATE,
        "variables": {
            "input": {
                "payeeId": str(sent.merchant.payee_id),
                "amount": AMOUNT.to_decimal_string(),
                "currency": AMOUNT.currency,
                "bankAccountId": str(sent.merchant.account_id),
                "idempotencyKey": sent.key,
            }
        },
    }


def share(merchants: Sequence[Merchant], clients: int, client: int) -> list[Merchant]:
    """The merchants one client pays out for: disjoint shares when there are enough
    (each merchant's requests come one at a time, as from its own integration), else all."""
    if len(merchants) < clients:
        return list(merchants)
    return list(merchants[client::clients])


Stop = Callable[[], bool]


async def payout_loop(
    http: httpx.AsyncClient, client: PayoutClient, tally: Tally, stop: Stop
) -> None:
    while not stop():
        sent = client.next()
        headers = {"Authorization": f"Api-Key {sent.merchant.key}"}
        code, payout_id = await _post(http, payout_body(sent), headers, tally)
        if sent.replay_of is not None:
            if code != "replayed" or payout_id != sent.replay_of:
                tally.replay_mismatches += 1
        elif code == "replayed":
            tally.replay_mismatches += 1  # a fresh key must never find a payout
        elif payout_id is not None:
            tally.created[(sent.merchant.payee_id, sent.key)] = payout_id
            client.remember(sent, payout_id)


async def typename_loop(http: httpx.AsyncClient, key: str, tally: Tally, stop: Stop) -> None:
    headers = {"Authorization": f"Api-Key {key}"}
    while not stop():
        await _post(http, {"query": TYPENAME}, headers, tally)


async def _post(
    http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str], tally: Tally
) -> tuple[str, int | None]:
    started = time.perf_counter()
    try:
        response = await http.post("/graphql", json=body, headers=headers)
        answer = classify(response.status_code, response.json())
    except (httpx.HTTPError, ValueError) as error:
        answer = (type(error).__name__, None)
    tally.latencies.append(time.perf_counter() - started)
    tally.outcomes[answer[0]] += 1
    return answer


def deadline(seconds: float) -> Stop:
    """Stop ``seconds`` after the first request: the clock starts with the load, not
    while the clients are still being made (16 httpx clients take a second on a busy
    box, which once left the warm-up with no request at all)."""
    end: list[float] = []

    def stop() -> bool:
        now = time.perf_counter()
        if not end:
            end.append(now + seconds)
        return now >= end[0]

    return stop


def budget(requests: int) -> Stop:
    left = [requests]

    def stop() -> bool:
        left[0] -= 1
        return left[0] < 0

    return stop


async def drive(
    base_url: str, clients: int, loop: Callable[[httpx.AsyncClient, int], Awaitable[None]]
) -> float:
    """Run ``loop`` on ``clients`` keep-alive clients at once; returns the seconds taken."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)
            )
            for _ in range(clients)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(loop(http, i) for i, http in enumerate(https)))
        return time.perf_counter() - started


# -- the server ------------------------------------------------------------------------


def server_app() -> ASGIApp:
    """The app the child process serves (a factory, so ``--workers`` can import it),
    answering ``COUNTS_PATH`` with the statements and commits it has sent so far."""
    jobs = os.environ.get(SCHEDULER_ENV) == "1"
    settings = Settings(
        database_url=os.environ[URL_ENV], scheduler_enabled=jobs, graphiql=False, _env_file=None
    )
    container = build(settings)
    counts = Counter[str]()

    def statement(*_args: object) -> None:
        counts["statements"] += 1

    def commit(*_args: object) -> None:
        counts["commits"] += 1

    for engine in (container.engine, container.reads_engine):
        event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(container.engine.sync_engine, "commit", commit)
    app = build_app(container, migrate=False, recover=False, scheduler=jobs)

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == COUNTS_PATH:
            await JSONResponse(dict(counts))(scope, receive, send)
        else:
            await app(scope, receive, send)

    return counted


def server_counts(base_url: str) -> Counter[str]:
    """The server's statements and commits so far (one worker: that worker's)."""
    return Counter(httpx.get(f"{base_url}{COUNTS_PATH}", timeout=5).json())


def serve(port: int, workers: int) -> None:
    uvicorn.run(
        "bench.merchant_payouts:server_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server_process(
    database_url: str,
    workers: int,
    *,
    scheduler: bool = False,
    rate_limits: Mapping[str, float] | None = None,
) -> Iterator[tuple[str, int]]:
    """``rate_limits``: requests a second per key by role (``RATE_LIMIT_<ROLE>``); none by
    default, since the benches measure what the server serves."""
    port = free_port()
    limits = {f"RATE_LIMIT_{role.upper()}": str(rate) for role, rate in (rate_limits or {}).items()}
    env = {
        **os.environ,
        **{f"RATE_LIMIT_{role.value.upper()}": "0" for role in Role},
        **limits,
        URL_ENV: database_url,
        SCHEDULER_ENV: "1" if scheduler else "0",
    }
    command = [sys.executable, "-m", "bench.merchant_payouts", "--serve", str(port)]
    command += ["--workers", str(workers)]
    with child(command, env, stop_within_s=10) as (process, log):
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, process, log)
        yield base_url, process.pid


def _wait_healthy(base_url: str, child: subprocess.Popen[bytes], log: Any) -> None:
    for _ in range(300):
        if child.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited:\n{log.read().decode(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy in 30 s")


# -- seeding and checking ----------------------------------------------------------------


async def seed(database_url: str, balances: Sequence[Money]) -> list[Merchant]:
    """Merchants with these opening balances, and a payee API key each."""
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    now = datetime.now(UTC)
    people = [
        _merchant(f"MER-B{i:04d}", f"Bench Merchant {i}", 10_000 + i, b.to_decimal_string())
        for i, b in enumerate(balances)
    ]
    try:
        async with sessions.begin() as session:
            ids = await _insert_payees(session, people, now)
            payee_ids = [ids[p.reference] for p in people]
            accounts = dict(
                (
                    await session.execute(
                        select(BankAccount.payee_id, BankAccount.id).where(
                            BankAccount.payee_id.in_(payee_ids)
                        )
                    )
                ).all()
            )
            postings = [
                ledger_store.Posting(ledger.fund_merchant(pid, b))
                for pid, b in zip(payee_ids, balances, strict=True)
            ]
            await ledger_store.write(session, postings, now)
        keys = SqlApiKeys(sessions)
        merchants = [
            Merchant(pid, accounts[pid], await keys.issue(Role.PAYEE, "bench", now, pid), b.minor)
            for pid, b in zip(payee_ids, balances, strict=True)
        ]
    finally:
        await engine.dispose()
    return merchants


async def check(database_url: str, merchants: Sequence[Merchant], tally: Tally) -> dict[str, Any]:
    """The ledger's invariants, and each merchant's payouts against its balance and the
    answers the clients got."""
    engine = create_engine(database_url)
    try:
        async with sessionmaker(engine)() as session:
            findings = await ledger_checks.verify(session)
            # a failed or cancelled payout gave its hold back and a returned one its
            # money: only the others count against the opening balance
            spending = case((Payout.status.in_(GAVE_BACK), 0), else_=Payout.amount_minor)
            rows = await session.execute(
                select(Payout.payee_id, func.count(), func.sum(spending))
                .where(Payout.payee_id.in_([m.payee_id for m in merchants]))
                .group_by(Payout.payee_id)
            )
            stored = {pid: (int(n), int(total or 0)) for pid, n, total in rows.all()}
    finally:
        await engine.dispose()
    answered = Counter(payee_id for payee_id, _ in tally.created)
    over = [m for m in merchants if stored.get(m.payee_id, (0, 0))[1] > m.opening_minor]
    return {
        "payouts_stored": sum(n for n, _ in stored.values()),
        "payouts_answered": len(tally.created),
        "stored_eq_answered": all(
            stored.get(m.payee_id, (0, 0))[0] == answered[m.payee_id] for m in merchants
        ),
        "overdrawn_merchants": len(over),
        "ledger_findings": len(findings),
    }


async def raw_insert_rate(database_url: str, clients: int, seconds: float) -> dict[str, Any]:
    """Single-row INSERT + COMMIT transactions/s from ``clients`` connections at once."""
    engine = create_engine(database_url, pool_size=clients)
    try:
        sqlite = is_sqlite(database_url)
        table = "id integer PRIMARY KEY" if sqlite else "id bigserial PRIMARY KEY"
        stamp = "datetime('now')" if sqlite else "now()"
        async with engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE bench_raw ({table}, k text, at text)"))
        tally = Tally()
        stop = deadline(seconds)

        async def one(n: int) -> None:
            i = 0
            while not stop():
                started = time.perf_counter()
                async with engine.begin() as connection:
                    await connection.execute(
                        text(f"INSERT INTO bench_raw (k, at) VALUES (:k, {stamp})"),
                        {"k": f"{n}-{i}"},
                    )
                tally.latencies.append(time.perf_counter() - started)
                i += 1

        cpu = CpuMeter(database_url)
        cpu.start()
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(clients)))
        tally.seconds = time.perf_counter() - started
        tally.outcomes["ok"] = len(tally.latencies)
        cores = cpu.cores(tally.seconds, len(tally.latencies))
    finally:
        await engine.dispose()
    return summarize("raw_insert", tally, clients) | cores


def summarize(phase: str, tally: Tally, clients: int) -> dict[str, Any]:
    n = len(tally.latencies)
    ms = [v * 1000 for v in tally.latencies]
    return {
        "workload": "merchant_payouts",
        "phase": phase,
        "clients": clients,
        "requests": n,
        "seconds": round(tally.seconds, 2),
        "requests_per_s": round(n / tally.seconds, 1) if tally.seconds else 0.0,
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "created": tally.outcomes["created"],
        "replayed": tally.outcomes["replayed"],
        "errors": tally.errors() or "none",
        "replay_mismatches": tally.replay_mismatches,
    }


# -- the phases --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    seconds: float
    clients: int
    replay_rate: float
    race_payouts: int
    workers: int
    spread_merchants: int = 100
    backends: tuple[str, ...] = ("postgresql", "sqlite")


async def run_payouts(
    base_url: str,
    merchants: Sequence[Merchant],
    options: Options,
    stop_factory: Callable[[], Stop],
    tag: str,
) -> Tally:
    tally = Tally()
    stop = stop_factory()
    clients = [
        PayoutClient(
            f"{tag}{i:02d}", share(merchants, options.clients, i), options.replay_rate, seed=i
        )
        for i in range(options.clients)
    ]

    async def loop(http: httpx.AsyncClient, i: int) -> None:
        await payout_loop(http, clients[i], tally, stop)

    tally.seconds = await drive(base_url, options.clients, loop)
    return tally


async def run_typename(base_url: str, key: str, options: Options, seconds: float) -> Tally:
    tally = Tally()
    stop = deadline(seconds)

    async def loop(http: httpx.AsyncClient, _i: int) -> None:
        await typename_loop(http, key, tally, stop)

    tally.seconds = await drive(base_url, options.clients, loop)
    return tally


def counted_rates(before: Counter[str], after: Counter[str], requests: int) -> dict[str, Any]:
    """Statements per request, and requests per write transaction, between two counts."""
    statements = after["statements"] - before["statements"]
    commits = after["commits"] - before["commits"]
    return {
        "statements_per_req": round(statements / requests, 2) if requests else 0.0,
        "reqs_per_commit": round(requests / commits, 2) if commits else 0.0,
    }


async def measure(
    database_url: str, base_url: str, server_pid: int, options: Options
) -> list[dict[str, Any]]:
    hot_balance, race_balance = LARGE_BALANCE, Money(AMOUNT.minor * options.race_payouts, "INR")
    balances = [hot_balance, race_balance, LARGE_BALANCE]
    balances += [LARGE_BALANCE] * options.spread_merchants
    merchants = await seed(database_url, balances)
    hot, race, warm, spread = merchants[0], merchants[1], merchants[2], merchants[3:]
    cpu = CpuMeter(database_url, server_pid)
    counting = options.workers == 1  # the count comes from one worker
    results = []

    await run_typename(base_url, hot.key, options, 1.0)  # warm-up: connections, pools
    # and createPayout's statements compiled, on a merchant of its own, not measured
    await run_payouts(base_url, [warm], options, lambda: deadline(1.0), "warm")
    cpu.start()
    tally = await run_typename(base_url, hot.key, options, options.seconds)
    results.append(
        {
            **summarize("typename", tally, options.clients),
            **cpu.cores(tally.seconds, len(tally.latencies)),
        }
    )

    async def phase_row(
        phase: str, group: Sequence[Merchant], phase_options: Options, stop: Callable[[], Stop]
    ) -> tuple[dict[str, Any], Tally]:
        before = server_counts(base_url) if counting else Counter[str]()
        cpu.start()
        tally = await run_payouts(base_url, group, phase_options, stop, phase[:3])
        row = summarize(phase, tally, options.clients)
        row |= cpu.cores(tally.seconds, len(tally.latencies))
        if counting:
            row |= counted_rates(before, server_counts(base_url), len(tally.latencies))
        row |= await check(database_url, group, tally)
        return row, tally

    row, _ = await phase_row("hot_1_merchant", [hot], options, lambda: deadline(options.seconds))
    row["goal_300_rps_p99_250ms"] = (
        row["requests_per_s"] >= GOAL_RPS and row["p99_ms"] <= GOAL_P99_MS
    )
    results.append(row)
    row, _ = await phase_row(
        "spread_100_merchants", spread, options, lambda: deadline(options.seconds)
    )
    results.append(row)

    race_options = dataclasses.replace(options, replay_rate=0.0)
    row, tally = await phase_row(
        "race_exact_n", [race], race_options, lambda: budget(3 * options.race_payouts)
    )
    row["race_n"] = options.race_payouts
    row["race_exactly_n"] = tally.outcomes["created"] == options.race_payouts == len(tally.created)
    results.append(row)

    results.append(await raw_insert_rate(database_url, options.clients, options.seconds / 2))
    return results


def main(options: Options) -> list[dict[str, Any]]:
    results = []
    for backend in options.backends:
        load_before = round(os.getloadavg()[0], 2)
        with database(backend) as url:
            upgrade(url)
            with server_process(url, options.workers) as (base_url, pid):
                rows = asyncio.run(measure(url, base_url, pid, options))
        ceiling = rows[0]["requests_per_s"]
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
        for row in rows:
            row |= {"backend": backend, "workers": options.workers, "http": http}
            row |= {"loadavg_before": load_before, "loadavg_after": round(os.getloadavg()[0], 2)}
            if row["phase"] not in ("typename", "raw_insert") and ceiling:
                row["vs_typename"] = round(row["requests_per_s"] / ceiling, 3)
        results += rows
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--full", action="store_true", help="30 s per phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--replay-rate", type=float, default=0.03)
    parser.add_argument("--race-payouts", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--backend", choices=("postgresql", "sqlite", "both"), default="both", help="database"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers)
        return
    options = Options(
        seconds=30.0 if args.full else args.seconds,
        clients=args.clients,
        replay_rate=args.replay_rate,
        race_payouts=args.race_payouts,
        workers=args.workers,
        backends=("postgresql", "sqlite") if args.backend == "both" else (args.backend,),
    )
    report("merchant payouts: createPayout over GraphQL, uvicorn", main(options))


if __name__ == "__main__":
    cli()
