"""A run killed with SIGKILL mid-flight, then started again, pays everyone exactly once.

The engine runs as a real ``payout-engine run`` subprocess against three mock banks
served over HTTP by ``payout-engine mock-provider`` subprocesses (with latency), so
the banks keep their orders while the engine dies. The run is killed several times
at increasing, seeded points of its submission phase, each restart resuming the
same run (same idempotency key), before a last restart lets it finish. Then the
banks (over HTTP) and the database must agree: one order per eligible payout,
none twice, none lost, nothing left ``submitting``, and the audit trail intact.

A second, in-process test checks that the API server's start-up recovery
(``build_app``'s lifespan) finishes payouts an outage left ``submitting``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import select

from domain.ports import ProviderKind
from persistence.db import create_engine, sessionmaker
from persistence.tables import AuditEvent, LiquidationEvent, Payout, PayoutRun
from providers.mock.bank import MockBank
from providers.mock.config import Fault
from service.bootstrap import Container, build_app
from tests.conftest import FakeSleep

ROOT = Path(__file__).resolve().parents[2]
EVENT = "LIQ-2024-002"
EVENT_SIZE = 300
RUN_KEY = "crash-1"
LATENCY_MS = 30
# One kill per band, as fractions of the event's payouts already ordered at the banks.
KILL_BANDS = ((0.10, 0.25), (0.35, 0.50), (0.55, 0.70))
KILL_SEED = 20260302
BANK_START_TIMEOUT_S = 40  # the CLI alone takes 3-5 s to import on a busy 2-core machine
KILL_TIMEOUT_S = 60.0
FINISH_TIMEOUT_S = 120.0


def _engine_command() -> list[str]:
    script = Path(sys.executable).with_name("payout-engine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child we started (then kill it if it lingers) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- the mock banks, served over HTTP in their own processes ---------------------------


@pytest.fixture
def served_banks(tmp_path: Path) -> Iterator[dict[ProviderKind, str]]:
    """Three ``payout-engine mock-provider`` processes on free local ports; their URLs."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: dict[ProviderKind, Path] = {}
    urls: dict[ProviderKind, str] = {}
    try:
        for kind in ProviderKind:
            port = _free_port()
            logs[kind] = tmp_path / f"bank-{kind.value}.log"
            with logs[kind].open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            *_engine_command(),
                            "mock-provider",
                            "--kind",
                            kind.value,
                            "--host",
                            "127.0.0.1",
                            "--port",
                            str(port),
                            "--seed",
                            "7",
                            "--latency-ms",
                            str(LATENCY_MS),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                        cwd=ROOT,
                    )
                )
            urls[kind] = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + BANK_START_TIMEOUT_S
        with httpx.Client(timeout=1.0) as client:
            for proc, kind in zip(procs, ProviderKind, strict=True):
                while True:
                    if proc.poll() is not None:
                        pytest.fail(
                            f"mock bank {kind} exited ({proc.returncode}):\n"
                            + logs[kind].read_text(errors="replace")
                        )
                    try:
                        if client.get(f"{urls[kind]}/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        pytest.fail(f"mock bank {kind} did not answer /health in time")
                    time.sleep(0.05)
        yield urls
    finally:
        for proc in procs:
            _stop(proc)


class BankView:
    """The served banks' orders over HTTP, the three banks asked in parallel."""

    def __init__(self, urls: dict[ProviderKind, str]) -> None:
        self.urls = urls
        self._client = httpx.Client(timeout=10.0)
        self._pool = ThreadPoolExecutor(max_workers=len(urls))

    def close(self) -> None:
        self._pool.shutdown()
        self._client.close()

    def __enter__(self) -> BankView:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def orders(self) -> dict[str, dict[str, Any]]:
        """Every order at every bank, by order id, each tagged with its bank's kind."""
        orders: dict[str, dict[str, Any]] = {}
        for kind, listed in zip(self.urls, self._pool.map(self._list, self.urls), strict=True):
            for order in listed:
                assert order["id"] not in orders, f"order id {order['id']} listed twice"
                orders[order["id"]] = order | {"bank": kind.value}
        return orders

    def _list(self, kind: ProviderKind) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"limit": 1000}
        found: list[dict[str, Any]] = []
        while True:
            response = self._client.get(f"{self.urls[kind]}/v1/payment_orders", params=params)
            response.raise_for_status()
            page = response.json()
            found.extend(page["data"])
            if not page["next_cursor"]:
                return found
            params["cursor"] = page["next_cursor"]


