"""Merchant payouts: create (idempotent, never overdrawing) and cancel.

Requests for one payee that arrive together share one transaction (group commit,
``persistence.group_commit``): the payee's balance row is locked once for all of
them, and each is checked in order against what the ones before it left, so one
refusal changes nothing for the others. Each still gets its own key row, payout,
ledger hold and audit rows, and its own answer; if the transaction fails, all of
them get the error and none of it is kept. Across processes the balance row lock
(FOR UPDATE; SQLite: BEGIN IMMEDIATE) still takes the batches in turn.

The key rows, the payouts and their ledger holds commit together. A request racing
one with the same key waits on the key's unique index (PostgreSQL) or the write lock
(SQLite), then finds the committed key and replays its answer, so two requests can
never make two payouts. A refused request leaves no trace: its key row is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain import ledger, log_context
from domain.eligibility import PayeeProfile
from domain.errors import ErrorCode, Problem
from domain.lifecycle import Path, PayoutStatus, Trigger, can_move
from domain.merchant_payouts import (
    PayoutRequest,
    PlannedPayout,
    accounts_touched,
    plan_routed_payouts,
    route_payouts,
)
from persistence import idempotency_keys, ledger_store, lifecycle
from persistence.db import after_lock_conflicts
from persistence.group_commit import GroupCommit
from persistence.run_store import account_from_row, request_to_json, routed_note
from persistence.sql import rowcount, update_many
from persistence.tables import BankAccount, IdempotencyKey, Payee, Payout

OPERATION = "createPayout"
_KEYS = IdempotencyKey.__table__


@dataclass(frozen=True, slots=True)
class Outcome:
    payout_id: int
    replayed: bool
    # The payout as its batch committed it, for the answer (a replay reads it afresh).
    row: Payout | None = None


Answer = Outcome | list[Problem]


@dataclass(frozen=True, slots=True)
class _Ask:
    scope: str
    request: PayoutRequest
    now: datetime

    @property
    def key(self) -> tuple[str, str]:
        return self.scope, self.request.idempotency_key


class SqlMerchantPayouts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # A key twice in one batch: the second waits for the next batch and replays.
        self._batches: GroupCommit[int, _Ask, Answer] = GroupCommit(
            self._commit, distinct=lambda ask: ask.key
        )

    async def create(self, scope: str, request: PayoutRequest, now: datetime) -> Answer:
        """A refused request leaves nothing behind, key claim included."""
        answer = await self._batches.submit(request.payee_id, _Ask(scope, request, now))
        if isinstance(answer, Outcome):
            log_context.bind(payout_id=answer.payout_id)
        return answer

    async def _commit(self, payee_id: int, asks: Sequence[_Ask]) -> list[Answer]:
        """The batch in one transaction; again from the start when PostgreSQL broke a
        deadlock by rolling it back (a batch holds its payee's balance while it waits
        for a provider's cash account, which a dispatch or a poll may hold while it
        waits for that balance): nothing of it was kept, so it is safe to repeat."""
        now = max(ask.now for ask in asks)

        async def batch() -> list[Answer]:
            async with self._sessions() as session, session.begin():
                return await _create_batch(session, payee_id, asks, now)

        return await after_lock_conflicts(batch)

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


async def _create_batch(
    session: AsyncSession, payee_id: int, asks: Sequence[_Ask], now: datetime
) -> list[Answer]:
    """One answer per ask (no two with one key), all written in ``session``."""
    answers = await _claim_keys(session, asks, now)
    fresh = [i for i, answer in enumerate(answers) if answer is None]
    if fresh:
        made = await _create_payouts(session, payee_id, [asks[i] for i in fresh], now)
        for i, answer in zip(fresh, made, strict=True):
            answers[i] = answer
        await _settle_keys(session, [(asks[i], made[n]) for n, i in enumerate(fresh)])
    done = [answer for answer in answers if answer is not None]
    assert len(done) == len(asks)
    return done


async def _claim_keys(
    session: AsyncSession, asks: Sequence[_Ask], now: datetime
) -> list[Answer | None]:
    """Take each ask's key (None: ours now), or find the answer it already has."""
    claims = [(a.scope, a.request.idempotency_key, a.request.fingerprint()) for a in asks]
    held = await idempotency_keys.take_many(session, claims, OPERATION, now)
    return [_held_answer(held[ask.key], ask.request) for ask in asks]


