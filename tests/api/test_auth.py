"""How a key is presented and checked: the header's form, revocation, the stored hash.
Who may do what with a valid key is in test_auth_matrix.py."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, update

from domain.auth import Role, key_hash
from persistence.api_keys import KNOWN, KNOWN_FOR_S, SqlApiKeys
from persistence.tables import ApiKey
from service.bootstrap import Container
from service.demo import DEMO_OPS_KEY
from tests.conftest import GraphQLClient

EVENTS = {"query": "{ events { code } }"}


async def revoked_key(container: Container) -> str:
    keys = SqlApiKeys(container.sessions)
    key = await keys.issue(Role.OPS, "leaver", container.clock.now())
    assert await keys.revoke(key, container.clock.now())
    return key


NOT_A_KEY = {
    "another scheme": f"Bearer {DEMO_OPS_KEY}",
    "the scheme in lower case": f"api-key {DEMO_OPS_KEY}",
    "no scheme": DEMO_OPS_KEY,
    "the scheme alone": "Api-Key",
    "the scheme and spaces": "Api-Key     ",
    "the key's stored hash": f"Api-Key {key_hash(DEMO_OPS_KEY)}",
    "the key's display prefix": f"Api-Key {DEMO_OPS_KEY[:12]}",
    "the key with one character changed": f"Api-Key {DEMO_OPS_KEY[:-1]}X",
    "the key twice": f"Api-Key {DEMO_OPS_KEY} {DEMO_OPS_KEY}",
    "a key of 10,000 characters": "Api-Key " + "k" * 10_000,
}


async def test_a_header_that_is_not_a_valid_key_gets_nothing(gql: GraphQLClient) -> None:
    answers = {}
    for case, header in NOT_A_KEY.items():
        response = await gql.http.post("/graphql", json=EVENTS, headers={"Authorization": header})
        body = response.json()
        answers[case] = (
            response.status_code,
            body["errors"][0]["extensions"]["code"],
            response.headers.get("www-authenticate"),
            "data" in body,
        )
    assert answers == {case: (401, "UNAUTHENTICATED", "Api-Key", False) for case in NOT_A_KEY}


async def test_white_space_around_the_key_is_tolerated(gql: GraphQLClient) -> None:
    response = await gql.http.post(
        "/graphql", json=EVENTS, headers={"Authorization": f"  Api-Key   {DEMO_OPS_KEY}  "}
    )
    assert response.status_code == 200
    assert response.json()["data"]["events"]


async def test_a_key_revoked_elsewhere_stops_working_within_a_second(
    gql: GraphQLClient, seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (another ``serve``, the CLI) revokes by writing the row: this one
    believes what it looked up for at most ``KNOWN_FOR_S``, then refuses the key."""
    now = [100.0]
    monkeypatch.setattr(KNOWN, "monotonic", lambda: now[0])
    key = await SqlApiKeys(seeded.sessions).issue(Role.OPS, "temp", seeded.clock.now())
    assert (await gql.as_key(key).data("{ events { code } }"))["events"]
    async with seeded.sessions.begin() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.key_hash == key_hash(key)).values(revoked_at=func.now())
        )
    now[0] += KNOWN_FOR_S / 2
    assert (await gql.as_key(key).data("{ events { code } }"))["events"]  # believed, still
    now[0] += KNOWN_FOR_S / 2
    response = await gql.http.post(
        "/graphql", json=EVENTS, headers={"Authorization": f"Api-Key {key}"}
    )
    assert response.status_code == 401


async def test_a_key_is_looked_up_once_a_second_not_once_a_request(
    gql: GraphQLClient, seeded: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(KNOWN, "monotonic", lambda: now[0])
    looked_up: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_: object) -> None:
        if "api_keys" in statement:
            looked_up.append(statement)

    engines = [seeded.engine.sync_engine, seeded.reads_engine.sync_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            await gql.data("{ __typename }")
        first_second = len(looked_up)
        now[0] += KNOWN_FOR_S
        await gql.data("{ __typename }")
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    # The look-up, and the key's last use written once (the demo key was never used).
    assert first_second == 2, looked_up
    assert len(looked_up) == 3, looked_up  # looked up again; its use not written again


async def test_a_revoked_key_stops_working_at_once(gql: GraphQLClient, seeded: Container) -> None:
    keys = SqlApiKeys(seeded.sessions)
    key = await keys.issue(Role.OPS, "contractor", seeded.clock.now())
    assert (await gql.as_key(key).data("{ events { code } }"))["events"]
    assert await keys.revoke(key, seeded.clock.now())
    response = await gql.http.post(
        "/graphql", json=EVENTS, headers={"Authorization": f"Api-Key {key}"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "unknown or revoked API key"
