"""CSV exports over HTTP: ``GET /reports/runs/{id}.csv`` and ``GET /reports/breaks.csv``.

The same API keys as /graphql (``Authorization: Api-Key <key>``). A report holds every
payee's data, so it is for keys that read everything (ops, approver, auditor); a payee
key is refused with 403, no key or an unknown one with 401. The body is streamed a
chunk of rows at a time (``persistence.report_store``), so memory stays flat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from domain.auth import SCHEME, parse_authorization
from domain.errors import ErrorCode
from graph.context import AppDeps
from graph.errors import DATABASE_AWAY, DATABASE_AWAY_MESSAGE
from graph.reconciliation import BreakStatus
from persistence import report_store

CSV_TYPE = "text/csv; charset=utf-8"
Endpoint = Callable[[Request], Awaitable[Response]]


def _error(status: int, code: ErrorCode, message: str, **headers: str) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _guarded(deps: AppDeps, handler: Endpoint) -> Endpoint:
    """``handler`` for a caller whose key reads everything; 401/403/503 otherwise."""

    async def endpoint(request: Request) -> Response:
        key = parse_authorization(request.headers.get("authorization"))
        try:
            caller = await deps.api_keys.authenticate(key) if key else None
            if caller is not None:
                await deps.api_keys.note_use(caller, deps.clock.now())
        except DATABASE_AWAY:
            return _error(503, ErrorCode.DATABASE_UNAVAILABLE, DATABASE_AWAY_MESSAGE)
        if caller is None:
            message = (
                "unknown or revoked API key" if key else f"send 'Authorization: {SCHEME} <key>'"
            )
            return _error(401, ErrorCode.UNAUTHENTICATED, message, **{"WWW-Authenticate": SCHEME})
        if not caller.reads_everything:
            return _error(403, ErrorCode.FORBIDDEN, "reports need an ops, approver or auditor key")
        return await handler(request)

    return endpoint


def _csv(chunks: AsyncIterator[str], filename: str) -> StreamingResponse:
    disposition = f'attachment; filename="{filename}"'
    return StreamingResponse(
        chunks, media_type=CSV_TYPE, headers={"Content-Disposition": disposition}
    )


def report_routes(deps: AppDeps) -> list[Route]:
    async def run_report(request: Request) -> Response:
        run_id: int = request.path_params["run_id"]
        if run_id > 2**62 or not await report_store.run_exists(deps.reads, run_id):
            return _error(404, ErrorCode.NOT_FOUND, f"no payout run {run_id}")
        return _csv(report_store.run_csv(deps.reads, run_id), f"run-{run_id}.csv")

    async def breaks_report(request: Request) -> Response:
        status = request.query_params.get("status")
        known = [s.value for s in BreakStatus]
        if status is not None and status not in known:
            message = f"status is one of: {', '.join(known)}"
            return _error(400, ErrorCode.INVALID_INPUT, message)
        name = f"breaks-{status}.csv" if status else "breaks.csv"
        return _csv(report_store.breaks_csv(deps.reads, status), name)

    return [
        Route("/reports/runs/{run_id:int}.csv", _guarded(deps, run_report), methods=["GET"]),
        Route("/reports/breaks.csv", _guarded(deps, breaks_report), methods=["GET"]),
    ]
