"""Merchant payouts that arrive together share one transaction (group commit).

Each request must still get the answer it would have got alone: the exact-N race
stays exact, one key is one payout, and a batch whose transaction fails keeps
nothing of anyone's, so that retrying with the same keys pays each exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select

from domain import ledger
from domain.merchant_payouts import PayoutRequest
from persistence import ledger_store
from persistence.merchant_store import Outcome, SqlMerchantPayouts
from persistence.tables import IdempotencyKey, LedgerTransfer, Payout
from service.bootstrap import Container
from tests.reliability.test_concurrency import books_balance, fresh_merchant, request


async def send(
    merchants: SqlMerchantPayouts, container: Container, requests: list[PayoutRequest]
) -> list:
    now = container.clock.now()
    return await asyncio.gather(
        *(merchants.create(f"payee:{r.payee_id}", r, now) for r in requests),
        return_exceptions=True,
    )


@contextmanager
def transactions(container: Container) -> Iterator[list[str]]:
    """Each write transaction begun while the block runs (one entry per BEGIN)."""
    begun: list[str] = []

    def record(_conn: object) -> None:
        begun.append("begin")

    engine = container.engine.sync_engine
    event.listen(engine, "begin", record)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", record)


async def available_minor(container: Container, payee_id: int) -> int:
    async with container.sessions() as session:
        balances = await ledger_store.lock_balances(session, [ledger.payable(payee_id, "INR")])
    return balances[ledger.payable(payee_id, "INR").code].available(ledger.AccountType.LIABILITY)


async def count(container: Container, table: type, payee_id: int | None = None) -> int:
    statement = select(func.count()).select_from(table)
    if table is Payout and payee_id is not None:
        statement = statement.where(Payout.payee_id == payee_id)
    async with container.sessions() as session:
        return int(await session.scalar(statement) or 0)


async def test_forty_at_once_against_the_balance_for_25_pay_exactly_25(
    container: Container,
) -> None:
    payee, account = await fresh_merchant(container, balance="25.00")
    merchants = SqlMerchantPayouts(container.sessions)
    asks = [request(payee, account, "1.00", f"n-{payee}-{i:02d}") for i in range(40)]
    with transactions(container) as begun:
        answers = await send(merchants, container, asks)
    made = [a for a in answers if isinstance(a, Outcome)]
    refused = [a for a in answers if isinstance(a, list)]
    assert len(made) == 25 and len(refused) == 15, answers
    assert {p.code for problems in refused for p in problems} == {"INSUFFICIENT_FUNDS"}
    assert len({o.payout_id for o in made}) == 25 and not any(o.replayed for o in made)
    # The first 25 asked are the ones paid: each is checked in order against the rest.
    assert [isinstance(a, Outcome) for a in answers] == [True] * 25 + [False] * 15
    assert len(begun) < 40  # they shared transactions
    assert await available_minor(container, payee) == 0
    assert await count(container, Payout, payee) == 25
    async with container.sessions() as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.key.like(f"n-{payee}-%"))
        )
    assert keys == 25  # a refused request's key is let go
    await books_balance(container)


async def test_two_batchers_on_one_merchant_still_pay_exactly_n(container: Container) -> None:
    """Two processes each batch their own requests; the balance row lock takes turns."""
    payee, account = await fresh_merchant(container, balance="25.00")
    left, right = SqlMerchantPayouts(container.sessions), SqlMerchantPayouts(container.sessions)
    asks = [request(payee, account, "1.00", f"two-{payee}-{i:02d}") for i in range(40)]
    now = container.clock.now()
    answers = await asyncio.gather(
        *(
            (left if i % 2 else right).create(f"payee:{payee}", ask, now)
            for i, ask in enumerate(asks)
        )
    )
    assert sum(isinstance(a, Outcome) for a in answers) == 25
    assert await available_minor(container, payee) == 0
    await books_balance(container)


async def test_a_key_twice_in_one_batch_is_one_payout(container: Container) -> None:
    payee, account = await fresh_merchant(container, balance="100.00")
    merchants = SqlMerchantPayouts(container.sessions)
    first = request(payee, account, "10.00", f"dup-{payee}")
    other = request(payee, account, "20.00", f"other-{payee}")
    reused = request(payee, account, "30.00", f"dup-{payee}")  # same key, another body
    answers = await send(merchants, container, [first, first, other, first, reused])
    assert all(isinstance(a, Outcome) for a in answers[:4]), answers
    assert answers[0].payout_id == answers[1].payout_id == answers[3].payout_id
    assert [a.replayed for a in answers[:4]] == [False, True, False, True]
    assert [p.code for p in answers[4]] == ["IDEMPOTENCY_KEY_REUSED"]
    assert await count(container, Payout, payee) == 2
    assert await available_minor(container, payee) == 70_00
    await books_balance(container)


class Injected(Exception):
    """The fault a test puts inside a batch's transaction."""


