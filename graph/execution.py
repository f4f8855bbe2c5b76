"""Queries executed from a plan made once per document, and leaf fields read straight off
their object.

A 100-row page with its rail, trace and ledger entries resolves about 7,000 fields.
graphql-core's executor does the same generic work for each of them: it builds a
``ResolveInfo``, wraps the resolver, asks what kind of type it completes, and makes a
coroutine and a ``Path`` wherever anything below is asynchronous. Most of that has the
same answer for every request that sends the same document, so ``Planned`` works it out
once per operation (``Plan``): for each field, how its value is read (an attribute, or
the field's resolver with its arguments) and how it is completed (a leaf's coercion, a
list, an object's own plan). Executing a query is then a walk of the plan over the
values. Asynchronous resolvers (the dataloaders) are started together, a level at a time,
so that their loads batch as they do under graphql-core.

The plan takes only what it can answer exactly as graphql-core would: a query (not a
mutation or subscription) on object types, without directives (``@skip``, ``@include``,
``@defer``), introspection or fragment variables, and with no middleware. Anything that
does not go as planned (a resolver raises, a value is null where the type wants one, a
leaf its type refuses, a list that is not a list) abandons the walk and executes the
operation again the generic way, which answers with the usual error at the usual path. A
query reads and writes nothing, so doing it twice changes nothing but the time.

On the generic path (mutations, and queries the plan does not take) ``FastLeaves`` still
reads a plain leaf (a Strawberry attribute with no resolver, arguments, permission class
or extension, of a scalar or enum type) and coerces it as ``complete_leaf_value`` would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    DirectiveNode,
    GraphQLField,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
    visit,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    GroupedFieldSet,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info as StrawberryInfo
from strawberry.types.field import StrawberryField

# -- plain leaves on the generic path ---------------------------------------------------------

# Per field definition: (the type's coercion, whether null may stand), or None: not a
# plain leaf. Field definitions live as long as the schema.
_PLAIN: dict[int, tuple[GraphQLField, GraphQLLeafType, bool] | None] = {}


def _is_basic(field: GraphQLField) -> bool:
    """Strawberry resolves the field as a plain attribute of its object."""
    return bool(getattr(field.resolve, "_is_default", False))


def _plain_leaf(field: GraphQLField) -> tuple[GraphQLField, GraphQLLeafType, bool] | None:
    if id(field) in _PLAIN:
        known = _PLAIN[id(field)]
        if known is None or known[0] is field:
            return known
    named = get_nullable_type(field.type)
    plain = (
        (field, named, not is_non_null_type(field.type))
        if is_leaf_type(named) and not field.args and _is_basic(field)
        else None
    )
    _PLAIN[id(field)] = plain
    return plain


# -- plans ------------------------------------------------------------------------------------


class Abandon(Exception):
    """The plan cannot answer this request as graphql-core would; it executes generically."""


# A completer turns a field's value into its answer. It may leave work for later: an
# awaitable whose value another completer will complete (``Walk.later``).
Completer = Callable[["Walk", Any, Path], Any]


@dataclass(frozen=True, slots=True)
class FieldStep:
    key: str  # the response key (alias or name)
    field: GraphQLField
    details: FieldDetailsList
    parent: GraphQLObjectType
    read: Callable[[Any], Any] | None  # a plain attribute; None: a resolver
    # The resolver called as Strawberry would, without its generic wrapper; None: the
    # field's own ``resolve`` (arguments, permission classes, extensions).
    call: Callable[[Walk, FieldStep, Any, Path], Any] | None
    complete: Completer
    has_args: bool
    # Whether anything at or below the field needs its path (a resolver's ``info``); a
    # ``Path`` made for each of a page's 7,000 leaves costs more than reading them.
    needs_path: bool


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    type_name: str
    steps: tuple[FieldStep | str, ...]  # a str: a __typename field, by its response key


class Plan:
    """How one query operation of one document is executed."""

    def __init__(self, executor: Planned, operation: OperationDefinitionNode) -> None:
        # The executor (the first request's) is only borrowed while the plan is made: a
        # cached plan must not keep that request's context alive.
        self._executor: Planned | None = executor
        root = executor.schema.query_type
        assert root is not None
        collected = collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            root,
            operation,
        )
        try:
            self.root = self._object(root, collected.grouped_field_set)
        finally:
            self._executor = None

    def _object(self, parent: GraphQLObjectType, fields: GroupedFieldSet) -> ObjectPlan:
        steps: list[FieldStep | str] = []
        for key, details in fields.items():
            node = details[0].node
            name = node.name.value
            if any(d.fragment_variable_values is not None for d in details):
                raise Abandon("fragment variables")
            if name == "__typename":
                steps.append(key)
                continue
            if name.startswith("__"):
                raise Abandon("introspection")
            field = parent.fields.get(name)
            if field is None:
                raise Abandon(f"no field {name}")
            has_args = bool(field.args or node.arguments)
            read = _attribute(field) if not has_args else None
            steps.append(
                FieldStep(
                    key=key,
                    field=field,
                    details=details,
                    parent=parent,
                    read=read,
                    call=_direct(field, self._made_by()) if not has_args else None,
                    complete=self._completer(field.type, details),
                    has_args=has_args,
                    needs_path=read is None or not is_leaf_type(get_named_type(field.type)),
                )
            )
        return ObjectPlan(parent.name, tuple(steps))

    def _made_by(self) -> Planned:
        assert self._executor is not None, "a plan is made once"
        return self._executor

    def _completer(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Completer:
        if isinstance(type_, GraphQLNonNull):
            inner = self._completer(type_.of_type, details)

            def non_null(walk: Walk, value: Any, path: Path) -> Any:
                if value is None:
                    raise Abandon("null for a non-null type")
                return inner(walk, value, path)

            return non_null
        if isinstance(type_, GraphQLList):
            item = self._completer(type_.of_type, details)

            def listed(walk: Walk, value: Any, path: Path) -> Any:
                if value is None:
                    return None
                if not isinstance(value, list | tuple):
                    raise Abandon("not a list")
                return [item(walk, v, Path(path, i, None)) for i, v in enumerate(value)]

            return listed
        if is_leaf_type(type_):
            coerce = type_.coerce_output_value

            # A str for a String or an ID is itself: graphql-core's coercion says so too.
            text = type_ is GraphQLString or type_ is GraphQLID

            def leaf(walk: Walk, value: Any, path: Path) -> Any:
                if value is None:
                    return None
                if text and type(value) is str:
                    return value
                coerced = coerce(value)
                if coerced is None or coerced is Undefined:
                    raise Abandon("a value its type refuses")
                return coerced

            return leaf
        if not isinstance(type_, GraphQLObjectType):
            raise Abandon("an abstract type")
        executor = self._made_by()
        sub = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            type_,
            details,
        )
        plan = self._object(type_, sub.grouped_field_set)

        def obj(walk: Walk, value: Any, path: Path) -> Any:
            return None if value is None else walk.object(plan, value, path)

        return obj


def _attribute(field: GraphQLField) -> Callable[[Any], Any] | None:
    """How a basic Strawberry field reads its object, or None: through its resolver."""
    if not _is_basic(field):
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is not None and definition.default_resolver is getattr:
        return attrgetter(definition.python_name)
    resolve = field.resolve
    assert resolve is not None
    return lambda source: resolve(source, None)


def _direct(field: GraphQLField, executor: Planned) -> Callable[..., Any] | None:
    """A resolver without arguments, permission classes or field extensions, called the
    way Strawberry's wrapper would call it: the object as ``self`` (or ``root`` or
    ``parent``), and an ``Info`` if it asks for one."""
    definition: StrawberryField | None = (field.extensions or {}).get("strawberry-definition")
    resolver = definition.base_resolver if definition is not None else None
    if definition is None or resolver is None or definition.extensions or definition.arguments:
        return None
    func: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
    as_self = resolver.self_parameter is not None
    by_name = [p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = executor.schema_config_info_class()

    def call(walk: Walk, step: FieldStep, source: Any, path: Path) -> Any:
        kwargs = dict.fromkeys(by_name, source)
        if info_name is not None:
            raw = walk.executor.build_resolve_info(
                step.field, [d.node for d in step.details], step.parent, path
            )
            kwargs[info_name] = info_class(_raw_info=raw, _field=definition)
        return func(source, **kwargs) if as_self else func(**kwargs)

    return call


# Where a leaf read off its object would have its path: nothing asks for it.
NO_PATH = Path(None, "", None)


class Walk:
    """One execution of a plan: the answer, and the resolvers' awaitables still to come."""

    def __init__(self, executor: Planned) -> None:
        self.executor = executor
        # (awaitable, the dict it answers into, the key, its completer, its path)
        self.pending: list[tuple[Awaitable[Any], dict[str, Any], str, Completer, Path]] = []

    def object(self, plan: ObjectPlan, source: Any, path: Path | None) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for step in plan.steps:
            if isinstance(step, str):
                answer[step] = plan.type_name
                continue
            field_path = Path(path, step.key, plan.type_name) if step.needs_path else NO_PATH
            if step.read is not None:
                answer[step.key] = step.complete(self, step.read(source), field_path)
                continue
            value = self._resolve(step, source, field_path)
            if self.executor.is_awaitable(value):
                answer[step.key] = None  # keeps the key's place
                self.pending.append((value, answer, step.key, step.complete, field_path))
            else:
                answer[step.key] = step.complete(self, value, field_path)
        return answer

    def _resolve(self, step: FieldStep, source: Any, path: Path) -> Any:
        if step.call is not None:
            return step.call(self, step, source, path)
        executor = self.executor
        first = step.details[0]
        args = (
            get_argument_values(
                step.field,
                first.node,
                executor.variable_values,
                first.fragment_variable_values,
                executor.hide_suggestions,
            )
            if step.has_args
            else {}
        )
        info = executor.build_resolve_info(
            step.field, [d.node for d in step.details], step.parent, path
        )
        assert step.field.resolve is not None
        return step.field.resolve(source, info, **args)

    async def settle(self) -> None:
        """Await what the resolvers left, a level at a time: every awaitable of a level
        starts before any is awaited, so that dataloaders batch their loads."""
        while self.pending:
            level, self.pending = self.pending, []
            if len(level) == 1:  # alone: awaited in place, without a task to batch with
                try:
                    values: list[Any] = [await level[0][0]]
                except Exception as error:
                    raise Abandon("a resolver raised") from error
            else:
                values = await asyncio.gather(*(p[0] for p in level), return_exceptions=True)
            for (_, answer, key, complete, path), value in zip(level, values, strict=True):
                if isinstance(value, BaseException):
                    if not isinstance(value, Exception):
                        raise value
                    raise Abandon("a resolver raised") from value
                answer[key] = complete(self, value, path)

    def discard(self) -> None:
        """Close the coroutines never started, so none is left unawaited."""
        for awaitable, *_ in self.pending:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
        self.pending = []