# --- the database, read synchronously from the test ----------------------------------


def sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite://", "sqlite://")


async def _seed(url: str, size: int) -> None:
    from service.demo import seed

    engine = create_engine(url)
    try:
        await seed(sessionmaker(engine), datetime.now(UTC), large_event_size=size)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class PayoutRow:
    id: int
    status: str
    provider: str | None
    idempotency_key: str
    provider_order_id: str | None
    amount_minor: int
    skip_reason: str | None
    has_request: bool


def event_payouts(db: sa.Engine) -> list[PayoutRow]:
    with db.connect() as conn:
        rows = conn.execute(
            select(
                Payout.id,
                Payout.status,
                Payout.provider,
                Payout.idempotency_key,
                Payout.provider_order_id,
                Payout.amount_minor,
                Payout.skip_reason,
                Payout.order_request.isnot(None),
            )
            .join(LiquidationEvent, LiquidationEvent.id == Payout.event_id)
            .where(LiquidationEvent.code == EVENT)
            .order_by(Payout.id)
        ).all()
    return [PayoutRow(*row) for row in rows]


def all_payout_statuses(db: sa.Engine) -> Counter[str]:
    with db.connect() as conn:
        return Counter(
            dict(conn.execute(select(Payout.status, sa.func.count()).group_by(Payout.status)).all())
        )


def audit_rows(db: sa.Engine) -> list[tuple[str, int | None, int | None, dict[str, Any]]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(AuditEvent.action, AuditEvent.payout_id, AuditEvent.run_id, AuditEvent.detail)
        ).all()
    return [(a, p, r, d if isinstance(d, dict) else json.loads(d)) for a, p, r, d in rows]


def run_row(db: sa.Engine, key: str) -> Any:
    with db.connect() as conn:
        return conn.execute(
            select(PayoutRun)
            .join(LiquidationEvent, LiquidationEvent.id == PayoutRun.event_id)
            .where(LiquidationEvent.code == EVENT, PayoutRun.idempotency_key == key)
        ).one()


# --- the engine, as a subprocess ------------------------------------------------------


@dataclass
class KillPoint:
    threshold: int
    orders_at_kill: int  # at the banks when the kill was decided
    orders_after_kill: int  # once requests already on the wire were answered
    submitting: int  # payouts the crash left ``submitting``
    submitting_with_order: int  # ... of which the bank already holds an order


