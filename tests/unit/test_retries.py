"""Which payouts may be paid again, and when a retry needs an approver."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import ErrorCode
from domain.lifecycle import PayoutStatus
from domain.money import Money
from domain.retries import fingerprint, needs_approval, status_problem


@pytest.mark.parametrize("status", list(PayoutStatus))
def test_only_the_last_failed_or_returned_attempt_is_paid_again(status: PayoutStatus) -> None:
    problem = status_problem(status, None)
    if status in (PayoutStatus.FAILED, PayoutStatus.RETURNED):
        assert problem is None
        later = status_problem(status, 3)
        assert later is not None and later.code is ErrorCode.NOT_RETRYABLE
        assert "attempt 3" in later.message
    else:
        assert problem is not None and problem.code is ErrorCode.NOT_RETRYABLE


def test_the_run_rule_decides_on_the_attempts_total_per_currency() -> None:
    two = [Money(60_00, "USD"), Money(50_00, "USD")]
    assert needs_approval(two, Decimal("110")) is True  # 110.00 reaches 110
    assert needs_approval(two, Decimal("110.01")) is False
    assert needs_approval([Money(1, "USD")], Decimal(0)) is True
    assert needs_approval(two, None) is False
    assert needs_approval([], Decimal(0)) is False  # nothing to pay, nothing to approve
    assert needs_approval([Money(100, "JPY")], Decimal("100")) is True


def test_a_key_stands_for_its_operation_and_input() -> None:
    one = fingerprint("retryPayout", {"payout_id": 1})
    assert one == fingerprint("retryPayout", {"payout_id": 1})
    assert one != fingerprint("retryPayout", {"payout_id": 2})
    assert one != fingerprint("retryPayouts", {"payout_id": 1})
