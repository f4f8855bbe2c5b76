"""The webhook delivery job SIGKILLed mid-batch: a second worker finishes, and the
receiver has seen every outbox event at least once; none is lost.

Real processes on PostgreSQL: a receiver served in the test's loop (each answer takes a
moment, so a batch is in the air for a while), mock banks served beside it (a worker
needs them), the outbox filled with events, and one ``payout-engine worker`` delivering
them. Once the receiver has seen a share of the events, that worker is killed: it holds
deliveries it claimed and may have sent, with no answer recorded. A second worker must
send them again once the dead one's lease lapses (``WEBHOOK_LEASE_S``), and every
delivery must end ``succeeded`` with every event id at the receiver.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.ports import ProviderKind
from persistence import outbox
from persistence.db import create_engine, sessionmaker
from persistence.tables import WebhookDelivery, WebhookEvent
from persistence.webhook_store import SqlWebhooks
from providers.mock.bank import MockBank
from providers.mock.config import MockBankConfig
from providers.mock.server import serving
from tests.jobs_harness import Child, engine_command, eventually, provider_env, served
from tests.reliability.test_kill_processes import (
    START_TIMEOUT_S,
    STEP_TIMEOUT_S,
    postgresql_only,
    worker_id,
)

EVENTS = 600  # one fan-out pass, six claim batches of 100
KILL_AFTER = 150  # events seen by the receiver: the worker is into its second batch
ANSWER_S = 0.1  # each answer takes this long: a batch of 100 at 16 at once is ~0.7 s
LEASE_S = 3


@asynccontextmanager
async def receiver(seen: Counter[str]) -> AsyncIterator[str]:
    """An endpoint that counts every event id it is sent; its URL."""

    async def hook(request: Request) -> Response:
        body = json.loads(await request.body())
        assert request.headers["payout-event-id"] == body["id"]
        seen[body["id"]] += 1
        await asyncio.sleep(ANSWER_S)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    async with serving(app) as base:
        yield f"{base}/hook"


async def fill_outbox(sessions: Any, now: datetime) -> list[int]:
    """``EVENTS`` payout events, as a run writes them; their ids."""
    changed = [
        (
            n,
            "submitted",
            {"amount_minor": 100 + n, "currency": "USD", "payee_id": n % 7 + 1, "run_id": 1},
        )
        for n in range(1, EVENTS + 1)
    ]
    async with sessions.begin() as session:
        await outbox.payouts_changed(session, changed, now)
    async with sessions() as session:
        return list((await session.scalars(select(WebhookEvent.id))).all())


@pytest.mark.slow
@pytest.mark.postgres
@postgresql_only
async def test_a_killed_delivery_job_loses_no_event(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    seen: Counter[str] = Counter()
    banks = {kind: MockBank(kind, MockBankConfig(seed=1)) for kind in ProviderKind}
    children: list[Child] = []
    try:
        async with receiver(seen) as url, served(banks) as bank_urls:
            now = datetime.now(UTC)
            await SqlWebhooks(sessions).create_endpoint(url, [], None, "test", now)
            event_ids = await fill_outbox(sessions, now)
            assert len(event_ids) == EVENTS
            env = {
                "DATABASE_URL": database_url,
                **provider_env(bank_urls),
                "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
                "WEBHOOK_INTERVAL_S": "0.2",
                "WEBHOOK_LEASE_S": str(LEASE_S),
                "RUN_APPROVAL_MIN_TOTAL": "off",
            }

            async def start(name: str) -> Child:
                child = await Child.start([*engine_command(), "worker"], env, tmp_path / name)
                children.append(child)
                return child

            first = await start("worker1.log")

            async def into_a_batch() -> bool | None:
                assert first.alive(), first.output()
                return True if len(seen) >= KILL_AFTER else None

            await eventually(into_a_batch, "the first worker to deliver a share", START_TIMEOUT_S)
            assert await first.kill() == -9
            at_kill = len(seen)
            async with sessions() as session:
                held = (
                    await session.scalars(
                        select(WebhookDelivery.event_id).where(
                            WebhookDelivery.status == "pending",
                            WebhookDelivery.holder == worker_id(first),
                        )
                    )
                ).all()
            assert at_kill < EVENTS, "every event was delivered before the kill"
            # killed mid-batch: it held deliveries it had claimed, some already sent
            assert held, "the kill landed between two batches"
            at_kill_seen = set(seen)
            sent_unrecorded = sum(1 for e in held if str(e) in at_kill_seen)

            await start("worker2.log")

            async def all_delivered() -> bool | None:
                await asyncio.sleep(0.2)
                async with sessions() as session:
                    statuses = dict(
                        (
                            await session.execute(
                                select(WebhookDelivery.status, func.count()).group_by(
                                    WebhookDelivery.status
                                )
                            )
                        ).all()
                    )
                return True if statuses == {"succeeded": EVENTS} else None

            await eventually(all_delivered, "the second worker to finish", STEP_TIMEOUT_S)
            # every outbox event reached the receiver at least once
            assert sorted(int(e) for e in seen) == sorted(event_ids)
            # what the dead worker had sent without recording the answer was sent again
            sent_early = [e for e in held if str(e) in at_kill_seen]
            assert all(seen[str(e)] >= 2 for e in sent_early), "an unrecorded send not repeated"
    finally:
        for child in children:
            await child.close()
        await engine.dispose()
    twice = sum(1 for n in seen.values() if n > 1)
    print(
        f"\ndelivery worker killed at {at_kill}/{EVENTS} events seen, holding {len(held)}"
        f" ({sent_unrecorded} sent, unrecorded); {twice} events arrived twice"
    )
