"""Subscriptions: live payout changes over graphql-transport-ws, read from the database feed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domain.auth import Caller
from graph import run_workflow
from graph.context import Info, Loaders
from graph.errors import ErrorCode, query_error
from graph.ids import parse_id
from graph.permissions import READ
from graph.types import Payout, PayoutRun
from persistence import tables
from persistence.payout_feed import FellBehind, Listener, Wanted


def _id(value: strawberry.ID | None, name: str) -> int | None:
    if value is None:
        return None
    if (ident := parse_id(value)) is None:
        raise query_error(ErrorCode.INVALID_INPUT, f"{name} is not an id", field=name)
    return ident


class OverWebSocketOnly(SchemaExtension):
    """A subscription POSTed over HTTP would run as a query and crash on the stream it
    gets; it is refused instead."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        over_http = getattr(context.context, "websocket", None) is None
        if context.operation_type is OperationType.SUBSCRIPTION and over_http:
            raise query_error(
                ErrorCode.BAD_REQUEST,
                "subscriptions are served over WebSocket (graphql-transport-ws) only",
            )
        yield


def _payee_scope(caller: Caller, payee_id: int | None) -> int | None:
    """Keys that read everything may watch any payee or all; a payee key watches its own,
    whether it says so or not. Asking for another payee is an error rather than a feed
    that stays silent."""
    if caller.reads_everything:
        return payee_id
    if caller.payee_id is None or payee_id not in (None, caller.payee_id):
        raise query_error(
            ErrorCode.FORBIDDEN, "a payee key can only watch its own payouts", field="payeeId"
        )
    return caller.payee_id


def _wanted(run_id: int | None, payee_id: int | None) -> Wanted:
    """By ``payouts.run_id``: the run that last evaluated the payout, which for one sent to
    a provider is the run that sent it (a later run skipping it does not take it over)."""

    def wanted(row: tables.Payout) -> bool:
        return (run_id is None or row.run_id == run_id) and (
            payee_id is None or row.payee_id == payee_id
        )

    return wanted


async def _payouts(
    info: Info, listening: AbstractAsyncContextManager[Listener]
) -> AsyncIterator[Payout]:
    async with listening as listener:
        try:
            async for row in listener:
                # The context lives as long as the socket: fresh loaders, so nested fields
                # (trace, ledgerEntries) show this change and not the first one's cache.
                info.context.loaders = Loaders(info.context.reads)
                yield Payout.of(row)
        except FellBehind as exc:
            raise query_error(ErrorCode.FELL_BEHIND, str(exc)) from None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Payouts as they are created or change status, from now on. "
        "A subscriber that falls far behind gets a FELL_BEHIND error and should re-query."
    )
    async def payout_updated(
        self,
        info: Info,
        run_id: strawberry.ID | None = None,
        payee_id: strawberry.ID | None = None,
    ) -> AsyncIterator[Payout]:
        # A coroutine, not a generator: bad arguments are refused before the stream starts.
        wanted = _wanted(
            _id(run_id, "runId"), _payee_scope(info.context.caller, _id(payee_id, "payeeId"))
        )
        assert info.context.feed is not None, "the GraphQL app serves subscriptions"
        return _payouts(info, info.context.feed.listen(wanted))

    @strawberry.subscription(
        description="A run now and each time its status or progress changes, until it ends.",
        permission_classes=READ,
    )
    async def run_updated(self, info: Info, run_id: strawberry.ID) -> AsyncIterator[PayoutRun]:
        return await run_workflow.run_updates(info, run_id)
