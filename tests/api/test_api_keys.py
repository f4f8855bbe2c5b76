"""Keys over the API: who am I, creating, listing and revoking keys, and what the
read-only roles (approver, auditor) may do. Who may call what is in test_auth_matrix.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from domain.clock import ManualClock
from persistence import tables
from service.bootstrap import Container
from service.demo import DEMO_APPROVER_KEY, DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS, DEMO_OPS_KEY
from tests.api.test_auth_matrix import AUDITOR, PROBES, common_refs
from tests.conftest import GraphQLClient

CREATE = """mutation($name: String!, $role: ApiKeyRole!, $owner: String!, $payee: ID) {
  createApiKey(input: {name: $name, role: $role, owner: $owner, payeeId: $payee}) {
    secret
    apiKey { id prefix name role owner payeeId createdAt lastUsedAt revokedAt }
    userErrors { field code message }
  }
}"""
REVOKE = """mutation($id: ID!) { revokeApiKey(input: {id: $id}) {
  apiKey { id revokedAt } userErrors { field code message } } }"""
LIST = """{ apiKeys(first: 100) { edges { node {
  id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } } }"""
ME = "{ me { id name role owner prefix payeeId payee { id name } } }"


async def create(gql: GraphQLClient, **variables: Any) -> dict[str, Any]:
    values = {"name": "reporting", "role": "AUDITOR", "owner": "ana@example.com", **variables}
    return (await gql.data(CREATE, **values))["createApiKey"]


async def keys_listed(gql: GraphQLClient) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await gql.data(LIST))["apiKeys"]["edges"]]


async def count(seeded: Container, model: type) -> int:
    async with seeded.sessions() as session:
        return (await session.scalar(select(func.count()).select_from(model))) or 0


async def test_a_created_key_works_at_once_and_its_secret_is_never_shown_again(
    gql: GraphQLClient, seeded: Container
) -> None:
    created = await create(gql, role="OPS", name="payroll bot", owner="payroll@example.com")
    assert created["userErrors"] == []
    secret, node = created["secret"], created["apiKey"]
    assert secret.startswith(node["prefix"])
    assert (node["role"], node["name"], node["owner"]) == (
        "OPS",
        "payroll bot",
        "payroll@example.com",
    )
    assert node["revokedAt"] is None and node["lastUsedAt"] is None
    me = (await gql.as_key(secret).data(ME))["me"]
    assert me == {
        "id": node["id"],
        "name": "payroll bot",
        "role": "OPS",
        "owner": "payroll@example.com",
        "prefix": node["prefix"],
        "payeeId": None,
        "payee": None,
    }
    listing = await gql(LIST)
    assert secret not in str(listing)
    assert secret[len(node["prefix"]) :] not in str(listing)
    listed = {key["id"]: key for key in await keys_listed(gql)}
    assert listed[node["id"]]["lastUsedAt"] is not None  # used once, just now
    async with seeded.sessions() as session:
        audit = (
            await session.scalars(
                select(tables.AuditEvent).where(tables.AuditEvent.entity == "api_key")
            )
        ).all()
    assert [(row.action, row.entity_id) for row in audit] == [("api_key.created", int(node["id"]))]
    assert secret not in str(audit[0].detail)


async def test_a_payee_key_names_its_payee_and_me_shows_it(
    gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    created = await create(gql, role="PAYEE", owner="acme@example.com", payee=refs["acme"])
    assert created["userErrors"] == []
    me = (await gql.as_key(created["secret"]).data(ME))["me"]
    assert me["role"] == "PAYEE"
    assert me["payee"]["id"] == me["payeeId"] == refs["acme"]
    assert me["payee"]["name"]


async def test_me_answers_each_role(gql: GraphQLClient) -> None:
    roles = {}
    for key in (DEMO_OPS_KEY, DEMO_APPROVER_KEY, DEMO_AUDITOR_KEY, DEMO_MERCHANT_KEYS["MER-ACME"]):
        me = (await gql.as_key(key).data(ME))["me"]
        assert key.startswith(me["prefix"]) and me["owner"] and me["name"]
        roles[me["role"]] = me["payee"]["name"] if me["payee"] else None
    assert roles == {"OPS": None, "APPROVER": None, "AUDITOR": None, "PAYEE": "Acme Agency"}


async def test_a_revoked_key_gets_401_on_the_next_request_and_revoking_again_is_a_user_error(
    gql: GraphQLClient,
) -> None:
    created = await create(gql, role="OPS")
    contractor = gql.as_key(created["secret"])
    assert (await contractor.data("{ me { role } }"))["me"]["role"] == "OPS"
    revoked = (await gql.data(REVOKE, id=created["apiKey"]["id"]))["revokeApiKey"]
    assert revoked["userErrors"] == [] and revoked["apiKey"]["revokedAt"] is not None
    response = await gql.http.post(
        "/graphql", json={"query": "{ me { role } }"}, headers=contractor.headers
    )
    assert response.status_code == 401
    again = (await gql.data(REVOKE, id=created["apiKey"]["id"]))["revokeApiKey"]
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "id"], "CONFLICT")]
    unknown = (await gql.data(REVOKE, id="999999"))["revokeApiKey"]
    assert [e["code"] for e in unknown["userErrors"]] == ["NOT_FOUND"]


async def test_an_ops_key_may_revoke_itself(gql: GraphQLClient) -> None:
    created = await create(gql, role="OPS")
    own = gql.as_key(created["secret"])
    revoked = (await own.data(REVOKE, id=created["apiKey"]["id"]))["revokeApiKey"]
    assert revoked["userErrors"] == []
    response = await gql.http.post(
        "/graphql", json={"query": "{ me { role } }"}, headers=own.headers
    )
    assert response.status_code == 401


async def test_a_payee_key_can_neither_create_nor_list_keys(
    gql: GraphQLClient, seeded: Container
) -> None:
    before = await count(seeded, tables.ApiKey)
    acme = gql.as_key(DEMO_MERCHANT_KEYS["MER-ACME"])
    for document, variables in (
        (CREATE, {"name": "mine", "role": "OPS", "owner": "acme@example.com"}),
        (LIST, {}),
    ):
        body = await acme(document, **variables)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert body["data"] is None
    assert await count(seeded, tables.ApiKey) == before


WRITES = (tables.Payout, tables.PayoutRun, tables.LiquidationEvent, tables.ApiKey)


async def test_an_auditor_reads_everything_and_every_mutation_is_forbidden_and_writes_nothing(
    gql: GraphQLClient, seeded: Container
) -> None:
    refs = await common_refs(seeded)
    await seeded.runner.run("LIQ-2024-001", "auditor-reads")
    auditor = gql.as_key(DEMO_AUDITOR_KEY)
    read = await auditor.data(
        "{ runs { edges { node { id } } } payouts(first: 5) { edges { node { id } } }"
        " payees(first: 5) { edges { node { id } } } }"
    )
    assert read["runs"]["edges"] and len(read["payouts"]["edges"]) == 5
    counts = {model: await count(seeded, model) for model in (*WRITES, tables.AuditEvent)}
    refs.update(acme_payout="1", acme_payout_to_cancel="1", key_to_revoke="1")
    mutations = ["createPayout", "cancelPayout", "createLiquidationEvent", "startRun"]
    mutations += ["runReconciliation", "resolveBreak", "createApiKey", "revokeApiKey"]
    for key in (DEMO_AUDITOR_KEY, DEMO_APPROVER_KEY):
        for operation in mutations:
            probe = PROBES[operation]
            body = await gql.as_key(key)(probe.document, **probe.variables(refs, AUDITOR))
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], operation
    assert {model: await count(seeded, model) for model in counts} == counts


BAD_INPUTS: dict[str, tuple[dict[str, Any], list[str], str]] = {
    "an empty name": ({"name": ""}, ["input", "name"], "INVALID_INPUT"),
    "a blank name": ({"name": "   "}, ["input", "name"], "INVALID_INPUT"),
    "a name of 101 characters": ({"name": "n" * 101}, ["input", "name"], "INVALID_INPUT"),
    "a name with a newline": ({"name": "a\nb"}, ["input", "name"], "INVALID_INPUT"),
    "an empty owner": ({"owner": ""}, ["input", "owner"], "INVALID_INPUT"),
    "an owner of 201 characters": ({"owner": "o" * 201}, ["input", "owner"], "INVALID_INPUT"),
    "an owner with a tab": ({"owner": "ana\t@example.com"}, ["input", "owner"], "INVALID_INPUT"),
    "an owner with an escape": ({"owner": "ana\x1b[2J"}, ["input", "owner"], "INVALID_INPUT"),
    "a payee key without a payee": ({"role": "PAYEE"}, ["input", "payeeId"], "INVALID_INPUT"),
    "an ops key with a payee": (
        {"role": "OPS", "payee": "1"},
        ["input", "payeeId"],
        "INVALID_INPUT",
    ),
    "an unknown payee": ({"role": "PAYEE", "payee": "999999"}, ["input", "payeeId"], "NOT_FOUND"),
    "a payee id that is no id": (
        {"role": "PAYEE", "payee": "x1"},
        ["input", "payeeId"],
        "NOT_FOUND",
    ),
}


async def test_bad_inputs_each_name_their_field_and_create_nothing(
    gql: GraphQLClient, seeded: Container
) -> None:
    before = (await count(seeded, tables.ApiKey), await count(seeded, tables.AuditEvent))
    answers = {}
    for case, (variables, _, _) in BAD_INPUTS.items():
        created = await create(gql, **variables)
        assert created["secret"] is None and created["apiKey"] is None, case
        answers[case] = [(e["field"], e["code"]) for e in created["userErrors"]]
    assert answers == {case: [(field, code)] for case, (_, field, code) in BAD_INPUTS.items()}
    assert (await count(seeded, tables.ApiKey), await count(seeded, tables.AuditEvent)) == before


async def test_a_keys_last_use_is_written_at_most_once_a_minute(
    gql: GraphQLClient, seeded: Container
) -> None:
    clock = seeded.clock
    assert isinstance(clock, ManualClock)
    created = await create(gql, role="AUDITOR")
    auditor = gql.as_key(created["secret"])

    async def last_used() -> str | None:
        listed = {key["id"]: key for key in await keys_listed(gql)}
        return listed[created["apiKey"]["id"]]["lastUsedAt"]

    await auditor.data("{ me { role } }")
    first = await last_used()
    assert first is not None
    clock.advance(timedelta(seconds=59))
    await auditor.data("{ me { role } }")
    assert await last_used() == first
    clock.advance(timedelta(seconds=2))
    await auditor.data("{ me { role } }")
    later = await last_used()
    assert later is not None and later > first


async def test_revoking_is_audited(gql: GraphQLClient, seeded: Container) -> None:
    created = await create(gql, role="OPS")
    await gql.data(REVOKE, id=created["apiKey"]["id"])
    async with seeded.sessions() as session:
        actions = (
            await session.scalars(
                select(tables.AuditEvent.action).where(
                    tables.AuditEvent.entity == "api_key",
                    tables.AuditEvent.entity_id == int(created["apiKey"]["id"]),
                )
            )
        ).all()
    assert sorted(actions) == ["api_key.created", "api_key.revoked"]
