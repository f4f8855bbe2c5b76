"""What an operator sees: request ids, structured logs, /metrics, and per-key rate limits."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from domain.auth import Role
from domain.lifecycle import Path, PayoutStatus
from domain.rate_limit import RateLimiter
from graph.app import create_app
from jobs.scheduled import RECONCILE
from persistence import metrics
from persistence.api_keys import KNOWN
from persistence.tables import ApiKey, Payout, ReconciliationBreak
from service import logging_setup
from service.bootstrap import Container
from service.demo import (
    DEMO_AUDITOR_KEY,
    DEMO_MERCHANT_KEYS,
    DEMO_OPS_KEY,
    plant_unknown_order,
)
from tests.api.test_merchant_payouts import CREATE, merchant, payout_input
from tests.api.test_statement_counts import counting
from tests.conftest import GraphQLClient

TYPENAME = {"query": "{ __typename }"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}"}


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the access log writes, in JSON, while the test runs."""
    out = io.StringIO()
    handler = logging_setup.handler("json")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    access = logging.getLogger("payout_engine.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    yield out
    access.removeHandler(handler)
    access.setLevel(level)


# -- request ids and logs ------------------------------------------------------------


async def test_a_callers_request_id_is_echoed_and_one_is_made_otherwise(
    gql: GraphQLClient,
) -> None:
    given = await gql.http.post(
        "/graphql", json=TYPENAME, headers={**gql.headers, "X-Request-Id": "abc-123"}
    )
    made = await gql.http.post("/graphql", json=TYPENAME, headers=gql.headers)
    unusable = await gql.http.post(
        "/graphql", json=TYPENAME, headers={**gql.headers, "X-Request-Id": "no spaces\tplease"}
    )
    assert given.headers["X-Request-Id"] == "abc-123"
    assert len(made.headers["X-Request-Id"]) == 32
    assert unusable.headers["X-Request-Id"] not in ("", "no spaces\tplease")
    refused = await gql.http.post("/graphql", json=TYPENAME)  # no key: answered all the same
    assert refused.status_code == 401 and refused.headers["X-Request-Id"]


async def test_the_access_log_writes_one_json_object_per_request_with_who_asked(
    gql: GraphQLClient, log_lines: io.StringIO
) -> None:
    await gql.http.post(
        "/graphql", json=TYPENAME, headers={**auth(DEMO_AUDITOR_KEY), "X-Request-Id": "r-1"}
    )
    await gql.http.get("/health", headers={"X-Request-Id": "r-2"})
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["r-1", "r-2"]
    graphql, health = lines
    assert graphql["key_name"] == "demo auditor"
    assert (graphql["method"], graphql["path"], graphql["status"]) == ("POST", "/graphql", 200)
    assert graphql["level"] == "INFO" and graphql["logger"] == "payout_engine.access"
    assert "key_name" not in health and health["status"] == 200


async def test_a_request_that_moves_one_payout_logs_its_id(
    gql: GraphQLClient, seeded: Container, log_lines: io.StringIO
) -> None:
    payee, account = await merchant(seeded, "MER-TINY")
    client = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    data = await client.data(CREATE, input=payout_input(payee, account, "1.00", "log-1"))
    payout_id = int(data["createPayout"]["payout"]["id"])
    line = json.loads(log_lines.getvalue().splitlines()[-1])
    assert line["payout_id"] == payout_id
    assert line["key_name"] == "demo MER-TINY"


async def test_the_access_log_can_be_switched_off(
    seeded: Container, log_lines: io.StringIO
) -> None:
    app = create_app(seeded.app_deps(), access_log=False)
    async with client(app) as http:
        await http.get("/health")
    assert log_lines.getvalue() == ""


def test_text_lines_carry_the_same_fields_readably() -> None:
    record = logging.makeLogRecord({"msg": "run %s done", "args": (7,), "name": "engine"})
    record.context = {"request_id": "r-9", "run_id": 7}
    line = logging_setup.TextFormatter().format(record)
    assert line.endswith("engine: run 7 done request_id=r-9 run_id=7")


# -- metrics -------------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def payouts_counted() -> dict[tuple[str, str], float]:
    return {
        (s.labels["status"], s.labels["rail"]): s.value
        for family in REGISTRY.collect()
        if family.name == "payout_engine_payouts"
        for s in family.samples
        if s.name == "payout_engine_payouts_total"
    }


async def test_metrics_count_payouts_by_status_and_rail_after_a_run(
    gql: GraphQLClient, seeded: Container
) -> None:
    before = payouts_counted()
    summary = await seeded.runner.run("LIQ-2024-001", "metrics")
    async with seeded.sessions() as session:
        rows = await session.execute(
            select(Payout.rail, Payout.status, func.count()).group_by(Payout.rail, Payout.status)
        )
        stored = {(status, rail or "none"): n for rail, status, n in rows.all()}
    response = await gql.http.get("/metrics")
    assert response.status_code == 200
    assert 'payout_engine_payouts_total{rail="SEPA",status="submitted"}' in response.text
    after = payouts_counted()
    counted = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k)}
    # The run made each payout once: every payout stored reached its status once, and
    # the submitted ones passed through pending and submitting on their way.
    assert summary.created == sum(n for (status, _), n in stored.items() if status == "submitted")
    for (status, rail), n in stored.items():
        assert counted[(status, rail)] == n, (status, rail)
        if status == "submitted":
            assert counted[("pending", rail)] == counted[("submitting", rail)] == n
    assert "payout_engine_run_duration_seconds_count" in response.text
    assert "payout_engine_provider_request_duration_seconds_bucket" in response.text


