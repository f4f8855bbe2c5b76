"""Who may do what: every operation against every kind of caller, as one table.

The callers: no key, a wrong key, a revoked key, a payee key aimed at another payee's
objects (Tiny Studio's key at Acme Agency's payee, payouts and account), the payee's own
key (Acme's), an ops key, and approver and auditor keys (they read what ops reads and
change nothing). The outcomes:

* UNAUTHENTICATED: HTTP 401 with ``extensions.code`` UNAUTHENTICATED and no data at all;
  a subscription socket is closed with 4403 at ``connection_init``.
* FORBIDDEN: a GraphQL error with code FORBIDDEN, and no data.
* HIDDEN: answered as if the object did not exist: null, an empty page, a NOT_FOUND
  userError (a subscription to another payee is a FORBIDDEN error instead: a feed that
  stays silent would look like no news).
* ALLOWED: answered; what a payee key is shown is its own.

Introspection (``__schema``, ``__type``) is answered for any valid key and for no one
else; the GraphiQL page is static HTML served to a browser without a key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import graphql
import httpx
import pytest
import pytest_asyncio

from domain.auth import Role, new_key
from graph.app import create_app
from graph.schema import build_schema
from persistence.payout_feed import PayoutFeed
from providers.mock.server import serving
from service.bootstrap import Container
from service.demo import DEMO_APPROVER_KEY, DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS, DEMO_OPS_KEY
from tests.api.test_auth import revoked_key
from tests.api.test_hostile_inputs import common_refs, for_resolve_break
from tests.api.test_subscriptions import connected, opened, until
from tests.conftest import GraphQLClient

NO_KEY, WRONG_KEY, REVOKED = "no key", "wrong key", "revoked key"
OTHER, OWN, OPS = "another payee's key", "the payee's own key", "ops key"
APPROVER, AUDITOR = "approver key", "auditor key"
CALLERS = [NO_KEY, WRONG_KEY, REVOKED, OTHER, OWN, OPS, APPROVER, AUDITOR]
READERS = (OPS, APPROVER, AUDITOR)
U, F, H, A = "UNAUTHENTICATED", "FORBIDDEN", "HIDDEN", "ALLOWED"

# fmt: off
POLICY: dict[str, tuple[str, str, str, str, str, str, str, str]] = {
    # operation               no key  wrong  revoked  another payee  own payee  ops approver auditor
    "payouts":                (U,      U,     U,       H,             A,         A,  A,       A),
    "payout":                 (U,      U,     U,       H,             A,         A,  A,       A),
    "payee":                  (U,      U,     U,       H,             A,         A,  A,       A),
    "runs":                   (U,      U,     U,       F,             F,         A,  A,       A),
    "run":                    (U,      U,     U,       F,             F,         A,  A,       A),
    "events":                 (U,      U,     U,       F,             F,         A,  A,       A),
    "payees":                 (U,      U,     U,       F,             F,         A,  A,       A),
    "ledgerAccounts":         (U,      U,     U,       F,             F,         A,  A,       A),
    "rails":                  (U,      U,     U,       F,             F,         A,  A,       A),
    "route":                  (U,      U,     U,       F,             F,         A,  A,       A),
    "reconciliationRuns":     (U,      U,     U,       F,             F,         A,  A,       A),
    "reconciliationBreaks":   (U,      U,     U,       F,             F,         A,  A,       A),
    "jobRuns":                (U,      U,     U,       F,             F,         A,  A,       A),
    "me":                     (U,      U,     U,       A,             A,         A,  A,       A),
    "apiKeys":                (U,      U,     U,       F,             F,         A,  A,       A),
    "reasonCodes":            (U,      U,     U,       F,             F,         A,  A,       A),
    "createPayout":           (U,      U,     U,       H,             A,         A,  F,       F),
    "cancelPayout":           (U,      U,     U,       H,             A,         A,  F,       F),
    "createLiquidationEvent": (U,      U,     U,       F,             F,         A,  F,       F),
    "startRun":               (U,      U,     U,       F,             F,         A,  F,       F),
    "runReconciliation":      (U,      U,     U,       F,             F,         A,  F,       F),
    "resolveBreak":           (U,      U,     U,       F,             F,         A,  F,       F),
    "createApiKey":           (U,      U,     U,       F,             F,         A,  F,       F),
    "revokeApiKey":           (U,      U,     U,       F,             F,         A,  F,       F),
    "createPayee":            (U,      U,     U,       F,             F,         A,  F,       F),
    "updatePayee":            (U,      U,     U,       F,             F,         A,  F,       F),
    # retire an account, then add a new one (the probes run in this order):
    "retireBankAccount":      (U,      U,     U,       F,             F,         A,  F,       F),
    "addBankAccount":         (U,      U,     U,       F,             F,         A,  F,       F),
    "verifyBankAccount":      (U,      U,     U,       F,             F,         A,  F,       F),
    "createWebhookEndpoint":  (U,      U,     U,       H,             A,         A,  F,       F),
    "webhookEndpoints":       (U,      U,     U,       H,             A,         A,  A,       A),
    "webhookDeliveries":      (U,      U,     U,       A,             A,         A,  A,       A),
    "replayWebhookEvent":     (U,      U,     U,       F,             F,         A,  F,       F),
    "setWebhookEndpointEnabled": (U,   U,     U,       F,             F,         A,  F,       F),
    "approvals":              (U,      U,     U,       F,             F,         A,  A,       A),
    "decideApproval":         (U,      U,     U,       F,             F,         F,  A,       F),
    "cancelRun":              (U,      U,     U,       F,             F,         A,  F,       F),
    "importLiquidationEvent": (U,      U,     U,       F,             F,         A,  F,       F),
    "retryPayout":            (U,      U,     U,       F,             F,         A,  F,       F),
    "retryPayouts":           (U,      U,     U,       F,             F,         A,  F,       F),
    # a socket:
    "payoutUpdated":          (U,      U,     U,       F,             A,         A,  A,       A),
    "runUpdated":             (U,      U,     U,       F,             F,         A,  A,       A),
    "__schema":               (U,      U,     U,       A,             A,         A,  A,       A),
    "__type":                 (U,      U,     U,       A,             A,         A,  A,       A),
}
# fmt: on


def expected(operation: str, caller: str) -> str:
    return POLICY[operation][CALLERS.index(caller)]


@dataclass(frozen=True)
class Probe:
    """How to call an operation on Acme's objects, and whether the answer holds them."""

    document: str
    variables: Callable[[dict[str, str], str], dict[str, Any]]
    reaches: Callable[[dict[str, Any], dict[str, str]], bool]


