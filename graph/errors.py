"""Error codes the API promises, and how domain errors become them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import SchemaExtension

from domain import errors
from domain.errors import PayoutEngineError, Problem, shortened

# The GraphQL enum is the domain's vocabulary, member for member.
strawberry.enum(
    errors.ErrorCode, name="ErrorCode", description="Stable machine-readable error codes."
)
ErrorCode = errors.ErrorCode


@strawberry.type(description="A business failure of a mutation; nothing was changed.")
class UserError:
    field: list[str] | None
    code: ErrorCode
    message: str


def user_error(code: errors.ErrorCode, message: str, field: str | None = None) -> UserError:
    return UserError(field=_path(field) if field else None, code=code, message=message)


def from_problems(problems: Iterable[Problem]) -> list[UserError]:
    return [user_error(p.code, p.message, p.field) for p in problems]


def from_domain(error: PayoutEngineError) -> UserError:
    return user_error(error.code, error.message, error.field)


def query_error(code: ErrorCode, message: str, **extra: Any) -> GraphQLError:
    """A GraphQL error for queries, with the code in ``extensions``."""
    return GraphQLError(message, extensions={"code": code.value, **extra})


def _path(field: str) -> list[str]:
    return ["input", *_camel(field).split(".")]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# The messages of Strawberry's depth and alias limits (validation), of the introspection
# depth limits (graph.introspection's and graphql-core's), and of graphql-core's own
# guards: token and nesting limits (parsing, execution) and work budgets (validation).
# tests/api/test_hostile_inputs.py fails if one of them changes.
_LIMITS = re.compile(
    r"exceeds maximum operation depth|(?i:maximum introspection depth)|aliases found"
    r"|(Parsing|Validation|Execution) aborted"
)


# graphql-core quotes a literal of the document whole ("String cannot represent a non
# string value: 999..."); its messages are cut here, ours quote with domain.errors.quoted.
MAX_MESSAGE = 500


# No connection to the database could be made or kept (the server down, restarting or
# not answering, the database missing, a file that cannot be opened), or none was free.
DATABASE_AWAY = (OperationalError, InterfaceError, PoolTimeout)
DATABASE_AWAY_MESSAGE = "the database is unavailable; try again later"


def is_database_away(error: GraphQLError) -> bool:
    """A resolver cut off by the database going away: no fault of the caller's, and
    worth asking again (a mutation with its idempotency key, safely)."""
    return isinstance(error.original_error, DATABASE_AWAY)


def is_unexpected(error: GraphQLError) -> bool:
    """An exception no resolver meant to raise: a crash, whose details stay on the server."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


# Where Strawberry logs the errors of an operation, before CodedErrors rewrites them.
log = logging.getLogger("strawberry.execution")


def log_error(error: GraphQLError) -> None:
    """A crash at ERROR, with its traceback. Anything else refused what a client sent (a
    coded error, a document that does not parse or validate, a variable that does not
    fit its type): one line at INFO, which is no server fault to be alerted about."""
    if is_database_away(error):
        first_line = str(error.original_error).splitlines()[0]
        log.warning("the database is unavailable at %s: %s", error.path, first_line)
        return
    if is_unexpected(error):
        log.error(error, exc_info=error.original_error)
        return
    code = (error.extensions or {}).get("code")
    label = f" ({code})" if code else ""
    where = f" at {'.'.join(map(str, error.path))}" if error.path else ""
    message = shortened(error.message, MAX_MESSAGE).replace("\n", " ")
    log.info("refused%s%s: %s", label, where, message)


class CodedErrors(SchemaExtension):
    """Every error leaves with ``extensions.code`` and none with a crash's details.

    Resolvers raise theirs with a code (``query_error``, permission classes). The rest get
    one here: a crash becomes "Unexpected error." (INTERNAL) with nothing of the
    exception, as Strawberry's MaskErrors does; a document that does not parse or
    validate, or is over a limit, gets the GRAPHQL_* or QUERY_TOO_COMPLEX code; a
    variable that does not fit its type is INVALID_INPUT.
    """

    def __init__(self) -> None:
        self._invalid: set[int] = set()

    def on_validate(self) -> Iterator[None]:
        yield
        self._invalid |= {id(e) for e in self.execution_context.pre_execution_errors or []}

    def on_operation(self) -> Iterator[None]:
        yield
        self._code(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:  # subscriptions, per message
        self._code(result)
        yield

    def _code(self, result: Any) -> None:
        if result is not None and getattr(result, "errors", None):
            result.errors = [self._coded(error) for error in result.errors]

    def _coded(self, error: GraphQLError) -> GraphQLError:
        if error.extensions and "code" in error.extensions:
            return error
        if is_database_away(error):
            code = ErrorCode.DATABASE_UNAVAILABLE
            return _rewritten(error, DATABASE_AWAY_MESSAGE, {"code": code.value})
        if is_unexpected(error):
            return _rewritten(error, "Unexpected error.", {"code": ErrorCode.INTERNAL.value})
        if _LIMITS.search(error.message):
            code = ErrorCode.QUERY_TOO_COMPLEX
        elif isinstance(error, GraphQLSyntaxError):
            code = ErrorCode.GRAPHQL_PARSE_FAILED
        elif id(error) in self._invalid:
            code = ErrorCode.GRAPHQL_VALIDATION_FAILED
        elif error.path is None:
            code = ErrorCode.INVALID_INPUT  # graphql-core coercing the variables
        else:
            code = ErrorCode.INTERNAL
        message = shortened(error.message, MAX_MESSAGE)
        return _rewritten(error, message, {**(error.extensions or {}), "code": code.value})


def _rewritten(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
