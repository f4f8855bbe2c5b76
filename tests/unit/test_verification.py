"""Which verification states hold payouts, stated as the issue states them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import ErrorCode
from domain.verification import (
    MAX_NOTE,
    VerificationState,
    VerificationStatus,
    check_note,
    hold_reason,
)

S = VerificationStatus
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def held(status: VerificationStatus, *, replaces_paid: bool = False, cleared: bool = False) -> bool:
    state = VerificationState(status, replaces_paid, NOW if cleared else None)
    return hold_reason(state) is not None


def test_only_a_no_match_holds_an_account_that_replaced_nothing_paid() -> None:
    assert {status for status in S if held(status)} == {S.NO_MATCH}


@pytest.mark.parametrize("status", list(S))
def test_an_account_replacing_a_paid_one_is_held_whatever_the_bank_says(
    status: VerificationStatus,
) -> None:
    assert held(status, replaces_paid=True)


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("replaces_paid", [False, True])
def test_an_operator_clearance_releases_every_hold(
    status: VerificationStatus, replaces_paid: bool
) -> None:
    assert not held(status, replaces_paid=replaces_paid, cleared=True)


def test_a_note_is_trimmed_and_must_be_one_to_the_limit_of_characters() -> None:
    assert check_note("  ok  ") == ("ok", [])
    assert check_note("x" * MAX_NOTE)[1] == []
    for bad in ("", "   ", "x" * (MAX_NOTE + 1), "a\x1bb"):
        problems = check_note(bad)[1]
        assert [(p.field, p.code) for p in problems] == [("note", ErrorCode.INVALID_INPUT)]
