"""The ledger's invariants, checked with set-based queries; findings come back as values.

* every transfer balances per currency;
* every account's cached totals equal a recomputation from its entries (pending
  entries count only while no post or void has resolved their transfer);
* no payee payable has a negative available balance;
* a payout holds funds exactly while it is pending, submitting or submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain import lifecycle
from domain.ledger import AccountType, Balance, Kind
from persistence.tables import LedgerAccount, LedgerEntry, LedgerTransfer, Payout

HOLDING = tuple(sorted(s.value for s in lifecycle.HOLDING))


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # unbalanced_transfer | cached_balance | negative_available | payout_hold
    subject: str
    detail: str


def _signed() -> ColumnElement[int]:
    return case(
        (LedgerEntry.side == "debit", LedgerEntry.amount_minor), else_=-LedgerEntry.amount_minor
    )


async def unbalanced_transfers(session: AsyncSession) -> list[Finding]:
    rows = await session.execute(
        select(LedgerEntry.transfer_id, LedgerEntry.currency, func.sum(_signed()))
        .group_by(LedgerEntry.transfer_id, LedgerEntry.currency)
        .having(func.sum(_signed()) != 0)
    )
    return [
        Finding("unbalanced_transfer", f"transfer {tid}", f"{cur} off by {off}")
        for tid, cur, off in rows.all()
    ]


async def cached_balances(session: AsyncSession) -> list[Finding]:
    resolver = aliased(LedgerTransfer)
    open_pending = and_(
        LedgerEntry.phase == "pending",
        ~exists().where(resolver.resolves_id == LedgerEntry.transfer_id),
    )

    def total(side: str, condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(
                case((and_(LedgerEntry.side == side, condition), LedgerEntry.amount_minor), else_=0)
            ),
            0,
        )

    recomputed = (
        select(
            LedgerEntry.account_id.label("account_id"),
            total("debit", open_pending).label("pd"),
            total("credit", open_pending).label("pc"),
            total("debit", LedgerEntry.phase == "posted").label("xd"),
            total("credit", LedgerEntry.phase == "posted").label("xc"),
        )
        .group_by(LedgerEntry.account_id)
        .subquery()
    )
    a = LedgerAccount
    fresh = [
        func.coalesce(c, 0)
        for c in (recomputed.c.pd, recomputed.c.pc, recomputed.c.xd, recomputed.c.xc)
    ]
    cached = [a.pending_debits, a.pending_credits, a.posted_debits, a.posted_credits]
    rows = await session.execute(
        select(a.code, *cached, *fresh)
        .outerjoin(recomputed, recomputed.c.account_id == a.id)
        .where(or_(*(c != f for c, f in zip(cached, fresh, strict=True))))
    )
    # Only the accounts that disagree leave the database (a million agree, nightly).
    return [
        Finding(
            "cached_balance",
            code,
            f"cached {tuple(values[:4])} != entries {tuple(int(v) for v in values[4:])}",
        )
        for code, *values in rows.all()
    ]


async def negative_available(session: AsyncSession) -> list[Finding]:
    a = LedgerAccount
    # The domain's available-balance rule, handed columns instead of numbers, so that
    # the database evaluates the very same formula.
    totals = (a.pending_debits, a.pending_credits, a.posted_debits, a.posted_credits)
    available: Any = Balance(*cast("tuple[int, int, int, int]", totals)).available(
        AccountType.LIABILITY
    )
    rows = await session.execute(
        select(a.code, available).where(
            a.owner_payee_id.isnot(None), a.type == "liability", available < 0
        )
    )
    return [Finding("negative_available", code, f"available {value}") for code, value in rows]


async def payout_holds(session: AsyncSession) -> list[Finding]:
    """Payouts whose open reservation disagrees with their status."""
    resolver = aliased(LedgerTransfer)
    open_holds = (
        select(LedgerTransfer.payout_id, func.count().label("n"))
        .where(
            LedgerTransfer.kind == Kind.RESERVE.value,
            ~exists().where(resolver.resolves_id == LedgerTransfer.id),
        )
        .group_by(LedgerTransfer.payout_id)
        .subquery()
    )
    held = func.coalesce(open_holds.c.n, 0)
    should_hold = case((Payout.status.in_(HOLDING), 1), else_=0)
    rows = await session.execute(
        select(Payout.id, Payout.status, held)
        .outerjoin(open_holds, open_holds.c.payout_id == Payout.id)
        .where(held != should_hold)
    )
    return [
        Finding("payout_hold", f"payout {pid}", f"{status} with {n} open hold(s)")
        for pid, status, n in rows.all()
    ]


async def verify(session: AsyncSession) -> list[Finding]:
    return [
        *await unbalanced_transfers(session),
        *await cached_balances(session),
        *await negative_available(session),
        *await payout_holds(session),
    ]
