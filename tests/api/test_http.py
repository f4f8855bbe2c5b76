"""The HTTP surface: health, GraphiQL, and a constant number of SQL statements per page."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import event, select, text, update

from graph.context import Reads
from persistence.api_keys import KNOWN
from persistence.tables import Payee
from service.bootstrap import Container, build, build_app
from service.settings import Settings
from tests.conftest import PG_ADMIN_URL, GraphQLClient
from tests.jobs_harness import only_on

NESTED_PAGE = """
query($first: Int) { payouts(first: $first) { edges { node {
  id rail { code } payee { name bankAccounts { id } balances { code } } event { code }
  trace { action } ledgerEntries { kind }
} } } }"""


async def test_health_checks_the_database(gql: GraphQLClient) -> None:
    response = await gql.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_graphiql_is_served_to_browsers(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_reads_answer_while_a_write_transaction_is_open(
    gql: GraphQLClient, seeded: Container
) -> None:
    """An operator's queries while a run writes: on SQLite a read that took the write
    lock would wait for the writer (up to 30 s, then fail). Reads see only what is
    committed."""
    async with seeded.sessions.begin() as session:
        payee = await session.scalar(select(Payee).order_by(Payee.id).limit(1))
        assert payee is not None
        committed = payee.name
        await session.execute(update(Payee).where(Payee.id == payee.id).values(name="uncommitted"))
        data = await gql.data("query($id: ID!) { payee(id: $id) { name } }", id=str(payee.id))
        assert data["payee"]["name"] == committed
    data = await gql.data("query($id: ID!) { payee(id: $id) { name } }", id=str(payee.id))
    assert data["payee"]["name"] == "uncommitted"


async def test_statements_per_request_do_not_grow_with_page_size(
    gql: GraphQLClient, seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(KNOWN, "monotonic", lambda: 0.0)  # the key's look-up, once
    await seeded.runner.run("LIQ-2024-001", "n+1")
    await gql.data("{ __typename }")  # the key, looked up once and believed for a second
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engines = [seeded.engine.sync_engine, seeded.reads_engine.sync_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        counts = []
        for first in (5, 50):
            statements.clear()
            data = await gql.data(NESTED_PAGE, first=first)
            assert len(data["payouts"]["edges"]) == first
            counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    assert counts[0] == counts[1], counts
    # the page, then one query per loader: payee, bank accounts, balances, event, trace,
    # ledger entries
    assert counts[1] == 7


@only_on("postgresql")
async def test_a_request_reads_on_one_connection_and_survives_losing_it(
    seeded: Container,
) -> None:
    """Turns close together share the request's connection; a turn after a long gap
    (a run that outlived a server restart) starts on a fresh, pinged one."""
    reads = Reads(seeded.app_deps().reads, shared=True, idle_s=0.2)
    backend_pid = text("SELECT pg_backend_pid()")
    try:
        async with reads.session() as session:
            first = await session.scalar(backend_pid)
        async with reads.session() as session:
            assert await session.scalar(backend_pid) == first
        async with seeded.engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.3)
        async with reads.session() as session:
            assert await session.scalar(backend_pid) != first
    finally:
        await reads.aclose()


# --- a database that does not answer --------------------------------------------------------

SILENT = "a PostgreSQL server that takes the connection and never answers"
UNREACHABLE = {
    "a PostgreSQL server that is down": "postgresql+psycopg://postgres@127.0.0.1:1/payout",
    "a PostgreSQL database that does not exist": PG_ADMIN_URL.rsplit("/", 1)[0]
    + f"/payout_missing_{uuid.uuid4().hex[:8]}",
    SILENT: "postgresql+psycopg://postgres@127.0.0.1:{port}/payout",
}
# What an answer must not tell a client about the failure: the driver, the exception.
DETAILS = ("Error", "psycopg", "sqlite", "sqlalchemy", "connection failed", "Traceback")


@pytest_asyncio.fixture(params=list(UNREACHABLE))
async def unreachable(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The API, served as usual, on a database that cannot be reached."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    url = UNREACHABLE[request.param].format(port=server.sockets[0].getsockname()[1])
    settings = Settings(database_url=url, database_connect_timeout_s=2, _env_file=None)
    container = build(settings)
    app = build_app(container, migrate=False, recover=False, scheduler=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as http:
            yield http
    finally:
        await container.aclose()
        server.close()
        for writer in held:
            writer.close()


async def test_graphql_answers_503_with_a_code_when_the_database_is_unreachable(
    unreachable: httpx.AsyncClient,
) -> None:
    response = await unreachable.post(
        "/graphql",
        json={"query": "{ rails { code } }"},
        headers={"Authorization": "Api-Key some-key"},
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert error["message"]
    assert not [detail for detail in DETAILS if detail in response.text], response.text


async def test_a_database_lost_mid_request_answers_503_to_be_asked_again(
    gql: GraphQLClient,
) -> None:
    """The key was looked up, then the database went (a restart, a failover) while the
    resolver read, and stayed away for the rest of the request (a query the plan could not
    finish is executed once more, the generic way): the client is told to ask again, as
    when the key could not be looked up, not that the server crashed; and asked again,
    once the database is back, it gets its answer."""
    from sqlalchemy.exc import OperationalError

    assert gql.container is not None
    engine = gql.container.reads_engine.sync_engine
    cut = {"away": True, "cut": 0}

    def lose_connection(_c: object, _cur: object, statement: str, *_: object) -> None:
        if "FROM payees" in statement and cut["away"]:
            cut["cut"] += 1
            raise OperationalError(statement, {}, ConnectionError("server closed the connection"))

    event.listen(engine, "before_cursor_execute", lose_connection)
    try:
        document = "{ payees(first: 1) { edges { node { id } } } }"
        response = await gql.http.post("/graphql", json={"query": document}, headers=gql.headers)
        assert response.status_code == 503, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert "server closed" not in response.text  # the cause stays in the server's log
        assert cut["cut"] >= 1
        cut["away"] = False
        again = await gql.data(document)
        assert len(again["payees"]["edges"]) == 1
    finally:
        event.remove(engine, "before_cursor_execute", lose_connection)


async def test_health_says_the_database_is_unavailable_and_no_more(
    unreachable: httpx.AsyncClient,
) -> None:
    response = await unreachable.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "unavailable"}
