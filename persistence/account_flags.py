"""Bank accounts flagged by a failure or return whose code says the account is unusable.

``persistence.lifecycle.advance`` calls ``flag`` in the transaction that moves payouts
to failed or returned, so a payout's failure and its account's flag commit together.
An account is flagged once, by the first such payout; a new account is never flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.lifecycle import PayoutStatus
from domain.reason_codes import explain
from persistence import audit
from persistence.tables import BankAccount

if TYPE_CHECKING:
    from persistence.lifecycle import Move, PayoutRow

_ACCOUNTS = BankAccount.__table__
_FAILING = frozenset({PayoutStatus.FAILED, PayoutStatus.RETURNED})
FLAGGED = "bank_account.flagged"


async def flag(
    session: AsyncSession, rows: Mapping[int, PayoutRow], moves: Sequence[Move], now: datetime
) -> None:
    """Flag the account of each move that failed or returned it with an account code.

    Set-based, as the rest of a batch's writes: the accounts still unflagged are locked
    in one statement, flagged in one, and told in one audit write, however many payouts
    the batch moves (the first payout of the batch to name an account flags it)."""
    wanted: dict[int, tuple[int, str]] = {}
    for m in moves:
        row = rows[m.payout_id]
        code = m.values.get("failure_code", row.failure_code)
        reason = explain(code)
        if m.path.target not in _FAILING or reason is None or not reason.flags_account:
            continue
        if row.bank_account_id is not None:
            wanted.setdefault(row.bank_account_id, (m.payout_id, reason.code))
    if not wanted:
        return
    unflagged = (
        await session.scalars(
            select(_ACCOUNTS.c.id)
            .where(_ACCOUNTS.c.id.in_(sorted(wanted)), _ACCOUNTS.c.flagged_at.is_(None))
            .order_by(_ACCOUNTS.c.id)
            .with_for_update()
        )
    ).all()
    if not unflagged:
        return
    params: list[dict[str, Any]] = [
        {"aid": aid, "at": now, "code": wanted[aid][1], "pid": wanted[aid][0]} for aid in unflagged
    ]
    await _write(session, params, now)


async def _write(session: AsyncSession, params: list[dict[str, Any]], now: datetime) -> None:
    """The flags and their audit rows (one statement each, for the whole batch)."""
    await session.execute(_FLAG, params)
    await audit.write(
        session,
        [
            audit.audit_row(
                FLAGGED,
                now,
                payout_id=p["pid"],
                entity="bank_account",
                entity_id=p["aid"],
                code=p["code"],
            )
            for p in params
        ],
    )


_FLAG = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("aid"), _ACCOUNTS.c.flagged_at.is_(None))
    .values(
        flagged_at=bindparam("at"),
        flag_code=bindparam("code"),
        flagged_by_payout_id=bindparam("pid"),
    )
)