def none(refs: dict[str, str], caller: str) -> dict[str, Any]:
    return {}


def present(field: str) -> Callable[[dict[str, Any], dict[str, str]], bool]:
    return lambda data, refs: data[field] is not None


def edges(page: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (page or {"edges": []})["edges"]]


PROBES: dict[str, Probe] = {
    "payouts": Probe(
        "query($p: ID) { payouts(filter: {payeeId: $p}, first: 100) "
        "{ edges { node { id payee { id } } } } }",
        lambda refs, caller: {"p": refs["acme"]},
        lambda data, refs: refs["acme_payout"] in {n["id"] for n in edges(data["payouts"])},
    ),
    "payout": Probe(
        "query($id: ID!) { payout(id: $id) { id payee { id } trace { action } } }",
        lambda refs, caller: {"id": refs["acme_payout"]},
        lambda data, refs: (data["payout"] or {}).get("id") == refs["acme_payout"],
    ),
    "payee": Probe(
        "query($id: ID!) { payee(id: $id) { id bankAccounts { id } balances { code } } }",
        lambda refs, caller: {"id": refs["acme"]},
        lambda data, refs: (data["payee"] or {}).get("id") == refs["acme"],
    ),
    "runs": Probe("{ runs { edges { cursor } } }", none, present("runs")),
    "run": Probe(
        "query($id: ID!) { run(id: $id) { id } }",
        lambda refs, caller: {"id": refs.get("run", "1")},
        present("run"),
    ),
    "events": Probe("{ events { code } }", none, present("events")),
    "payees": Probe("{ payees { edges { cursor } } }", none, present("payees")),
    "ledgerAccounts": Probe("{ ledgerAccounts { code } }", none, present("ledgerAccounts")),
    "rails": Probe("{ rails { code } }", none, present("rails")),
    "route": Probe('{ route(country: "DE") { currency } }', none, present("route")),
    "reconciliationRuns": Probe(
        "{ reconciliationRuns { edges { cursor } } }", none, present("reconciliationRuns")
    ),
    "reconciliationBreaks": Probe(
        "{ reconciliationBreaks { edges { cursor } } }", none, present("reconciliationBreaks")
    ),
    "jobRuns": Probe("{ jobRuns { edges { cursor } } }", none, present("jobRuns")),
    "me": Probe("{ me { role prefix } }", none, present("me")),
    "apiKeys": Probe("{ apiKeys { edges { node { id } } } }", none, present("apiKeys")),
    "reasonCodes": Probe("{ reasonCodes { code category } }", none, present("reasonCodes")),
    "createApiKey": Probe(
        """mutation { createApiKey(input: {name: "matrix", role: AUDITOR, owner: "m@example.com"})
        { apiKey { id } secret userErrors { code } } }""",
        none,
        lambda data, refs: ((data["createApiKey"] or {}).get("apiKey") or {}).get("id") is not None,
    ),
    "revokeApiKey": Probe(
        "mutation($id: ID!) { revokeApiKey(input: {id: $id}) "
        "{ apiKey { id revokedAt } userErrors { code } } }",
        lambda refs, caller: {"id": refs["key_to_revoke"]},
        lambda data, refs: (
            ((data["revokeApiKey"] or {}).get("apiKey") or {}).get("revokedAt") is not None
        ),
    ),
    "createPayout": Probe(
        """mutation($p: ID!, $a: ID!, $k: String!) { createPayout(input: {payeeId: $p,
        amount: "1.00", currency: "INR", bankAccountId: $a, idempotencyKey: $k})
        { payout { id payee { id } } userErrors { code } } }""",
        lambda refs, caller: {
            "p": refs["acme"],
            "a": refs["acme_account"],
            "k": f"matrix-{CALLERS.index(caller)}",
        },
        lambda data, refs: (
            ((data["createPayout"] or {}).get("payout") or {}).get("payee", {}).get("id")
            == refs["acme"]
        ),
    ),
    "cancelPayout": Probe(
        "mutation($id: ID!) { cancelPayout(input: {payoutId: $id}) "
        "{ payout { id status } userErrors { code } } }",
        lambda refs, caller: {"id": refs["acme_payout_to_cancel"]},
        lambda data, refs: (
            ((data["cancelPayout"] or {}).get("payout") or {}).get("status") == "CANCELLED"
        ),
    ),
    "createLiquidationEvent": Probe(
        """mutation($p: ID!) { createLiquidationEvent(input: {code: "LIQ-MATRIX", name: "M",
        fundName: "F", allocations: [{payeeId: $p, amount: "1.00"}]})
        { event { id } userErrors { code } } }""",
        lambda refs, caller: {"p": refs["investor_1"]},
        lambda data, refs: (data["createLiquidationEvent"] or {}).get("event") is not None,
    ),
    "startRun": Probe(
        'mutation { startRun(input: {liquidationEventId: "LIQ-2024-002"}) '
        "{ run { id } userErrors { code } } }",
        none,
        lambda data, refs: (data["startRun"] or {}).get("run") is not None,
    ),
    "runReconciliation": Probe(
        'mutation { runReconciliation(input: {businessDate: "2026-03-01"}) '
        "{ reconciliationRun { id } userErrors { code } } }",
        none,
        lambda data, refs: (data["runReconciliation"] or {}).get("reconciliationRun") is not None,
    ),
    "resolveBreak": Probe(
        'mutation($id: ID!) { resolveBreak(input: {breakId: $id, note: "matrix"}) '
        "{ break { id status } userErrors { code } } }",
        lambda refs, caller: {"id": refs.get("open_break", "1")},
        lambda data, refs: (
            ((data["resolveBreak"] or {}).get("break") or {}).get("status") == "RESOLVED"
        ),
    ),
    "createPayee": Probe(
        """mutation($e: String!) { createPayee(input: {externalId: $e, name: "M",
        kind: INVESTOR, country: "DE"}) { payee { id } userErrors { code } } }""",
        lambda refs, caller: {"e": f"MATRIX-{CALLERS.index(caller)}"},
        lambda data, refs: (data["createPayee"] or {}).get("payee") is not None,
    ),
    "updatePayee": Probe(
        """mutation($id: ID!) { updatePayee(input: {id: $id, name: "Renamed"})
        { payee { id name } userErrors { code } } }""",
        lambda refs, caller: {"id": refs["acme"]},
        lambda data, refs: (data["updatePayee"] or {}).get("payee") is not None,
    ),
    "addBankAccount": Probe(
        """mutation($p: ID!) { addBankAccount(input: {payeeId: $p, holderName: "Acme",
        currency: "INR", ifsc: "HDFC0001234", accountNumber: "50100012345678"})
        { bankAccount { id } userErrors { code } } }""",
        lambda refs, caller: {"p": refs["acme"]},
        lambda data, refs: (data["addBankAccount"] or {}).get("bankAccount") is not None,
    ),
    "retireBankAccount": Probe(
        """mutation($id: ID!) { retireBankAccount(input: {id: $id})
        { bankAccount { id } userErrors { code } } }""",
        lambda refs, caller: {"id": refs["acme_account"]},
        lambda data, refs: (data["retireBankAccount"] or {}).get("bankAccount") is not None,
    ),
    "verifyBankAccount": Probe(
        """mutation($id: ID!) { verifyBankAccount(input: {id: $id, note: "matrix"})
        { bankAccount { id } userErrors { code } } }""",
        lambda refs, caller: {"id": refs["held_account"]},
        lambda data, refs: (data["verifyBankAccount"] or {}).get("bankAccount") is not None,
    ),
    "createWebhookEndpoint": Probe(
        """mutation($p: ID) { createWebhookEndpoint(input: {url: "https://93.184.215.14/h",
        payeeId: $p}) { webhookEndpoint { id payeeId } userErrors { code } } }""",
        lambda refs, caller: {"p": refs["acme"]},
        lambda data, refs: (
            ((data["createWebhookEndpoint"] or {}).get("webhookEndpoint") or {}).get("payeeId")
            == refs["acme"]
        ),
    ),
    "webhookEndpoints": Probe(
        "{ webhookEndpoints { id } }",
        none,
        lambda data, refs: refs["acme_endpoint"] in {e["id"] for e in data["webhookEndpoints"]},
    ),
    "webhookDeliveries": Probe(
        "{ webhookDeliveries { edges { cursor } } }", none, present("webhookDeliveries")
    ),
    "replayWebhookEvent": Probe(
        'mutation { replayWebhookEvent(input: {eventId: "1"}) { scheduled userErrors { code } } }',
        none,
        lambda data, refs: (data["replayWebhookEvent"] or {}).get("userErrors") == [],
    ),
    "setWebhookEndpointEnabled": Probe(
        "mutation($id: ID!) { setWebhookEndpointEnabled(input: {id: $id, enabled: false}) "
        "{ webhookEndpoint { enabled } userErrors { code } } }",
        lambda refs, caller: {"id": refs["acme_endpoint"]},
        lambda data, refs: (
            ((data["setWebhookEndpointEnabled"] or {}).get("webhookEndpoint") or {}).get("enabled")
            is False
        ),
    ),
    "approvals": Probe(
        "{ approvals(first: 10) { edges { node { id status } } } }",
        none,
        lambda data, refs: refs["approval"] in {n["id"] for n in edges(data["approvals"])},
    ),
    "decideApproval": Probe(
        "mutation($id: ID!) { decideApproval(input: {approvalId: $id, decision: APPROVE}) "
        "{ approval { id status } userErrors { code } } }",
        lambda refs, caller: {"id": refs["approval"]},
        lambda data, refs: (
            ((data["decideApproval"] or {}).get("approval") or {}).get("status") == "APPROVED"
        ),
    ),
    "cancelRun": Probe(
        "mutation($id: ID!) { cancelRun(input: {runId: $id}) "
        "{ run { id state } userErrors { code } } }",
        lambda refs, caller: {"id": refs["run_to_cancel"]},
        lambda data, refs: ((data["cancelRun"] or {}).get("run") or {}).get("state") == "CANCELLED",
    ),
    "importLiquidationEvent": Probe(
        """mutation($e: String!) { importLiquidationEvent(input: {eventId: $e, name: "M",
        currency: "USD", csvText: "external_id,name,kind,country,amount\\nMX-1,M,investor,DE,1.00"})
        { event { id } userErrors { code } } }""",
        lambda refs, caller: {"e": f"LIQ-MATRIX-CSV-{CALLERS.index(caller)}"},
        lambda data, refs: (data["importLiquidationEvent"] or {}).get("event") is not None,
    ),
    # Answered (a pending payout is not paid again: a userError, nothing written):
    "retryPayout": Probe(
        'mutation($id: ID!) { retryPayout(input: {payoutId: $id, idempotencyKey: "m-r"}) '
        "{ retry { id } userErrors { code } } }",
        lambda refs, caller: {"id": refs["acme_payout"]},
        lambda data, refs: data["retryPayout"] is not None,
    ),
    "retryPayouts": Probe(
        'mutation($id: ID!) { retryPayouts(input: {runId: $id, idempotencyKey: "m-rs"}) '
        "{ retry { id } userErrors { code } } }",
        lambda refs, caller: {"id": refs["run_to_cancel"]},
        lambda data, refs: data["retryPayouts"] is not None,
    ),
    "__schema": Probe(
        "{ __schema { queryType { name } types { name } } }",
        none,
        lambda data, refs: data["__schema"]["queryType"]["name"] == "Query",
    ),
    "__type": Probe(
        '{ __type(name: "Payout") { name fields { name } } }',
        none,
        lambda data, refs: data["__type"]["name"] == "Payout",
    ),
}
SOCKETS = {"payoutUpdated", "runUpdated"}
HTTP_OPERATIONS = [operation for operation in POLICY if operation not in SOCKETS]


