"""startRun returns at once with a preview; four eyes; the job runner executes; cancelRun.

The rules, stated independently of the code:
* with approval required, a started run waits AWAITING_APPROVAL and nothing is reserved
  or sent until an approver of another owner approves it; a rejected or expired
  approval ends the run with nothing paid;
* nobody decides their own request, even with a second (approver) key;
* an approved run is QUEUED, then executed by the job runner to COMPLETED, and its
  progress adds up;
* a cancelled run stops before its next batch; what a provider already has goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func, select

from domain.auth import Role, new_key
from domain.run_workflow import APPROVAL_TTL
from domain.runs import PayoutRunner
from graph.app import create_app
from persistence.api_keys import SqlApiKeys
from persistence.payout_feed import PayoutFeed
from persistence.run_queue import SqlRunQueue
from persistence.tables import LedgerAccount, Payout
from providers.mock.server import serving
from service.bootstrap import Container, build_app
from service.demo import DEMO_APPROVER_KEY, DEMO_OWNER
from tests.api.test_subscriptions import connected
from tests.conftest import GraphQLClient, execute_queued_runs

EVENT = "LIQ-2024-001"
START = """mutation($key: String) {
  startRun(input: {liquidationEventId: "LIQ-2024-001", idempotencyKey: $key}) {
    run { id state status created
          preview { payouts totals { amount currency }
                    byRail { key count total { amount currency } }
                    cashByProvider { key count total { amount currency } }
                    skips { reason count } }
          approval { id status requestedBy }
          progress { total evaluated submitted failed skipped } }
    userErrors { field code message } } }"""
RUN = """query($id: ID!) { run(id: $id) { id state created skipped failed inFlight
  progress { total evaluated submitted failed skipped }
  approval { id status decidedBy note } } }"""
DECIDE = """mutation($id: ID!, $decision: ApprovalDecision!, $note: String) {
  decideApproval(input: {approvalId: $id, decision: $decision, note: $note}) {
    approval { id status decidedBy decidedAt note run { id state } }
    userErrors { field code message } } }"""
CANCEL = """mutation($id: ID!) { cancelRun(input: {runId: $id}) {
  run { id state } userErrors { field code message } } }"""
APPROVALS = """query($status: ApprovalStatus) { approvals(filter: {status: $status}) {
  edges { node { id kind status subjectId requestedBy expiresAt } } } }"""


@pytest_asyncio.fixture
async def four_eyes(seeded: Container) -> AsyncIterator[GraphQLClient]:
    """The API as deployed by default: every run needs an approval."""
    seeded.settings = seeded.settings.model_copy(update={"run_approval_min_total": "0"})
    app = build_app(seeded, migrate=False, recover=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http, container=seeded)


def orders(container: Container) -> int:
    return sum(len(bank.orders) for bank in container.banks.values())


async def payouts_of_event(container: Container) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Payout)) or 0)


async def pending_holds(container: Container) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.sum(LedgerAccount.pending_debits))) or 0)


async def start(gql: GraphQLClient, key: str = "k") -> dict[str, Any]:
    payload = (await gql.data(START, key=key))["startRun"]
    assert payload["userErrors"] == [], payload
    return dict(payload["run"])


async def test_a_run_waits_for_an_approver_with_its_preview_and_nothing_reserved(
    four_eyes: GraphQLClient, seeded: Container
) -> None:
    holds = await pending_holds(seeded)
    run = await start(four_eyes)
    assert run["state"] == "AWAITING_APPROVAL"
    preview = run["preview"]
    # the demo event: 60 allocations in USD, some predicted to be skipped
    assert preview["payouts"] + sum(s["count"] for s in preview["skips"]) == 60
    assert preview["payouts"] == sum(line["count"] for line in preview["byRail"])
    assert preview["payouts"] == sum(line["count"] for line in preview["cashByProvider"])
    assert [t["currency"] for t in preview["totals"]] == ["USD"]
    cash = sum(float(line["total"]["amount"]) for line in preview["cashByProvider"])
    assert abs(cash - float(preview["totals"][0]["amount"])) < 0.001
    assert run["approval"]["status"] == "PENDING"
    assert run["approval"]["requestedBy"] == DEMO_OWNER
    assert run["progress"] == {
        "total": 60,
        "evaluated": 0,
        "submitted": 0,
        "failed": 0,
        "skipped": 0,
    }
    await execute_queued_runs(seeded)  # the job runner finds nothing to do
    assert await payouts_of_event(seeded) == 0
    assert orders(seeded) == 0
    assert await pending_holds(seeded) == holds


async def test_an_approved_run_is_queued_then_executed_to_completion(
    four_eyes: GraphQLClient, seeded: Container
) -> None:
    run = await start(four_eyes)
    approver = four_eyes.as_key(DEMO_APPROVER_KEY)
    decided = (
        await approver.data(
            DECIDE, id=run["approval"]["id"], decision="APPROVE", note="checked the totals"
        )
    )["decideApproval"]
    assert decided["userErrors"] == []
    assert decided["approval"]["status"] == "APPROVED"
    assert decided["approval"]["decidedBy"] == "approver@example.com"
    assert decided["approval"]["run"]["state"] == "QUEUED"
    await execute_queued_runs(seeded)
    done = (await four_eyes.data(RUN, id=run["id"]))["run"]
    assert done["state"] == "COMPLETED"
    assert done["created"] == orders(seeded) == run["preview"]["payouts"]
    progress = done["progress"]
    assert progress["total"] == progress["evaluated"] == 60
    assert progress["submitted"] == done["created"]
    assert progress["submitted"] + progress["skipped"] + progress["failed"] == 60
    # the same key again is the same run, and runs nothing again
    again = await start(four_eyes)
    assert again["id"] == run["id"]
    await execute_queued_runs(seeded)
    assert orders(seeded) == done["created"]


async def test_nobody_approves_their_own_request_even_with_an_approver_key(
    four_eyes: GraphQLClient, seeded: Container
) -> None:
    run = await start(four_eyes)
    own_approver_key = await SqlApiKeys(seeded.sessions).issue(
        Role.APPROVER,
        "second key",
        seeded.clock.now(),
        key=new_key(Role.APPROVER),
        owner=DEMO_OWNER.upper(),  # the same person, written differently
    )
    refused = (
        await four_eyes.as_key(own_approver_key).data(
            DECIDE, id=run["approval"]["id"], decision="APPROVE"
        )
    )["decideApproval"]
    assert refused["approval"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("SELF_APPROVAL", ["input", "approvalId"])
    ]
    # the requester's ops key may not decide at all
    body = await four_eyes(DECIDE, id=run["approval"]["id"], decision="APPROVE")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    still = (await four_eyes.data(RUN, id=run["id"]))["run"]
    assert still["state"] == "AWAITING_APPROVAL"
    assert still["approval"]["status"] == "PENDING"


async def test_a_rejected_run_ends_with_nothing_paid_and_is_decided_once(
    four_eyes: GraphQLClient, seeded: Container
) -> None:
    run = await start(four_eyes)
    approver = four_eyes.as_key(DEMO_APPROVER_KEY)
    rejected = (
        await approver.data(DECIDE, id=run["approval"]["id"], decision="REJECT", note="wrong fund")
    )["decideApproval"]
    assert rejected["approval"]["status"] == "REJECTED"
    assert rejected["approval"]["run"]["state"] == "REJECTED"
    again = await approver.data(DECIDE, id=run["approval"]["id"], decision="APPROVE")
    assert again["decideApproval"]["userErrors"][0]["code"] == "APPROVAL_NOT_PENDING"
    await execute_queued_runs(seeded)
    assert await payouts_of_event(seeded) == 0 and orders(seeded) == 0
    listed = (await approver.data(APPROVALS, status="REJECTED"))["approvals"]["edges"]
    assert [(e["node"]["kind"], e["node"]["subjectId"]) for e in listed] == [("RUN", run["id"])]


async def test_an_approval_nobody_decides_in_time_expires_with_its_run(
    four_eyes: GraphQLClient, seeded: Container
) -> None:
    run = await start(four_eyes)
    seeded.clock.advance(APPROVAL_TTL + timedelta(seconds=1))  # type: ignore[attr-defined]
    approver = four_eyes.as_key(DEMO_APPROVER_KEY)
    late = await approver.data(DECIDE, id=run["approval"]["id"], decision="APPROVE")
    assert late["decideApproval"]["userErrors"][0]["code"] == "APPROVAL_EXPIRED"
    outcome = await seeded.jobs.expire_approvals("manual")
    assert outcome.counts == {"approvals_expired": 1}
    ended = (await four_eyes.data(RUN, id=run["id"]))["run"]
    assert ended["state"] == "EXPIRED"
    assert ended["approval"]["status"] == "EXPIRED"
    await execute_queued_runs(seeded)
    assert await payouts_of_event(seeded) == 0 and orders(seeded) == 0


async def test_a_queued_run_cancelled_is_never_executed(
    gql: GraphQLClient, seeded: Container
) -> None:
    run = await start(gql)
    assert run["state"] == "QUEUED"  # approval is off for this client
    cancelled = (await gql.data(CANCEL, id=run["id"]))["cancelRun"]
    assert cancelled == {"run": {"id": run["id"], "state": "CANCELLED"}, "userErrors": []}
    await execute_queued_runs(seeded)
    assert await payouts_of_event(seeded) == 0 and orders(seeded) == 0
    twice = (await gql.data(CANCEL, id=run["id"]))["cancelRun"]
    assert twice["userErrors"][0]["code"] == "RUN_NOT_CANCELLABLE"
    unknown = (await gql.data(CANCEL, id="999999"))["cancelRun"]
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"


async def test_a_run_cancelled_while_running_stops_before_its_next_batch(
    gql: GraphQLClient, seeded: Container
) -> None:
    """Batches of 10: cancelled after the first, the run sends those 10 (they reached the
    provider's queue) and evaluates nothing more; no hold is left for the rest."""
    run = await start(gql)
    run_id = int(run["id"])
    queue = SqlRunQueue(seeded.sessions)
    claim = await queue.claim("test-worker", seeded.clock.now(), timedelta(seconds=30))
    assert claim is not None and claim.run_id == run_id
    runner = PayoutRunner(seeded.store, seeded.providers, seeded.clock, batch_size=10)
    asked = 0

    async def stop() -> bool:
        nonlocal asked
        asked += 1
        if asked == 2:  # the first batch is written and sent: the operator cancels now
            assert (await gql.data(CANCEL, id=run["id"]))["cancelRun"]["userErrors"] == []
        return await seeded.store.stop_requested(run_id)

    summary = await runner.execute(run_id, stop=stop)
    assert summary.status == "cancelled"
    ended = (await gql.data(RUN, id=run["id"]))["run"]
    assert ended["state"] == "CANCELLED"
    evaluated = await payouts_of_event(seeded)
    assert evaluated <= 10
    # every payout the run made to pay reached its provider and was answered
    assert orders(seeded) == ended["created"]
    assert ended["inFlight"] == 0
    async with seeded.sessions() as session:
        statuses = set((await session.scalars(select(Payout.status))).all())
    assert statuses <= {"submitted", "skipped"}


@pytest_asyncio.fixture
async def served_url(seeded: Container) -> AsyncIterator[str]:
    """The API over a real socket (uvicorn), for subscriptions."""
    feed = PayoutFeed(seeded.sessions, interval_s=0.01)
    async with serving(create_app(seeded.app_deps(), feed=feed)) as base:
        yield "ws" + base.removeprefix("http") + "/graphql"
    await feed.aclose()


WATCH_RUN = """subscription($run: ID!) { runUpdated(runId: $run) {
  id state progress { total evaluated submitted failed skipped } } }"""


async def test_run_updates_stream_the_run_over_websocket_until_it_ends(
    served_url: str, gql: GraphQLClient, seeded: Container
) -> None:
    run = await start(gql)
    seen: list[dict[str, Any]] = []
    async with connected(served_url) as socket:
        await socket.subscribe("1", WATCH_RUN, run=run["id"])
        first = await socket.receive()
        seen.append(first["payload"]["data"]["runUpdated"])
        await execute_queued_runs(seeded)
        while True:
            message = await socket.receive()
            if message["type"] == "complete":
                break
            seen.append(message["payload"]["data"]["runUpdated"])
    states = [s["state"] for s in seen]
    assert states[0] == "QUEUED" and states[-1] == "COMPLETED"
    assert set(states) <= {"QUEUED", "RUNNING", "COMPLETED"}
    evaluated = [s["progress"]["evaluated"] for s in seen]
    assert evaluated == sorted(evaluated)
    last = seen[-1]["progress"]
    assert last["total"] == last["evaluated"] == 60
    assert last["submitted"] + last["failed"] + last["skipped"] == 60
    assert last["submitted"] == orders(seeded)


async def test_a_completed_run_says_it_evaluated_everything_in_the_same_commit(
    gql: GraphQLClient, seeded: Container, monkeypatch: Any
) -> None:
    """Whoever reads a run the moment it completes (a subscriber, say) sees its whole
    event evaluated, not the progress of the executor's last heartbeat: the executor's
    final word on its progress (``SqlRunQueue.ended``) comes after, and may be late."""

    async def late(*_: object) -> None:
        return None

    monkeypatch.setattr(SqlRunQueue, "ended", late)
    run = await start(gql)
    await execute_queued_runs(seeded)
    done = (await gql.data(RUN, id=run["id"]))["run"]
    assert done["state"] == "COMPLETED"
    assert done["progress"]["evaluated"] == done["progress"]["total"] == 60
