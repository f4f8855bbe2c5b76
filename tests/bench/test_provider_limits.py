"""The arithmetic the benchmarks judge by: limits, shares and answer classes (no timing)."""

from __future__ import annotations

import asyncio

import pytest

from bench.merchant_payouts import Merchant, PayoutClient, budget, classify, share
from bench.provider_run import (
    InFlightMeter,
    keys_with_several_orders,
    limit_seconds,
    rate_limited_fraction,
)
from providers.mock.bank import BankStats


def stats(**by_status: int) -> BankStats:
    result = BankStats(requests=sum(by_status.values()))
    for status, n in by_status.items():
        result.by_status[int(status.removeprefix("s"))] = n
    return result


def test_the_limit_is_the_busiest_provider_at_its_rate() -> None:
    assert limit_seconds({"ach": 263, "cross_border": 9737}, 200.0) == pytest.approx(48.685)
    assert limit_seconds({}, 200.0) == 0.0


def test_the_429_share_counts_every_bank_s_requests() -> None:
    banks = [stats(s201=90, s429=10), stats(s201=100), stats()]
    assert rate_limited_fraction(banks) == pytest.approx(10 / 200)
    assert rate_limited_fraction([stats()]) == 0.0


def test_a_key_with_two_orders_is_one_duplicate() -> None:
    assert keys_with_several_orders(["a", "b", "a", "c", "a", "b"]) == 2
    assert keys_with_several_orders(["a", "b"]) == 0


async def test_the_meter_sees_concurrent_requests_inside() -> None:
    release = asyncio.Event()

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await release.wait()

    meter = InFlightMeter(app)
    calls = [asyncio.create_task(meter({}, None, None)) for _ in range(3)]  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert meter.current == 3
    release.set()
    await asyncio.gather(*calls)
    assert (meter.current, meter.peak) == (0, 3)


CREATED = {"data": {"createPayout": {"payout": {"id": "7"}, "replayed": False, "userErrors": []}}}
REPLAYED = {"data": {"createPayout": {"payout": {"id": "7"}, "replayed": True, "userErrors": []}}}
REFUSED = {
    "data": {"createPayout": {"payout": None, "replayed": False, "userErrors": [{"code": "NSF"}]}}
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, CREATED, ("created", 7)),
        (200, REPLAYED, ("replayed", 7)),
        (200, REFUSED, ("NSF", None)),
        (200, {"data": None, "errors": [{"message": "boom"}]}, ("GRAPHQL_ERROR", None)),
        (200, {"data": {"__typename": "Query"}}, ("ok", None)),
        (401, {"errors": []}, ("HTTP_401", None)),
        (500, None, ("HTTP_500", None)),
    ],
)
def test_answers_are_classified(status: int, body: object, expected: tuple) -> None:
    assert classify(status, body) == expected


def test_a_client_repeats_only_keys_it_has_been_answered_for() -> None:
    merchants = [Merchant(1, 10, "k1", 100), Merchant(2, 20, "k2", 100)]
    client = PayoutClient("c", merchants, replay_rate=1.0, seed=0)
    first = client.next()
    assert first.replay_of is None  # nothing to repeat yet
    client.remember(first, 99)
    again = client.next()
    assert (again.key, again.merchant, again.replay_of) == (first.key, first.merchant, 99)


def test_fresh_keys_are_unique_and_cycle_over_the_merchants() -> None:
    merchants = [Merchant(i, i, f"k{i}", 100) for i in range(3)]
    client = PayoutClient("c", merchants, replay_rate=0.0, seed=0)
    sent = [client.next() for _ in range(6)]
    assert len({s.key for s in sent}) == 6
    assert [s.merchant.payee_id for s in sent] == [1, 2, 0, 1, 2, 0]


def test_a_budget_lets_exactly_n_requests_through() -> None:
    stop = budget(3)
    assert [stop() for _ in range(5)] == [False, False, False, True, True]


def test_many_merchants_are_shared_out_disjointly_and_one_is_shared_by_all() -> None:
    merchants = [Merchant(i, i, f"k{i}", 100) for i in range(100)]
    shares = [share(merchants, 16, c) for c in range(16)]
    assert sorted(m.payee_id for s in shares for m in s) == list(range(100))
    assert {len(s) for s in shares} == {6, 7}
    assert share(merchants[:1], 16, 5) == merchants[:1]