async def headers_of(caller: str, seeded: Container) -> dict[str, str]:
    if caller == NO_KEY:
        return {}
    if caller == REVOKED:
        key = await revoked_key(seeded)
    else:
        key = {
            WRONG_KEY: new_key(Role.OPS),  # the right shape, never issued
            OTHER: DEMO_MERCHANT_KEYS["MER-TINY"],
            OWN: DEMO_MERCHANT_KEYS["MER-ACME"],
            OPS: DEMO_OPS_KEY,
            APPROVER: DEMO_APPROVER_KEY,
            AUDITOR: DEMO_AUDITOR_KEY,
        }[caller]
    return {"Authorization": f"Api-Key {key}"}


async def acme_payout(gql: GraphQLClient, refs: dict[str, str], key: str) -> str:
    data = await gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"]).data(
        PROBES["createPayout"].document, p=refs["acme"], a=refs["acme_account"], k=key
    )
    assert data["createPayout"]["userErrors"] == [], data
    return data["createPayout"]["payout"]["id"]


async def key_to_revoke(gql: GraphQLClient) -> str:
    data = await gql.data(
        'mutation { createApiKey(input: {name: "to revoke", role: OPS, owner: "m@example.com"})'
        " { apiKey { id } userErrors { code } } }"
    )
    return data["createApiKey"]["apiKey"]["id"]


