"""A run's way from ``startRun`` to its end, and the four-eyes rule that guards it.

``startRun`` records the run with a preview of what it would pay (computed from the
event as it stands, nothing reserved) and either waits for an approval
(``awaiting_approval``) or is ``queued``. A job runner in ``serve`` or any ``worker``
claims a queued run under a lease, executes it (``running``) and ends it
(``completed``, or ``cancelled`` when asked to stop). A refused approval ends the run
``rejected``; one nobody decided in time ends it ``expired``.

An approval is decided by an ``approver`` key whose owner is not the requester's owner:
owners are compared, not keys, so one person cannot approve their own request with a
second key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from domain.auth import Caller, Role
from domain.errors import ErrorCode, Problem
from domain.money import Money

APPROVAL_TTL = timedelta(hours=72)


class RunStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# A run in one of these can still be stopped; the others have ended.
CANCELLABLE = frozenset({RunStatus.AWAITING_APPROVAL, RunStatus.QUEUED, RunStatus.RUNNING})


class ApprovalKind(StrEnum):
    RUN = "RUN"
    BANK_ACCOUNT = "BANK_ACCOUNT"  # reserved: an account held back as bank_account_unverified
    RETRY = "RETRY"  # paying failed or returned payouts again (domain.retries)


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"  # its subject went away first (a run cancelled while waiting)


class Decision(StrEnum):
    APPROVE = "APPROVE"
    REJECT = "REJECT"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked for something that needs an approval."""

    key_id: int | None
    owner: str


@dataclass(frozen=True, slots=True)
class PendingApproval:
    status: ApprovalStatus
    expires_at: datetime
    requested_by_owner: str


def decision_problem(approval: PendingApproval, caller: Caller, now: datetime) -> Problem | None:
    """Why ``caller`` may not decide ``approval`` now, or None."""
    if caller.role is not Role.APPROVER:
        return Problem("approval_id", ErrorCode.FORBIDDEN, "only an approver key decides")
    if approval.status is not ApprovalStatus.PENDING:
        message = f"the approval is already {approval.status.value}"
        return Problem("approval_id", ErrorCode.APPROVAL_NOT_PENDING, message)
    if approval.expires_at <= now:
        return Problem("approval_id", ErrorCode.APPROVAL_EXPIRED, "the approval has expired")
    if approval.requested_by_owner.strip().casefold() == caller.owner.strip().casefold():
        message = "an approval is decided by someone other than its requester"
        return Problem("approval_id", ErrorCode.SELF_APPROVAL, message)
    return None


def approval_outcome(decision: Decision) -> tuple[ApprovalStatus, RunStatus]:
    """The approval's status and its run's next status for a decision."""
    if decision is Decision.APPROVE:
        return ApprovalStatus.APPROVED, RunStatus.QUEUED
    return ApprovalStatus.REJECTED, RunStatus.REJECTED


def parse_threshold(setting: str) -> Decimal | None:
    """``RUN_APPROVAL_MIN_TOTAL``: a decimal amount, or ``off`` (no run needs approval)."""
    text = setting.strip().lower()
    if text in {"", "off", "none"}:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"RUN_APPROVAL_MIN_TOTAL is not an amount: {setting!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"RUN_APPROVAL_MIN_TOTAL must be 0 or more: {setting!r}")
    return value


def approval_required(preview: RunPreview, threshold: Decimal | None) -> bool:
    """Every run when the threshold is 0; otherwise a run whose total to pay in some
    currency reaches the threshold (in that currency's major units). ``off``: none."""
    if threshold is None:
        return False
    if threshold == 0:
        return True
    return any(Decimal(m.to_decimal_string()) >= threshold for m in preview.totals())


# --- the preview ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """Payouts of one kind: a rail (or a provider) and a currency."""

    key: str
    currency: str
    count: int
    total_minor: int

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)


@dataclass(frozen=True, slots=True)
class RunPreview:
    """What a run would do if it ran now: payouts per rail and currency, predicted skips
    by reason, and the cash each provider needs. Amounts are in the funding currency."""

    payouts: int
    by_rail: tuple[PreviewLine, ...]
    by_provider: tuple[PreviewLine, ...]
    skips: tuple[tuple[str, int], ...]

    def totals(self) -> list[Money]:
        sums: dict[str, int] = {}
        for line in self.by_rail:
            sums[line.currency] = sums.get(line.currency, 0) + line.total_minor
        return [Money(minor, currency) for currency, minor in sorted(sums.items())]

    @property
    def evaluated(self) -> int:
        return self.payouts + sum(count for _, count in self.skips)

    def to_json(self) -> dict[str, Any]:
        return {
            "payouts": self.payouts,
            "by_rail": [_line_json(line) for line in self.by_rail],
            "by_provider": [_line_json(line) for line in self.by_provider],
            "skips": [[reason, count] for reason, count in self.skips],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunPreview:
        return cls(
            payouts=int(data["payouts"]),
            by_rail=tuple(_line_of(d) for d in data["by_rail"]),
            by_provider=tuple(_line_of(d) for d in data["by_provider"]),
            skips=tuple((str(r), int(c)) for r, c in data["skips"]),
        )


def _line_json(line: PreviewLine) -> dict[str, Any]:
    return {
        "key": line.key,
        "currency": line.currency,
        "count": line.count,
        "total_minor": line.total_minor,
    }


def _line_of(data: Mapping[str, Any]) -> PreviewLine:
    return PreviewLine(
        str(data["key"]), str(data["currency"]), int(data["count"]), int(data["total_minor"])
    )


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """One allocation as a run would see it now: paid on a rail, or skipped for a reason."""

    amount: Money
    rail: str | None
    provider: str | None
    skip_reason: str | None


def build_preview(items: Iterable[PreviewItem]) -> RunPreview:
    rails: dict[tuple[str, str], list[int]] = {}
    providers: dict[tuple[str, str], list[int]] = {}
    skips: dict[str, int] = {}
    payouts = 0
    for item in items:
        if item.rail is None or item.provider is None:
            reason = item.skip_reason or "unknown"
            skips[reason] = skips.get(reason, 0) + 1
            continue
        payouts += 1
        for table, key in ((rails, item.rail), (providers, item.provider)):
            line = table.setdefault((key, item.amount.currency), [0, 0])
            line[0] += 1
            line[1] += item.amount.minor
    return RunPreview(
        payouts=payouts,
        by_rail=_lines(rails),
        by_provider=_lines(providers),
        skips=tuple(sorted(skips.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _lines(table: Mapping[tuple[str, str], list[int]]) -> tuple[PreviewLine, ...]:
    return tuple(
        PreviewLine(key, currency, count, total)
        for (key, currency), (count, total) in sorted(table.items())
    )