def _held_answer(held: IdempotencyKey | None, request: PayoutRequest) -> Answer | None:
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


async def _create_payouts(
    session: AsyncSession, payee_id: int, asks: Sequence[_Ask], now: datetime
) -> list[Answer]:
    requests = [ask.request for ask in asks]
    wanted = sorted({r.bank_account_id for r in requests})
    found = (
        await session.execute(
            select(Payee, BankAccount)
            .outerjoin(
                BankAccount,
                (BankAccount.payee_id == Payee.id)
                & BankAccount.id.in_(wanted)
                & BankAccount.retired_at.is_(None),  # a retired account is paid no more
            )
            .where(Payee.id == payee_id)
        )
    ).all()
    if not found:
        return [[Problem("payee_id", ErrorCode.NOT_FOUND, f"no payee {payee_id}")] for _ in asks]
    payee = found[0][0]
    accounts = {row.id: account_from_row(row) for _, row in found if row is not None}
    profile = PayeeProfile(country=payee.country, payment_method=payee.payment_method)
    # Routed first (no balance needed), so that every account the holds touch (the
    # payee's balances and the providers' cash) is locked in one statement, in code
    # order (the order every writer takes): other batches against these balances take
    # turns from here, and no two writers can each wait for an account the other holds.
    routes = route_payouts(requests, profile, accounts, now)
    balances = await ledger_store.lock_balances(session, accounts_touched(requests, routes))
    held = {
        r.amount.currency: balances[code]
        for r in requests
        if (code := ledger.payable(payee.id, r.amount.currency).code) in balances
    }
    plans = plan_routed_payouts(requests, routes, profile, accounts, held)
    by_actor: dict[str, list[lifecycle.NewPayout]] = {}
    for ask, plan in zip(asks, plans, strict=True):
        if isinstance(plan, PlannedPayout):
            new = _new_payout(payee, ask.request, plan, now)
            by_actor.setdefault(ask.scope, []).append(new)
    ids: dict[str, int] = {}
    made: dict[str, Payout] = {}
    for actor, new_payouts in by_actor.items():  # the audit rows name each request's caller
        ids |= await lifecycle.create(
            session, new_payouts, now, Trigger.PAYEE, actor=actor, balances=balances
        )
        made |= {
            key: _as_written(new, ids[key])
            for new in new_payouts
            if (key := new.values["idempotency_key"]) in ids
        }
    answers: list[Answer] = []
    for plan in plans:
        if isinstance(plan, PlannedPayout):
            key = plan.order.idempotency_key
            answers.append(Outcome(ids[key], replayed=False, row=made[key]))
        else:
            answers.append(plan)
    return answers


def _as_written(new: lifecycle.NewPayout, payout_id: int) -> Payout:
    """The payout row as ``lifecycle.create`` inserted it, for the answer: what the batch
    wrote, not read back (a new payout's columns are all in ``new.values``; the rest are
    empty until it moves on)."""
    return Payout(
        id=payout_id,
        **{"attempt": 1, **new.values, "status": new.path.target.value, "version": 1},
    )


_SETTLE = (
    update(_KEYS)
    .where(_KEYS.c.scope == bindparam("s"), _KEYS.c.key == bindparam("k"))
    .values(payout_id=bindparam("pid"), response=bindparam("answer", type_=_KEYS.c.response.type))
)


async def _settle_keys(session: AsyncSession, made: Sequence[tuple[_Ask, Answer]]) -> None:
    """Keys of payouts made name them; keys of refused requests are let go."""
    paid: list[dict[str, Any]] = []
    refused: list[tuple[str, str]] = []
    for ask, answer in made:
        if isinstance(answer, Outcome):
            s, k = ask.key
            paid.append({"s": s, "k": k, "pid": answer.payout_id, "answer": _response(answer)})
        else:
            refused.append(ask.key)
    if paid:  # PostgreSQL: one UPDATE ... FROM unnest(...), not a statement per key
        await update_many(
            session,
            _SETTLE,
            paid,
            table=_KEYS,
            like={"s": "scope", "k": "key", "pid": "payout_id", "answer": "response"},
            set_sql={"payout_id": "v.pid", "response": "v.answer"},
            where_sql="t.scope = v.s AND t.key = v.k",
        )
    if refused:
        await session.execute(delete(IdempotencyKey).where(idempotency_keys.any_of(refused)))


def _response(outcome: Outcome) -> dict[str, Any]:
    return {"payout_id": outcome.payout_id}


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