async def held_account(gql: GraphQLClient) -> str:
    """An account its bank says does not match its holder: held until cleared."""
    payee = await gql.data(
        'mutation { createPayee(input: {externalId: "MATRIX-HELD", name: "Held",'
        ' kind: INVESTOR, country: "DE"}) { payee { id } } }'
    )
    data = await gql.data(
        """mutation($p: ID!) { addBankAccount(input: {payeeId: $p, currency: "EUR",
        holderName: "Held (no match)", iban: "DE89370400440532013000"})
        { bankAccount { id } } }""",
        p=payee["createPayee"]["payee"]["id"],
    )
    return str(data["addBankAccount"]["bankAccount"]["id"])


async def acme_endpoint(gql: GraphQLClient, refs: dict[str, str]) -> str:
    data = await gql.data(PROBES["createWebhookEndpoint"].document, p=refs["acme"])
    return data["createWebhookEndpoint"]["webhookEndpoint"]["id"]


async def world(caller: str, gql: GraphQLClient, seeded: Container) -> dict[str, str]:
    """Acme's two pending payouts (one to read, one to cancel) and a key to revoke; for
    the keys that read everything, also a run and an open reconciliation break, so that
    their answers have something in them."""
    refs = await common_refs(seeded)
    refs["acme_payout"] = await acme_payout(gql, refs, "matrix-read")
    refs["acme_payout_to_cancel"] = await acme_payout(gql, refs, "matrix-cancel")
    refs["key_to_revoke"] = await key_to_revoke(gql)
    refs["held_account"] = await held_account(gql)
    refs["acme_endpoint"] = await acme_endpoint(gql, refs)
    refs["approval"], refs["run_to_cancel"] = await waiting_runs(seeded)
    if caller in READERS:
        await for_resolve_break(seeded, gql, refs)
        runs = await gql.data("{ runs(first: 1) { edges { node { id } } } }")
        refs["run"] = edges(runs["runs"])[0]["id"]
    return refs


