"""A four-eyes request row: one shape for every kind (a run, a bank account, a retry)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.run_workflow import ApprovalKind, ApprovalStatus, Requester
from persistence.tables import Approval


def pending(
    kind: ApprovalKind,
    subject_id: int,
    requester: Requester,
    now: datetime,
    ttl: timedelta,
    summary: dict[str, Any],
) -> Approval:
    """A PENDING request by ``requester`` that expires ``ttl`` from ``now``."""
    return Approval(
        kind=kind.value,
        subject_id=subject_id,
        status=ApprovalStatus.PENDING.value,
        requested_by_key_id=requester.key_id,
        requested_by_owner=requester.owner,
        requested_at=now,
        expires_at=now + ttl,
        summary=summary,
    )
