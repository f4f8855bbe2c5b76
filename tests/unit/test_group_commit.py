"""Group commit without a database: what goes into which batch, and who hears what;
and a payee's requests planned in order against one balance."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from domain.ledger import Balance
from domain.merchant_payouts import PlannedPayout, plan_payouts
from persistence.group_commit import GroupCommit
from tests.unit.test_merchant_plan import IN_ACCOUNT, IN_PAYEE, NOW, ask, inr


class Recorder:
    """Commits batches of (token, value) and answers each value doubled, or fails a
    batch that holds a value it was told to fail on."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def commit(self, key: str, items: Sequence[tuple[str, int]]) -> list[int]:
        self.batches.append([value for _, value in items])
        await asyncio.sleep(0)  # a transaction takes a while: others queue meanwhile
        if self.fail_on in self.batches[-1]:
            raise RuntimeError(f"batch {self.batches[-1]} failed")
        return [2 * value for _, value in items]


def batcher(recorder: Recorder, limit: int = 64) -> GroupCommit[str, tuple[str, int], int]:
    return GroupCommit(recorder.commit, distinct=lambda item: item[0], limit=limit)


async def test_requests_that_come_together_share_a_batch_of_at_most_the_limit() -> None:
    recorder = Recorder()
    group = batcher(recorder, limit=3)
    answers = await asyncio.gather(*(group.submit("acme", (f"k{i}", i)) for i in range(7)))
    assert answers == [0, 2, 4, 6, 8, 10, 12]
    assert recorder.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_each_key_has_its_own_batches() -> None:
    recorder = Recorder()
    group = batcher(recorder)
    await asyncio.gather(
        *(group.submit("acme" if i % 2 else "tiny", (f"k{i}", i)) for i in range(6))
    )
    assert sorted(recorder.batches) == [[0, 2, 4], [1, 3, 5]]


async def test_one_token_twice_goes_in_two_batches_in_order() -> None:
    recorder = Recorder()
    group = batcher(recorder)
    items = [("same", 1), ("other", 2), ("same", 3), ("same", 4), ("last", 5)]
    await asyncio.gather(*(group.submit("acme", item) for item in items))
    assert recorder.batches == [[1, 2, 5], [3], [4]]


async def test_a_failed_batch_fails_its_callers_only() -> None:
    recorder = Recorder(fail_on=4)
    group = batcher(recorder, limit=3)
    answers = await asyncio.gather(
        *(group.submit("acme", (f"k{i}", i)) for i in range(7)), return_exceptions=True
    )
    assert answers[:3] == [0, 2, 4] and answers[6] == 12
    assert all(isinstance(a, RuntimeError) for a in answers[3:6]), answers
    assert await group.submit("acme", ("again", 9)) == 18  # still serving


async def test_a_quiet_key_starts_at_once_with_no_batch_left_behind() -> None:
    recorder = Recorder()
    group = batcher(recorder)
    assert await group.submit("acme", ("k", 21)) == 42
    assert await group.submit("acme", ("k", 1)) == 2
    assert recorder.batches == [[21], [1]]


def test_a_payees_requests_are_planned_in_order_against_what_is_left() -> None:
    """70.00 available: 30.00 and 30.00 fit, 30.00 more does not, 10.00 still does."""
    balance = Balance(posted_credits=70_00)
    asks = [ask(inr(amount), f"key-{i}") for i, amount in enumerate(["30", "30", "30", "10"])]
    plans = plan_payouts(asks, IN_PAYEE, {1: IN_ACCOUNT}, {"INR": balance}, NOW)
    assert [isinstance(p, PlannedPayout) for p in plans] == [True, True, False, True]
    refused = plans[2]
    assert isinstance(refused, list) and [p.code.value for p in refused] == ["INSUFFICIENT_FUNDS"]


class Killed(BaseException):
    """Not an Exception: the process is going down."""


async def test_an_error_that_is_no_exception_reaches_the_callers_too() -> None:
    async def commit(key: str, items: Sequence[tuple[str, int]]) -> list[int]:
        raise Killed

    group: GroupCommit[str, tuple[str, int], int] = GroupCommit(commit, distinct=lambda i: i[0])
    answers = await asyncio.gather(
        *(group.submit("acme", (f"k{i}", i)) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(a, Killed) for a in answers), answers
