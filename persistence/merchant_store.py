"""Merchant payouts: create (idempotent, never overdrawing) and cancel, each one transaction.

The key row, the payout and its ledger hold commit together. A request racing one
with the same key waits on the key's unique index (PostgreSQL) or the write lock
(SQLite, BEGIN IMMEDIATE), then finds the committed key and replays its answer, so
two requests can never make two payouts. A refused request writes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger
from domain.eligibility import PayeeProfile
from domain.errors import ErrorCode, Problem
from domain.lifecycle import Path, PayoutStatus, Trigger, can_move
from domain.merchant_payouts import PayoutRequest, PlannedPayout, plan_payout
from persistence import idempotency_keys, ledger_store, lifecycle
from persistence.run_store import account_from_row, request_to_json, routed_note
from persistence.sql import rowcount
from persistence.tables import BankAccount, IdempotencyKey, Payee

OPERATION = "createPayout"


@dataclass(frozen=True, slots=True)
class Outcome:
    payout_id: int
    replayed: bool


class SqlMerchantPayouts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self, scope: str, request: PayoutRequest, now: datetime
    ) -> Outcome | list[Problem]:
        """A refused request rolls back, key claim included: it leaves no trace."""
        async with self._sessions() as session, session.begin() as transaction:
            done = await _claim_key(session, scope, request, now)
            if done is None:
                done = await _create_payout(session, scope, request, now)
            if isinstance(done, list):
                await transaction.rollback()
            elif not done.replayed:
                await session.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.scope == scope, IdempotencyKey.key == request.idempotency_key
                    )
                    .values(payout_id=done.payout_id, response={"payout_id": done.payout_id})
                )
            return done

    async def cancel(
        self, scope: str, payout_id: int, owner: int | None, now: datetime
    ) -> list[Problem]:
        """Cancel a pending payout (``owner``: only that payee's) and release its hold."""
        async with self._sessions.begin() as session:
            return await _cancel(session, scope, payout_id, owner, now)

    async def purge_expired(self, now: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
            )
            return rowcount(result)


async def _claim_key(
    session: AsyncSession, scope: str, request: PayoutRequest, now: datetime
) -> Outcome | list[Problem] | None:
    """Take the key for this request, or find the answer it already has: one INSERT
    for a new key; a key in use is read, and an expired one taken over."""
    held = await idempotency_keys.take(
        session, scope, request.idempotency_key, OPERATION, request.fingerprint(), now
    )
    if held is None:
        return None  # ours
    if held.request_hash != request.fingerprint():
        return [
            Problem(
                "idempotency_key",
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "this idempotencyKey was used for a different request",
            )
        ]
    if held.payout_id is not None:
        return Outcome(held.payout_id, replayed=True)
    raise AssertionError("a committed key always names its payout")


async def _create_payout(
    session: AsyncSession, scope: str, request: PayoutRequest, now: datetime
) -> Outcome | list[Problem]:
    found = (
        await session.execute(
            select(Payee, BankAccount)
            .outerjoin(
                BankAccount,
                (BankAccount.payee_id == Payee.id)
                & (BankAccount.id == request.bank_account_id)
                & BankAccount.retired_at.is_(None),  # a retired account is paid no more
            )
            .where(Payee.id == request.payee_id)
        )
    ).first()
    if found is None:
        return [Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {request.payee_id}")]
    payee, account_row = found
    profile = PayeeProfile(country=payee.country, payment_method=payee.payment_method)
    payable = ledger.payable(payee.id, request.amount.currency)
    # Locked now, until commit: two requests against one balance take turns from here.
    balances = await ledger_store.lock_balances(session, [payable])
    account = account_from_row(account_row) if account_row is not None else None
    plan = plan_payout(request, profile, account, balances.get(payable.code), now)
    if isinstance(plan, list):
        return plan
    ids = await lifecycle.create(
        session,
        [_new_payout(payee, request, plan, now)],
        now,
        Trigger.PAYEE,
        actor=scope,
        balances=balances,
    )
    return Outcome(ids[plan.order.idempotency_key], replayed=False)


def _new_payout(
    payee: Payee, request: PayoutRequest, plan: PlannedPayout, now: datetime
) -> lifecycle.NewPayout:
    decision, order = plan.decision, plan.order
    values = {
        "event_id": None,
        "payee_id": payee.id,
        "bank_account_id": request.bank_account_id,
        "amount_minor": request.amount.minor,
        "currency": request.amount.currency,
        "country": payee.country,
        "rail": decision.rail.code,
        "provider": decision.rail.provider.value,
        "routing_rule": decision.rule.value,
        "target_currency": decision.currency,
        "expected_settlement_date": decision.expected_settlement_date,
        "idempotency_key": order.idempotency_key,
        "order_request": request_to_json(order),
        "created_at": now,
        "updated_at": now,
    }
    detail = {
        PayoutStatus.PENDING: {
            "amount": request.amount.to_decimal_string(),
            "currency": request.amount.currency,
            "idempotency_key": request.idempotency_key,
        }
    }
    notes = {PayoutStatus.PENDING: [routed_note(decision)]}
    return lifecycle.NewPayout(values, Path.of(None, PayoutStatus.PENDING), detail, notes)


async def _cancel(
    session: AsyncSession, scope: str, payout_id: int, owner: int | None, now: datetime
) -> list[Problem]:
    payout = (await lifecycle.lock(session, [payout_id])).get(payout_id)
    if payout is None or (owner is not None and payout.payee_id != owner):
        return [Problem("payout_id", ErrorCode.NOT_FOUND, f"no payout {payout_id}")]
    current = PayoutStatus(payout.status)
    if not can_move(current, PayoutStatus.CANCELLED):
        return [
            Problem(
                "payout_id",
                ErrorCode.ILLEGAL_TRANSITION,
                f"a {current.value} payout cannot be cancelled",
            )
        ]
    trigger = Trigger.PAYEE if owner is not None else Trigger.OPERATOR
    move = lifecycle.Move(payout.id, Path.of(current, PayoutStatus.CANCELLED))
    await lifecycle.advance(session, [move], now, trigger, actor=scope, locked={payout.id: payout})
    return []
