"""A query executed from its plan (``graph.execution.Planned``) answers exactly what
graphql-core's generic executor answers, data and errors alike, and its dataloaders
batch as they do there: one load per level however many objects ask."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from enum import Enum
from typing import Any

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from graph import execution
from graph.execution import Planned


@strawberry.enum
class Mood(Enum):
    CALM = "calm"
    LOUD = "loud"


@strawberry.type
class Note:
    id: strawberry.ID
    text: str
    weight: int | None


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    mood: Mood
    size: int | None
    tags: list[str]
    key: strawberry.Private[int]

    @strawberry.field
    async def notes(self, info: Info) -> list[Note]:
        return await info.context["notes"].load(self.key)

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times

    @strawberry.field
    def twin(self) -> Item | None:
        return (
            None
            if self.key % 2
            else Item(
                id=strawberry.ID(f"t{self.key}"),
                name="twin",
                mood=Mood.LOUD,
                size=None,
                tags=[],
                key=self.key + 10,
            )
        )

    @strawberry.field
    def must(self) -> str:
        if self.key == 3:
            raise ValueError("three refuses")
        return "ok"

    @strawberry.field
    def strict(self) -> int:
        return None if self.key == 2 else self.key  # type: ignore[return-value]


ITEMS = [
    Item(
        id=strawberry.ID(str(k)),
        name=f"item{k}",
        mood=list(Mood)[k % 2],
        size=k or None,
        tags=[f"t{k}", "x"],
        key=k,
    )
    for k in range(6)
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int = 10) -> list[Item]:
        return ITEMS[:first]

    @strawberry.field
    async def item(self, key: int) -> Item | None:
        await asyncio.sleep(0)
        return ITEMS[key] if key < len(ITEMS) else None


def _context(batches: list[Sequence[int]]) -> dict[str, Any]:
    async def load(keys: list[int]) -> list[list[Note]]:
        batches.append(list(keys))
        return [
            [Note(id=strawberry.ID(f"{k}.{n}"), text=f"n{n}", weight=n or None) for n in range(k)]
            for k in keys
        ]

    return {"notes": DataLoader(load_fn=load)}


def answers(document: str, variables: dict[str, Any] | None = None) -> Any:
    """The planned answer, after checking it is the generic one; with the loads made."""
    results = []
    for context_class in (Planned, None):
        schema = strawberry.Schema(query=Query, execution_context_class=context_class)
        batches: list[Sequence[int]] = []
        result = asyncio.run(
            schema.execute(document, variable_values=variables, context_value=_context(batches))
        )
        errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
        results.append((result.data, errors, batches))
    planned, generic = results
    assert planned[:2] == generic[:2]
    assert sorted(map(sorted, planned[2])) == sorted(map(sorted, generic[2]))
    return planned


def test_a_nested_query_with_loaders_aliases_and_fragments_answers_as_generic() -> None:
    document = """
      query Q($n: Int!, $times: Int!) {
        items(first: $n) {
          __typename id ...Parts
          loud: shout(times: $times)
          notes { id text weight }
          twin { name notes { text } twin { id } }
        }
      }
      fragment Parts on Item { name mood size tags shout }"""
    data, errors, batches = answers(document, {"n": 6, "times": 2})
    assert errors == []
    assert data["items"][1] == {
        "__typename": "Item",
        "id": "1",
        "name": "item1",
        "mood": "LOUD",
        "size": 1,
        "tags": ["t1", "x"],
        "shout": "ITEM1",
        "loud": "ITEM1ITEM1",
        "notes": [{"id": "1.0", "text": "n0", "weight": None}],
        "twin": None,
    }
    assert list(data["items"][0]) == [
        "__typename",
        "id",
        "name",
        "mood",
        "size",
        "tags",
        "shout",
        "loud",
        "notes",
        "twin",
    ]
    [(_, _, plan)] = [p for p in execution._PLANS.values() if p[1].name and p[1].name.value == "Q"]
    assert plan is not None  # the answer above came from the plan
    # One load for the notes of the six items and of their three twins.
    assert [sorted(batch) for batch in batches] == [[0, 1, 2, 3, 4, 5, 10, 12, 14]]


def test_a_resolver_that_raises_or_a_null_where_none_may_be_errs_as_generic() -> None:
    for field in ("must", "strict"):
        _data, errors, _ = answers(f"{{ items {{ id {field} notes {{ id }} }} }}")
        assert errors and all(path[0] == "items" and path[-1] == field for _, path in errors)


def test_what_the_plan_does_not_take_still_answers() -> None:
    for document, variables in (
        ("query($skip: Boolean!) { items { id name @skip(if: $skip) } }", {"skip": True}),
        ("{ __schema { queryType { name } } }", None),
        ("{ item(key: 4) { name notes { text } } missing: item(key: 99) { name } }", None),
    ):
        data, errors, _ = answers(document, variables)
        assert errors == [] and data


@pytest.mark.parametrize("first", [0, 3])
def test_empty_and_short_lists(first: int) -> None:
    data, errors, batches = answers(f"{{ items(first: {first}) {{ id notes {{ text }} }} }}")
    assert errors == [] and len(data["items"]) == first
    assert len(batches) == (1 if first else 0)