class _Directives(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, node: DirectiveNode, *_: object) -> None:
        self.found = True


def _has_directives(node: Any) -> bool:
    finder = _Directives()
    visit(node, finder)
    return finder.found


# Per schema and operation node, its plan or None (the plan does not take it). An entry
# holds both, so neither id can be reused while it is here. Strawberry's parser cache is
# shared by every schema of the process and hands the same nodes for the same text, so
# the schema is part of the key: a plan reads that schema's field definitions.
_PLANS: dict[tuple[int, int], tuple[GraphQLSchema, OperationDefinitionNode, Plan | None]] = {}
MAX_PLANS = 256


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


class Planned(FastLeaves):
    def execute_operation(self, serially: bool | None = None) -> Any:
        if serially:
            return super().execute_operation(serially)
        try:
            data = self.run_plan()
        except Abandon:
            return super().execute_operation(serially)
        if isinstance(data, dict):
            return self.finish(self.build_response(data))
        return self._settled(data)

    async def _settled(self, data: Awaitable[dict[str, Any]]) -> Any:
        try:
            answer = await data
        except Abandon:
            result = super().execute_operation()
            return await result if self.is_awaitable(result) else result
        return self.build_response(answer)

    def plan_refused(self) -> bool:
        """The plan does not take this operation, whatever the variables."""
        return self._plan() is None

    def run_plan(self) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """The operation's data from its plan, or ``Abandon``: there is no plan for it,
        or the walk did not go as planned (and graphql-core's answer would differ)."""
        plan = self._plan()
        if plan is None:
            raise Abandon("no plan")
        walk = Walk(self)
        try:
            data = walk.object(plan.root, self.root_value, None)
        except Exception as error:  # Abandon, or what a resolver or a coercion raised
            walk.discard()
            raise Abandon("off plan") from error
        if not walk.pending:
            return data

        async def settled() -> dict[str, Any]:
            try:
                await walk.settle()
            except Exception as error:
                walk.discard()
                raise Abandon("off plan") from error
            return data

        return settled()

    def schema_config_info_class(self) -> type[StrawberryInfo[Any, Any]]:
        """The ``Info`` class Strawberry gives resolvers (its config's)."""
        strawberry_schema = self.schema.extensions.get("strawberry-definition")
        config = getattr(strawberry_schema, "config", None)
        return getattr(config, "info_class", StrawberryInfo)

    def _plan(self) -> Plan | None:
        operation = self.operation
        if operation.operation is not OperationType.QUERY or self.abort_signal is not None:
            return None
        if self.middleware_manager and self.middleware_manager.middlewares:
            return None
        key = (id(self.schema), id(operation))
        known = _PLANS.get(key)
        if known is not None and known[0] is self.schema and known[1] is operation:
            return known[2]
        plan: Plan | None
        try:
            plan = None if self._refused() else Plan(self, operation)
        except Abandon:
            plan = None
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = (self.schema, operation, plan)
        return plan

    def _refused(self) -> bool:
        """What a plan does not take, whatever the variables: directives anywhere in the
        operation or the fragments it may use."""
        if _has_directives(self.operation):
            return True
        return any(_has_directives(f.definition) for f in self.fragments.values())
