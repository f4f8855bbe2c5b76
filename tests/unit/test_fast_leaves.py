"""Leaf fields read straight off their object answer exactly what graphql-core's generic
path answers: the same data, and the same errors at the same paths when a value is
missing or of the wrong kind."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from graph.execution import FastLeaves


@strawberry.enum
class Color(Enum):
    RED = "red"
    GREEN = "green"


@strawberry.type
class Thing:
    name: str
    maybe: int | None
    color: Color
    count: int

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


THINGS = [
    Thing(name="a", maybe=None, color=Color.RED, count=1),
    Thing(name="b", maybe=7, color=Color.GREEN, count=2),
]
BROKEN = [
    Thing(name=None, maybe=None, color=Color.RED, count=1),  # type: ignore[arg-type]
    Thing(name="c", maybe="x", color="purple", count=2**40),  # type: ignore[arg-type]
]


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        return THINGS

    @strawberry.field
    def broken(self) -> list[Thing | None]:
        return BROKEN


def answers(document: str) -> tuple[Any, list[tuple[str, Any]]]:
    results = []
    for context in (FastLeaves, None):
        schema = strawberry.Schema(query=Query, execution_context_class=context)
        result = schema.execute_sync(document)
        errors = sorted((e.message, e.path) for e in result.errors or [])
        results.append((result.data, errors))
    fast, generic = results
    assert fast == generic
    return fast


def test_plain_leaves_answer_what_the_generic_path_answers() -> None:
    data, errors = answers("{ things { name maybe color count shout(times: 2) __typename } }")
    assert errors == []
    assert data["things"][1] == {
        "name": "b",
        "maybe": 7,
        "color": "GREEN",
        "count": 2,
        "shout": "BB",
        "__typename": "Thing",
    }


def test_a_missing_or_refused_value_is_the_usual_error_at_its_path() -> None:
    for field in ("name", "maybe", "color", "count"):
        data, errors = answers(f"{{ broken {{ {field} }} }}")
        assert errors or (field == "maybe" and data["broken"][0] == {"maybe": None})
        for _, path in errors:
            assert path[0] == "broken" and path[-1] == field
