"""README.md's GraphQL session, run against the demo as `serve` starts it.

Every ```graphql block of the README without a placeholder runs, in the README's
order. A ```json block right after one is what the README says comes back: it must
appear in the answer (it may leave fields out, never show another value). So the
README cannot drift from what a newcomer gets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from domain.clock import ManualClock
from graph.console import CONSOLE_PATHS
from service.bootstrap import Container, build_app
from service.demo import DEMO_APPROVER_KEY, DEMO_CLOCK_START, plant_unknown_order
from tests.conftest import GraphQLClient, execute_queued_runs

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
OPEN_PATHS = ("/", "/health", "/metrics")
APPROVER_SAYS = "# with the approver key"


@dataclass(frozen=True)
class Step:
    document: str
    shown: Any  # None: the README shows no output for it


def session() -> list[Step]:
    text = README.read_text()
    blocks = list(_BLOCK.finditer(text))
    steps = []
    for block, after in zip(blocks, [*blocks[1:], None], strict=True):
        if block[1] != "graphql" or "<" in block[2]:  # "<id>": a placeholder to fill in
            continue
        steps.append(Step(block[2], _shown_after(text, block, after)))
    return steps


def _shown_after(text: str, block: re.Match[str], after: re.Match[str] | None) -> Any:
    """The JSON block right after ``block``, with nothing but blank lines between."""
    if after is None or after[1] != "json" or text[block.end() : after.start()].strip():
        return None
    return json.loads(after[2])


def matches(answer: Any, shown: Any) -> bool:
    if isinstance(shown, dict):
        return isinstance(answer, dict) and all(
            key in answer and matches(answer[key], value) for key, value in shown.items()
        )
    if isinstance(shown, list):
        return (
            isinstance(answer, list)
            and len(answer) == len(shown)
            and all(matches(a, s) for a, s in zip(answer, shown, strict=True))
        )
    return type(answer) is type(shown) and answer == shown


def appears(answer: Any, shown: Any) -> bool:
    """``shown`` matches ``answer`` or one of the values nested in it."""
    if matches(answer, shown):
        return True
    if isinstance(answer, dict):
        return any(appears(value, shown) for value in answer.values())
    return isinstance(answer, list) and any(appears(item, shown) for item in answer)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DEMO_CLOCK_START)


@pytest.fixture
async def demo(seeded: Container) -> Container:
    """What `serve` adds to the seed: the planted order, the start-up reconciliation, and
    the default settings (every run waits for an approver)."""
    seeded.settings = seeded.settings.model_copy(update={"run_approval_min_total": "0"})
    plant_unknown_order(seeded.banks)
    await seeded.jobs.catch_up()
    return seeded


def test_the_readme_has_a_session_to_check() -> None:
    steps = session()
    assert len(steps) >= 7
    assert sum(step.shown is not None for step in steps) >= 6


async def test_the_readme_session_answers_what_the_readme_shows(
    demo: Container, gql: GraphQLClient
) -> None:
    for step in session():
        # A document that says so is sent with the approver's key, as the README tells.
        caller = gql.as_key(DEMO_APPROVER_KEY) if APPROVER_SAYS in step.document else gql
        data = await caller.data(step.document)
        if step.shown is not None:
            assert appears(data, step.shown), (step.document, data)
        await execute_queued_runs(demo)  # what serve's job runner does meanwhile


def test_the_readme_names_every_path_open_without_a_key() -> None:
    text = README.read_text()
    sentence = text[text.index("Open without a key:") : text.index("Introspection")]
    assert re.findall(r"`(/[a-z]*)`", sentence) == list(OPEN_PATHS)


async def test_only_those_paths_and_the_graphiql_page_answer_without_a_key(
    seeded: Container, gql: GraphQLClient
) -> None:
    app = build_app(seeded, migrate=False, recover=False)
    console_pages = {p for path in CONSOLE_PATHS for p in (path, f"{path}/{{rest:path}}")}
    reports = {"/reports/runs/{run_id:int}.csv", "/reports/breaks.csv"}
    assert {getattr(route, "path", None) for route in app.routes} == {
        *OPEN_PATHS,
        "/graphql",
        "/assets",  # the console's static scripts and styles, no data
        *console_pages,  # the console's HTML page again, for a reload on a console URL
        *reports,
    }
    for path in ("/reports/runs/1.csv", "/reports/breaks.csv"):
        assert (await gql.http.get(path, headers={"Accept": "text/html"})).status_code == 401
    for path in OPEN_PATHS:
        assert (await gql.http.get(path)).status_code == 200, path
    page = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    refused = await gql.http.post("/graphql", json={"query": "{ __typename }"})
    assert refused.status_code == 401
