"""The Starlette application: GraphQL (+ GraphiQL, + subscriptions), /health and /metrics.

/graphql over HTTP takes a POSTed application/json body of at most ``max_request_bytes``
(or a multipart/form-data file upload of at most ``max_upload_bytes``, streamed to disk)
from a caller with a valid key, or serves the GraphiQL page to a browser's GET. Whatever
else arrives is answered with a JSON error whose ``extensions.code`` says what was wrong
(UNAUTHENTICATED 401, METHOD_NOT_ALLOWED 405, UNSUPPORTED_MEDIA_TYPE 415,
REQUEST_TOO_LARGE 413, BAD_REQUEST 400, DATABASE_UNAVAILABLE 503, RATE_LIMITED 429),
never with a crash.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
from cross_web import HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from domain import log_context
from domain.auth import NOBODY, SCHEME, Caller, parse_authorization
from domain.rate_limit import RateLimiter, retry_after_header
from graph import console, engine_metrics
from graph.context import AppDeps, Context, Reads
from graph.errors import DATABASE_AWAY, DATABASE_AWAY_MESSAGE, ErrorCode
from graph.literals import Hoister
from graph.prepared import Prepared
from graph.reports import report_routes
from graph.request_log import RequestLog
from graph.schema import build_schema
from persistence import queries
from persistence.payout_feed import PayoutFeed

log = logging.getLogger(__name__)
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
MAX_REQUEST_BYTES = 1 << 20
# A multipart upload (the CSV import's file) streams to a temporary file, up to this.
MAX_UPLOAD_BYTES = 50 << 20
# Strawberry's own refusals (a batch, a `query` that is not a string, an unknown
# operationName, GraphiQL switched off) come as an HTTPException with one of these.
HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.REQUEST_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def error_response(
    status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def _database_away_only(response_data: Any) -> bool:
    """An answer with no data whose every error is DATABASE_UNAVAILABLE."""
    if not isinstance(response_data, dict) or response_data.get("data") is not None:
        return False
    codes = [(e.get("extensions") or {}).get("code") for e in response_data.get("errors") or []]
    return bool(codes) and all(c == ErrorCode.DATABASE_UNAVAILABLE.value for c in codes)


def wants_graphiql(request: Request) -> bool:
    """A browser asking for the GraphiQL page: static HTML that holds no data."""
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


class GraphQLApp(GraphQL[Context, None]):
    def __init__(
        self,
        deps: AppDeps,
        feed: PayoutFeed,
        *,
        hoister: Hoister,
        graphiql: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.deps = deps
        self.feed = feed
        self.hoister = hoister
        self.prepared = Prepared(self.schema)  # type: ignore[arg-type]
        self.graphiql = graphiql  # our own page, built into the console (no CDN)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        if self.graphiql and wants_graphiql(request):
            await console.graphiql_page()(scope, receive, send)
            return
        try:
            response = await self.run(request)
        except HTTPException as exc:  # Strawberry answers these in plain text, with no code
            code = HTTP_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
            response = error_response(exc.status_code, code, exc.reason)
        except StarletteHTTPException as exc:  # Starlette's form parser: bad multipart
            code = HTTP_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
            response = error_response(exc.status_code, code, f"the upload: {exc.detail}")
        finally:
            await request.close()  # an upload's temporary file
        await response(scope, receive, send)

    def encode_json(self, data: object) -> str:
        """The answer as JSON, encoded in C; the standard library's encoder for what
        orjson refuses (a lone surrogate quoted back in an error message). Text, not
        bytes: Strawberry sends bytes on a WebSocket as a binary frame, which
        graphql-transport-ws clients do not read."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """The body as JSON: an object (or a list, which Strawberry refuses as a batch).
        Bytes that are not UTF-8 and nesting deeper than the parser goes are a 400 too."""
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(body, dict | list):
            raise HTTPException(400, 'the body must be a JSON object: {"query": "...", ...}')
        return body

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """A query with its values written in runs in its variables form
        (``graph.literals``): the form's parse and validation are cached. An error before
        execution (no path: a value its variable's type refuses) runs the query as sent,
        so that the error reads as it would have. A query answered cleanly before is
        answered from its plan, past Strawberry's pipeline (``graph.prepared``)."""

        async def execute(data: GraphQLRequestData) -> ExecutionResult:
            return await super(GraphQLApp, self).execute_single(
                request, request_adapter, sub_response, context, root_value, data
            )

        query = request_data.query
        hoisted = self.hoister.hoisted(query, request_data.variables) if query else None
        sent = (
            request_data
            if hoisted is None
            else dataclasses.replace(request_data, query=hoisted.query, variables=hoisted.variables)
        )
        answer = await self.prepared.execute(sent, context)
        if answer is not None:
            return answer
        result = await execute(sent)
        if hoisted is not None and result.errors:
            if any(error.path is None for error in result.errors):
                return await execute(request_data)
            hoisted.relocate(result.errors)
        self.prepared.learn(sent, result)
        return result

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """200, as GraphQL over HTTP has it; but 503 when the database going away left
        nothing to answer, so that a client or a load balancer asks again, as it does
        when the key could not be looked up."""
        if _database_away_only(response_data):
            sub_response.status_code = 503
        return super().create_response(response_data, sub_response)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            deps=self.deps,
            request=request if isinstance(request, Request) else None,
            caller=getattr(request.state, "caller", NOBODY),
            shared_reads=getattr(request.state, "reads", None),
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
        unset: UnsetType = UNSET
        return unset

    async def _socket_caller(self, context: Context) -> Caller | None:
        """Browsers cannot set headers on a WebSocket, so the key comes in the
        ``connection_init`` payload (``{"Authorization": "Api-Key <key>"}``); other
        clients may send the usual header instead."""
        params = context.connection_params or {}
        header = params.get("Authorization", params.get("authorization"))
        if header is None and context.websocket is not None:
            header = context.websocket.headers.get("authorization")
        key = parse_authorization(header) if isinstance(header, str) else None
        caller = await self.deps.api_keys.authenticate(key) if key else None
        if caller is not None:
            await self.deps.api_keys.note_use(caller, self.deps.clock.now())
        return caller


def _unauthenticated(message: str) -> JSONResponse:
    return error_response(
        401, ErrorCode.UNAUTHENTICATED, message, headers={"WWW-Authenticate": SCHEME}
    )


def _log_unavailable(error: Exception, where: str) -> None:
    """One line for the operator; the client is told no more than that."""
    log.warning("%s: the database is unavailable: %s", where, str(error).splitlines()[0])


def _database_unavailable() -> JSONResponse:
    return error_response(503, ErrorCode.DATABASE_UNAVAILABLE, DATABASE_AWAY_MESSAGE)


class AuthGate:
    """ASGI wrapper: every GraphQL request needs a valid key, except the GraphiQL page
    itself (static HTML, no data). The caller rides in the request state, with the
    request's shared reads (the key was looked up on them).

    With a rate limiter, a key over its rate is refused before anything else is done for
    it; its caller comes from the process's key cache (``persistence.api_keys.KNOWN``),
    so a flooding client costs the database at most one look-up a second."""

    def __init__(self, deps: AppDeps, app: ASGIApp, limiter: RateLimiter | None = None) -> None:
        self.deps = deps
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        if scope["type"] != "http" or wants_graphiql(request):
            await self.app(scope, receive, send)
            return
        key = parse_authorization(request.headers.get("authorization"))
        reads = Reads(self.deps.reads, shared=True)
        try:
            caller = None
            if key:
                try:
                    async with reads.session() as session:
                        caller = await self.deps.api_keys.caller(session, key)
                except DATABASE_AWAY as exc:
                    _log_unavailable(exc, "API key look-up")
                    await _database_unavailable()(scope, receive, send)
                    return
            if caller is None:
                reason = (
                    "unknown or revoked API key"
                    if key
                    else (f"send the header 'Authorization: {SCHEME} <key>'")
                )
                await _unauthenticated(reason)(scope, receive, send)
                return
            log_context.bind(key_name=caller.name, key_id=caller.key_id)
            if (refusal := self._rate_limited(caller)) is not None:
                await refusal(scope, receive, send)
                return
            await self._note_use(caller)
            scope.setdefault("state", {}).update(caller=caller, reads=reads)
            await self.app(scope, receive, send)
        finally:
            await reads.aclose()

    def _rate_limited(self, caller: Caller) -> JSONResponse | None:
        """A 429 when the key has used up its requests for now (``domain.rate_limit``)."""
        wait = self.limiter.take(caller.key_id, caller.role) if self.limiter else None
        if wait is None:
            return None
        engine_metrics.rate_limited(caller.role.value)
        seconds = retry_after_header(wait)
        message = f"too many requests from this API key; try again in {seconds} s"
        return error_response(
            429, ErrorCode.RATE_LIMITED, message, headers={"Retry-After": seconds}
        )

    async def _note_use(self, caller: Caller) -> None:
        """The key's last use, written at most once a minute; a busy database is no
        reason to refuse the request."""
        try:
            await self.deps.api_keys.note_use(caller, self.deps.clock.now())
        except DATABASE_AWAY as exc:
            _log_unavailable(exc, "noting an API key's use")


class HttpContract:
    """ASGI wrapper: refuses what /graphql does not take before Strawberry reads a byte,
    then reads the body itself, counting, so that neither a false Content-Length nor a
    chunked stream gets more than ``max_bytes`` into memory."""

    def __init__(
        self, max_bytes: int, app: ASGIApp, max_upload_bytes: int = MAX_UPLOAD_BYTES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if wants_graphiql(request):
            await self.app(scope, receive, send)
            return
        if (refusal := self._refusal(request)) is not None:
            await refusal(scope, receive, send)
            return
        if _media_type(request) == MULTIPART:
            await self._upload(scope, receive, send)
            return
        try:
            body = await self._body(request)
        except ClientDisconnect:
            return  # nobody left to answer
        if body is None:
            await self._too_large()(scope, receive, send)
            return
        await self.app(scope, _replaying(body, receive), send)

    def _refusal(self, request: Request) -> Response | None:
        if request.method != "POST":
            message = "send operations with POST; GET serves only the GraphiQL page"
            return error_response(
                405, ErrorCode.METHOD_NOT_ALLOWED, message, headers={"Allow": "GET, POST"}
            )
        media_type = _media_type(request)
        if media_type not in ("application/json", MULTIPART):
            message = (
                "send the operation as JSON, with Content-Type: application/json"
                " (or multipart/form-data to upload a file)"
            )
            return error_response(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, message)
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self._limit(request):
            return self._too_large(request)
        return None

    def _limit(self, request: Request) -> int:
        return self.max_upload_bytes if _media_type(request) == MULTIPART else self.max_bytes

    async def _body(self, request: Request) -> bytes | None:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_bytes:
                return None
        return bytes(body)

    def _too_large(self, request: Request | None = None) -> JSONResponse:
        limit = self._limit(request) if request is not None else self.max_bytes
        message = f"the body is larger than {limit} bytes"
        return error_response(413, ErrorCode.REQUEST_TOO_LARGE, message)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A multipart body is not held in memory: Starlette's parser spools its file to
        disk as it arrives. Counting what arrives stops it at the upload limit."""
        try:
            await self.app(scope, _counting(receive, self.max_upload_bytes), send)
        except _TooLarge:
            await self._too_large(Request(scope))(scope, receive, send)
        except ClientDisconnect:
            return


MULTIPART = "multipart/form-data"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


class _TooLarge(Exception):
    pass


def _counting(receive: Receive, limit: int) -> Receive:
    """A ``receive`` that raises once more than ``limit`` body bytes have come."""
    seen = 0

    async def count() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge
        return message

    return count


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then waits for the disconnect."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def create_app(
    deps: AppDeps,
    *,
    graphiql: bool = True,
    max_depth: int = 8,
    max_tokens: int = 2000,
    max_aliases: int = 15,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    lifespan: Lifespan | None = None,
    feed: PayoutFeed | None = None,
    rate_limiter: RateLimiter | None = None,
    metrics_token: str = "",
    access_log: bool = True,
) -> Starlette:
    """``feed`` serves ``payoutUpdated``; by default one polling every second.
    ``rate_limiter``: requests a key may send (none: no limit). ``metrics_token``: when
    set, /metrics wants it as a bearer token."""
    feed = PayoutFeed(deps.sessions) if feed is None else feed
    schema = build_schema(max_depth, max_tokens, max_aliases)
    graphql = GraphQLApp(
        deps,
        feed,
        schema=schema,
        hoister=Hoister(schema._schema, max_tokens),
        graphiql=graphiql,
        graphql_ide=None,  # Strawberry's page loads GraphiQL from a CDN; ours is built in
        subscription_protocols=("graphql-transport-ws",),
        allow_queries_via_get=False,
        # Only a caller with an API key gets here, and a cross-site form cannot set the
        # Authorization header, so an upload cannot be forged from another site.
        multipart_uploads_enabled=True,
    )

    async def health(_: Request) -> JSONResponse:
        try:
            async with deps.sessions() as session:
                await queries.ping(session)
        except Exception as exc:  # the point of a health check is to report, not raise
            _log_unavailable(exc, "health check")
            return JSONResponse({"status": "down", "database": "unavailable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def metrics(request: Request) -> Response:
        if metrics_token and not _bearer_is(request, metrics_token):
            return error_response(
                401,
                ErrorCode.UNAUTHENTICATED,
                "send 'Authorization: Bearer <METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            await engine_metrics.refresh(deps.reads)
        except DATABASE_AWAY as exc:  # the process's own series still answer
            _log_unavailable(exc, "metrics")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/", console.root),  # the console for browsers, a JSON index of paths for others
        Route("/health", health),
        Route("/metrics", metrics),
        # Every method reaches the gates, so that a PUT is told why in JSON too.
        Route(
            "/graphql",
            AuthGate(
                deps, HttpContract(max_request_bytes, graphql, max_upload_bytes), rate_limiter
            ),
        ),
        WebSocketRoute("/graphql", graphql),  # authenticated by GraphQLApp.on_ws_connect
        *report_routes(deps),  # CSV exports, same keys; readers only
        *console.console_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=_stopping(feed, lifespan),
        middleware=[Middleware(RequestLog, access=access_log)],
    )


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


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
