"""Merchant payouts: create (idempotent, never overdrawing) and cancel, each one transaction.

The key row, the payout and its ledger hold commit together. A request racing one
with the same key waits on the key's unique index (PostgreSQL) or the write lock
(SQLite, BEGIN IMMEDIATE), then finds the committed key and replays its answer, so
two requests can never make two payouts. A refused request writes nothing at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.eligibility import (
    Finding,
    MissingFxRate,
    PayeeProfile,
    SkipReason,
    check_eligibility,
)
from domain.errors import InsufficientFunds
from domain.events import Problem
from domain.merchant_payouts import KEY_LIFETIME, PayoutRequest
from domain.payouts import PayoutStatus, can_transition
from domain.ports import PaymentOrderRequest
from domain.routing import RailDecision
from persistence import audit, ledger_store, transitions
from persistence.run_store import account_from_row, request_to_json
from persistence.sql import insert_new
from persistence.tables import BankAccount, IdempotencyKey, Payee, Payout

OPERATION = "createPayout"


@dataclass(frozen=True, slots=True)
class Outcome:
    payout_id: int
    replayed: bool


class _Refused(Exception):
    """Rolls the transaction back: a refused request leaves no trace."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems)
        self.problems = list(problems)


class SqlMerchantPayouts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, scope: str, request: PayoutRequest, now: datetime
    ) -> Outcome | list[Problem]:
        try:
            async with self._sessions.begin() as session:
                replay = await _claim_key(session, scope, request, now)
                if replay is not None:
                    return replay
                payout_id = await _create_payout(session, scope, request, now)
                await session.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.scope == scope, IdempotencyKey.key == request.idempotency_key
                    )
                    .values(payout_id=payout_id, response={"payout_id": payout_id})
                )
                return Outcome(payout_id, replayed=False)
        except _Refused as refused:
            return refused.problems

    async def cancel(
        self, scope: str, payout_id: int, owner: int | None, now: datetime
    ) -> list[Problem]:
        """Cancel a pending payout (``owner``: only that payee's) and release its hold."""
        try:
            async with self._sessions.begin() as session:
                await _cancel(session, scope, payout_id, owner, now)
                return []
        except _Refused as refused:
            return refused.problems

    async def purge_expired(self, now: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
            )
            return result.rowcount or 0


async def _claim_key(
    session: AsyncSession, scope: str, request: PayoutRequest, now: datetime
) -> Outcome | None:
    """Take the key for this request, or find the answer it already has: one INSERT
    for a new key; a key in use is read, and an expired one taken over."""
    key = request.idempotency_key
    row = {
        "scope": scope,
        "key": key,
        "operation": OPERATION,
        "request_hash": request.fingerprint(),
        "payout_id": None,
        "response": {},
        "created_at": now,
        "expires_at": now + KEY_LIFETIME,
    }
    table, unique = IdempotencyKey.__table__, ["scope", "key"]
    if await insert_new(session, table, row, unique):
        return None  # ours
    expired = await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.scope == scope,
            IdempotencyKey.key == key,
            IdempotencyKey.expires_at <= now,
        )
    )
    if expired.rowcount and await insert_new(session, table, row, unique):
        return None  # ours now
    held = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )
    assert held is not None
    if held.request_hash != request.fingerprint():
        raise _Refused(
            Problem(
                "idempotency_key",
                "IDEMPOTENCY_KEY_REUSED",
                "this idempotencyKey was used for a different request",
            )
        )
    if held.payout_id is not None:
        return Outcome(held.payout_id, replayed=True)
    raise AssertionError("a committed key always names its payout")


async def _create_payout(
    session: AsyncSession, scope: str, request: PayoutRequest, now: datetime
) -> int:
    found = (
        await session.execute(
            select(Payee, BankAccount)
            .outerjoin(
                BankAccount,
                (BankAccount.payee_id == Payee.id) & (BankAccount.id == request.bank_account_id),
            )
            .where(Payee.id == request.payee_id)
        )
    ).first()
    if found is None:
        raise _Refused(Problem("payee_id", "NOT_FOUND", f"no payee {request.payee_id}"))
    payee, account_row = found
    payable = ledger.payable(payee.id, request.amount.currency)
    # Locked now, until commit: two requests against one balance take turns from here.
    balances = await ledger_store.lock_balances(session, [payable])
    if payable.code not in balances:
        raise _Refused(
            Problem(
                "currency",
                "CURRENCY_MISMATCH",
                f"payee {payee.id} has no {request.amount.currency} balance",
            )
        )
    if account_row is None:
        raise _Refused(
            Problem(
                "bank_account_id",
                "NOT_FOUND",
                f"payee {payee.id} has no bank account {request.bank_account_id}",
            )
        )
    decision = _route(payee, account_row, request, now)
    hold = ledger.reserve(payee.id, request.amount, decision.rail.provider.value)
    try:
        ledger_store.require_available(balances, payable, request.amount)
    except InsufficientFunds as exc:
        raise _Refused(Problem("amount", exc.code, exc.message)) from None
    payout_id = await _insert_payout(session, payee, account_row, request, decision, now)
    await ledger_store.write(session, [ledger_store.Posting(hold, payout_id=payout_id)], now)
    await audit.write(
        session,
        [
            audit.audit_row(
                "payout.status_changed",
                now,
                payout_id=payout_id,
                actor=scope,
                **{"from": None, "to": PayoutStatus.PENDING.value},
                amount=request.amount.to_decimal_string(),
                currency=request.amount.currency,
                idempotency_key=request.idempotency_key,
            ),
            audit.audit_row(
                "payout.routed",
                now,
                payout_id=payout_id,
                actor=scope,
                rail=decision.rail.code,
                rule=decision.rule.value,
                currency=decision.currency,
                explanation=decision.explanation,
                expected_settlement_date=decision.expected_settlement_date.isoformat(),
            ),
        ],
    )
    return payout_id


