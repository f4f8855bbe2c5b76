"""The four-eyes rule and the preview, as worked examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.auth import Caller, Role
from domain.errors import ErrorCode
from domain.money import Money
from domain.run_workflow import (
    ApprovalStatus,
    PendingApproval,
    PreviewItem,
    RunPreview,
    approval_required,
    build_preview,
    decision_problem,
    parse_threshold,
)

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def approver(owner: str, role: Role = Role.APPROVER) -> Caller:
    return Caller(key_id=9, role=role, name="k", owner=owner)


def pending(owner: str = "ann@example.com", status: ApprovalStatus = ApprovalStatus.PENDING):
    return PendingApproval(status, LATER, owner)


def code(problem: object) -> ErrorCode | None:
    return getattr(problem, "code", None)


def test_another_persons_approver_key_may_decide() -> None:
    assert decision_problem(pending(), approver("bob@example.com"), NOW) is None


@pytest.mark.parametrize("owner", ["ann@example.com", "ANN@example.com", " ann@example.com "])
def test_nobody_decides_their_own_request_however_the_owner_is_written(owner: str) -> None:
    assert code(decision_problem(pending(), approver(owner), NOW)) is ErrorCode.SELF_APPROVAL


def test_only_an_approver_key_decides() -> None:
    problem = decision_problem(pending(), approver("bob@example.com", Role.OPS), NOW)
    assert code(problem) is ErrorCode.FORBIDDEN


@pytest.mark.parametrize(
    "status", [ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.CANCELLED]
)
def test_a_decided_request_is_not_decided_again(status: ApprovalStatus) -> None:
    problem = decision_problem(pending(status=status), approver("bob@example.com"), NOW)
    assert code(problem) is ErrorCode.APPROVAL_NOT_PENDING


def test_a_request_past_its_time_cannot_be_decided() -> None:
    problem = decision_problem(pending(), approver("bob@example.com"), LATER)
    assert code(problem) is ErrorCode.APPROVAL_EXPIRED


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


ITEMS = [
    PreviewItem(usd("100.00"), "ACH", "ach", None),
    PreviewItem(usd("250.50"), "SEPA", "cross_border", None),
    PreviewItem(usd("49.50"), "SEPA", "cross_border", None),
    PreviewItem(usd("10.00"), None, None, "invalid_bank_account"),
    PreviewItem(usd("20.00"), None, None, "invalid_bank_account"),
    PreviewItem(usd("5.00"), None, None, "missing_country"),
]


def test_the_preview_sums_per_rail_provider_and_currency_and_counts_skips() -> None:
    preview = build_preview(ITEMS)
    assert preview.payouts == 3
    rails = {(line.key, line.count, line.total) for line in preview.by_rail}
    assert rails == {("ACH", 1, usd("100.00")), ("SEPA", 2, usd("300.00"))}
    cash = {(line.key, line.total) for line in preview.by_provider}
    assert cash == {("ach", usd("100.00")), ("cross_border", usd("300.00"))}
    assert preview.totals() == [usd("400.00")]  # skipped allocations cost nothing
    assert preview.skips == (("invalid_bank_account", 2), ("missing_country", 1))
    assert preview.evaluated == 6
    assert RunPreview.from_json(preview.to_json()) == preview


@pytest.mark.parametrize(
    ("setting", "required"),
    [("0", True), ("400.00", True), ("400.01", False), ("1000000", False), ("off", False)],
)
def test_approval_is_required_from_the_threshold_on(setting: str, required: bool) -> None:
    assert approval_required(build_preview(ITEMS), parse_threshold(setting)) is required


def test_every_run_needs_approval_at_zero_even_one_that_pays_nobody() -> None:
    assert approval_required(build_preview([]), Decimal(0))


@pytest.mark.parametrize("setting", ["-1", "abc", "NaN"])
def test_a_bad_threshold_is_refused(setting: str) -> None:
    with pytest.raises(ValueError):
        parse_threshold(setting)
