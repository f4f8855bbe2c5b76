"""Queries with their values written in, served from the caches their variables form uses.

GraphiQL users and hand-written queries put values in the text (``payout(id: "42")``):
every value makes a new document, which misses the parse and validation caches (here
0.8 ms to parse and 3.6 ms to validate the payout query, more than its reads). ``Hoister``
turns such a query into its variables form, ``query($_h0: ID!) { payout(id: $_h0) ... }``
with ``{"_h0": "42"}``, so that a thousand ids are one document, parsed and validated once.

The form is learnt from the first query of a shape (its text with the values blanked):
parsed, and rewritten only if every value the blanking found is one the parser saw at
that very place, in an argument or input field whose type is a scalar. Anything else (a
block string, a value in a variable's default, an enum argument given a string, several
operations, a mutation) is left as it came. A value the variable's type refuses fails
before execution, with no path; the caller then runs the query as sent, so that the
error reads as it would have (only queries are rewritten: running one again is harmless).
Errors of the rewritten query point at the places in the text that was sent.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    FloatValueNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SourceLocation,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    parse,
    visit,
)

# A string on one line, or a number that is not part of a name: what the blanking takes
# for a value. The parser has the last word: a match it does not agree with is no value.
_VALUE = re.compile(
    r'"(?:[^"\\\n\r]|\\.)*"'
    r"|(?<![\w.$])-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?(?![\w.])"
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")  # what GraphQL takes in no string
PREFIX = "_h"
MAX_TEXT = 20_000
MAX_FORMS = 256


@dataclass(frozen=True, slots=True)
class Form:
    """A shape's variables form: its text, and where it differs from what was sent."""

    text: str
    # Each change, in order: (its start and length in ``text``, its start and length in
    # the original): a value that became ``$_hN``, and the variables' definitions.
    edits: tuple[tuple[int, int, int, int], ...]

    def original_offset(self, offset: int) -> int:
        """The place in the original text of ``offset`` in ``text``."""
        shift = 0
        for start, length, original_start, original_length in self.edits:
            if offset < start:
                break
            if offset < start + length:
                return original_start  # inside a change: where it was
            shift = (original_start + original_length) - (start + length)
        return offset + shift


@dataclass(frozen=True, slots=True)
class Hoisted:
    query: str
    variables: dict[str, Any]
    form: Form
    original: str

    def relocate(self, errors: list[GraphQLError]) -> None:
        """Each error's locations, as places in the text that was sent."""
        for error in errors:
            if error.locations:
                error.locations = [self._place(loc) for loc in error.locations]

    def _place(self, location: SourceLocation) -> SourceLocation:
        offset = _offset(self.query, location.line, location.column)
        return _location(self.original, self.form.original_offset(offset))


class Hoister:
    """Learns and remembers the variables forms of the last ``MAX_FORMS`` shapes."""

    def __init__(self, schema: GraphQLSchema, max_tokens: int) -> None:
        self._schema = schema
        self._max_tokens = max_tokens
        self._forms: OrderedDict[str, Form | None] = OrderedDict()

    def hoisted(self, query: str, variables: dict[str, Any] | None) -> Hoisted | None:
        """``query`` in its variables form with ``variables`` and its values, or None
        when it has no value to take out or is not one that may be rewritten."""
        if len(query) > MAX_TEXT:
            return None
        matches = list(_VALUE.finditer(query))
        if not matches:
            return None
        shape = _shape(query, matches)
        if shape in self._forms:
            self._forms.move_to_end(shape)
            form = self._forms[shape]
        else:
            form = self._learn(query, matches)
            self._forms[shape] = form
            if len(self._forms) > MAX_FORMS:
                self._forms.popitem(last=False)
        if form is None:
            return None
        values = {}
        for number, match in enumerate(matches):
            value = _value(match)
            if value is None:
                return None
            values[f"{PREFIX}{number}"] = value[0]
        return Hoisted(form.text, {**(variables or {}), **values}, form, query)

    def _learn(self, query: str, matches: list[re.Match[str]]) -> Form | None:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
            return None
        operation = operations[0]
        if any(
            d.variable.name.value.startswith(PREFIX) for d in operation.variable_definitions or ()
        ):
            return None
        found = _Values(self._schema)
        visit(document, TypeInfoVisitor(found.type_info, found))
        spans = [(m.start(), m.end()) for m in matches]
        if found.refused or [span for span, _ in found.values] != spans:
            return None
        return _form(query, operation, matches, [kind for _, kind in found.values])


