"""Text no database can store is refused before any resolver sees it.

PostgreSQL's text cannot hold NUL, and no UTF-8 encoder takes an unpaired surrogate
(JSON's "\\ud800" decodes to one), so either, anywhere in the variables or in a string
literal of the document, would end as a crash deep in a query. It ends here instead,
as INVALID_INPUT, whatever the operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from graph.errors import ErrorCode, query_error

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class RefuseUnstorableText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if carries_unstorable(context.variables) or _document_carries(context.graphql_document):
            raise query_error(
                ErrorCode.INVALID_INPUT,
                "text may not contain NUL or unpaired surrogate characters",
            )
        yield


def carries_unstorable(value: Any) -> bool:
    """Text (in a value, or any value within it) with a NUL or an unpaired surrogate."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(carries_unstorable(item) for item in value.values())
    if isinstance(value, list):
        return any(carries_unstorable(item) for item in value)
    return False


class _Strings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        self.found.append(node.value)


# The answer for the documents seen last, by identity: the parser cache hands the same
# document object for the same text, and walking one costs about a millisecond. An entry
# holds its document, so its id cannot be reused while it is here.
_SEEN: dict[int, tuple[DocumentNode, bool]] = {}
MAX_SEEN = 256


def _document_carries(document: DocumentNode | None) -> bool:
    if document is None:
        return False
    seen = _SEEN.get(id(document))
    if seen is not None and seen[0] is document:
        return seen[1]
    strings = _Strings()
    visit(document, strings)
    carries = carries_unstorable(strings.found)
    if len(_SEEN) >= MAX_SEEN:
        _SEEN.pop(next(iter(_SEEN)))
    _SEEN[id(document)] = (document, carries)
    return carries
