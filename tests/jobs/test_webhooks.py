"""Signed webhooks end to end: a real receiver on a loopback port, the delivery job run
by hand, the engine's clock advanced instead of sleeping.

What a receiver is promised: every event is posted as JSON with a stable id, signed
HMAC-SHA256 over ``f"{t}.{body}"`` with the endpoint's secret; a payout's events arrive
in the order they happened; a failed delivery is tried again 30 s later, then after
doubling waits (at most 6 h) for three days; delivery is at least once, so the same
event may come twice, with the same id and body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from domain.clock import ManualClock
from domain.lifecycle import Path, PayoutStatus, Trigger
from jobs.scheduled import Jobs, JobSettings
from jobs.webhooks import WebhookSettings
from persistence import lifecycle
from persistence.reconciliation_store import Break, SqlReconciliationStore
from persistence.tables import Payout, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from persistence.tables import ReconciliationBreak as BreakRow
from persistence.tables import WebhookEvent as EventRow
from persistence.webhook_store import SqlWebhooks
from providers.mock.server import serving
from service.bootstrap import Container
from tests.jobs.conftest import SETTLED, small_event
from tests.jobs_harness import jobs_of


@dataclass
class Received:
    event_id: str
    signature: str
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """A webhook endpoint: answers from ``script`` (then 200), records what came."""

    url: str = ""
    script: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    redirected_to: int = 0

    def types(self) -> list[str]:
        return [r.event["type"] for r in self.received]

    def of_payout(self, payout_id: int) -> list[str]:
        return [
            r.event["data"]["status"]
            for r in self.received
            if r.event["type"].startswith("payout.") and r.event["data"]["id"] == str(payout_id)
        ]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        state.received.append(
            Received(request.headers["payout-event-id"], request.headers["payout-signature"], body)
        )
        answer = state.script.pop(0) if state.script else "ok"
        if answer == "slow":
            await asyncio.sleep(2)
        if answer == "redirect":
            return RedirectResponse("/elsewhere", status_code=302)
        if answer.isdigit():
            return JSONResponse({"error": "no"}, status_code=int(answer))
        return JSONResponse({"ok": True})

    async def elsewhere(request: Request) -> Response:
        state.redirected_to += 1
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/hook", hook, methods=["POST"]),
            Route("/elsewhere", elsewhere, methods=["POST"]),
        ]
    )
    async with serving(app) as base:
        state.url = f"{base}/hook"
        yield state


@pytest.fixture
def jobs(seeded: Container) -> Jobs:
    settings = JobSettings(
        webhooks=WebhookSettings(allow_private_networks=True, timeout=timedelta(seconds=0.3))
    )
    return jobs_of(seeded, "webhook-worker", settings=settings)


async def endpoint(
    container: Container, url: str, events: list[str] | None = None, payee_id: int | None = None
) -> tuple[int, str]:
    store = SqlWebhooks(container.sessions)
    return await store.create_endpoint(url, events or [], payee_id, "test", container.clock.now())


def signed_by(secret: str, r: Received) -> bool:
    """The receiver's check, written out: t and v1 from the header, HMAC over t.body."""
    parts = dict(part.split("=", 1) for part in r.signature.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + r.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def deliveries(container: Container) -> list[WebhookDelivery]:
    async with container.sessions() as session:
        rows = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        return list(rows.all())


async def attempts(container: Container) -> list[WebhookAttempt]:
    async with container.sessions() as session:
        rows = await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))
        return list(rows.all())


async def endpoint_row(container: Container, ident: int) -> WebhookEndpoint:
    async with container.sessions() as session:
        row = await session.get(WebhookEndpoint, ident)
    assert row is not None
    return row


