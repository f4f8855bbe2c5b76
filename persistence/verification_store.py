"""Verification of payee on bank accounts: claims for the asking, answers, clearances.

Asking a bank happens outside any transaction (``domain.verification``): ``claim``
marks accounts as asked now and commits, the caller asks, ``record`` stores the answer
in a second transaction. Claims take rows with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL and only rows whose last ask is older than ``retry_after`` (checked again
by the claiming update), so several workers split the due accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import ErrorCode, Problem
from domain.lifecycle import PayoutStatus
from domain.new_accounts import rail_for
from domain.ports import ProviderKind
from domain.run_workflow import ApprovalKind, Requester
from domain.verification import (
    UNSETTLED,
    VerificationAnswer,
    VerificationRequest,
    VerificationState,
    VerificationStatus,
    hold_reason,
    not_held,
)
from persistence import approvals, audit
from persistence.tables import BankAccount, Payee, Payout

_UNSETTLED = [status.value for status in UNSETTLED]


def state_of(row: BankAccount) -> VerificationState:
    return VerificationState(
        VerificationStatus(row.verification_status), row.replaces_paid, row.cleared_at
    )


def hold_of(row: BankAccount) -> str | None:
    """Why verification holds payouts to this account (``bank_account_unverified``)."""
    return hold_reason(state_of(row))


async def was_paid(session: AsyncSession, payee_id: int) -> bool:
    """Whether the payee has a completed payout: a new account then replaces a paid one."""
    paid = exists().where(
        Payout.payee_id == payee_id, Payout.status == PayoutStatus.COMPLETED.value
    )
    return bool(await session.scalar(select(paid)))


def _due(cutoff: datetime) -> ColumnElement[bool]:
    asked = BankAccount.verification_asked_at
    return or_(asked.is_(None), asked <= cutoff)


class SqlVerifications:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(
        self,
        now: datetime,
        *,
        account_ids: Sequence[int] | None,
        retry_after: timedelta,
        limit: int,
    ) -> list[tuple[ProviderKind, VerificationRequest]]:
        unsettled = BankAccount.verification_status.in_(_UNSETTLED)
        due = _due(now - retry_after)
        query = (
            select(BankAccount, Payee)
            .join(Payee, Payee.id == BankAccount.payee_id)
            .where(unsettled, due, BankAccount.retired_at.is_(None))
            .order_by(BankAccount.id)
            .limit(limit)
            .with_for_update(of=BankAccount, skip_locked=True)
        )
        if account_ids is not None:
            query = query.where(BankAccount.id.in_(account_ids))
        async with self._sessions.begin() as session:
            rows = (await session.execute(query)).all()
            if not rows:
                return []
            claimed = set(
                await session.scalars(
                    update(BankAccount)
                    .where(BankAccount.id.in_([a.id for a, _ in rows]), unsettled, due)
                    .values(verification_asked_at=now)
                    .returning(BankAccount.id)
                )
            )
            return [
                asked
                for account, payee in rows
                if account.id in claimed and (asked := _request(account, payee, now))
            ]

    async def record(self, account_id: int, answer: VerificationAnswer, now: datetime) -> bool:
        async with self._sessions.begin() as session:
            payee_id = await session.scalar(
                update(BankAccount)
                .where(
                    BankAccount.id == account_id,
                    BankAccount.verification_status.in_(_UNSETTLED),
                )
                .values(
                    verification_status=answer.status.value,
                    bank_held_name=answer.bank_held_name,
                    verified_at=now,
                )
                .returning(BankAccount.payee_id)
            )
            if payee_id is None:
                return False
            row = audit.audit_row(
                "bank_account.verified",
                now,
                entity="bank_account",
                entity_id=account_id,
                payee_id=payee_id,
                status=answer.status.value,
                bank_held_name=answer.bank_held_name,
            )
            await audit.write(session, [row])
            return True

    async def request_clearance(
        self, account_id: int, note: str, requester: Requester, ttl: timedelta, now: datetime
    ) -> tuple[int, int | None, list[Problem]]:
        """Ask a second person to clear a held account: a pending BANK_ACCOUNT approval.
        The payee's id (0 if none), the approval's id, and any problem."""
        async with self._sessions.begin() as session:
            account, problems = await _held(session, account_id)
            if account is None or problems:
                return (account.payee_id if account else 0), None, problems
            state = state_of(account)
            approval = approvals.pending(
                ApprovalKind.BANK_ACCOUNT,
                account_id,
                requester,
                now,
                ttl,
                {
                    "bank_account_id": account_id,
                    "payee_id": account.payee_id,
                    "verification": state.status.value,
                    "replaces_paid": state.replaces_paid,
                    "request_note": note,
                },
            )
            try:
                async with session.begin_nested():
                    session.add(approval)
                    await session.flush()
            except IntegrityError:  # one pending approval per account (a partial index)
                message = f"bank account {account_id} already waits for an approval"
                return account.payee_id, None, [Problem("id", ErrorCode.CONFLICT, message)]
            row = audit.audit_row(
                "approval.requested",
                now,
                entity="bank_account",
                entity_id=account_id,
                actor=requester.owner[:64],
                approval_id=approval.id,
                kind=ApprovalKind.BANK_ACCOUNT.value,
                payee_id=account.payee_id,
                note=note,
            )
            await audit.write(session, [row])
            return account.payee_id, approval.id, []


async def _held(session: AsyncSession, account_id: int) -> tuple[BankAccount | None, list[Problem]]:
    """The account, locked, if verification holds it; otherwise why it cannot be cleared."""
    account = await session.scalar(
        select(BankAccount).where(BankAccount.id == account_id).with_for_update()
    )
    if account is None:
        return None, [Problem("id", ErrorCode.NOT_FOUND, f"no bank account {account_id}")]
    if account.retired_at is not None:
        message = f"bank account {account_id} is retired; it is paid no more"
        return account, [Problem("id", ErrorCode.CONFLICT, message)]
    state = state_of(account)
    if hold_reason(state) is None:
        return account, [not_held(account_id, state.status)]
    return account, []


async def clear_approved(
    session: AsyncSession, account_id: int, note: str, now: datetime, actor: str
) -> list[dict[str, object]]:
    """An approved clearance, in the decision's transaction: runs pay the account again.
    Nothing happens to an account that is no longer held (retired since, say)."""
    account, problems = await _held(session, account_id)
    if account is None or problems:
        return []
    state = state_of(account)
    await session.execute(
        update(BankAccount)
        .where(BankAccount.id == account_id)
        .values(cleared_at=now, cleared_by=actor, clear_note=note)
    )
    return [
        audit.audit_row(
            "bank_account.cleared",
            now,
            entity="bank_account",
            entity_id=account_id,
            actor=actor[:64],
            payee_id=account.payee_id,
            status=state.status.value,
            replaces_paid=state.replaces_paid,
            note=note,
        )
    ]


def _request(
    account: BankAccount, payee: Payee, now: datetime
) -> tuple[ProviderKind, VerificationRequest] | None:
    """The bank to ask about the account: the provider of the rail that would pay it."""
    has_us_routing = bool(account.details.get("aba_routing"))
    rail = rail_for(payee.country, payee.payment_method, has_us_routing, now)
    if isinstance(rail, Problem):
        return None
    request = VerificationRequest(
        account.id, rail.code, account.holder_name, account.country, dict(account.details)
    )
    return rail.provider, request
