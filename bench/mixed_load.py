"""Mixed load: ``--clients`` clients reading and requesting merchant payouts at once,
through real uvicorn on 127.0.0.1, on PostgreSQL, for ``--seconds``.

The server runs in a child process (one uvicorn worker, the scheduler on: pending
payouts are dispatched to its in-process mock banks and polled while the load runs).
Each client sends one request at a time; each request is, at random (seeded):

* ``createPayout`` (30%) for one of the merchants, as that merchant, with a fresh key
  or (3%) one of the client's earlier keys, which must replay the same payout; half of
  the merchants hold the balance for only a few dozen payouts, so overdraft refusals
  race with each other;
* ``payout(id) { trace }`` (25%) for a payout the client created, as its merchant;
* ``payee(id) { balances }`` (20%) as the merchant;
* ``payouts(first: 20)`` with rail, trace and ledger entries (15%), as ops;
* ``reconciliationBreaks`` / ``jobRuns`` (10%), as ops.

Judged by: no answer 5xx or a transport error (the goal: zero), no replay answered with
another payout, and afterwards ``ledger_checks.verify`` finds nothing, no merchant's
payouts exceed its opening balance, and the payouts stored are exactly those answered.
The request rate is compared with the ``{ __typename }`` ceiling measured in the same run.

With ``--flood N``, a second phase runs the same clients again while N more connections
send balance reads as fast as they can with one merchant's key of their own, on a server
limiting payee keys to ``--flood-limit`` requests a second (``RATE_LIMIT_PAYEE``): the
flooder should be answered 429 for most of its requests and the others keep their
latency (compare the two phases' p50/p99) and get no 429.

    python -m bench.mixed_load                   # 50 clients, 60 s
    python -m bench.mixed_load --seconds 10
    python -m bench.mixed_load --seconds 10 --flood 20 --flood-limit 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import merchant_payouts as mp
from bench.common import CpuMeter, database, percentile, report
from bench.seed import issue_ops_key
from domain.money import Money
from persistence.db import create_engine
from persistence.migrate import upgrade

PAYOUT_READ = "query($id: ID!) { payout(id: $id) { id status trace { action occurredAt } } }"
BALANCES = "query($id: ID!) { payee(id: $id) { id balances { code available { amount } } } }"
PAGE = """{ payouts(first: 20) { edges { node { id status amount { amount currency }
  rail { code } trace { action } ledgerEntries { side amount { amount } } } } } }"""
OPS_READS = (
    "{ reconciliationBreaks(first: 20) { edges { node { id kind status } } } }",
    "{ jobRuns(first: 20) { edges { node { id job status } } } }",
)
MIX = (("create", 30), ("payout", 25), ("balances", 20), ("page", 15), ("ops", 10))
SMALL_BALANCE_PAYOUTS = 40  # half the merchants can afford this many 1.00 payouts


@dataclass
class Load:
    """What every request got, by kind of request."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    payouts: mp.Tally = field(default_factory=mp.Tally)  # createPayout's own accounting

    def record(self, kind: str, seconds: float, outcome: str) -> None:
        self.latencies[kind].append(seconds)
        self.outcomes[outcome] += 1

    def server_errors(self) -> int:
        return sum(
            n
            for code, n in self.outcomes.items()
            if code.startswith("HTTP_5") or not code.startswith(("HTTP_", "ok", "GRAPHQL"))
        )