class Engine:
    def __init__(self, database_url: str, urls: dict[ProviderKind, str], tmp_path: Path) -> None:
        self.env = os.environ | {
            "DATABASE_URL": database_url,
            "ACH_PROVIDER_URL": urls[ProviderKind.ACH],
            "WIRE_PROVIDER_URL": urls[ProviderKind.WIRE],
            "CROSS_BORDER_PROVIDER_URL": urls[ProviderKind.CROSS_BORDER],
            "PROVIDER_CONCURRENCY": "8",
            "RUN_BATCH_SIZE": "50",
            # The runner's crash safety is the subject, not the four-eyes rule (which
            # `payout-engine run` keeps: tests/service/test_cli_run_approval.py).
            "RUN_APPROVAL_MIN_TOTAL": "off",
            "COLUMNS": "120",
            "NO_COLOR": "1",
        }
        self.tmp_path = tmp_path
        self.starts = 0

    def start(self, key: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.starts += 1
        out = self.tmp_path / f"run-{self.starts}-{key}.log"
        with out.open("wb") as log:
            proc = subprocess.Popen(
                [*_engine_command(), "run", EVENT, "--idempotency-key", key],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=ROOT,
            )
        return proc, out

    def run_to_end(self, key: str) -> str:
        proc, out = self.start(key)
        try:
            proc.wait(timeout=FINISH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {key} did not finish in {FINISH_TIMEOUT_S} s")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        text = out.read_text(errors="replace")
        assert proc.returncode == 0, f"run {key} exited {proc.returncode}:\n{text}"
        return text


def kill_when_ordered(
    proc: subprocess.Popen[bytes],
    out: Path,
    banks: BankView,
    threshold: int,
) -> int:
    """SIGKILL the run once the banks hold ``threshold`` orders; the count seen then."""
    deadline = time.monotonic() + KILL_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            count = len(banks.orders())
            if count >= threshold:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                if proc.returncode != -signal.SIGKILL:
                    break  # it finished between the count and the kill
                return count
            time.sleep(0.01)
        else:
            pytest.fail(f"the banks did not reach {threshold} orders in {KILL_TIMEOUT_S} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    pytest.fail(
        f"the run ended (exit {proc.returncode}) before it could be killed at {threshold} "
        f"orders: lower the kill points or raise LATENCY_MS\n" + out.read_text(errors="replace")
    )


def kill_thresholds() -> list[int]:
    rng = random.Random(KILL_SEED)
    return [round(rng.uniform(low, high) * EVENT_SIZE) for low, high in KILL_BANDS]


# --- the test -------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_run_resumes_and_pays_every_payout_exactly_once(
    database_url: str, served_banks: dict[ProviderKind, str], tmp_path: Path
) -> None:
    started = time.monotonic()
    asyncio.run(_seed(database_url, EVENT_SIZE))
    engine = Engine(database_url, served_banks, tmp_path)
    db = sa.create_engine(sync_url(database_url))
    kills: list[KillPoint] = []
    try:
        with BankView(served_banks) as banks:
            for threshold in kill_thresholds():
                assert len(banks.orders()) < threshold, (
                    "the previous kill overshot this kill point; space the kill bands further"
                )
                proc, out = engine.start(RUN_KEY)
                at_kill = kill_when_ordered(proc, out, banks, threshold)
                # Requests already on the wire still reach the bank after the kill.
                time.sleep(3 * LATENCY_MS / 1000 + 0.2)
                orders = banks.orders()
                payouts = event_payouts(db)
                by_key = {p.idempotency_key: p for p in payouts}
                # The intent is committed before the call: no order without its payout.
                for order in orders.values():
                    payout = by_key.get(order["idempotency_key"])
                    assert payout is not None, f"order {order['id']} has no payout in the database"
                    assert payout.status in ("submitting", "submitted"), (payout, order)
                submitting = [p for p in payouts if p.status == "submitting"]
                assert all(p.has_request for p in submitting)
                ordered_keys = {o["idempotency_key"] for o in orders.values()}
                kills.append(
                    KillPoint(
                        threshold,
                        at_kill,
                        len(orders),
                        len(submitting),
                        sum(p.idempotency_key in ordered_keys for p in submitting),
                    )
                )

            killed_at = time.monotonic()
            output = engine.run_to_end(RUN_KEY)
            assert "(completed)" in output, output
            resumed_s = time.monotonic() - killed_at
            before_replay = len(banks.orders())

            replay = engine.run_to_end("after-crash-1")
            created = re.search(r"created \(new payment orders\)\W+(\d+)", replay)
            assert created is not None and created.group(1) == "0", replay
            orders = banks.orders()
            assert len(orders) == before_replay

        payouts = event_payouts(db)
        check_exactly_once(payouts, orders)
        assert all_payout_statuses(db)["submitting"] == 0
        check_runs_and_audit(db, payouts, kills)
    finally:
        db.dispose()

    report = ", ".join(
        f"kill@{k.threshold} (seen {k.orders_at_kill}, {k.orders_after_kill} after): "
        f"{k.submitting} submitting, {k.submitting_with_order} already ordered"
        for k in kills
    )
    print(
        f"\n[{database_url.split(':', 1)[0]}] {report}; "
        f"final resume {resumed_s:.1f} s; whole test {time.monotonic() - started:.1f} s"
    )
    # At least one kill landed between a provider call and the commit of its answer.
    assert any(k.submitting_with_order for k in kills), kills


def check_exactly_once(payouts: list[PayoutRow], orders: dict[str, dict[str, Any]]) -> None:
    assert len(payouts) == EVENT_SIZE  # one payout per allocation, none twice
    statuses = Counter(p.status for p in payouts)
    assert set(statuses) <= {"submitted", "skipped"}, statuses
    eligible = [p for p in payouts if p.status != "skipped"]
    assert len(eligible) > EVENT_SIZE * 0.9, statuses
    assert all(p.skip_reason for p in payouts if p.status == "skipped")
    assert all(p.provider_order_id is None for p in payouts if p.status == "skipped")

    # As many orders at the banks as eligible payouts, and keys unique across banks.
    assert len(orders) == len(eligible)
    keys = Counter(o["idempotency_key"] for o in orders.values())
    assert [k for k, n in keys.items() if n > 1] == []
    # No payout holds two orders; each order belongs to exactly one payout, which holds it.
    order_ids = [p.provider_order_id for p in eligible]
    assert len(set(order_ids)) == len(order_ids)
    by_key = {p.idempotency_key: p for p in payouts}
    for order in orders.values():
        payout = by_key[order["idempotency_key"]]
        assert payout.status == "submitted"
        assert payout.provider_order_id == order["id"]
        assert payout.provider == order["bank"]
        amount = order["amount"]["amount"].replace(".", "")
        assert int(amount) == payout.amount_minor, (payout, order)
    assert {p.provider_order_id for p in eligible} == set(orders)


def check_runs_and_audit(db: sa.Engine, payouts: list[PayoutRow], kills: list[KillPoint]) -> None:
    eligible = {p.id: p for p in payouts if p.status == "submitted"}
    run = run_row(db, RUN_KEY)
    assert (run.status, run.total) == ("completed", EVENT_SIZE)
    assert (run.created, run.in_flight, run.failed) == (len(eligible), 0, 0)
    replay = run_row(db, "after-crash-1")
    assert (replay.status, replay.created, replay.in_flight) == ("completed", 0, 0)

    rows = audit_rows(db)
    actions = Counter(action for action, _, run_id, _ in rows if run_id == run.id)
    # Four starts of the same run: it was opened once and finished once.
    assert (actions["run.started"], actions["run.finished"]) == (1, 1)
    # Each restart saw exactly the payouts its predecessor's crash left submitting.
    assert actions["payout.recovering"] == sum(k.submitting for k in kills)
    to_submitting: Counter[int] = Counter()
    to_submitted: dict[int, list[str]] = {}
    for action, payout_id, _, detail in rows:
        if action != "payout.status_changed" or payout_id not in eligible:
            continue
        if detail["to"] == "submitting":
            to_submitting[payout_id] += 1
        elif detail["to"] == "submitted":
            to_submitted.setdefault(payout_id, []).append(detail["provider_order_id"])
    assert set(to_submitting.values()) == {1} and len(to_submitting) == len(eligible)
    assert {pid: ids for pid, ids in to_submitted.items() if len(ids) != 1} == {}
    assert {pid: ids[0] for pid, ids in to_submitted.items()} == {
        pid: p.provider_order_id for pid, p in eligible.items()
    }


# --- start-up recovery of the API server ------------------------------------------------


async def test_serve_startup_recovers_submitting_payouts(
    seeded: Container, banks: dict[ProviderKind, MockBank], fake_sleep: FakeSleep
) -> None:
    ach = banks[ProviderKind.ACH]
    # More failures than the ACH payouts of LIQ-2024-001 can use: every ACH attempt fails.
    ach.script(*[Fault.status(503)] * 60)
    summary = await seeded.runner.run("LIQ-2024-001", "outage")
    while ach.next_scripted_fault() is not None:  # drop the failures nobody met
        pass
    stuck = await seeded.store.submitting(None)
    assert summary.in_flight == len(stuck) >= 2
    assert {s.provider for s in stuck} == {ProviderKind.ACH}
    assert all(ach.count_orders_for(s.request.idempotency_key) == 0 for s in stuck)
    assert fake_sleep.calls  # the outage was retried with backoff, without really sleeping
    # As if the process died right after the bank took the first one's order.
    first = stuck[0]
    early = await seeded.providers[ProviderKind.ACH].create_order(first.request)
    assert early.order is not None
    orders_before = len(ach.orders)

    app = build_app(seeded, migrate=False)
    async with app.router.lifespan_context(app):
        assert await seeded.store.submitting(None) == []
        async with seeded.sessions() as session:
            rows = {
                p.id: p
                for p in await session.scalars(
                    select(Payout).where(Payout.id.in_([s.payout_id for s in stuck]))
                )
            }
        for s in stuck:
            payout = rows[s.payout_id]
            order = ach.order_for(payout.idempotency_key)
            assert payout.status == "submitted"
            assert ach.count_orders_for(payout.idempotency_key) == 1
            assert order is not None and payout.provider_order_id == order.order_id
        assert rows[first.payout_id].provider_order_id == early.order.order_id
        assert len(ach.orders) == orders_before + len(stuck) - 1
        after = await seeded.store.run_summary(summary.run_id)
        assert (after.in_flight, after.created) == (0, summary.created + len(stuck))
