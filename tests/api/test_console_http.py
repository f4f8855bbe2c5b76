"""The web console and GraphiQL as the server sends them: from this process only, with a
strict Content-Security-Policy, long-cached hashed assets, and browser routes that do not
shadow the API's own paths."""

from __future__ import annotations

import re

import pytest

from graph.console import CONSOLE_PATHS, STATIC
from tests.conftest import GraphQLClient

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
ASSET_REF = re.compile(r'(?:src|href)="([^"]+)"')


def policy(header: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def assert_locked_down(headers: object) -> None:
    assert hasattr(headers, "get")
    csp = policy(headers.get("content-security-policy", ""))
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval, no other host
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]  # fetch and the subscription WebSocket
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"


def assert_self_contained(page: str) -> list[str]:
    """Every script and stylesheet comes from this server's /assets; none is inline."""
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None, "an inline script"
    assert "<style" not in page
    refs = [ref for ref in ASSET_REF.findall(page) if ref != "data:,"]  # the empty favicon
    assert refs and all(ref.startswith("/assets/") for ref in refs), refs
    return refs


async def test_a_browser_gets_the_console_at_the_root(gql: GraphQLClient) -> None:
    page = await gql.http.get("/", headers=HTML)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="root">' in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert_locked_down(page.headers)
    assert_self_contained(page.text)


async def test_other_clients_still_get_the_json_index_at_the_root(gql: GraphQLClient) -> None:
    index = await gql.http.get("/")
    assert index.status_code == 200
    assert index.json() == {"graphql": "/graphql", "health": "/health", "metrics": "/metrics"}


async def test_graphiql_is_built_in_and_loads_nothing_from_another_host(
    gql: GraphQLClient,
) -> None:
    page = await gql.http.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert "GraphiQL" in page.text
    assert_locked_down(page.headers)
    for ref in assert_self_contained(page.text):
        asset = await gql.http.get(ref)
        assert asset.status_code == 200, ref
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()


@pytest.mark.parametrize("path", [*CONSOLE_PATHS, "/payouts/42", "/reconciliation/breaks/7"])
async def test_a_reload_on_a_console_url_gets_the_console(gql: GraphQLClient, path: str) -> None:
    page = await gql.http.get(path, headers=HTML)
    assert page.status_code == 200, path
    assert '<div id="root">' in page.text
    assert_locked_down(page.headers)


async def test_console_urls_hold_no_data_for_api_clients(gql: GraphQLClient) -> None:
    answer = await gql.http.get("/payouts/42")
    assert answer.status_code == 404
    assert "console" in answer.json()["errors"][0]["message"]


async def test_assets_are_cached_for_good_and_typed(gql: GraphQLClient) -> None:
    page = await gql.http.get("/", headers=HTML)
    refs = assert_self_contained(page.text)
    kinds = set()
    for ref in refs:
        asset = await gql.http.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        kinds.add(asset.headers["content-type"].split(";")[0])
    assert kinds == {"text/javascript", "text/css"}
    assert (await gql.http.get("/assets/nothing-here.js")).status_code == 404


async def test_the_api_paths_are_not_shadowed(gql: GraphQLClient) -> None:
    assert (await gql.http.get("/health", headers=HTML)).json()["status"] == "ok"
    assert (await gql.http.get("/metrics", headers=HTML)).status_code == 200
    unauthenticated = await gql.http.post("/graphql", json={"query": "{ me { role } }"})
    assert unauthenticated.status_code == 401
    # other paths are not the console, not even one a console route only prefixes
    for path in ("/reports/anything", "/payoutsx", "/nothing"):
        assert '<div id="root">' not in (await gql.http.get(path, headers=HTML)).text, path


def test_the_build_is_inside_the_python_package() -> None:
    """What the wheel ships: the two pages and every asset they name."""
    for page in ("index.html", "graphiql.html"):
        text = (STATIC / page).read_text()
        for ref in assert_self_contained(text):
            assert (STATIC / ref.removeprefix("/")).is_file(), ref
