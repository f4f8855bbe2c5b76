"""payoutUpdated over a real graphql-transport-ws socket, served by uvicorn in the test's loop.

Changes are made through another app instance (``gql``) or straight through the stores a
worker uses, so what the subscriber sees came from the database, not from this process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from domain.clock import ManualClock
from domain.ports import OrderStatus
from domain.settlement import StatusReport
from graph.app import create_app
from persistence.payout_feed import PayoutFeed
from persistence.settlement_store import SqlSettlementStore
from providers.mock.server import serving
from service.bootstrap import Container
from service.demo import DEMO_MERCHANT_KEYS, DEMO_OPS_KEY
from tests.api.test_auth import revoked_key
from tests.api.test_merchant_payouts import CANCEL, CREATE, merchant, payout_input
from tests.api.test_runs import START_RUN
from tests.conftest import GraphQLClient

WATCH = """subscription($run: ID, $payee: ID) {
  payoutUpdated(runId: $run, payeeId: $payee) { id status payee { id } } }"""
TRACED = """subscription($run: ID) {
  payoutUpdated(runId: $run) { id status trace { action } } }"""
SUBMITTED = """query($run: ID!) { payouts(filter: {runId: $run, status: SUBMITTED}, first: 2) {
  edges { node { id } } } }"""
ACME = DEMO_MERCHANT_KEYS["MER-ACME"]
TINY = DEMO_MERCHANT_KEYS["MER-TINY"]


@dataclass
class Served:
    url: str
    feed: PayoutFeed


@pytest.fixture
def feed_queue_size() -> int:
    return 1000


@pytest_asyncio.fixture
async def served(seeded: Container, feed_queue_size: int) -> AsyncIterator[Served]:
    feed = PayoutFeed(seeded.sessions, interval_s=0.01, queue_size=feed_queue_size)
    async with serving(create_app(seeded.app_deps(), feed=feed)) as base:
        yield Served("ws" + base.removeprefix("http") + "/graphql", feed)
    await feed.aclose()


class Socket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout=5))

    async def subscribe(self, op: str, query: str = WATCH, **variables: str) -> None:
        await self.send(id=op, type="subscribe", payload={"query": query, "variables": variables})

    async def payout(self, op: str = "1") -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == op, message
        return message["payload"]["data"]["payoutUpdated"]

    async def closed_with(self) -> int:
        with pytest.raises(ConnectionClosed) as closed:
            await self.receive()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code


@asynccontextmanager
async def opened(url: str, headers: dict[str, str] | None = None) -> AsyncIterator[Socket]:
    protocols = [Subprotocol("graphql-transport-ws")]
    async with connect(url, subprotocols=protocols, additional_headers=headers, proxy=None) as ws:
        yield Socket(ws)


@asynccontextmanager
async def connected(url: str, key: str = DEMO_OPS_KEY) -> AsyncIterator[Socket]:
    """A socket authenticated as a browser does it: the key in connection_init."""
    async with opened(url) as socket:
        await socket.send(type="connection_init", payload={"Authorization": f"Api-Key {key}"})
        assert (await socket.receive())["type"] == "connection_ack"
        yield socket


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


async def run_payouts(gql: GraphQLClient, event: str) -> tuple[str, list[str]]:
    run = (await gql.run_to_completion(START_RUN, event=event, key=f"sub-{event}"))["startRun"][
        "run"
    ]
    page = await gql.data(SUBMITTED, run=run["id"])
    return run["id"], [edge["node"]["id"] for edge in page["payouts"]["edges"]]


async def report(container: Container, status: OrderStatus, *payout_ids: str) -> None:
    """A status poll, as a worker process applies it."""
    reports = [StatusReport(int(pid), status) for pid in payout_ids]
    assert await SqlSettlementStore(container.sessions).apply(reports, container.clock.now())


async def test_ops_watching_a_run_sees_its_payouts_move_and_no_other_run(
    served: Served, gql: GraphQLClient, seeded: Container
) -> None:
    run, (paid, *_) = await run_payouts(gql, "LIQ-2024-001")
    _, (elsewhere, *_) = await run_payouts(gql, "LIQ-2024-002")
    async with connected(served.url) as socket:
        await socket.subscribe("1", TRACED, run=run)
        await until(lambda: served.feed.listening == 1)
        await report(seeded, OrderStatus.COMPLETED, elsewhere)
        await report(seeded, OrderStatus.COMPLETED, paid)
        # the other run's change committed first, so it would have come by now
        completed = await socket.payout()
        assert (completed["id"], completed["status"]) == (paid, "COMPLETED")
        await report(seeded, OrderStatus.RETURNED, paid)
        returned = await socket.payout()
        assert returned["status"] == "RETURNED"  # next, with no repeat of COMPLETED
        assert len(returned["trace"]) == len(completed["trace"]) + 1  # not a cached trace


async def test_a_run_started_elsewhere_reaches_the_subscriber_in_its_final_state(
    served: Served, gql: GraphQLClient
) -> None:
    async with connected(served.url) as socket:
        await socket.subscribe("1")
        await until(lambda: served.feed.listening == 1)
        started = await gql.run_to_completion(START_RUN, event="LIQ-2024-001", key="watched")
        run = started["startRun"]["run"]
        page = await gql.data(
            "query($run: ID!) { payouts(filter: {runId: $run}, first: 100) "
            "{ edges { node { id status } } } }",
            run=run["id"],
        )
        final = {e["node"]["id"]: e["node"]["status"] for e in page["payouts"]["edges"]}
        assert len(final) == run["total"]
        latest: dict[str, str] = {}
        while latest != final:
            payout = await socket.payout()
            latest[payout["id"]] = payout["status"]


async def test_a_payee_key_sees_only_its_own_payouts(
    served: Served, gql: GraphQLClient, seeded: Container
) -> None:
    acme, acme_account = await merchant(seeded, "MER-ACME")
    tiny, tiny_account = await merchant(seeded, "MER-TINY")
    async with connected(served.url, ACME) as socket:
        await socket.subscribe("implicit")
        await socket.subscribe("explicit", payee=acme)
        await until(lambda: served.feed.listening == 2)
        await gql.as_key(TINY).data(
            CREATE, input=payout_input(tiny, tiny_account, "5.00", "tiny-sub-1")
        )
        created = await gql.as_key(ACME).data(
            CREATE, input=payout_input(acme, acme_account, "5.00", "acme-sub-1")
        )
        mine = {"id": created["createPayout"]["payout"]["id"], "payee": {"id": acme}}
        # Tiny's payout committed first, so it would have come before Acme's
        assert await per_operation(socket, 2) == {
            "implicit": {**mine, "status": "PENDING"},
            "explicit": {**mine, "status": "PENDING"},
        }
        await gql.as_key(ACME).data(CANCEL, id=mine["id"])
        assert await per_operation(socket, 2) == {
            "implicit": {**mine, "status": "CANCELLED"},
            "explicit": {**mine, "status": "CANCELLED"},
        }


async def per_operation(socket: Socket, count: int) -> dict[str, dict[str, Any]]:
    """The next ``count`` payouts by operation id (operations interleave freely)."""
    received = {}
    for _ in range(count):
        message = await socket.receive()
        assert message["type"] == "next", message
        received[message["id"]] = message["payload"]["data"]["payoutUpdated"]
    return received


async def test_a_payee_key_cannot_watch_another_payee(served: Served, seeded: Container) -> None:
    tiny, _ = await merchant(seeded, "MER-TINY")
    async with connected(served.url, ACME) as socket:
        await socket.subscribe("1", payee=tiny)
        error = await socket.receive()
        assert error["type"] == "error" and error["id"] == "1"
        assert error["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        await socket.subscribe("2", run="not-a-run")
        error = await socket.receive()
        assert error["payload"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert not served.feed.running


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"Authorization": "Api-Key pe_ops_not_a_real_key"}, {"Authorization": "Bearer x"}],
)
async def test_a_socket_without_a_valid_key_is_closed_at_init(
    served: Served, payload: dict[str, str] | None
) -> None:
    async with opened(served.url) as socket:
        await socket.send(type="connection_init", **({"payload": payload} if payload else {}))
        assert await socket.closed_with() == 4403


async def test_a_revoked_key_is_refused(served: Served, seeded: Container) -> None:
    revoked = await revoked_key(seeded)
    async with opened(served.url) as socket:
        await socket.send(type="connection_init", payload={"Authorization": f"Api-Key {revoked}"})
        assert await socket.closed_with() == 4403


async def test_subscribing_before_init_is_unauthorized(served: Served) -> None:
    async with opened(served.url) as socket:
        await socket.subscribe("1")
        assert await socket.closed_with() == 4401


async def test_a_non_browser_client_may_send_the_header(served: Served) -> None:
    headers = {"Authorization": f"Api-Key {DEMO_OPS_KEY}"}
    async with opened(served.url, headers) as socket:
        await socket.send(type="connection_init")
        assert (await socket.receive())["type"] == "connection_ack"


async def test_complete_stops_one_feed_and_the_last_one_out_stops_polling(
    served: Served, gql: GraphQLClient, seeded: Container
) -> None:
    _, (first, second) = await run_payouts(gql, "LIQ-2024-001")
    async with connected(served.url) as socket:
        await socket.subscribe("1")
        await socket.subscribe("2")
        await until(lambda: served.feed.listening == 2 and served.feed.running)
        await socket.send(id="1", type="complete")
        await until(lambda: served.feed.listening == 1)
        await report(seeded, OrderStatus.COMPLETED, first)
        assert (await socket.payout("2"))["id"] == first
        await socket.send(id="2", type="complete")
        await until(lambda: not served.feed.running)
        await socket.subscribe("3")
        await until(lambda: served.feed.running)
        await report(seeded, OrderStatus.COMPLETED, second)
        assert (await socket.payout("3"))["id"] == second  # nothing left over for 1 or 2
    await until(lambda: not served.feed.running)  # a dropped socket leaves too


@pytest.mark.parametrize("feed_queue_size", [1])
async def test_a_subscriber_that_falls_behind_is_closed_with_an_error(
    served: Served, gql: GraphQLClient, seeded: Container
) -> None:
    _, payouts = await run_payouts(gql, "LIQ-2024-001")
    async with connected(served.url) as socket:
        await socket.subscribe("1")
        await until(lambda: served.feed.listening == 1)
        await report(seeded, OrderStatus.COMPLETED, *payouts)  # two changes in one poll
        message = await socket.receive()
        assert message["type"] == "next"
        assert message["payload"]["errors"][0]["extensions"]["code"] == "FELL_BEHIND"
        assert (await socket.receive())["type"] == "complete"
        await until(lambda: not served.feed.running)


async def test_a_change_committed_late_inside_the_overlap_is_delivered(
    served: Served, gql: GraphQLClient, seeded: Container, clock: ManualClock
) -> None:
    _, (first, late) = await run_payouts(gql, "LIQ-2024-001")
    async with connected(served.url) as socket:
        await socket.subscribe("1")
        await until(lambda: served.feed.listening == 1)
        clock.advance(timedelta(minutes=1))
        await report(seeded, OrderStatus.COMPLETED, first)
        assert (await socket.payout())["id"] == first
        # stamped before the watermark, committed after it: a transaction that waited
        reports = [StatusReport(int(late), OrderStatus.COMPLETED)]
        before = clock.now() - timedelta(seconds=2)
        assert await SqlSettlementStore(seeded.sessions).apply(reports, before)
        assert (await socket.payout())["id"] == late