async def waiting_runs(seeded: Container) -> tuple[str, str]:
    """A run the demo operator asked for that awaits its approval (the approval's id),
    and a queued run (its id)."""
    from domain.run_workflow import APPROVAL_TTL, Requester
    from persistence import queries
    from persistence.run_queue import SqlRunQueue, approval_for_run
    from service.demo import DEMO_OWNER

    async with seeded.sessions() as session:
        event = await queries.event_by_ref(session, "LIQ-2024-001")
    assert event is not None
    preview = await seeded.runner.preview(event.id)
    queue = SqlRunQueue(seeded.sessions)
    now = seeded.clock.now()
    ops = Requester(1, DEMO_OWNER)
    waiting = await queue.create_run(event.id, "m-wait", preview, True, ops, APPROVAL_TTL, now)
    queued = await queue.create_run(event.id, "m-queue", preview, False, ops, APPROVAL_TTL, now)
    async with seeded.sessions() as session:
        approval = await approval_for_run(session, waiting)
    assert approval is not None
    return str(approval.id), str(queued)


def outcome(response: httpx.Response, probe: Probe, refs: dict[str, str]) -> str:
    """What the response amounts to, in the terms of the policy table."""
    if response.status_code == 401:
        body = response.json()
        assert "data" not in body, body
        assert response.headers["www-authenticate"] == "Api-Key"
        return body["errors"][0]["extensions"]["code"]
    assert response.status_code == 200, response.text
    body = response.json()
    codes = {error["extensions"]["code"] for error in body.get("errors", [])}
    data = body.get("data")
    if codes:
        assert data is None or set(data.values()) == {None}, f"data along with {codes}: {data}"
        return codes.pop() if len(codes) == 1 else str(sorted(codes))
    return A if probe.reaches(data, refs) else H


