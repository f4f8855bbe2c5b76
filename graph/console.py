"""The web console and GraphiQL, served by the API's own process from the built files in
``graph/static/console`` (made by ``make console`` from ``console/``, committed, shipped
in the wheel): nothing is fetched from another host, so both work without internet.

``/`` is the console for a browser (``Accept: text/html``) and the JSON index of the
paths for anyone else; the console's own pages (``/payouts/42``, ...) answer with the same
HTML so that a reload or a bookmark works. ``/assets/*`` are the hashed scripts and
styles, cached for a year. Every HTML page goes out with a Content-Security-Policy that
allows scripts, styles and connections only from this origin (WebSockets included), and
forbids framing.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static" / "console"
# The console's client-side routes (console/src/lib/roles.ts): a browser reloading one
# gets the console; every other path stays free for the API's own routes.
CONSOLE_PATHS = (
    "/payouts",
    "/runs",
    "/reconciliation",
    "/payees",
    "/jobs",
    "/keys",
    "/request",
    "/history",
    "/events",
    "/approvals",
    "/webhooks",
)
# data: fonts and images: GraphiQL's stylesheet embeds its fonts and icons that way;
# neither can run script. WebSockets to this origin are covered by connect-src 'self'.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
IMMUTABLE = "public, max-age=31536000, immutable"
PATH_INDEX = {"graphql": "/graphql", "health": "/health", "metrics": "/metrics"}


def _page_bytes(name: str) -> bytes | None:
    path = STATIC / name
    return path.read_bytes() if path.is_file() else None


def html_page(name: str) -> Response:
    """A built HTML page; revalidated on every load so that an upgrade shows at once."""
    body = _page_bytes(name)
    if body is None:
        message = "the console is not built; run `make console`"
        return JSONResponse({"errors": [{"message": message}]}, 503, headers=SECURITY_HEADERS)
    return HTMLResponse(body, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def wants_html(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def graphiql_page() -> Response:
    return html_page("graphiql.html")


async def root(request: Request) -> Response:
    if wants_html(request):
        return html_page("index.html")
    return JSONResponse(PATH_INDEX)


async def console_page(request: Request) -> Response:
    if not wants_html(request):
        message = "a console page: open it in a browser; the API is at /graphql"
        return JSONResponse({"errors": [{"message": message}]}, 404)
    return html_page("index.html")


class Assets(StaticFiles):
    """Hashed file names: a changed file gets a new name, so each may be cached for good."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def console_routes() -> list[BaseRoute]:
    pages: list[BaseRoute] = []
    for path in CONSOLE_PATHS:
        pages += [Route(path, console_page), Route(f"{path}/{{rest:path}}", console_page)]
    assets = Assets(directory=STATIC / "assets", check_dir=False)
    return [Mount("/assets", app=assets, name="console-assets"), *pages]
