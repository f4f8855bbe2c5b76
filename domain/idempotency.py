"""The API's idempotency keys: one format for every mutation that takes one."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.errors import ErrorCode, Problem

KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,128}$")
KEY_LIFETIME = timedelta(hours=24)


def key_problem(key: str | None, field: str = "idempotency_key") -> Problem | None:
    """Why ``key`` is not an idempotency key, or None when it is one."""
    if KEY_FORMAT.match(key or ""):
        return None
    message = "idempotencyKey is 1-128 printable ASCII characters"
    return Problem(field, ErrorCode.INVALID_INPUT, message)