def _route(
    payee: Payee, account_row: BankAccount, request: PayoutRequest, now: datetime
) -> RailDecision:
    try:
        eligibility = check_eligibility(
            amount=request.amount,
            payee=PayeeProfile(country=payee.country, payment_method=payee.payment_method),
            account=account_from_row(account_row),
            now=now,
            fx_rates={},
        )
    except MissingFxRate:
        raise _Refused(
            Problem(
                "currency",
                "UNSUPPORTED_CURRENCY",
                "paying this balance to that account's rail needs FX, "
                "which merchant payouts do not do yet",
            )
        ) from None
    if not eligibility.eligible or eligibility.decision is None:
        _refuse_ineligible(eligibility.findings)
    if eligibility.decision.currency != request.amount.currency:
        raise _Refused(
            Problem(
                "currency",
                "UNSUPPORTED_CURRENCY",
                f"the account is paid in {eligibility.decision.currency}, "
                f"not {request.amount.currency}",
            )
        )
    return eligibility.decision


def _refuse_ineligible(findings: tuple[Finding, ...]) -> NoReturn:
    codes = {
        SkipReason.INVALID_BANK_ACCOUNT: ("bank_account_id", "INVALID_BANK_ACCOUNT"),
        SkipReason.INVALID_AMOUNT: ("amount", "INVALID_AMOUNT"),
        SkipReason.AMOUNT_ABOVE_RAIL_LIMIT: ("amount", "AMOUNT_ABOVE_RAIL_LIMIT"),
    }
    raise _Refused(
        *[Problem(*codes.get(f.reason, ("payee_id", "INELIGIBLE")), f.detail) for f in findings]
    )


async def _insert_payout(
    session: AsyncSession,
    payee: Payee,
    account_row: BankAccount,
    request: PayoutRequest,
    decision: RailDecision,
    now: datetime,
) -> int:
    provider_key = f"po-{uuid.uuid4().hex}"
    order = PaymentOrderRequest(
        idempotency_key=provider_key,
        amount=request.amount,
        target_currency=decision.currency,
        rail=decision.rail.code,
        beneficiary_name=account_row.holder_name,
        beneficiary_country=payee.country,
        account=dict(account_row.details),
        reference=f"payout {provider_key}",
    )
    payout_id = await session.scalar(
        insert(Payout.__table__)
        .values(
            event_id=None,
            payee_id=payee.id,
            bank_account_id=account_row.id,
            status=PayoutStatus.PENDING.value,
            amount_minor=request.amount.minor,
            currency=request.amount.currency,
            country=payee.country,
            rail=decision.rail.code,
            provider=decision.rail.provider.value,
            routing_rule=decision.rule.value,
            target_currency=decision.currency,
            expected_settlement_date=decision.expected_settlement_date,
            idempotency_key=provider_key,
            order_request=request_to_json(order),
            created_at=now,
            updated_at=now,
            version=1,
        )
        .returning(Payout.__table__.c.id)
    )
    assert payout_id is not None
    return payout_id


async def _cancel(
    session: AsyncSession, scope: str, payout_id: int, owner: int | None, now: datetime
) -> None:
    payout = (await transitions.lock(session, [payout_id])).get(payout_id)
    if payout is None or (owner is not None and payout.payee_id != owner):
        raise _Refused(Problem("payout_id", "NOT_FOUND", f"no payout {payout_id}"))
    current = PayoutStatus(payout.status)
    if not can_transition(current, PayoutStatus.CANCELLED):
        raise _Refused(
            Problem(
                "payout_id", "ILLEGAL_TRANSITION", f"a {current.value} payout cannot be cancelled"
            )
        )
    step = (payout, current, (PayoutStatus.CANCELLED,))
    await ledger_store.write(session, await transitions.ledger_effects(session, [step]), now)
    await session.execute(
        transitions.MOVE, [transitions.move(payout.id, current, PayoutStatus.CANCELLED, now)]
    )
    await audit.write(
        session,
        [
            audit.audit_row(
                "payout.status_changed",
                now,
                payout_id=payout.id,
                actor=scope,
                **{"from": current.value, "to": PayoutStatus.CANCELLED.value},
                effect="void",
            )
        ],
    )