@pytest.mark.parametrize("caller", CALLERS)
async def test_every_operation_answers_each_caller_as_the_policy_says(
    caller: str, gql: GraphQLClient, seeded: Container
) -> None:
    refs = await world(caller, gql, seeded)
    headers = await headers_of(caller, seeded)
    answered = {}
    for operation in HTTP_OPERATIONS:
        probe = PROBES[operation]
        body = {"query": probe.document, "variables": probe.variables(refs, caller)}
        answered[operation] = outcome(
            await gql.http.post("/graphql", json=body, headers=headers), probe, refs
        )
    assert answered == {operation: expected(operation, caller) for operation in HTTP_OPERATIONS}


async def test_hidden_answers_say_not_found(gql: GraphQLClient, seeded: Container) -> None:
    """Another payee's payout cannot be created, cancelled or read: the same answers as
    for ids that do not exist, so a payee cannot even learn what exists."""
    refs = await world(OTHER, gql, seeded)
    tiny = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    for operation, field in (("createPayout", "createPayout"), ("cancelPayout", "cancelPayout")):
        probe = PROBES[operation]
        data = await tiny.data(probe.document, **probe.variables(refs, OTHER))
        assert [e["code"] for e in data[field]["userErrors"]] == ["NOT_FOUND"]
        assert data[field]["payout"] is None
    unknown = await tiny.data(PROBES["payout"].document, id="999999")
    assert (
        unknown
        == {"payout": None}
        == await tiny.data(PROBES["payout"].document, id=refs["acme_payout"])
    )


