"""One error hierarchy for the engine. The API maps each ``code`` to a stable enum."""

from __future__ import annotations

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

    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(PayoutEngineError):
    code = "INVALID_INPUT"


class InvalidAmount(InvalidInput):
    code = "INVALID_AMOUNT"


class UnsupportedCurrency(InvalidInput):
    code = "UNSUPPORTED_CURRENCY"


class CurrencyMismatch(InvalidInput):
    code = "CURRENCY_MISMATCH"


class UnknownCountry(InvalidInput):
    code = "UNKNOWN_COUNTRY"


class NotFound(PayoutEngineError):
    code = "NOT_FOUND"


class Conflict(PayoutEngineError):
    code = "CONFLICT"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class IllegalTransition(PayoutEngineError):
    code = "ILLEGAL_TRANSITION"


class UnsupportedPaymentMethod(InvalidInput):
    code = "UNSUPPORTED_PAYMENT_METHOD"


class ProviderUnavailable(PayoutEngineError):
    code = "PROVIDER_UNAVAILABLE"


class UnbalancedEntry(PayoutEngineError):
    code = "UNBALANCED_ENTRY"


class InsufficientFunds(Conflict):
    code = "INSUFFICIENT_FUNDS"


class BreakNotOpen(Conflict):
    code = "BREAK_NOT_OPEN"


class JobInProgress(Conflict):
    """Another process is running this singleton job right now."""

    code = "JOB_IN_PROGRESS"
