"""The engine's one error vocabulary: the codes, the ``Problem`` value and the exceptions.

``ErrorCode`` is every code the engine reports; the GraphQL ``ErrorCode`` enum is made
from it. Checks that can find several things wrong return ``Problem`` values (all of
them at once); a failure that stops the work raises a ``PayoutEngineError`` subclass,
whose ``code`` is one of the same codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
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
    BANK_ACCOUNT_FLAGGED = "BANK_ACCOUNT_FLAGGED"  # a bank refused it (closed, blocked...)
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
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"  # down, restarting or missing: try again later
    # The request itself, before any operation runs:
    BAD_REQUEST = "BAD_REQUEST"  # not a JSON object with a `query`, a batch, an unknown operation
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # operations are POSTed; GET serves GraphiQL only
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # the body is not application/json
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"  # above the server's max_request_bytes
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"  # the document is not GraphQL
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"  # it does not fit the schema
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"  # above the depth, alias or token limit
    # Runs and approvals (four eyes):
    SELF_APPROVAL = "SELF_APPROVAL"  # the approver's owner is the requester's owner
    APPROVAL_NOT_PENDING = "APPROVAL_NOT_PENDING"  # already approved, rejected or cancelled
    APPROVAL_EXPIRED = "APPROVAL_EXPIRED"  # past its APPROVAL_TTL
    RUN_NOT_CANCELLABLE = "RUN_NOT_CANCELLABLE"  # the run has ended
    # CSV import (importLiquidationEvent):
    INVALID_CSV = "INVALID_CSV"  # the file as a whole: encoding, delimiter, header, size
    FORMULA_INJECTION = "FORMULA_INJECTION"  # a cell a spreadsheet would run as a formula
    ROW_ERRORS = "ROW_ERRORS"  # a real import refused because rows have errors
    RATE_LIMITED = "RATE_LIMITED"  # this key sent too many requests: wait Retry-After seconds
    # Paying again (retryPayout, retryPayouts):
    NOT_RETRYABLE = "NOT_RETRYABLE"  # not failed or returned, or already paid again


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: which field (snake_case path), its code, and why."""

    field: str
    code: ErrorCode
    message: str


# How much of a value an error message quotes: enough to recognise it, not a 500 KB echo.
QUOTED_CHARACTERS = 40


def shortened(text: str, limit: int) -> str:
    """``text``, or its first ``limit`` characters and an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"


def quoted(value: object, limit: int = QUOTED_CHARACTERS) -> str:
    """``value`` as an error message quotes what a user sent: in quotes, shortened."""
    return repr(shortened(str(value), limit))


class PayoutEngineError(Exception):
    """Base of every business error; ``code`` is what the API reports."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def problem(self, field: str | None = None) -> Problem:
        """This error as a value, for checks that collect every problem."""
        return Problem(self.field or field or "input", self.code, self.message)


class InvalidInput(PayoutEngineError):
    code = ErrorCode.INVALID_INPUT


class InvalidAmount(InvalidInput):
    code = ErrorCode.INVALID_AMOUNT


class UnsupportedCurrency(InvalidInput):
    code = ErrorCode.UNSUPPORTED_CURRENCY


class CurrencyMismatch(InvalidInput):
    code = ErrorCode.CURRENCY_MISMATCH


class UnknownCountry(InvalidInput):
    code = ErrorCode.UNKNOWN_COUNTRY


class NotFound(PayoutEngineError):
    code = ErrorCode.NOT_FOUND


class Conflict(PayoutEngineError):
    code = ErrorCode.CONFLICT


class IllegalTransition(PayoutEngineError):
    code = ErrorCode.ILLEGAL_TRANSITION


class UnsupportedPaymentMethod(InvalidInput):
    code = ErrorCode.UNSUPPORTED_PAYMENT_METHOD


class ProviderUnavailable(PayoutEngineError):
    code = ErrorCode.PROVIDER_UNAVAILABLE


class UnbalancedEntry(PayoutEngineError):
    code = ErrorCode.UNBALANCED_ENTRY


class InsufficientFunds(Conflict):
    code = ErrorCode.INSUFFICIENT_FUNDS


class BreakNotOpen(Conflict):
    code = ErrorCode.BREAK_NOT_OPEN


class JobInProgress(Conflict):
    """Another process is running this singleton job right now."""

    code = ErrorCode.JOB_IN_PROGRESS


class LedgerInconsistent(PayoutEngineError):
    """The books disagree with a payout's state: never guessed around, always loud."""

    code = ErrorCode.INTERNAL
