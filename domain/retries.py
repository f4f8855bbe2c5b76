"""Paying a failed or returned payout again: a new attempt at its allocation.

An attempt is a new payout row of the same (event, payee), numbered after the last
one and linked to the payout it pays again, with its own provider idempotency key and
its own hold, sent to the payee's bank account in use *now*, after the same
eligibility check a run makes (a flagged, held or missing account refuses it).

Only ``failed`` and ``returned`` payouts are paid again, and only the last attempt of
an allocation: a returned payout was reversed in the ledger, so its money did not
reach the payee. The database keeps at most one attempt per allocation that is not
failed, returned or cancelled, so at most one attempt can ever be completed and not
returned: the money that reached the payee never exceeds the allocation.

A run never pays a failed payout again by itself; only a retry does, behind the same
approval rule as runs (``RUN_APPROVAL_MIN_TOTAL`` on the attempts' total).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.eligibility import Eligibility, SkipReason
from domain.errors import ErrorCode, Problem
from domain.lifecycle import PayoutStatus
from domain.money import Money

RETRYABLE = frozenset({PayoutStatus.FAILED, PayoutStatus.RETURNED})


class RetryStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    DONE = "done"  # its attempts were created (those that could be)
    REJECTED = "rejected"
    EXPIRED = "expired"


def fingerprint(operation: str, request: Mapping[str, Any]) -> str:
    """What an idempotency key stands for: the operation and its input."""
    body = {"operation": operation, "input": dict(request)}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def status_problem(status: PayoutStatus, later_attempt: int | None) -> Problem | None:
    """Why a payout in ``status`` cannot be paid again, or None."""
    if status not in RETRYABLE:
        return Problem(
            "payout_id",
            ErrorCode.NOT_RETRYABLE,
            f"a {status.value} payout is not paid again; only failed or returned ones are",
        )
    if later_attempt is not None:
        return Problem(
            "payout_id",
            ErrorCode.NOT_RETRYABLE,
            f"attempt {later_attempt} pays this allocation again already",
        )
    return None


def eligibility_problem(eligibility: Eligibility) -> Problem | None:
    """Why the payee cannot be paid now (the run's checks), or None."""
    if eligibility.eligible:
        return None
    if not eligibility.findings:
        return Problem("payout_id", ErrorCode.INELIGIBLE, "the payout cannot be routed")
    first = eligibility.findings[0]
    code = (
        ErrorCode.BANK_ACCOUNT_FLAGGED
        if first.reason is SkipReason.BANK_ACCOUNT_FLAGGED
        else ErrorCode.INELIGIBLE
    )
    return Problem("payout_id", code, f"{first.reason.value}: {first.detail}")


def needs_approval(amounts: Sequence[Money], threshold: Decimal | None) -> bool:
    """The run rule: every retry when the threshold is 0; otherwise when the attempts'
    total in some currency reaches it. ``off`` (None): none."""
    if threshold is None or not amounts:
        return False
    if threshold == 0:
        return True
    totals: dict[str, int] = {}
    for m in amounts:
        totals[m.currency] = totals.get(m.currency, 0) + m.minor
    return any(
        Decimal(Money(minor, currency).to_decimal_string()) >= threshold
        for currency, minor in totals.items()
    )
