"""Error codes the API promises, and how domain errors become them."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError

from domain.errors import PayoutEngineError


@strawberry.enum(description="Stable machine-readable error codes.")
class ErrorCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    UNSUPPORTED_CURRENCY = "UNSUPPORTED_CURRENCY"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"
    UNSUPPORTED_PAYMENT_METHOD = "UNSUPPORTED_PAYMENT_METHOD"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    DUPLICATE_ALLOCATION = "DUPLICATE_ALLOCATION"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    INVALID_BANK_ACCOUNT = "INVALID_BANK_ACCOUNT"
    AMOUNT_ABOVE_RAIL_LIMIT = "AMOUNT_ABOVE_RAIL_LIMIT"
    INELIGIBLE = "INELIGIBLE"
    UNBALANCED_ENTRY = "UNBALANCED_ENTRY"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CURSOR = "INVALID_CURSOR"
    PAGE_SIZE = "PAGE_SIZE"
    BREAK_NOT_OPEN = "BREAK_NOT_OPEN"
    JOB_IN_PROGRESS = "JOB_IN_PROGRESS"
    FELL_BEHIND = "FELL_BEHIND"  # a subscriber too slow for the feed: re-read, subscribe again
    INTERNAL = "INTERNAL"


@strawberry.type(description="A business failure of a mutation; nothing was changed.")
class UserError:
    field: list[str] | None
    code: ErrorCode
    message: str


def user_error(code: str, message: str, field: str | None = None) -> UserError:
    return UserError(field=_path(field) if field else None, code=ErrorCode(code), message=message)


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
