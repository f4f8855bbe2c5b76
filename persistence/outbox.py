"""The webhook outbox: events written in the same transaction as the change they describe.

One INSERT per batch (executemany), nothing else: which endpoints get an event is decided
later by the delivery job, so a run writing thousands of payouts pays for one row each.
A payout moved along several steps in one transaction (pending, then submitting) gets
one event, for the status it committed at: nobody outside saw the steps between.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.money import Money
from persistence.sql import append_rows, chunked
from persistence.tables import PayoutRun, ReconciliationBreak, WebhookEvent

_EVENTS = WebhookEvent.__table__
_RUNS = PayoutRun.__table__
_BREAKS = ReconciliationBreak.__table__


async def write(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await append_rows(session, _EVENTS, rows)


async def payouts_changed(
    session: AsyncSession, changed: Iterable[tuple[int, str, Mapping[str, Any]]], now: datetime
) -> None:
    """``changed``: (payout id, the status it is now in, its columns)."""
    await write(session, [payout_event(pid, status, p, now) for pid, status, p in changed])


def payout_event(pid: int, status: str, p: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    amount = Money(p["amount_minor"], p["currency"]).to_decimal_string()
    reason = p.get("skip_reason") or p.get("failure_code")
    data = {
        "id": str(pid),
        "runId": _str(p.get("run_id")),
        "payeeId": str(p["payee_id"]),
        "amount": amount,
        "currency": p["currency"],
        "status": status,
        "reason": reason,
        "failureReason": p.get("failure_reason"),
        "providerOrderId": p.get("provider_order_id"),
    }
    return _row(f"payout.{status}", f"payout:{pid}", p["payee_id"], data, now)


async def run_changed(session: AsyncSession, run_id: int, now: datetime) -> None:
    """A run's status changed (in this transaction): an event with its status and counts."""
    run = (await session.execute(select(_RUNS).where(_RUNS.c.id == run_id))).one()
    data = {
        "id": str(run.id),
        "liquidationEventId": str(run.event_id),
        "status": run.status,
        "total": run.total or 0,
        "created": run.created or 0,
        "skipped": run.skipped or 0,
        "failed": run.failed or 0,
        "inFlight": run.in_flight or 0,
    }
    await write(session, [_row(f"run.{run.status}", f"run:{run.id}", None, data, now)])


async def breaks_opened(
    session: AsyncSession, keys: Sequence[tuple[str, str]], now: datetime
) -> None:
    """Breaks just recorded, by (kind, fingerprint); one recorded already settled (an
    auto-resolved finding) is told as resolved."""
    for chunk in chunked(sorted(set(keys)), 500):
        wanted = set(chunk)
        rows = await _breaks(session, _BREAKS.c.fingerprint.in_([f for _, f in chunk]))
        found = [r for r in rows if (r["kind"], r["fingerprint"]) in wanted]
        await _breaks_changed(session, "opened", [r for r in found if r["status"] == "open"], now)
        await _breaks_changed(session, "resolved", [r for r in found if r["status"] != "open"], now)


async def breaks_resolved(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    for chunk in chunked(sorted(set(ids)), 500):
        await _breaks_changed(
            session, "resolved", await _breaks(session, _BREAKS.c.id.in_(chunk)), now
        )


async def _breaks(session: AsyncSession, where: Any) -> list[Mapping[str, Any]]:
    columns = [
        _BREAKS.c[name] for name in ("id", "kind", "fingerprint", "status", "payout_id", "detail")
    ]
    rows = (await session.execute(select(*columns).where(where))).mappings().all()
    return [dict(row) for row in rows]


async def _breaks_changed(
    session: AsyncSession, change: str, breaks: Iterable[Mapping[str, Any]], now: datetime
) -> None:
    rows = [
        _row(
            f"reconciliation_break.{change}",
            f"reconciliation_break:{b['id']}",
            None,
            {
                "id": str(b["id"]),
                "kind": b["kind"],
                "status": b["status"],
                "payoutId": _str(b.get("payout_id")),
                "detail": b.get("detail"),
            },
            now,
        )
        for b in breaks
    ]
    await write(session, rows)


def _row(
    kind: str, subject: str, payee_id: int | None, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "type": kind,
        "subject": subject,
        "payee_id": payee_id,
        "data": data,
        "created_at": now,
        "fanned_out": False,
    }


def _str(value: object) -> str | None:
    return None if value is None else str(value)
