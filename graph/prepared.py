"""Queries the API has answered cleanly before, answered again from their plan alone.

Strawberry runs every request through its pipeline: an execution context, seven schema
extensions entered and left around parsing, validation and execution (the parser and
validation caches, the limits, the text guard, the error codes), then graphql-core's
executor. For a query text it has already parsed, validated and answered without an
error, the only things that can change are the variables and the data, so ``Prepared``
keeps the parsed document and executes it straight from its plan
(``graph.execution.Planned.run_plan``): about a third of a small read's CPU.

It answers only what it can answer as the whole pipeline would: variables that coerce
and that the text guard lets through, an operation the plan takes, and a walk that
goes as planned. Anything else (a variable of the wrong type, text that may not be
stored, a resolver that raises, a null where none may be) is handed to the pipeline,
which answers with its usual errors and codes. What a query reads is done again then;
a query writes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphql import DocumentNode, OperationType, get_operation_ast, parse
from strawberry.execution import optimized_is_awaitable
from strawberry.http import GraphQLRequestData
from strawberry.schema.schema import Schema
from strawberry.types import ExecutionResult
from strawberry.utils.await_maybe import await_maybe

from graph.execution import Abandon, Planned
from graph.guards import carries_unstorable

MAX_PREPARED = 256


class Prepared:
    def __init__(self, schema: Schema, size: int = MAX_PREPARED) -> None:
        self._schema = schema
        self._size = size
        # (text, operation name) -> its document; None: the plan does not take it.
        self._documents: OrderedDict[tuple[str, str | None], DocumentNode | None] = OrderedDict()

    def learn(self, request: GraphQLRequestData, result: ExecutionResult) -> None:
        """Keep a query that the pipeline answered without an error."""
        key = (request.query or "", request.operation_name)
        if result.errors or result.data is None or not key[0] or key in self._documents:
            return
        document = parse(key[0])
        operation = get_operation_ast(document, key[1])
        if operation is None or operation.operation is not OperationType.QUERY:
            return
        self._documents[key] = document
        if len(self._documents) > self._size:
            self._documents.popitem(last=False)

    async def execute(self, request: GraphQLRequestData, context: Any) -> ExecutionResult | None:
        """The answer from the plan, or None: the pipeline answers this one."""
        key = (request.query or "", request.operation_name)
        document = self._documents.get(key)
        if document is None or carries_unstorable(request.variables):
            return None
        executor = Planned.build(
            self._schema._schema,
            document,
            None,
            context,
            request.variables,
            request.operation_name,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # a TypeGuard but in name
        )
        if not isinstance(executor, Planned):  # errors: variables that do not coerce
            return None
        try:
            data = await await_maybe(executor.run_plan())
        except Abandon:
            if executor.plan_refused():
                self._documents[key] = None  # not again: straight to the pipeline
            return None
        return ExecutionResult(data=data, errors=None)
