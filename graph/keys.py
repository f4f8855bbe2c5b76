"""Who am I, and the API keys: ``me``, ``apiKeys``, ``createApiKey``, ``revokeApiKey``.

A key's secret crosses the API once, in ``createApiKey``'s payload; only its hash and a
display prefix are stored, and no field ever shows either but the prefix.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.auth import Role
from domain.errors import ErrorCode, Problem, quoted
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.ids import parse_id
from graph.pagination import Connection, connection, decode_cursor, page_size
from graph.types import Payee
from persistence import api_keys, queries, tables

strawberry.enum(Role, name="ApiKeyRole", description="What a key may do.")


@strawberry.type(name="Caller", description="The key this request was made with.")
class Me:
    id: strawberry.ID
    name: str
    role: Role
    owner: str
    prefix: str
    payee_id: strawberry.ID | None

    @strawberry.field(description="A payee key's payee.")
    async def payee(self, info: Info) -> Payee | None:
        if self.payee_id is None:
            return None
        row = await info.context.loaders.payees.load(int(self.payee_id))
        return Payee.of(row) if row is not None else None


@strawberry.type(name="ApiKey", description="An API key, without its secret.")
class ApiKeyNode:
    id: strawberry.ID
    prefix: str
    name: str
    role: Role
    owner: str
    payee_id: strawberry.ID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: tables.ApiKey) -> ApiKeyNode:
        return cls(
            id=strawberry.ID(str(row.id)),
            prefix=row.prefix,
            name=row.name,
            role=Role(row.role),
            owner=row.owner,
            payee_id=_id(row.payee_id),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.input
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for; 1-100 characters.")
    role: Role
    owner: str = strawberry.field(
        description="The person or system holding it, e.g. an e-mail; 1-200 characters."
    )
    payee_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for a PAYEE key, refused for the others."
    )


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKeyNode | None
    secret: str | None = strawberry.field(
        description="The key itself: shown here once, never again. Send it as "
        "'Authorization: Api-Key <secret>'."
    )
    user_errors: list[UserError]


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKeyNode | None
    user_errors: list[UserError]


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def me(info: Info) -> Me:
    caller = info.context.caller
    return Me(
        id=strawberry.ID(str(caller.key_id)),
        name=caller.name,
        role=caller.role,
        owner=caller.owner,
        prefix=caller.prefix,
        payee_id=_id(caller.payee_id),
    )


async def api_keys_page(
    info: Info, first: int | None = None, after: str | None = None
) -> Connection[ApiKeyNode]:
    size = page_size(first, info.context.deps.max_page_size)
    async with info.context.session() as session:
        page = await api_keys.keys_page(session, size, decode_cursor(after))
    return connection(page, ApiKeyNode.of, lambda row: row.id)


async def _node(info: Info, ident: int) -> ApiKeyNode:
    async with info.context.session() as session:
        rows = await queries.by_ids(session, tables.ApiKey, [ident])
    row = rows[0]
    assert row is not None
    return ApiKeyNode.of(row)


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
    payee_id = None
    if input.payee_id is not None:
        payee_id = parse_id(input.payee_id)
        if payee_id is None:
            problem = Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {quoted(input.payee_id)}")
            return CreateApiKeyPayload(
                api_key=None, secret=None, user_errors=from_problems([problem])
            )
    request = api_keys.NewKey(input.role, input.name, input.owner, payee_id)
    deps = info.context.deps
    issued = await deps.api_keys.create(request, deps.clock.now(), info.context.caller.scope)
    if isinstance(issued, list):
        return CreateApiKeyPayload(api_key=None, secret=None, user_errors=from_problems(issued))
    node = await _node(info, issued.id)
    return CreateApiKeyPayload(api_key=node, secret=issued.secret, user_errors=[])


async def revoke_api_key(info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
    ident = parse_id(input.id)
    if ident is None:
        problem = Problem("id", ErrorCode.NOT_FOUND, f"no API key {quoted(input.id)}")
        return RevokeApiKeyPayload(api_key=None, user_errors=from_problems([problem]))
    deps = info.context.deps
    problems = await deps.api_keys.revoke_id(ident, deps.clock.now(), info.context.caller.scope)
    if problems:
        return RevokeApiKeyPayload(api_key=None, user_errors=from_problems(problems))
    return RevokeApiKeyPayload(api_key=await _node(info, ident), user_errors=[])