class _Values(Visitor):
    """The document's string and number values, with the type of the place of each;
    ``refused`` when one of them may not become a variable."""

    def __init__(self, schema: GraphQLSchema) -> None:
        super().__init__()
        self.type_info = TypeInfo(schema)
        self.values: list[tuple[tuple[int, int], str]] = []
        self.refused = False
        self._in_definition = 0

    def enter_variable_definition(self, *_: object) -> None:
        self._in_definition += 1

    def leave_variable_definition(self, *_: object) -> None:
        self._in_definition -= 1

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        self._value(node)

    def enter_int_value(self, node: IntValueNode, *_: object) -> None:
        self._value(node)

    def enter_float_value(self, node: FloatValueNode, *_: object) -> None:
        self._value(node)

    def _value(self, node: StringValueNode | IntValueNode | FloatValueNode) -> None:
        place = self.type_info.get_input_type()
        if (
            self._in_definition
            or node.loc is None
            or place is None
            or not isinstance(get_named_type(place), GraphQLScalarType)
        ):
            self.refused = True
            return
        self.values.append(((node.loc.start, node.loc.end), str(place)))


def _form(
    query: str, operation: OperationDefinitionNode, matches: list[re.Match[str]], kinds: list[str]
) -> Form:
    """The text with each value replaced by its variable, and the variables defined."""
    definitions = ", ".join(f"${PREFIX}{n}: {kind}" for n, kind in enumerate(kinds))
    if operation.variable_definitions:
        last = operation.variable_definitions[-1].loc
        assert last is not None
        insert_at, inserted = last.end, f", {definitions}"
    elif operation.name is not None and operation.name.loc is not None:
        insert_at, inserted = operation.name.loc.end, f"({definitions})"
    else:
        assert operation.loc is not None
        start = operation.loc.start
        if query[start] == "{":  # the shorthand form
            insert_at, inserted = start, f"query({definitions}) "
        else:
            insert_at, inserted = start + len("query"), f"({definitions})"
    changes = [(insert_at, 0, inserted)]
    for number, match in enumerate(matches):
        changes.append((match.start(), match.end() - match.start(), f"${PREFIX}{number}"))
    changes.sort(key=lambda change: change[0])
    parts: list[str] = []
    edits: list[tuple[int, int, int, int]] = []
    cursor = grown = 0
    for original, length, text in changes:
        parts.append(query[cursor:original])
        edits.append((original + grown, len(text), original, length))
        parts.append(text)
        grown += len(text) - length
        cursor = original + length
    parts.append(query[cursor:])
    return Form("".join(parts), tuple(edits))


def _shape(query: str, matches: list[re.Match[str]]) -> str:
    """The text with every value blanked, keeping its kind (string, integer, float)."""
    parts: list[str] = []
    cursor = 0
    for match in matches:
        parts.append(query[cursor : match.start()])
        text = match.group()
        parts.append("\0s" if text[0] == '"' else "\0f" if _is_float(match) else "\0i")
        cursor = match.end()
    parts.append(query[cursor:])
    return "".join(parts)


def _value(match: re.Match[str]) -> tuple[Any] | None:
    """The value a literal stands for, as a variable would carry it."""
    text = match.group()
    if text[0] == '"':
        if _CONTROL.search(text):
            return None
        try:
            return (json.loads(text, strict=False),)
        except ValueError:  # an escape GraphQL has and JSON has not (\u{...})
            return None
    if _is_float(match):
        return (float(text),)
    return (int(text),)


def _is_float(match: re.Match[str]) -> bool:
    return match.group(1) is not None or match.group(2) is not None


def _offset(text: str, line: int, column: int) -> int:
    at = 0
    for _ in range(line - 1):
        at = text.index("\n", at) + 1
    return at + column - 1


def _location(text: str, offset: int) -> SourceLocation:
    line = text.count("\n", 0, offset) + 1
    return SourceLocation(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)
