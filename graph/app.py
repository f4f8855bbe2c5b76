"""The Starlette application: GraphQL (+ GraphiQL), /health and /metrics."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from domain.auth import NOBODY, SCHEME, parse_authorization
from graph.context import AppDeps, Context
from graph.schema import build_schema
from persistence import queries

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, deps: AppDeps, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deps = deps

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            deps=self.deps,
            request=request if isinstance(request, Request) else None,
            caller=getattr(request.state, "caller", NOBODY),
        )


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
) -> Starlette:
    graphql = GraphQLApp(
        deps,
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
    ]
    return Starlette(routes=routes, lifespan=lifespan)
