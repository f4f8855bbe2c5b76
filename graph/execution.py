"""Leaf fields read straight off their object: most of what a page of payouts resolves.

A 100-row page with its rail, trace and ledger entries resolves about 7,000 fields, and
graphql-core spends most of the page's CPU on the generic path for each one: a
``ResolveInfo`` built, the resolver wrapped by the middleware manager, then
``complete_value`` asking what kind of type it completes. For a field that Strawberry
resolves as a plain attribute (no resolver, no arguments, no permission class or field
extension) whose type is a scalar or an enum, none of that changes the answer:
``FastLeaves`` reads the attribute and coerces it as ``complete_leaf_value`` would.

Anything else, and any leaf whose value is missing where the type wants one or that its
type refuses, goes the generic way, which raises the usual error at the usual path
(reading an attribute twice changes nothing). With an extension that hooks every
resolver (a middleware), every field goes the generic way.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Per field definition: (the type's coercion, whether null may stand), or None: not a
# plain leaf. Field definitions live as long as the schema.
_PLAIN: dict[int, tuple[GraphQLField, GraphQLLeafType, bool] | None] = {}


def _plain_leaf(field: GraphQLField) -> tuple[GraphQLField, GraphQLLeafType, bool] | None:
    if id(field) in _PLAIN:
        known = _PLAIN[id(field)]
        if known is None or known[0] is field:
            return known
    named = get_nullable_type(field.type)
    plain = (
        (field, named, not is_non_null_type(field.type))
        if is_leaf_type(named)
        and not field.args
        and getattr(field.resolve, "_is_default", False)  # Strawberry's basic field
        else None
    )
    _PLAIN[id(field)] = plain
    return plain


class FastLeaves(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any = None,
    ) -> Any:
        node = field_details_list[0].node
        if not node.arguments and not (
            self.middleware_manager and self.middleware_manager.middlewares
        ):
            field = self.schema.get_field(parent_type, node.name.value)
            plain = _plain_leaf(field) if field is not None else None
            if plain is not None:
                _, leaf, nullable = plain
                assert field is not None and field.resolve is not None
                value = field.resolve(source, None)
                if value is None and nullable:
                    return None
                if value is not None:
                    try:
                        coerced = leaf.coerce_output_value(value)
                    except Exception:  # the generic way raises it where it belongs
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
