"""How a payout moves after it exists: locked, guarded by the status it was in, and
with the ledger effect of every step written in the same transaction.

Provider answers (run store), status reports (settlement store) and cancels (merchant
store) all move payouts through these few functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain import ledger
from domain.money import Money
from domain.payouts import PayoutStatus
from persistence import ledger_store
from persistence.tables import Payout

_PAYOUTS = Payout.__table__


class LedgerInconsistent(RuntimeError):
    """The books disagree with a payout's state: never guessed around, always loud."""


# executemany rows: pid, was, status, failure_code, failure_reason, updated_at
MOVE = (
    update(_PAYOUTS)
    .where(_PAYOUTS.c.id == bindparam("pid"), _PAYOUTS.c.status == bindparam("was"))
    .values(
        status=bindparam("status"),
        failure_code=bindparam("failure_code"),
        failure_reason=bindparam("failure_reason"),
        updated_at=bindparam("updated_at"),
        version=_PAYOUTS.c.version + 1,
    )
)


def move(
    pid: int,
    was: PayoutStatus,
    to: PayoutStatus,
    now: Any,
    *,
    failure_code: str | None = None,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    """One row for ``MOVE``."""
    return {
        "pid": pid,
        "was": was.value,
        "status": to.value,
        "failure_code": failure_code,
        "failure_reason": failure_reason,
        "updated_at": now,
    }


async def lock(session: AsyncSession, ids: Iterable[int]) -> dict[int, Payout]:
    """The payouts, locked for this transaction (SQLite already holds the write lock)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Payout).where(Payout.id.in_(wanted)).with_for_update())
    return {row.id: row for row in rows.all()}


def still_in(rows: dict[int, Payout], expected: dict[int, PayoutStatus]) -> set[int]:
    """The ids whose payout is still in the status the caller expected."""
    return {pid for pid, row in rows.items() if row.status == expected[pid].value}


def hold_of(row: Payout) -> ledger.Transfer:
    """The pending transfer that reserved this payout's amount."""
    if row.provider is None:
        raise LedgerInconsistent(f"payout {row.id} has no provider, so it holds nothing")
    return ledger.reserve(row.payee_id, Money(row.amount_minor, row.currency), row.provider)


async def ledger_effects(
    session: AsyncSession,
    moves: Sequence[tuple[Payout, PayoutStatus, Sequence[PayoutStatus]]],
) -> list[ledger_store.Posting]:
    """The postings of each payout's steps: post or void its open hold, or reverse it.

    One query finds every open hold; a post or void without one raises.
    """
    holds = await ledger_store.open_reservations(session, [row.id for row, _, _ in moves])
    postings = []
    for row, current, steps in moves:
        previous = current
        for step in steps:
            effect = ledger.effect_of(previous, step)
            if effect in (ledger.LedgerEffect.POST, ledger.LedgerEffect.VOID):
                if row.id not in holds:
                    raise LedgerInconsistent(f"payout {row.id} has no open hold to {effect}")
                resolve = ledger.post if effect is ledger.LedgerEffect.POST else ledger.void
                postings.append(
                    ledger_store.Posting(
                        resolve(hold_of(row)), payout_id=row.id, resolves_id=holds[row.id]
                    )
                )
            elif effect is ledger.LedgerEffect.REVERSE:
                returned = ledger.reverse(ledger.post(hold_of(row)), kind=ledger.Kind.RETURN)
                postings.append(ledger_store.Posting(returned, payout_id=row.id))
            previous = step
    return postings
