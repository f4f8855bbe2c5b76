"""Webhooks over GraphQL: endpoints, their deliveries, replaying an event.

Ops keys manage every endpoint; a payee key creates and reads only its own (its
payee's events only). An endpoint's signing secret crosses the API once, in
``createWebhookEndpoint``'s payload.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from domain import webhooks
from domain.errors import ErrorCode, Problem, quoted
from graph.context import Info
from graph.errors import UserError, from_problems
from graph.ids import parse_id
from graph.pagination import Connection, connection, decode_cursor, page_size
from jobs.webhooks import refusal
from persistence import queries, tables
from persistence.webhook_store import DeliveryFilter, SqlWebhooks


@strawberry.enum
class WebhookDeliveryStatus(Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description="Types or wildcards; empty = every type.")
    payee_id: strawberry.ID | None = strawberry.field(
        description="Only this payee's events, when set."
    )
    enabled: bool
    created_at: datetime
    last_success_at: datetime | None
    failing_since: datetime | None = strawberry.field(
        description="The first failure since the last success; 3 days of it disables it."
    )
    disabled_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, row: tables.WebhookEndpoint) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(row.id)),
            url=row.url,
            events=list(row.events),
            payee_id=_id(row.payee_id),
            enabled=row.enabled,
            created_at=row.created_at,
            last_success_at=row.last_success_at,
            failing_since=row.failing_since,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
        )


@strawberry.type(description="One request made for a delivery.")
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    succeeded: bool


@strawberry.type(description="One event to one endpoint, and every attempt made.")
class WebhookDelivery:
    id: strawberry.ID
    event_id: strawberry.ID
    event_type: str
    endpoint_id: strawberry.ID
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None

    attempt_log: list[WebhookAttempt] = strawberry.field(
        description="The requests made, oldest first."
    )

    @classmethod
    def of(cls, row: Any, attempts: list[Any]) -> WebhookDelivery:
        status = WebhookDeliveryStatus(row.status)
        return cls(
            id=strawberry.ID(str(row.id)),
            event_id=strawberry.ID(str(row.event_id)),
            event_type=row.event_type,
            endpoint_id=strawberry.ID(str(row.endpoint_id)),
            status=status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at
            if status is WebhookDeliveryStatus.PENDING
            else None,
            first_attempt_at=row.first_attempt_at,
            last_attempt_at=row.last_attempt_at,
            delivered_at=row.delivered_at,
            attempt_log=[
                WebhookAttempt(
                    attempted_at=a.attempted_at,
                    status_code=a.status_code,
                    error=a.error,
                    duration_ms=a.duration_ms,
                    succeeded=a.succeeded,
                )
                for a in attempts
            ],
        )


@strawberry.input
class WebhookDeliveryFilter:
    endpoint_id: strawberry.ID | None = None
    event_id: strawberry.ID | None = None
    status: WebhookDeliveryStatus | None = None


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https URL on a public address (http and private addresses only "
        "where the server allows private networks)."
    )
    events: list[str] = strawberry.field(
        default_factory=list,
        description="Event types (payout.completed) or wildcards (payout.*, *); empty = all.",
    )
    payee_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this payee's events; a payee key's own payee always."
    )


@strawberry.type
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="Signs every event (Payout-Signature): shown here once, never again."
    )
    user_errors: list[UserError]


@strawberry.input
class ReplayWebhookEventInput:
    event_id: strawberry.ID
    endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only to this endpoint; otherwise to every one it went to."
    )


@strawberry.type
class ReplayWebhookEventPayload:
    scheduled: int = strawberry.field(description="Deliveries to be sent again.")
    user_errors: list[UserError]


@strawberry.input
class SetWebhookEndpointEnabledInput:
    id: strawberry.ID
    enabled: bool


@strawberry.type
class SetWebhookEndpointEnabledPayload:
    webhook_endpoint: WebhookEndpoint | None
    user_errors: list[UserError]


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def _store(info: Info) -> SqlWebhooks:
    return SqlWebhooks(info.context.deps.sessions)


def allow_private(info: Info) -> bool:
    jobs = info.context.deps.jobs
    return jobs is not None and jobs.settings.webhooks.allow_private_networks


def _own_payee(info: Info) -> int | None:
    """The payee a caller is limited to (None: it sees every endpoint)."""
    caller = info.context.caller
    return None if caller.reads_everything else caller.payee_id or -1


async def endpoints(info: Info) -> list[WebhookEndpoint]:
    rows = await _store(info).endpoints(_own_payee(info))
    return [WebhookEndpoint.of(row) for row in rows]


async def deliveries_page(
    info: Info,
    filter: WebhookDeliveryFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[WebhookDelivery]:
    size = page_size(first, info.context.deps.max_page_size)
    f = filter or WebhookDeliveryFilter()
    spec = DeliveryFilter(
        endpoint_id=_filter_id(f.endpoint_id),
        event_id=_filter_id(f.event_id),
        status=f.status.value if f.status else None,
        payee_id=_own_payee(info),
    )
    store = SqlWebhooks(info.context.deps.reads)
    page = await store.deliveries_page(spec, size, decode_cursor(after))
    attempts = await store.attempts_of([row.id for row in page.rows])  # one query a page
    return connection(
        page, lambda row: WebhookDelivery.of(row, attempts[row.id]), lambda row: row.id
    )


def _filter_id(value: str | None) -> int | None:
    if value is None:
        return None
    return parse_id(value) or -1  # an id that names nothing finds nothing


async def create_endpoint(
    info: Info, input: CreateWebhookEndpointInput
) -> CreateWebhookEndpointPayload:
    problems, payee_id = await _check_create(info, input)
    if problems:
        return CreateWebhookEndpointPayload(
            webhook_endpoint=None, secret=None, user_errors=from_problems(problems)
        )
    store = _store(info)
    deps = info.context.deps
    actor = info.context.caller.name
    ident, secret = await store.create_endpoint(
        input.url, list(input.events), payee_id, actor, deps.clock.now()
    )
    row = await store.endpoint(ident)
    assert row is not None
    return CreateWebhookEndpointPayload(
        webhook_endpoint=WebhookEndpoint.of(row), secret=secret, user_errors=[]
    )


async def _check_create(
    info: Info, input: CreateWebhookEndpointInput
) -> tuple[list[Problem], int | None]:
    private = allow_private(info)
    problems = webhooks.url_problems(input.url, private) + webhooks.event_problems(input.events)
    payee_id, payee_problems = await _payee_of(info, input.payee_id)
    problems += payee_problems
    if not problems:
        refused = await refusal(input.url, private)
        if refused is not None:
            problems.append(Problem("url", ErrorCode.INVALID_INPUT, f"refused: {refused}"))
    return problems, payee_id


async def _payee_of(info: Info, given: str | None) -> tuple[int | None, list[Problem]]:
    caller = info.context.caller
    if given is None:
        return (None if caller.operates else caller.payee_id), []
    payee_id = parse_id(given)
    missing = [Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {quoted(given)}")]
    if payee_id is None or not caller.may_change_payee(payee_id):
        return None, missing
    async with info.context.session() as session:
        (row,) = await queries.by_ids(session, tables.Payee, [payee_id])
    return (payee_id, []) if row is not None else (None, missing)


async def replay(info: Info, input: ReplayWebhookEventInput) -> ReplayWebhookEventPayload:
    store = _store(info)
    event_id = parse_id(input.event_id)
    problems = []
    if event_id is None or not await store.event_exists(event_id):
        problems.append(
            Problem("event_id", ErrorCode.NOT_FOUND, f"no event {quoted(input.event_id)}")
        )
    endpoint_id = None
    if input.endpoint_id is not None:
        endpoint_id = parse_id(input.endpoint_id)
        if endpoint_id is None or await store.endpoint(endpoint_id) is None:
            problems.append(
                Problem(
                    "endpoint_id", ErrorCode.NOT_FOUND, f"no endpoint {quoted(input.endpoint_id)}"
                )
            )
    if problems or event_id is None:
        return ReplayWebhookEventPayload(scheduled=0, user_errors=from_problems(problems))
    scheduled = await store.replay(event_id, endpoint_id, info.context.deps.clock.now())
    return ReplayWebhookEventPayload(scheduled=scheduled, user_errors=[])


async def set_enabled(
    info: Info, input: SetWebhookEndpointEnabledInput
) -> SetWebhookEndpointEnabledPayload:
    store = _store(info)
    ident = parse_id(input.id)
    if ident is None or not await store.set_enabled(
        ident, input.enabled, info.context.deps.clock.now()
    ):
        problem = Problem("id", ErrorCode.NOT_FOUND, f"no endpoint {quoted(input.id)}")
        return SetWebhookEndpointEnabledPayload(
            webhook_endpoint=None, user_errors=from_problems([problem])
        )
    row = await store.endpoint(ident)
    assert row is not None
    return SetWebhookEndpointEnabledPayload(
        webhook_endpoint=WebhookEndpoint.of(row), user_errors=[]
    )