def outcome_of(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"HTTP_{response.status_code}"
    body = response.json()
    errors = body.get("errors") or []
    if errors:
        return f"GRAPHQL_{errors[0].get('extensions', {}).get('code', 'UNCODED')}"
    return "ok"


class Client:
    """One client: its own merchants' keys, its own seeded choices, its own payouts."""

    def __init__(
        self, number: int, merchants: Sequence[mp.Merchant], ops_key: str, load: Load
    ) -> None:
        self.random = random.Random(number)
        self.merchants = merchants
        self.ops = {"Authorization": f"Api-Key {ops_key}"}
        self.load = load
        self.payouts = mp.PayoutClient(f"mix{number:02d}", merchants, 0.03, seed=number)
        self.mine: list[tuple[mp.Merchant, int]] = []
        kinds, weights = zip(*MIX, strict=True)
        self.kinds, self.weights = list(kinds), list(weights)

    async def loop(self, http: httpx.AsyncClient, stop: mp.Stop) -> None:
        while not stop():
            kind = self.random.choices(self.kinds, self.weights)[0]
            if kind == "create" or (kind == "payout" and not self.mine):
                await self.create(http)
                continue
            merchant = self.random.choice(self.merchants)
            if kind == "payout":
                merchant, payout_id = self.random.choice(self.mine)
                body = {"query": PAYOUT_READ, "variables": {"id": str(payout_id)}}
                headers = {"Authorization": f"Api-Key {merchant.key}"}
            elif kind == "balances":
                body = {"query": BALANCES, "variables": {"id": str(merchant.payee_id)}}
                headers = {"Authorization": f"Api-Key {merchant.key}"}
            elif kind == "page":
                body, headers = {"query": PAGE}, self.ops
            else:
                body, headers = {"query": self.random.choice(OPS_READS)}, self.ops
            await self.send(http, kind, body, headers)

    async def send(
        self, http: httpx.AsyncClient, kind: str, body: dict[str, Any], headers: dict[str, str]
    ) -> None:
        started = time.perf_counter()
        try:
            outcome = outcome_of(await http.post("/graphql", json=body, headers=headers))
        except (httpx.HTTPError, ValueError) as error:
            outcome = type(error).__name__
        self.load.record(kind, time.perf_counter() - started, outcome)

    async def create(self, http: httpx.AsyncClient) -> None:
        sent = self.payouts.next()
        headers = {"Authorization": f"Api-Key {sent.merchant.key}"}
        started = time.perf_counter()
        code, payout_id = await mp._post(http, mp.payout_body(sent), headers, self.load.payouts)
        outcome = "ok" if code in ("created", "replayed", "INSUFFICIENT_FUNDS") else code
        self.load.record("create", time.perf_counter() - started, outcome)
        tally = self.load.payouts
        if sent.replay_of is not None:
            if code != "replayed" or payout_id != sent.replay_of:
                tally.replay_mismatches += 1
        elif code == "replayed":
            tally.replay_mismatches += 1
        elif payout_id is not None:
            tally.created[(sent.merchant.payee_id, sent.key)] = payout_id
            self.payouts.remember(sent, payout_id)
            self.mine.append((sent.merchant, payout_id))


async def measure(url: str, base_url: str, server_pid: int, options: argparse.Namespace) -> list:
    large = Money.parse("1000000000.00", "INR")
    small = Money(mp.AMOUNT.minor * SMALL_BALANCE_PAYOUTS, "INR")
    seeded = await mp.seed(url, [large, small] * (options.merchants // 2) + [large])
    merchants, flooder = seeded[:-1], seeded[-1]  # the flooder's key is its own
    engine = create_engine(url)
    try:
        ops_key = await issue_ops_key(engine, datetime.now(UTC))
    finally:
        await engine.dispose()
    results: list[dict[str, Any]] = []

    ceiling_s = min(5.0, options.seconds)
    ceiling_options = mp.Options(ceiling_s, options.clients, 0.0, 0, 1)
    ceiling_key = ops_key if options.flood else merchants[0].key  # payee keys are limited
    await mp.run_typename(base_url, ceiling_key, ceiling_options, 1.0)  # warm-up
    ceiling = await mp.run_typename(base_url, ceiling_key, ceiling_options, ceiling_s)
    results.append(mp.summarize("typename_ceiling", ceiling, options.clients))

    load = Load()
    cpu = CpuMeter(url, server_pid)
    stop = mp.deadline(options.seconds)
    clients = [Client(i, merchants, ops_key, load) for i in range(options.clients)]
    cpu.start()
    seconds = await mp.drive(base_url, options.clients, lambda h, i: clients[i].loop(h, stop))
    row = phase_row("mixed", load, seconds, options.clients)
    row["vs_typename"] = round(row["requests_per_s"] / (len(ceiling.latencies) / ceiling_s), 3)
    row |= cpu.cores(seconds, row["requests"])
    flooded = (
        await flood_phase(base_url, clients, flooder, load, options) if options.flood else None
    )
    row |= await mp.check(url, merchants, load.payouts)  # the payouts of both phases
    row["zero_5xx"] = row["server_errors"] == 0
    row["invariants_hold"] = (
        row["ledger_findings"] == 0
        and row["overdrawn_merchants"] == 0
        and row["stored_eq_answered"]
        and row["replay_mismatches"] == 0
    )
    results.append(row)
    if flooded is not None:
        results.append(flooded)
    return results


def phase_row(phase: str, load: Load, seconds: float, clients: int) -> dict[str, Any]:
    everything = [s for values in load.latencies.values() for s in values]
    row: dict[str, Any] = {
        "workload": "mixed_load",
        "phase": phase,
        "clients": clients,
        "seconds": round(seconds, 1),
        "requests": len(everything),
        "requests_per_s": round(len(everything) / seconds, 1),
        "p50_ms": round(percentile([s * 1000 for s in everything], 50), 1),
        "p99_ms": round(percentile([s * 1000 for s in everything], 99), 1),
        "server_errors": load.server_errors(),
        "outcomes": dict(sorted(load.outcomes.items())),
        "replay_mismatches": load.payouts.replay_mismatches,
        "payouts_created": len(load.payouts.created),
        "insufficient_funds": load.payouts.outcomes["INSUFFICIENT_FUNDS"],
    }
    for kind, values in sorted(load.latencies.items()):
        ms = [s * 1000 for s in values]
        row[f"{kind}_n"] = len(values)
        row[f"{kind}_p99_ms"] = round(percentile(ms, 99), 1)
    return row


async def flood_phase(
    base_url: str,
    clients: Sequence[Client],
    flooder: mp.Merchant,
    before: Load,
    options: argparse.Namespace,
) -> dict[str, Any]:
    """The same clients again, beside ``options.flood`` connections reading as fast as
    they can with one key; the payouts the clients make are still counted in ``before``."""
    load, flood = Load(payouts=before.payouts), Load()
    created_before = len(before.payouts.created)
    for client in clients:
        client.load = load
    stop = mp.deadline(options.seconds)
    body = {"query": BALANCES, "variables": {"id": str(flooder.payee_id)}}
    headers = {"Authorization": f"Api-Key {flooder.key}"}
    flooding = Client(-1, [flooder], "", flood)

    async def loop(http: httpx.AsyncClient, i: int) -> None:
        if i < len(clients):
            await clients[i].loop(http, stop)
            return
        while not stop():
            await flooding.send(http, "flood", body, headers)

    seconds = await mp.drive(base_url, len(clients) + options.flood, loop)
    row = phase_row("mixed_with_flood", load, seconds, len(clients))
    flood_ok = flood.outcomes["ok"]
    row |= {
        "payouts_created": len(load.payouts.created) - created_before,
        "flood_connections": options.flood,
        "flood_limit_per_s": options.flood_limit,
        "flood_requests": sum(flood.outcomes.values()),
        "flood_429": flood.outcomes["HTTP_429"],
        "flood_ok_per_s": round(flood_ok / seconds, 1),
        "others_429": load.outcomes["HTTP_429"],
    }
    return row


def main(options: argparse.Namespace) -> list[dict[str, Any]]:
    load_before = round(os.getloadavg()[0], 2)
    limits = {"payee": options.flood_limit} if options.flood else None
    with database("postgresql") as url:
        upgrade(url)
        with mp.server_process(url, 1, scheduler=True, rate_limits=limits) as (base_url, pid):
            results = asyncio.run(measure(url, base_url, pid, options))
    for row in results:
        row["loadavg_before"] = load_before
    return results


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--merchants", type=int, default=100, help="half with small balances")
    parser.add_argument(
        "--flood", type=int, default=0, help="a second phase with this many flooding connections"
    )
    parser.add_argument(
        "--flood-limit", type=float, default=20.0, help="RATE_LIMIT_PAYEE while flooding"
    )
    return parser


def cli() -> None:
    report("mixed load: reads and createPayout, uvicorn, PostgreSQL", main(parser().parse_args()))


if __name__ == "__main__":
    cli()