def lag_count(name: str, le: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_bucket", {"le": le}) or 0.0


async def nothing_lost(container: Container) -> None:
    """Every outbox event has been fanned out, and each of its deliveries either
    succeeded or is still pending."""
    async with container.sessions() as session:
        waiting = await session.scalar(
            select(func.count()).where(EventRow.__table__.c.fanned_out.is_(False))
        )
    assert waiting == 0
    assert {d.status for d in await deliveries(container)} <= {"succeeded", "pending"}


async def test_a_run_is_posted_signed_and_in_order_to_a_real_receiver(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    _, secret = await endpoint(seeded, receiver.url)
    await small_event(seeded, "LIQ-HOOK", ("US", "DE"))
    await seeded.runner.run("LIQ-HOOK", "hook-run")
    outcome = await jobs.deliver_webhooks("manual")
    assert outcome.status == "succeeded", outcome.error
    assert all(signed_by(secret, r) for r in receiver.received)
    assert not signed_by("whsec_another", receiver.received[0])
    types = receiver.types()
    assert types[0] == "run.running" and types[-1] == "run.completed"
    payouts = [r.event for r in receiver.received if r.event["type"].startswith("payout.")]
    assert len({p["data"]["id"] for p in payouts}) == 2
    for p in payouts:
        assert set(p["data"]) >= {"id", "runId", "payeeId", "amount", "currency", "status"}
        assert p["data"]["amount"] in ("1000.00", "1025.00")  # exact decimal strings
        assert receiver.of_payout(int(p["data"]["id"])) == ["submitting", "submitted"]
    assert len({r.event_id for r in receiver.received}) == len(receiver.received)
    assert all(r.event["id"] == r.event_id for r in receiver.received)

    seeded.clock.advance(SETTLED)  # the banks settle; the poller tells the engine
    await jobs.poll_provider_status("manual")
    await jobs.deliver_webhooks("manual")
    for pid in {int(p["data"]["id"]) for p in payouts}:
        assert receiver.of_payout(pid)[:2] == ["submitting", "submitted"]
        assert receiver.of_payout(pid)[2] in ("completed", "failed", "returned")
    await nothing_lost(seeded)


async def test_a_500_is_retried_30_s_later_and_holds_back_the_payouts_next_event(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    await endpoint(seeded, receiver.url, ["payout.*"])
    await small_event(seeded, "LIQ-500", ("US",))
    receiver.script = ["500"]
    await seeded.runner.run("LIQ-500", "run-500")
    await jobs.deliver_webhooks("manual")
    assert receiver.types() == ["payout.submitting"]  # the 500; submitted waits behind it

    seeded.clock.advance(timedelta(seconds=29))
    await jobs.deliver_webhooks("manual")
    assert len(receiver.received) == 1

    lag = "payout_engine_webhook_delivery_lag_seconds"
    before = {le: lag_count(lag, le) for le in ("15.0", "60.0")}
    seeded.clock.advance(timedelta(seconds=1))
    await jobs.deliver_webhooks("manual")
    assert receiver.types() == ["payout.submitting"] * 2 + ["payout.submitted"]
    # /metrics: two deliveries, 30 s after their events (the retry held both back)
    assert lag_count(lag, "15.0") == before["15.0"]
    assert lag_count(lag, "60.0") == before["60.0"] + 2
    assert receiver.received[0].event_id == receiver.received[1].event_id
    assert receiver.received[0].body == receiver.received[1].body  # the same event again
    first = [a for a in await attempts(seeded) if a.delivery_id == 1]
    assert [(a.status_code, a.succeeded) for a in first] == [(500, False), (200, True)]
    assert first[1].attempted_at - first[0].attempted_at == timedelta(seconds=30)
    await nothing_lost(seeded)


async def test_timeouts_and_redirects_are_failed_attempts(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    await endpoint(seeded, receiver.url, ["run.running"])
    receiver.script = ["slow", "redirect"]
    await small_event(seeded, "LIQ-SLOW", ("US",))
    await seeded.runner.run("LIQ-SLOW", "run-slow")
    await jobs.deliver_webhooks("manual")
    seeded.clock.advance(timedelta(seconds=30))
    await jobs.deliver_webhooks("manual")
    seeded.clock.advance(timedelta(seconds=60))
    await jobs.deliver_webhooks("manual")
    tried = await attempts(seeded)
    assert [(a.status_code, a.error) for a in tried] == [
        (None, "timed out"),
        (302, "redirects are not followed"),
        (200, None),
    ]
    assert receiver.redirected_to == 0
    assert [d.status for d in await deliveries(seeded)] == ["succeeded"]


async def test_an_endpoint_failing_for_three_days_is_disabled_and_its_delivery_given_up(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    ident, _ = await endpoint(seeded, receiver.url, ["run.running"])
    receiver.script = ["503"] * 1000
    await small_event(seeded, "LIQ-DOWN", ("US",))
    await seeded.runner.run("LIQ-DOWN", "run-down")
    start = seeded.clock.now()
    while True:
        await jobs.deliver_webhooks("manual")
        (delivery,) = await deliveries(seeded)
        if delivery.status != "pending":
            break
        seeded.clock.advance(delivery.next_attempt_at - seeded.clock.now())
    assert delivery.status == "failed"
    times = [a.attempted_at for a in await attempts(seeded)]
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    doubling = [30 * 2**n for n in range(10)]  # 30 s ... 15360 s, then 6 h each
    assert gaps[:10] == doubling and set(gaps[10:]) == {6 * 3600}
    assert times[-2] - start < timedelta(days=3) <= times[-1] - start
    row = await endpoint_row(seeded, ident)
    assert not row.enabled and row.disabled_reason == "no successful delivery for 3 days"
    await jobs.deliver_webhooks("manual")
    assert len(await attempts(seeded)) == len(times)  # a disabled endpoint is not called


async def test_a_success_within_three_days_keeps_the_endpoint(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    ident, _ = await endpoint(seeded, receiver.url, ["run.running"])
    receiver.script = ["500", "500"]
    await small_event(seeded, "LIQ-UP", ("US",))
    await seeded.runner.run("LIQ-UP", "run-up")
    for wait in (0, 30, 60):
        seeded.clock.advance(timedelta(seconds=wait))
        await jobs.deliver_webhooks("manual")
    row = await endpoint_row(seeded, ident)
    assert row.enabled and row.failing_since is None and row.last_success_at is not None


async def test_the_job_killed_after_sending_sends_again_after_the_lease(
    seeded: Container, jobs: Jobs, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await endpoint(seeded, receiver.url)
    await small_event(seeded, "LIQ-KILL", ("US", "DE"))
    await seeded.runner.run("LIQ-KILL", "run-kill")
    store = jobs.webhooks.store
    real_record = store.record

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise asyncio.CancelledError  # the process stops between the posts and the commit

    monkeypatch.setattr(store, "record", killed)
    with pytest.raises(asyncio.CancelledError):
        await jobs.deliver_webhooks("manual")
    sent_once = [r.event_id for r in receiver.received]
    assert sent_once and {d.status for d in await deliveries(seeded)} == {"pending"}

    monkeypatch.setattr(store, "record", real_record)
    await jobs.deliver_webhooks("manual")  # another worker, while the lease holds
    assert [r.event_id for r in receiver.received] == sent_once

    seeded.clock.advance(jobs.settings.webhooks.lease + timedelta(seconds=1))
    await jobs.deliver_webhooks("manual")
    ids = [r.event_id for r in receiver.received]
    assert set(ids) == {str(d.event_id) for d in await deliveries(seeded)}
    assert all(ids.count(i) == 2 for i in sent_once)  # at least once; twice here
    assert {d.status for d in await deliveries(seeded)} == {"succeeded"}
    await nothing_lost(seeded)


async def test_replay_sends_a_delivered_event_again(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    await endpoint(seeded, receiver.url, ["run.completed"])
    await small_event(seeded, "LIQ-REPLAY", ("US",))
    await seeded.runner.run("LIQ-REPLAY", "run-replay")
    await jobs.deliver_webhooks("manual")
    (first,) = receiver.received
    assert await SqlWebhooks(seeded.sessions).replay(int(first.event_id), None, seeded.clock.now())
    await jobs.deliver_webhooks("manual")
    assert [r.body for r in receiver.received] == [first.body, first.body]


async def test_an_endpoint_hears_only_its_types_and_its_payee(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    await small_event(seeded, "LIQ-FILTER", ("US", "DE"))
    await seeded.runner.run("LIQ-FILTER", "run-filter")
    async with seeded.sessions() as session:
        payee = (await session.scalars(select(Payout.payee_id).order_by(Payout.id))).first()
    assert payee is not None
    await endpoint(seeded, receiver.url, ["payout.submitted"], payee_id=payee)
    await jobs.deliver_webhooks("manual")
    assert [(r.event["type"], r.event["data"]["payeeId"]) for r in receiver.received] == [
        ("payout.submitted", str(payee))
    ]


async def test_a_private_address_is_refused_at_delivery_unless_allowed(
    seeded: Container, receiver: Receiver
) -> None:
    await endpoint(seeded, receiver.url, ["run.running"])
    strict = jobs_of(seeded, "strict-worker", settings=JobSettings())
    await small_event(seeded, "LIQ-SSRF", ("US",))
    await seeded.runner.run("LIQ-SSRF", "run-ssrf")
    await strict.deliver_webhooks("manual")
    assert receiver.received == []
    (tried,) = await attempts(seeded)
    assert tried.error == "refused: 127.0.0.1 is a loopback address"


async def test_a_rolled_back_status_change_leaves_no_event(
    seeded: Container, clock: ManualClock
) -> None:
    await small_event(seeded, "LIQ-TX", ("US",))
    await seeded.runner.run("LIQ-TX", "run-tx")
    async with seeded.sessions() as session:
        pid = (await session.scalars(select(Payout.id))).one()
    move = lifecycle.Move(pid, Path.of(PayoutStatus.SUBMITTED, PayoutStatus.COMPLETED))

    async def completed_events() -> int:
        async with seeded.sessions() as session:
            found = await session.scalar(
                select(func.count()).where(EventRow.__table__.c.type == "payout.completed")
            )
        return int(found or 0)

    with pytest.raises(RuntimeError):
        async with seeded.sessions.begin() as session:
            await lifecycle.advance(session, [move], clock.now(), Trigger.PROVIDER_REPORT)
            raise RuntimeError("the transaction fails after the status was written")
    assert await completed_events() == 0
    async with seeded.sessions.begin() as session:
        await lifecycle.advance(session, [move], clock.now(), Trigger.PROVIDER_REPORT)
    assert await completed_events() == 1


async def test_two_workers_at_once_send_each_event_once(
    seeded: Container, jobs: Jobs, receiver: Receiver
) -> None:
    await endpoint(seeded, receiver.url)
    await small_event(seeded, "LIQ-TWO", ("US", "DE", "GB", "IN"))
    await seeded.runner.run("LIQ-TWO", "run-two")
    other = jobs_of(seeded, "other-worker", settings=jobs.settings)
    # A payout's events go out in order, one per round at most, and which worker fans out
    # or claims first is up to timing: both run at once until nothing is pending (bounded).
    for _ in range(8):
        await asyncio.gather(jobs.deliver_webhooks("manual"), other.deliver_webhooks("manual"))
        if {d.status for d in await deliveries(seeded)} == {"succeeded"}:
            break
    ids = [r.event_id for r in receiver.received]
    assert len(ids) == len(set(ids)) == len(await deliveries(seeded))
    await nothing_lost(seeded)


async def test_breaks_opened_and_resolved_are_events(seeded: Container) -> None:
    store = SqlReconciliationStore(seeded.sessions)
    now = seeded.clock.now()
    first = await store.open_run(date(2026, 3, 1), "manual", now)
    found = [Break("status_mismatch", f"fp-{n}", f"break {n}", {}) for n in (1, 2)]
    await store.finish_run(first, found, {}, now)
    async with seeded.sessions() as session:
        ids = dict((await session.execute(select(BreakRow.fingerprint, BreakRow.id))).all())
    await store.resolve(ids["fp-1"], "paid by hand", "ops", now)
    second = await store.open_run(date(2026, 3, 2), "manual", now)
    await store.finish_run(second, [], {}, now)  # fp-2 is gone: resolved by itself
    async with seeded.sessions() as session:
        rows = await session.execute(
            select(EventRow.type, EventRow.data)
            .where(EventRow.type.like("reconciliation_break.%"))
            .order_by(EventRow.id)
        )
        told = [(kind, data["id"], data["status"]) for kind, data in rows.all()]
    assert told == [
        ("reconciliation_break.opened", str(ids["fp-1"]), "open"),
        ("reconciliation_break.opened", str(ids["fp-2"]), "open"),
        ("reconciliation_break.resolved", str(ids["fp-1"]), "resolved"),
        ("reconciliation_break.resolved", str(ids["fp-2"]), "auto_resolved"),
    ]


async def test_a_host_that_now_resolves_to_a_metadata_address_is_refused(
    seeded: Container, jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked at every attempt: DNS may point a name elsewhere after it was accepted."""

    async def rebound(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "169.254.169.254"]

    monkeypatch.setattr(jobs.webhooks, "_resolver", rebound)
    await endpoint(seeded, "https://hooks.example.test/in", ["run.running"])
    await small_event(seeded, "LIQ-DNS", ("US",))
    await seeded.runner.run("LIQ-DNS", "run-dns")
    await jobs.deliver_webhooks("manual")
    (tried,) = await attempts(seeded)
    assert tried.error == "refused: 169.254.169.254 is a link-local address"
    assert [d.status for d in await deliveries(seeded)] == ["pending"]  # retried later


@pytest.mark.parametrize("point", ["fan_out", "claim", "_send_all"])
async def test_the_job_killed_before_sending_loses_nothing(
    seeded: Container, jobs: Jobs, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """Killed while fanning out (rolled back), or after claiming (the lease runs out):
    every event still arrives, once."""
    await endpoint(seeded, receiver.url, ["payout.*"])
    await small_event(seeded, "LIQ-KILL2", ("US", "DE"))
    await seeded.runner.run("LIQ-KILL2", "run-kill2")
    owner = jobs.webhooks if point == "_send_all" else jobs.webhooks.store
    real = getattr(owner, point)

    async def killed(*args: Any, **kwargs: Any) -> Any:
        if point == "claim":  # the claim committed, then the process went
            await real(*args, **kwargs)
        raise asyncio.CancelledError  # fan_out: mid-transaction; _send_all: before a post

    monkeypatch.setattr(owner, point, killed)
    with pytest.raises(asyncio.CancelledError):
        await jobs.deliver_webhooks("manual")
    assert receiver.received == []
    monkeypatch.setattr(owner, point, real)
    seeded.clock.advance(jobs.settings.webhooks.lease + timedelta(seconds=1))
    for _ in range(3):  # a payout's second event waits for its first
        await jobs.deliver_webhooks("manual")
    ids = [r.event_id for r in receiver.received]
    assert len(ids) == len(set(ids)) == len(await deliveries(seeded)) == 4
    await nothing_lost(seeded)
