"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

Every test that asks for ``database_url`` runs once per backend. PostgreSQL is
taken from ``PAYOUT_TEST_PG_URL`` (default: the local server); without it the
PostgreSQL half is skipped on a developer machine and fails in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from domain.clock import ManualClock
from persistence.migrate import upgrade

PG_ADMIN_URL = os.environ.get(
    "PAYOUT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = os.environ.get("PAYOUT_TEST_BACKENDS", "sqlite,postgresql").split(",")
# A Monday afternoon in UTC: every rail is open, no holiday nearby.
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


def _admin(sql: str) -> None:
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    try:
        psycopg.connect(_libpq(PG_ADMIN_URL), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        yield None
        return
    name = f"payout_tpl_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name}")
    _admin(f"CREATE DATABASE {name}")
    upgrade(_with_database(PG_ADMIN_URL, name))
    yield name
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    if template is None:
        pytest.skip("PostgreSQL not reachable (set PAYOUT_TEST_PG_URL)")
    name = f"payout_t_{uuid.uuid4().hex[:12]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield _with_database(PG_ADMIN_URL, name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


# --- the engine, wired as in production but with in-process banks and no sleeping ---

import httpx  # noqa: E402
import pytest_asyncio  # noqa: E402

from domain.ports import ProviderKind  # noqa: E402
from providers.mock.bank import MockBank  # noqa: E402
from providers.mock.config import MockBankConfig  # noqa: E402
from service.bootstrap import Container, build, build_app  # noqa: E402
from service.settings import Settings  # noqa: E402


class FakeSleep:
    """Records the waits the retry policy asked for; never really sleeps."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def banks() -> dict[ProviderKind, MockBank]:
    return {kind: MockBank(kind, MockBankConfig(seed=7)) for kind in ProviderKind}


@pytest.fixture
def call_timeout_s() -> float:
    """How long one provider call may take before the client retries (override per module)."""
    return 0.5


@pytest_asyncio.fixture
async def container(
    database_url: str,
    clock: ManualClock,
    banks: dict[ProviderKind, MockBank],
    fake_sleep: FakeSleep,
    call_timeout_s: float,
) -> AsyncIterator[Container]:
    settings = Settings(
        database_url=database_url,
        provider_concurrency=16,
        run_approval_min_total="off",  # tests that need four eyes turn it on
        _env_file=None,
    )
    built = build(
        settings,
        clock=clock,
        banks=banks,
        provider_options={"sleep": fake_sleep, "call_timeout_s": call_timeout_s},
    )
    yield built
    await built.aclose()


@pytest_asyncio.fixture
async def seeded(container: Container) -> Container:
    from service.demo import seed

    await seed(container.sessions, container.clock.now(), large_event_size=40)
    return container


class GraphQLClient:
    """Sends documents as a frontend would; the demo ops key unless told otherwise."""

    def __init__(
        self, http: httpx.AsyncClient, key: str | None = None, container: Container | None = None
    ) -> None:
        from service.demo import DEMO_OPS_KEY

        self.http = http
        self.key = key or DEMO_OPS_KEY
        self.container = container

    def as_key(self, key: str) -> GraphQLClient:
        return GraphQLClient(self.http, key, self.container)

    async def run_to_completion(self, document: str, **variables: object) -> dict:
        """``startRun`` returns at once with the run queued: send it, let the job runner
        execute what is queued (as ``serve`` or a ``worker`` would), then send it again with
        the same key, which answers with the same run, now ended."""
        await self.data(document, **variables)
        await execute_queued_runs(self.container)
        return await self.data(document, **variables)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}"}

    async def __call__(self, query: str, **variables: object) -> dict:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, **variables: object) -> dict:
        body = await self(query, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest_asyncio.fixture
async def gql(seeded: Container) -> AsyncIterator[GraphQLClient]:
    app = build_app(seeded, migrate=False, recover=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield GraphQLClient(http, container=seeded)


async def execute_queued_runs(container: Container | None) -> list:
    """Run the job that claims and executes queued payout runs, until none is left."""
    assert container is not None, "a GraphQLClient built with its container"
    outcomes = await container.jobs.execute_queued_runs("manual")
    failed = [o for o in outcomes if o.status != "succeeded"]
    assert not failed, failed
    return outcomes
