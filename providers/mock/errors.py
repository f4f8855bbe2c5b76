"""What a mock bank answers instead of success."""

from __future__ import annotations

from collections.abc import Mapping


class BankError(Exception):
    """An HTTP status plus a stable error code, rendered as ``{"error", "message"}``."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        reason_code: str | None = None,  # the scheme's code (R02, AC04) of a refused payment
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.headers = dict(headers or {})
        self.reason_code = reason_code