async def test_a_payee_key_sees_only_its_own_payouts_whatever_the_filter(
    gql: GraphQLClient, seeded: Container
) -> None:
    refs = await world(OTHER, gql, seeded)
    await seeded.runner.run("LIQ-2024-001", "matrix-investors")  # many other payees' payouts
    tiny = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
    own = await tiny.data(
        PROBES["createPayout"].document, p=refs["tiny"], a=refs["tiny_account"], k="tiny-own-1"
    )
    own_id = own["createPayout"]["payout"]["id"]
    page = (
        "query($f: PayoutFilter) "
        "{ payouts(filter: $f, first: 100) { edges { node { id payee { id } } } } }"
    )
    for payout_filter in (
        None,
        {"payeeId": refs["acme"]},
        {"payeeId": refs["investor_1"]},
        {"status": "PENDING"},
        {"status": "SUBMITTED"},
        {"country": "IN"},
        {"rail": "NEFT"},
        {"eventId": "1"},
        {"runId": "1"},
    ):
        nodes = edges((await tiny.data(page, f=payout_filter))["payouts"])
        assert {node["payee"]["id"] for node in nodes} <= {refs["tiny"]}, payout_filter
    mine = edges((await tiny.data(page, f=None))["payouts"])
    assert [node["id"] for node in mine] == [own_id]
    everyone = edges((await gql.data(page, f=None))["payouts"])
    assert len({node["payee"]["id"] for node in everyone}) > 2  # ops sees every payee


@dataclass
class Served:
    url: str
    feed: PayoutFeed


@pytest_asyncio.fixture
async def served(seeded: Container) -> AsyncIterator[Served]:
    feed = PayoutFeed(seeded.sessions, interval_s=0.01)
    async with serving(create_app(seeded.app_deps(), feed=feed)) as base:
        yield Served("ws" + base.removeprefix("http") + "/graphql", feed)
    await feed.aclose()


WATCH = "subscription($payee: ID) { payoutUpdated(payeeId: $payee) { id payee { id } } }"


