"""Concurrent merchant payouts on real connections: never overdrawn, one payout per key.

Each repetition gets a fresh merchant with INR 100.00, so the 20 repetitions are 20
independent races. On PostgreSQL the requests run on separate pooled connections and
contend for the balance row (SELECT ... FOR UPDATE) and the key's unique index; on
SQLite BEGIN IMMEDIATE serializes them.
"""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import func, insert, select

from domain import ledger
from domain.merchant_payouts import PayoutRequest
from domain.money import Money
from persistence import ledger_checks, ledger_store
from persistence.merchant_store import Outcome, SqlMerchantPayouts
from persistence.tables import BankAccount, Payee, Payout
from service.bootstrap import Container
from service.demo_accounts import sample_account_details

REPEAT = 20
_serial = itertools.count(1)


async def fresh_merchant(container: Container, balance: str = "100.00") -> tuple[int, int]:
    n = next(_serial)
    now = container.clock.now()
    async with container.sessions.begin() as session:
        payee_id = await session.scalar(
            insert(Payee)
            .values(
                reference=f"RACE-{n}",
                name=f"Racer {n}",
                kind="merchant",
                country="IN",
                payment_method="bank_transfer",
                created_at=now,
            )
            .returning(Payee.id)
        )
        account_id = await session.scalar(
            insert(BankAccount)
            .values(
                payee_id=payee_id,
                holder_name=f"Racer {n}",
                country="IN",
                currency="INR",
                details=sample_account_details("IN", seed=1000 + n),
                is_default=True,
                created_at=now,
            )
            .returning(BankAccount.id)
        )
        await ledger_store.write(
            session,
            [ledger_store.Posting(ledger.fund_merchant(payee_id, Money.parse(balance, "INR")))],
            now,
        )
    return payee_id, account_id


async def race(container: Container, requests: list[PayoutRequest]) -> list:
    merchants = SqlMerchantPayouts(container.sessions)
    now = container.clock.now()
    return await asyncio.gather(
        *(merchants.create(f"payee:{r.payee_id}", r, now) for r in requests)
    )


async def payouts_of(container: Container, payee_id: int) -> int:
    async with container.sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(Payout).where(Payout.payee_id == payee_id)
        )


async def books_balance(container: Container) -> None:
    async with container.sessions() as session:
        assert await ledger_checks.verify(session) == []


def request(payee: int, account: int, amount: str, key: str) -> PayoutRequest:
    return PayoutRequest(payee, Money.parse(amount, "INR"), account, key)


async def test_two_60s_against_100_get_exactly_one(container: Container) -> None:
    for _ in range(REPEAT):
        payee, account = await fresh_merchant(container)
        results = await race(
            container, [request(payee, account, "60.00", f"k-{payee}-{i}") for i in range(2)]
        )
        made = [r for r in results if isinstance(r, Outcome)]
        refused = [r for r in results if isinstance(r, list)]
        assert len(made) == 1
        assert [p.code for p in refused[0]] == ["INSUFFICIENT_FUNDS"]
        assert await payouts_of(container, payee) == 1
    await books_balance(container)


async def test_twenty_10s_against_100_get_exactly_ten(container: Container) -> None:
    for _ in range(REPEAT):
        payee, account = await fresh_merchant(container)
        results = await race(
            container, [request(payee, account, "10.00", f"k-{payee}-{i}") for i in range(20)]
        )
        assert sum(isinstance(r, Outcome) for r in results) == 10
        assert await payouts_of(container, payee) == 10
    await books_balance(container)


async def test_ten_copies_of_one_request_make_one_payout(container: Container) -> None:
    for _ in range(REPEAT):
        payee, account = await fresh_merchant(container)
        same = request(payee, account, "30.00", f"same-key-{payee}")
        results = await race(container, [same] * 10)
        assert all(isinstance(r, Outcome) for r in results), results
        assert len({r.payout_id for r in results}) == 1
        assert sum(not r.replayed for r in results) == 1
        assert await payouts_of(container, payee) == 1
    await books_balance(container)


async def test_a_key_lives_24_hours_then_means_a_new_request(container: Container) -> None:
    from datetime import timedelta

    payee, account = await fresh_merchant(container)
    merchants = SqlMerchantPayouts(container.sessions)
    ask = request(payee, account, "10.00", f"daily-{payee}")
    first = await merchants.create(f"payee:{payee}", ask, container.clock.now())
    container.clock.advance(timedelta(hours=23, minutes=59))
    replay = await merchants.create(f"payee:{payee}", ask, container.clock.now())
    assert isinstance(first, Outcome) and isinstance(replay, Outcome)
    assert (replay.payout_id, replay.replayed) == (first.payout_id, True)
    container.clock.advance(timedelta(minutes=1))
    assert await merchants.purge_expired(container.clock.now()) == 1
    fresh = await merchants.create(f"payee:{payee}", ask, container.clock.now())
    assert isinstance(fresh, Outcome) and not fresh.replayed
    assert fresh.payout_id != first.payout_id
    assert await payouts_of(container, payee) == 2
    await books_balance(container)


async def test_keys_are_scoped_to_the_caller(container: Container) -> None:
    payee, account = await fresh_merchant(container)
    merchants = SqlMerchantPayouts(container.sessions)
    ask = request(payee, account, "10.00", "shared-key-name")
    mine = await merchants.create(f"payee:{payee}", ask, container.clock.now())
    ops = await merchants.create("ops:1", ask, container.clock.now())
    assert isinstance(mine, Outcome) and isinstance(ops, Outcome)
    assert mine.payout_id != ops.payout_id  # same key text, two callers, two requests
