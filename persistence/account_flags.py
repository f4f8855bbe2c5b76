"""Bank accounts flagged by a failure or return whose code says the account is unusable.

``persistence.lifecycle.advance`` calls ``flag`` in the transaction that moves payouts
to failed or returned, so a payout's failure and its account's flag commit together.
An account is flagged once, by the first such payout; a new account is never flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.lifecycle import PayoutStatus
from domain.reason_codes import explain
from persistence import audit
from persistence.sql import rowcount
from persistence.tables import BankAccount, Payout

if TYPE_CHECKING:
    from persistence.lifecycle import Move

_ACCOUNTS = BankAccount.__table__
_FAILING = frozenset({PayoutStatus.FAILED, PayoutStatus.RETURNED})
FLAGGED = "bank_account.flagged"


async def flag(
    session: AsyncSession, rows: Mapping[int, Payout], moves: Sequence[Move], now: datetime
) -> None:
    """Flag the account of each move that failed or returned it with an account code."""
    for m in moves:
        row = rows[m.payout_id]
        code = m.values.get("failure_code", row.failure_code)
        reason = explain(code)
        if m.path.target not in _FAILING or reason is None or not reason.flags_account:
            continue
        if row.bank_account_id is not None:
            await _flag_one(session, row.bank_account_id, m.payout_id, reason.code, now)


async def _flag_one(
    session: AsyncSession, account_id: int, payout_id: int, code: str, now: datetime
) -> None:
    values: dict[str, Any] = {"aid": account_id, "at": now, "code": code, "pid": payout_id}
    result = await session.execute(_FLAG, values)
    if rowcount(result):
        row = audit.audit_row(
            FLAGGED,
            now,
            payout_id=payout_id,
            entity="bank_account",
            entity_id=account_id,
            code=code,
        )
        await audit.write(session, [row])


_FLAG = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("aid"), _ACCOUNTS.c.flagged_at.is_(None))
    .values(
        flagged_at=bindparam("at"),
        flag_code=bindparam("code"),
        flagged_by_payout_id=bindparam("pid"),
    )
)
