"""A depth limit for introspection, which the operation depth limit does not see.

Strawberry's QueryDepthLimiter leaves out every field whose name begins with "__", so
``__schema { types { fields { type { ofType { ofType ...`` went as deep as the parser
allows. Introspection gets a limit of its own, deep enough for the standard query:
graphql-core's nests ``ofType`` nine times (15 levels), GraphiQL's (graphql-js 16)
seven times (13 levels). graphql-core's own MaxIntrospectionDepthRule, one of its
specified rules, already refuses lists nested in lists (``fields { type { fields``).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    SKIP,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    Node,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VisitorAction,
)

# Levels of fields, the introspection field itself the first.
MAX_INTROSPECTION_DEPTH = 15
_ROOTS = frozenset({"__schema", "__type"})


class IntrospectionDepthLimit(ValidationRule):
    def enter_field(self, node: FieldNode, *_: Any) -> VisitorAction:
        if node.name.value not in _ROOTS:
            return None
        if _deeper_than(MAX_INTROSPECTION_DEPTH, node, self.context):
            message = f"'{node.name.value}' exceeds maximum introspection depth of "
            self.report_error(GraphQLError(f"{message}{MAX_INTROSPECTION_DEPTH}", [node]))
        return SKIP


def _deeper_than(limit: int, root: FieldNode, context: ValidationContext) -> bool:
    """Whether a field lies more than ``limit`` levels down from ``root``.

    A fragment is expanded again only where it starts deeper than before, so a cycle
    or a fragment spread many times costs at most ``limit`` expansions of it."""
    expanded: dict[str, int] = {}
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, FieldNode):
            if level > limit:
                return True
            _push(stack, node.selection_set, level + 1)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and expanded.get(name, 0) < level:
                expanded[name] = level
                _push(stack, fragment.selection_set, level)
        else:  # an inline fragment
            _push(stack, getattr(node, "selection_set", None), level)
    return False


def _push(stack: list[tuple[Node, int]], selections: SelectionSetNode | None, level: int) -> None:
    if selections is not None:
        stack.extend((selection, level) for selection in selections.selections)
