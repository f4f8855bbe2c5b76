"""Onboarding: payees and their bank accounts, each change with its audit row.

The domain checks (``domain.payees``, ``domain.new_accounts``); this loads, locks and
writes. A payee's row is locked for every change to it or its accounts, so two
requests adding accounts to one payee take turns and it keeps one account in use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.bank_details import details_verdict
from domain.errors import ErrorCode, Problem
from domain.new_accounts import AccountInput, plan_account
from domain.payees import NewPayee, PayeeChanges
from persistence import audit
from persistence.tables import BankAccount, Payee
from persistence.verification_store import was_paid

_CHANGEABLE = ("name", "country", "email", "payment_method")


def _taken(external_id: str) -> Problem:
    message = f"a payee with external id {external_id!r} already exists"
    return Problem("external_id", ErrorCode.CONFLICT, message)


def _no_payee(payee_id: int) -> Problem:
    return Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {payee_id}")


async def _locked_payee(session: AsyncSession, payee_id: int) -> Payee | None:
    return await session.scalar(select(Payee).where(Payee.id == payee_id).with_for_update())


class SqlPayees:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, payee: NewPayee, now: datetime, actor: str) -> int | list[Problem]:
        async with self._sessions.begin() as session:
            taken = select(Payee.id).where(Payee.reference == payee.external_id)
            if await session.scalar(taken) is not None:
                return [_taken(payee.external_id)]
            try:
                async with session.begin_nested():
                    payee_id: int | None = await session.scalar(
                        insert(Payee)
                        .values(
                            reference=payee.external_id,
                            name=payee.name,
                            kind=payee.kind.value,
                            country=payee.country,
                            email=payee.email,
                            payment_method=payee.payment_method.value,
                            created_at=now,
                        )
                        .returning(Payee.id)
                    )
            except IntegrityError:  # another request took the id since the look-up
                return [_taken(payee.external_id)]
            assert payee_id is not None
            row = audit.audit_row(
                "payee.created",
                now,
                entity="payee",
                entity_id=payee_id,
                actor=actor,
                external_id=payee.external_id,
                country=payee.country,
                kind=payee.kind.value,
            )
            await audit.write(session, [row])
            return payee_id

    async def update(
        self, payee_id: int, changes: PayeeChanges, now: datetime, actor: str
    ) -> list[Problem]:
        """Change the payee; the audit row holds each changed field before and after."""
        async with self._sessions.begin() as session:
            payee = await _locked_payee(session, payee_id)
            if payee is None:
                return [_no_payee(payee_id)]
            before = {name: getattr(payee, name) for name in _CHANGEABLE}
            after = changes.applied_to(before)
            if not after:
                return []
            await session.execute(update(Payee).where(Payee.id == payee_id).values(**after))
            row = audit.audit_row(
                "payee.updated",
                now,
                entity="payee",
                entity_id=payee_id,
                actor=actor,
                before={name: before[name] for name in after},
                after=after,
            )
            await audit.write(session, [row])
            return []

    async def add_account(
        self, payee_id: int, account: AccountInput, now: datetime, actor: str
    ) -> int | list[Problem]:
        """Store the account as the one in use, retiring the one it replaces."""
        async with self._sessions.begin() as session:
            payee = await _locked_payee(session, payee_id)
            if payee is None:
                return [_no_payee(payee_id)]
            plan = plan_account(payee.country, payee.payment_method, account, now)
            if isinstance(plan, list):
                return plan
            retired = await _retire(session, BankAccount.payee_id == payee_id, now)
            replaces_paid = await was_paid(session, payee_id)
            account_id: int | None = await session.scalar(
                insert(BankAccount)
                .values(
                    payee_id=payee_id,
                    holder_name=plan.holder_name,
                    country=plan.country,
                    currency=plan.currency,
                    details=plan.details,
                    details_verdict=details_verdict(
                        plan.holder_name, plan.country, plan.currency, plan.details
                    ),
                    is_default=True,
                    created_at=now,
                    replaces_paid=replaces_paid,
                )
                .returning(BankAccount.id)
            )
            assert account_id is not None
            rows = [_retired_row(i, payee_id, now, actor, replaced_by=account_id) for i in retired]
            rows.append(
                audit.audit_row(
                    "bank_account.added",
                    now,
                    entity="bank_account",
                    entity_id=account_id,
                    actor=actor,
                    payee_id=payee_id,
                    rail=plan.rail.code,
                    currency=plan.currency,
                    replaces=retired,
                    replaces_paid=replaces_paid,
                )
            )
            await audit.write(session, rows)
            return account_id

    async def retire_account(
        self, account_id: int, now: datetime, actor: str
    ) -> tuple[int, list[Problem]]:
        """Retire one account; its payee's id (0 when there is none) and any problem."""
        async with self._sessions.begin() as session:
            payee_id = await session.scalar(
                select(BankAccount.payee_id).where(BankAccount.id == account_id)
            )
            if payee_id is None:
                return 0, [Problem("id", ErrorCode.NOT_FOUND, f"no bank account {account_id}")]
            await _locked_payee(session, payee_id)
            if not await _retire(session, BankAccount.id == account_id, now):
                message = f"bank account {account_id} is already retired"
                return payee_id, [Problem("id", ErrorCode.CONFLICT, message)]
            await audit.write(session, [_retired_row(account_id, payee_id, now, actor)])
            return payee_id, []


async def _retire(session: AsyncSession, which: ColumnElement[bool], now: datetime) -> list[int]:
    """Retire the accounts ``which`` selects that are not retired yet; their ids. Adding
    an account retires every live one of the payee (older data may hold a live account
    that is not in use: it is retired too)."""
    found = await session.scalars(
        update(BankAccount)
        .where(which, BankAccount.retired_at.is_(None))
        .values(is_default=False, retired_at=now)
        .returning(BankAccount.id)
    )
    return sorted(found.all())


def _retired_row(
    account_id: int, payee_id: int, now: datetime, actor: str, replaced_by: int | None = None
) -> dict[str, Any]:
    return audit.audit_row(
        "bank_account.retired",
        now,
        entity="bank_account",
        entity_id=account_id,
        actor=actor,
        payee_id=payee_id,
        replaced_by=replaced_by,
    )