async def test_a_batch_whose_transaction_fails_keeps_nothing_and_a_retry_pays_once(
    container: Container,
) -> None:
    payee, account = await fresh_merchant(container, balance="100.00")
    merchants = SqlMerchantPayouts(container.sessions)
    asks = [request(payee, account, "5.00", f"fail-{payee}-{i}") for i in range(8)]
    before = {table: await count(container, table) for table in (LedgerTransfer, IdempotencyKey)}

    def fail_on_ledger_entries(_c: object, _cur: object, statement: str, *_a: object) -> None:
        # after the keys, the payouts and their ledger holds are written, before the
        # batch commits: the keys are pointed at their payouts last
        if (
            statement.lstrip()
            .upper()
            .startswith(("UPDATE IDEMPOTENCY_KEYS", 'UPDATE "IDEMPOTENCY_KEYS"'))
        ):
            raise Injected("the database went away mid-batch")

    engine = container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", fail_on_ledger_entries)
    try:
        answers = await send(merchants, container, asks)
    finally:
        event.remove(engine, "before_cursor_execute", fail_on_ledger_entries)
    assert all(isinstance(a, Injected) for a in answers), answers
    assert await count(container, Payout, payee) == 0
    assert await count(container, LedgerTransfer) == before[LedgerTransfer]
    assert await count(container, IdempotencyKey) == before[IdempotencyKey]
    assert await available_minor(container, payee) == 100_00

    retried = await send(merchants, container, asks)
    assert all(isinstance(a, Outcome) and not a.replayed for a in retried), retried
    again = await send(merchants, container, asks)
    assert [(a.payout_id, a.replayed) for a in again] == [(a.payout_id, True) for a in retried]
    assert await count(container, Payout, payee) == 8
    assert await available_minor(container, payee) == 60_00
    await books_balance(container)


async def test_requests_queued_behind_a_batch_go_together_in_the_next(
    container: Container,
) -> None:
    payee, account = await fresh_merchant(container, balance="100.00")
    merchants = SqlMerchantPayouts(container.sessions)
    first = asyncio.ensure_future(
        send(merchants, container, [request(payee, account, "1.00", f"q-{payee}-first")])
    )
    await asyncio.sleep(0)  # the first batch is under way with one request
    queued = [request(payee, account, "1.00", f"q-{payee}-{i}") for i in range(10)]
    with transactions(container) as begun:
        answers = await send(merchants, container, queued)
        await first
    assert all(isinstance(a, Outcome) for a in answers), answers
    assert len(begun) <= 2  # the first batch's, if it had not begun yet, and one more
    assert await count(container, Payout, payee) == 11
    await books_balance(container)


@contextmanager
def statements(container: Container) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs (a PostgreSQL COPY is not one)."""
    sent: list[str] = []

    def record(_c: object, _cur: object, statement: str, *_a: object) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    engine = container.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def one_batch(
    merchants: SqlMerchantPayouts, container: Container, requests: list[PayoutRequest]
) -> tuple[list[object], list[str]]:
    """The requests as one batch, and the statements it sent."""
    with statements(container) as sent:
        answers = await send(merchants, container, requests)
    return answers, sent


async def test_a_batch_sends_as_many_statements_for_ten_payouts_as_for_one(
    container: Container,
) -> None:
    """Each statement of a batch carries every request of it (keys, payouts, ledger,
    audit, outbox, the keys' answers): a request more costs rows, not statements."""
    payee, account = await fresh_merchant(container, balance="100.00")
    merchants = SqlMerchantPayouts(container.sessions)
    warm = [request(payee, account, "1.00", f"s-{payee}-warm")]
    await one_batch(merchants, container, warm)  # the provider's cash account is made
    alone, one = await one_batch(
        merchants, container, [request(payee, account, "1.00", f"s-{payee}-one")]
    )
    many = [request(payee, account, "1.00", f"s-{payee}-{i}") for i in range(10)]
    together, ten = await one_batch(merchants, container, many)
    assert all(isinstance(a, Outcome) for a in [*alone, *together])
    # (the ledger draws several transfers' ids first, where one comes back from its insert)
    assert len(one) <= len(ten) <= len(one) + 1, (one, ten)
    # Claim the keys, read the payee, lock the balances, insert the payouts, the ledger's
    # transfers, entries and totals, audit and outbox rows, the keys' answers.
    ceiling = 7 if container.engine.dialect.name == "postgresql" else 12
    assert len(ten) <= ceiling, ten
    await books_balance(container)


async def test_the_answer_is_the_payout_as_it_was_stored(container: Container) -> None:
    """A batch answers with the rows it wrote, not read back: they must be the stored ones."""
    payee, account = await fresh_merchant(container, balance="100.00")
    merchants = SqlMerchantPayouts(container.sessions)
    answers = await send(
        merchants, container, [request(payee, account, "2.50", f"a-{payee}-{i}") for i in range(3)]
    )
    assert all(isinstance(a, Outcome) and a.row is not None for a in answers), answers
    columns = [c.key for c in Payout.__table__.columns]
    async with container.sessions() as session:
        for answer in answers:
            assert isinstance(answer, Outcome) and answer.row is not None
            stored = await session.get(Payout, answer.payout_id)
            assert stored is not None
            assert {c: getattr(answer.row, c) for c in columns} == {
                c: getattr(stored, c) for c in columns
            }
