"""The Starlette application: GraphQL (+ GraphiQL, + subscriptions), /health and /metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from domain.auth import NOBODY, SCHEME, Caller, parse_authorization
from graph.context import AppDeps, Context
from graph.schema import build_schema
from persistence import queries
from persistence.payout_feed import PayoutFeed

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, deps: AppDeps, feed: PayoutFeed, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deps = deps
        self.feed = feed

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            deps=self.deps,
            request=request if isinstance(request, Request) else None,
            caller=getattr(request.state, "caller", NOBODY),
            feed=self.feed,
            websocket=request if isinstance(request, WebSocket) else None,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """Authenticate the socket at ``connection_init``; Strawberry closes it with 4403
        when this refuses, and with 4401 on a subscribe that comes before."""
        caller = await self._socket_caller(context)
        if caller is None:
            raise ConnectionRejectionError()
        context.caller = caller
        return UNSET

    async def _socket_caller(self, context: Context) -> Caller | None:
        """Browsers cannot set headers on a WebSocket, so the key comes in the
        ``connection_init`` payload (``{"Authorization": "Api-Key <key>"}``); other
        clients may send the usual header instead."""
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if header is None and context.websocket is not None:
            header = context.websocket.headers.get("authorization")
        key = parse_authorization(header) if isinstance(header, str) else None
        return await self.deps.api_keys.authenticate(key) if key else None


def _unauthenticated(message: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": SCHEME})


class AuthGate:
    """ASGI wrapper: every GraphQL request needs a valid key, except the GraphiQL page
    itself (static HTML, no data). The caller rides in the request state."""

    def __init__(self, deps: AppDeps, app: ASGIApp) -> None:
        self.deps = deps
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            wants_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
            if not wants_ide:
                key = parse_authorization(request.headers.get("authorization"))
                caller = await self.deps.api_keys.authenticate(key) if key else None
                if caller is None:
                    reason = (
                        "unknown or revoked API key"
                        if key
                        else (f"send the header 'Authorization: {SCHEME} <key>'")
                    )
                    await _unauthenticated(reason)(scope, receive, send)
                    return
                scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def create_app(
    deps: AppDeps,
    *,
    graphiql: bool = True,
    max_depth: int = 8,
    max_tokens: int = 2000,
    max_aliases: int = 15,
    lifespan: Lifespan | None = None,
    feed: PayoutFeed | None = None,
) -> Starlette:
    """``feed`` serves ``payoutUpdated``; by default one polling every second."""
    feed = PayoutFeed(deps.sessions) if feed is None else feed
    graphql = GraphQLApp(
        deps,
        feed,
        schema=build_schema(max_depth, max_tokens, max_aliases),
        graphql_ide="graphiql" if graphiql else None,
        subscription_protocols=("graphql-transport-ws",),
        allow_queries_via_get=False,
    )

    async def health(_: Request) -> JSONResponse:
        try:
            async with deps.sessions() as session:
                await queries.ping(session)
        except Exception as exc:  # the point of a health check is to report, not raise
            return JSONResponse({"status": "down", "database": type(exc).__name__}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def root(_: Request) -> JSONResponse:
        return JSONResponse({"graphql": "/graphql", "health": "/health", "metrics": "/metrics"})

    routes = [
        Route("/", root),
        Route("/health", health),
        Route("/metrics", metrics),
        Route("/graphql", AuthGate(deps, graphql), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),  # authenticated by GraphQLApp.on_ws_connect
    ]
    return Starlette(routes=routes, lifespan=_stopping(feed, lifespan))


def _stopping(feed: PayoutFeed, lifespan: Lifespan | None) -> Lifespan:
    """The app's lifespan, stopping the feed's polling task before the rest shuts down."""

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            stack.push_async_callback(feed.aclose)
            yield

    return run