async def test_the_subscription_answers_each_caller_as_the_policy_says(
    served: Served, gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    answered = {}
    for caller in (NO_KEY, WRONG_KEY, REVOKED):
        headers = await headers_of(caller, seeded)
        async with opened(served.url) as socket:
            payload = {"Authorization": headers["Authorization"]} if headers else None
            await socket.send(type="connection_init", **({"payload": payload} if payload else {}))
            answered[caller] = U if await socket.closed_with() == 4403 else "open"
    async with (
        connected(served.url, DEMO_MERCHANT_KEYS["MER-TINY"]) as other,
        connected(served.url, DEMO_MERCHANT_KEYS["MER-ACME"]) as own,
        connected(served.url, DEMO_OPS_KEY) as ops,
        connected(served.url, DEMO_APPROVER_KEY) as approver,
        connected(served.url, DEMO_AUDITOR_KEY) as auditor,
        connected(served.url, DEMO_MERCHANT_KEYS["MER-TINY"]) as tiny_own_feed,
    ):
        await other.subscribe("1", WATCH, payee=refs["acme"])
        refused = await other.receive()
        answered[OTHER] = refused["payload"][0]["extensions"]["code"]
        await own.subscribe("1", WATCH, payee=refs["acme"])
        await ops.subscribe("1", WATCH, payee=refs["acme"])
        await approver.subscribe("1", WATCH, payee=refs["acme"])
        await auditor.subscribe("1", WATCH, payee=refs["acme"])
        await tiny_own_feed.subscribe("1", WATCH)  # no payeeId: a payee key's own feed
        await until(lambda: served.feed.listening == 5)
        acme = await acme_payout(gql, refs, "matrix-watched")
        tiny = gql.as_key(DEMO_MERCHANT_KEYS["MER-TINY"])
        await tiny.data(
            PROBES["createPayout"].document, p=refs["tiny"], a=refs["tiny_account"], k="tiny-w-1"
        )
        for caller, socket in ((OWN, own), (OPS, ops), (APPROVER, approver), (AUDITOR, auditor)):
            seen = await socket.payout()
            answered[caller] = A if seen == {"id": acme, "payee": {"id": refs["acme"]}} else H
        # Acme's payout committed first: had it leaked into Tiny's feed, it would be first
        assert (await tiny_own_feed.payout())["payee"]["id"] == refs["tiny"]
    assert answered == {caller: expected("payoutUpdated", caller) for caller in CALLERS}


async def test_the_graphiql_page_needs_no_key_and_holds_no_data(
    gql: GraphQLClient, seeded: Container
) -> None:
    page = await gql.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()
    for secret in (DEMO_OPS_KEY, *DEMO_MERCHANT_KEYS.values(), "Acme", "LIQ-2024"):
        assert secret not in page.text
    # asking for data in the page's URL is not asking for the page
    with_query = await gql.http.get(
        "/graphql", params={"query": "{ events { code } }"}, headers={"accept": "text/html"}
    )
    assert with_query.status_code == 401
    assert (await gql.http.get("/health")).status_code == 200


async def test_without_graphiql_the_page_is_not_found(seeded: Container) -> None:
    app = create_app(seeded.app_deps(), graphiql=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_the_policy_names_every_operation_of_the_schema() -> None:
    schema = graphql.build_schema(build_schema().as_str())
    roots = (schema.query_type, schema.mutation_type, schema.subscription_type)
    operations = {name for root in roots if root for name in root.fields}
    assert operations | {"__schema", "__type"} == set(POLICY)
    assert set(PROBES) | SOCKETS == set(POLICY)


RUN_WATCH = "subscription($run: ID!) { runUpdated(runId: $run) { id state } }"


async def test_run_updates_answer_each_caller_as_the_policy_says(
    served: Served, seeded: Container
) -> None:
    _, run = await waiting_runs(seeded)
    answered = {}
    for caller in (NO_KEY, WRONG_KEY, REVOKED):
        headers = await headers_of(caller, seeded)
        async with opened(served.url) as socket:
            payload = {"Authorization": headers["Authorization"]} if headers else None
            await socket.send(type="connection_init", **({"payload": payload} if payload else {}))
            answered[caller] = U if await socket.closed_with() == 4403 else "open"
    keys = {
        OTHER: DEMO_MERCHANT_KEYS["MER-TINY"],
        OWN: DEMO_MERCHANT_KEYS["MER-ACME"],
        OPS: DEMO_OPS_KEY,
        APPROVER: DEMO_APPROVER_KEY,
        AUDITOR: DEMO_AUDITOR_KEY,
    }
    for caller, key in keys.items():
        async with connected(served.url, key) as socket:
            await socket.subscribe("1", RUN_WATCH, run=run)
            message = await socket.receive()
            if message["type"] == "next" and message["payload"].get("data"):
                seen = message["payload"]["data"]["runUpdated"]
                answered[caller] = A if seen == {"id": run, "state": "QUEUED"} else H
            else:
                answered[caller] = message["payload"][0]["extensions"]["code"]
    assert answered == {caller: expected("runUpdated", caller) for caller in CALLERS}
