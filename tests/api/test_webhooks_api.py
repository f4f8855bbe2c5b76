"""Webhook endpoints over GraphQL: created with a secret shown once, refused with a
clear userError (and nothing written) for URLs that could reach inside the network,
for unknown event types and for another payee; a payee key sees only its own."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from persistence.tables import WebhookDelivery, WebhookEndpoint
from service.bootstrap import Container
from service.demo import DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS
from tests.api.test_hostile_inputs import common_refs
from tests.conftest import GraphQLClient

PUBLIC = "https://93.184.215.14/hooks"  # a public address: no DNS look-up needed
CREATE = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input)
{ webhookEndpoint { id url events payeeId enabled } secret userErrors { field code message } } }"""
LIST = "{ webhookEndpoints { id url payeeId } }"
REPLAY = """mutation($input: ReplayWebhookEventInput!) { replayWebhookEvent(input: $input)
{ scheduled userErrors { field code } } }"""
DELIVERIES = """query($f: WebhookDeliveryFilter, $after: String) {
webhookDeliveries(filter: $f, first: 2, after: $after) { edges { node { id eventId eventType
status attempts attemptLog { statusCode } } } pageInfo { hasNextPage endCursor } } }"""


async def endpoints_written(container: Container) -> int:
    async with container.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


async def test_the_secret_is_shown_once(gql: GraphQLClient) -> None:
    data = await gql.data(CREATE, input={"url": PUBLIC, "events": ["payout.*", "run.completed"]})
    made = data["createWebhookEndpoint"]
    assert made["userErrors"] == []
    assert made["secret"].startswith("whsec_") and len(made["secret"]) > 40
    assert made["webhookEndpoint"] == {
        "id": made["webhookEndpoint"]["id"],
        "url": PUBLIC,
        "events": ["payout.*", "run.completed"],
        "payeeId": None,
        "enabled": True,
    }
    listed = await gql("{ webhookEndpoints { id url } }")
    assert made["secret"] not in str(listed)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/x", "is not an http(s) URL"),
        ("javascript:alert(1)", "is not an http(s) URL"),
        ("https://", "is not an http(s) URL"),
        ("https://93.184.215.14:99999/", "is not an http(s) URL"),
        ("https://bad host/", "is not an http(s) URL"),
        ("http://93.184.215.14/hooks", "the URL must be https"),
        ("https://user:pw@93.184.215.14/", "credentials in the URL are refused"),
        ("https://" + "a" * 2000 + ".com/", "at most 2000 characters"),
        ("https://127.0.0.1:8000/hooks", "127.0.0.1 is a loopback address"),
        ("https://localhost/hooks", "is a loopback address"),
        ("https://[::1]/hooks", "::1 is a loopback address"),
        ("https://10.1.2.3/hooks", "10.1.2.3 is a private address"),
        ("https://192.168.0.10/hooks", "192.168.0.10 is a private address"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("https://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("https://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("https://[::ffff:127.0.0.1]/", "is a loopback address"),
        ("https://2130706433/", "is a loopback address"),  # 127.0.0.1 as one number
    ],
)
async def test_a_url_that_could_reach_inside_is_refused(
    gql: GraphQLClient, seeded: Container, url: str, message: str
) -> None:
    data = await gql.data(CREATE, input={"url": url})
    made = data["createWebhookEndpoint"]
    assert made["webhookEndpoint"] is None and made["secret"] is None
    (error,) = made["userErrors"]
    assert (error["field"], error["code"]) == (["input", "url"], "INVALID_INPUT")
    assert message in error["message"]
    assert await endpoints_written(seeded) == 0


@pytest.mark.parametrize(
    ("events", "field"),
    [
        (["payout.paid"], ["input", "events", "0"]),
        (["payout.completed", "ledger.*"], ["input", "events", "1"]),
        (["PAYOUT.COMPLETED"], ["input", "events", "0"]),
        (["payout.completed"] * 51, ["input", "events"]),
    ],
)
async def test_unknown_or_too_many_event_types_are_refused(
    gql: GraphQLClient, seeded: Container, events: list[str], field: list[str]
) -> None:
    data = await gql.data(CREATE, input={"url": PUBLIC, "events": events})
    (error,) = data["createWebhookEndpoint"]["userErrors"]
    assert (error["field"], error["code"]) == (field, "INVALID_INPUT")
    assert await endpoints_written(seeded) == 0


async def test_a_payee_key_makes_and_sees_only_its_own_endpoints(
    gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    acme = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    tiny = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    own = (await acme.data(CREATE, input={"url": PUBLIC}))["createWebhookEndpoint"]
    assert own["webhookEndpoint"]["payeeId"] == refs["acme"]  # forced to its payee
    refused = await tiny.data(CREATE, input={"url": PUBLIC, "payeeId": refs["acme"]})
    (error,) = refused["createWebhookEndpoint"]["userErrors"]
    assert (error["field"], error["code"]) == (["input", "payeeId"], "NOT_FOUND")
    await gql.data(CREATE, input={"url": PUBLIC})  # ops: every payee's events
    assert [e["payeeId"] for e in (await acme.data(LIST))["webhookEndpoints"]] == [refs["acme"]]
    assert (await tiny.data(LIST))["webhookEndpoints"] == []
    everyone = (await gql.as_key(DEMO_AUDITOR_KEY).data(LIST))["webhookEndpoints"]
    assert len(everyone) == 2
    assert await endpoints_written(seeded) == 2


async def test_an_unknown_payee_is_refused(gql: GraphQLClient, seeded: Container) -> None:
    for payee in ("999999", "x", "1" * 30):
        data = await gql.data(CREATE, input={"url": PUBLIC, "payeeId": payee})
        (error,) = data["createWebhookEndpoint"]["userErrors"]
        assert (error["field"], error["code"]) == (["input", "payeeId"], "NOT_FOUND")
    assert await endpoints_written(seeded) == 0


async def test_replay_and_deliveries(gql: GraphQLClient, seeded: Container) -> None:
    made = (await gql.data(CREATE, input={"url": PUBLIC, "events": ["run.*"]}))[
        "createWebhookEndpoint"
    ]
    endpoint_id = made["webhookEndpoint"]["id"]
    await seeded.runner.run("LIQ-2024-001", "hooks-run")
    await seeded.jobs.webhooks.store.fan_out(seeded.clock.now())
    page = (await gql.data(DELIVERIES, f={"endpointId": endpoint_id}))["webhookDeliveries"]
    nodes: list[dict[str, Any]] = [edge["node"] for edge in page["edges"]]
    assert [n["eventType"] for n in nodes] == ["run.completed", "run.running"]  # newest first
    assert {n["status"] for n in nodes} == {"PENDING"} and nodes[0]["attemptLog"] == []
    assert page["pageInfo"]["hasNextPage"] is False

    event_id = nodes[0]["eventId"]
    again = await gql.data(REPLAY, input={"eventId": event_id, "endpointId": endpoint_id})
    assert again["replayWebhookEvent"] == {"scheduled": 1, "userErrors": []}
    missing = await gql.data(REPLAY, input={"eventId": "999999", "endpointId": "999999"})
    assert [e["field"] for e in missing["replayWebhookEvent"]["userErrors"]] == [
        ["input", "eventId"],
        ["input", "endpointId"],
    ]
    async with seeded.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
    acme = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    assert (await acme.data(DELIVERIES))["webhookDeliveries"]["edges"] == []