async def test_a_rolled_back_status_change_is_not_counted(seeded: Container) -> None:
    """Counted at commit: a transaction that moves payouts and then fails counts nothing."""
    before = payouts_counted()
    with pytest.raises(RuntimeError):
        async with seeded.sessions.begin() as session:
            await session.execute(select(func.count()).select_from(Payout))
            metrics.note_steps(session, [(1, Path.of(None, PayoutStatus.PENDING).steps, "ACH")])
            raise RuntimeError("the run died here")
    assert payouts_counted() == before


async def test_metrics_want_the_token_when_one_is_set(seeded: Container) -> None:
    app = create_app(seeded.app_deps(), metrics_token="s3cret")
    async with client(app) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert right.status_code == 200
    assert "# TYPE payout_engine_payouts_total counter" in right.text


# -- rate limits ---------------------------------------------------------------------


@pytest_asyncio.fixture
async def limited(
    seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Ticks]]:
    ticks = Ticks()
    monkeypatch.setattr(KNOWN, "monotonic", ticks)  # what a key's look-up is believed for
    limiter = RateLimiter({Role.OPS: 2.0, Role.AUDITOR: 2.0}, burst_s=1.5, monotonic=ticks)
    async with client(create_app(seeded.app_deps(), rate_limiter=limiter)) as http:
        yield http, ticks


async def test_a_key_over_its_rate_is_answered_429_with_retry_after(
    limited: tuple[httpx.AsyncClient, Ticks],
) -> None:
    http, ticks = limited
    burst = [
        await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY)) for _ in range(3)
    ]
    assert [r.status_code for r in burst] == [200, 200, 200]  # 2 a second, 1.5 s of burst
    refused = await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "too many requests" in error["message"]
    # Another key is not held back by the first one's flood.
    other = await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_AUDITOR_KEY))
    assert other.status_code == 200
    ticks.now += 0.5  # one token back
    again = await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    assert again.status_code == 200
    assert (
        await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    ).status_code == 429


async def test_a_throttled_key_is_refused_without_asking_the_database(
    limited: tuple[httpx.AsyncClient, Ticks], seeded: Container
) -> None:
    http, _ = limited
    for _ in range(3):
        await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    with counting(seeded) as statements:
        refused = await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    assert refused.status_code == 429
    assert statements == []


async def test_a_key_revoked_while_remembered_is_refused_as_unknown(
    limited: tuple[httpx.AsyncClient, Ticks], seeded: Container
) -> None:
    http, ticks = limited
    assert (
        await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    ).status_code == 200
    async with seeded.sessions.begin() as session:
        await session.execute(update(ApiKey).values(revoked_at=seeded.clock.now()))
    ticks.now += 10
    refused = await http.post("/graphql", json=TYPENAME, headers=auth(DEMO_OPS_KEY))
    assert refused.status_code == 401


async def test_unauthenticated_requests_are_refused_before_any_bucket(
    limited: tuple[httpx.AsyncClient, Ticks],
) -> None:
    http, _ = limited
    answers = [(await http.post("/graphql", json=TYPENAME)).status_code for _ in range(5)]
    assert answers == [401] * 5


def client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_metrics_show_open_breaks_by_kind_and_job_runs_by_outcome(
    gql: GraphQLClient, seeded: Container
) -> None:
    succeeded = sample("payout_engine_job_runs_total", job=RECONCILE, outcome="succeeded")
    plant_unknown_order(seeded.banks)  # an order at the wire bank that no payout made
    outcome = await seeded.jobs.catch_up()
    assert outcome is not None and outcome.status == "succeeded"
    async with seeded.sessions() as session:
        rows = await session.execute(
            select(ReconciliationBreak.kind, func.count())
            .where(ReconciliationBreak.status == "open")
            .group_by(ReconciliationBreak.kind)
        )
        open_breaks = dict(rows.all())
    assert open_breaks.get("unknown_at_provider", 0) >= 1
    text = (await gql.http.get("/metrics")).text
    for kind, n in open_breaks.items():
        assert f'payout_engine_reconciliation_breaks_open{{kind="{kind}"}} {float(n)}' in text
    after = sample("payout_engine_job_runs_total", job=RECONCILE, outcome="succeeded")
    assert after == succeeded + 1
