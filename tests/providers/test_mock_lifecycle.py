"""A mock bank's orders over time: settlement lag, failures, returns, its clock and listings."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.money import Money
from domain.ports import OrderStatus, ProviderKind
from providers.mock import AcceleratedClock, MockBank, MockBankConfig, StoredOrder
from providers.mock.config import SAME_DAY_PROCESSING
from providers.mock.lifecycle import ACH_FAILURE_REASONS, ACH_RETURN_REASONS
from providers.mock.orders import OrderBody, StatusEvent
from providers.mock.timeline import Timeline
from providers.mock.validation import parse_order_body
from tests.providers.conftest import START, make_bank, order_body

DAY = timedelta(days=1)
XB_ACCOUNTS = {
    "SEPA": ("DE", {"iban": "DE89370400440532013000"}),
    "BACS": ("GB", {"sort_code": "200000", "account_number": "55779911"}),
    "ZENGIN": ("JP", {"bank_code": "0001", "branch_code": "001", "account_number": "1234567"}),
    "FOO": ("JP", {"account_number": "1234567"}),
}


def body(**overrides: Any) -> OrderBody:
    return parse_order_body(order_body(**overrides))


def xb_body(rail: str) -> OrderBody:
    country, account = XB_ACCOUNTS[rail]
    return body(target_currency="EUR", rail=rail, beneficiary_country=country, account=account)


def create(bank: MockBank, key: str, order: OrderBody | None = None) -> StoredOrder:
    return bank.create(key, order or body()).order


def status(bank: MockBank, order_id: str) -> StatusEvent:
    return bank.get(order_id).current(bank.now())


def list_all(bank: MockBank, since: datetime | None = None, limit: int = 1000) -> list[str]:
    """Every order id the listing gives, page by page, as a client would read it."""
    seen: list[str] = []
    after = None
    while True:
        page = bank.changed_since(since, after, limit)
        seen.extend(order.order_id for order in page.orders)
        if page.next_after is None:
            return seen
        after = page.next_after


def expected_listing(bank: MockBank, since: datetime | None = None) -> list[str]:
    """The listing's definition, by brute force: current event at or after ``since``."""
    now = bank.now()
    positions = sorted((order.current(now).at, order.order_id) for order in bank.orders.values())
    return [order_id for at, order_id in positions if since is None or at >= since]


def expected_settlements(bank: MockBank, day: date) -> list[tuple[str, OrderStatus]]:
    now = bank.now()
    events = sorted(
        (event.at, order.order_id, event.status)
        for order in bank.orders.values()
        for event in order.events()
        if event.at <= now
        and event.at.date() == day
        and event.status in (OrderStatus.COMPLETED, OrderStatus.RETURNED)
    )
    return [(order_id, status) for _, order_id, status in events]


def settlements(bank: MockBank, day: date) -> list[tuple[str, OrderStatus]]:
    return [(order.order_id, event.status) for order, event in bank.settlements_on(day)]


# -- settlement lag by rail ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "order", "lag"),
    [
        (ProviderKind.ACH, body(), DAY),
        (ProviderKind.WIRE, body(rail="WIRE", account={"swift_bic": "DEUTDEFF"}), 2 * DAY),
        (ProviderKind.CROSS_BORDER, xb_body("SEPA"), DAY),
        (ProviderKind.CROSS_BORDER, xb_body("BACS"), 2 * DAY),
        (ProviderKind.CROSS_BORDER, xb_body("ZENGIN"), SAME_DAY_PROCESSING),
        (ProviderKind.CROSS_BORDER, xb_body("FOO"), DAY),  # a code the rail table lacks
    ],
)
def test_settlement_lag_defaults_to_the_rail_table(
    kind: ProviderKind, order: OrderBody, lag: timedelta
) -> None:
    bank = make_bank(kind)
    created = create(bank, "k1", order)

    assert created.completes_at - created.created_at == lag
    bank.advance(lag - timedelta(seconds=1))
    assert status(bank, created.order_id).status is OrderStatus.PROCESSING
    bank.advance(timedelta(seconds=1))
    assert status(bank, created.order_id) == StatusEvent(OrderStatus.COMPLETED, START + lag)


def test_the_lag_override_wins_over_the_rail_table_for_its_rails_only() -> None:
    bank = make_bank(ProviderKind.CROSS_BORDER, settlement_lag_days={"SEPA": 3, "ZENGIN": 0})
    sepa, bacs, zengin = (create(bank, rail, xb_body(rail)) for rail in ("SEPA", "BACS", "ZENGIN"))

    assert sepa.completes_at == START + 3 * DAY
    assert bacs.completes_at == START + 2 * DAY
    assert zengin.completes_at == START + SAME_DAY_PROCESSING


# -- failures after acceptance ------------------------------------------------------


def test_a_failed_order_fails_at_settlement_time_with_a_reason_and_is_never_returned() -> None:
    bank = make_bank(failure_rate=1.0, return_rate=1.0)
    order_id = create(bank, "k1").order_id

    bank.advance(DAY - timedelta(seconds=1))
    assert status(bank, order_id).status is OrderStatus.PROCESSING
    bank.advance(timedelta(seconds=1))
    failed = status(bank, order_id)
    assert (failed.status, failed.at) == (OrderStatus.FAILED, START + DAY)
    assert (failed.failure_code, failed.failure_reason) in ACH_FAILURE_REASONS
    bank.advance(10 * DAY)
    assert status(bank, order_id) == failed


def test_failed_orders_are_not_in_the_settlement_report() -> None:
    bank = make_bank(failure_rate=0.5, seed=2)
    orders = [create(bank, f"k{n}") for n in range(40)]
    bank.advance(2 * DAY)
    final = {order.order_id: status(bank, order.order_id).status for order in orders}

    reported = settlements(bank, (START + DAY).date())
    assert {order_id for order_id, _ in reported} == {
        order_id for order_id, s in final.items() if s is OrderStatus.COMPLETED
    }
    assert 8 <= list(final.values()).count(OrderStatus.FAILED) <= 32


def test_failure_and_return_rates_pick_stable_disjoint_fractions() -> None:
    bank = make_bank(failure_rate=0.2, return_rate=0.25, seed=5)
    ids = [create(bank, f"k{n}").order_id for n in range(1000)]
    bank.advance(3 * DAY)
    events = [status(bank, order_id) for order_id in ids]
    statuses = [event.status for event in events]

    failed, returned = statuses.count(OrderStatus.FAILED), statuses.count(OrderStatus.RETURNED)
    assert 150 <= failed <= 250
    assert 150 <= returned <= 250  # a quarter of the ~800 that complete
    assert statuses.count(OrderStatus.COMPLETED) == 1000 - failed - returned
    reasons = {(e.failure_code, e.failure_reason) for e in events if e.failure_code}
    assert reasons == set(ACH_FAILURE_REASONS) | set(ACH_RETURN_REASONS)


def test_outcomes_depend_on_seed_and_key_not_on_the_order_of_requests() -> None:
    keys = [f"k{n}" for n in range(60)]
    banks = [make_bank(failure_rate=0.3, return_rate=0.3, seed=9) for _ in range(2)]
    for bank, order in zip(banks, (keys, keys[::-1]), strict=True):
        for key in order:
            create(bank, key)
        bank.advance(3 * DAY)

    outcomes = [{key: final(bank, key) for key in keys} for bank in banks]
    assert outcomes[0] == outcomes[1]
    assert len({event.status for event in outcomes[0].values()}) == 3


def final(bank: MockBank, key: str) -> StatusEvent:
    order = bank.order_for(key)
    assert order is not None
    return order.current(bank.now())


# -- the accelerated clock ----------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_the_accelerated_clock_runs_speed_times_real_time() -> None:
    real = FakeMonotonic()
    clock = AcceleratedClock(3600, START, monotonic=real)

    assert clock.now() == START
    real.seconds += 2.5
    assert clock.now() == START + timedelta(hours=2.5)
    assert clock.now().tzinfo is not None


def test_at_speed_zero_it_stands_still() -> None:
    real = FakeMonotonic()
    clock = AcceleratedClock(0, START, monotonic=real)
    real.seconds += 100

    assert clock.now() == START


@pytest.mark.parametrize("speed", [-1.0, float("inf"), float("nan")])
def test_the_speed_is_finite_and_not_negative(speed: float) -> None:
    with pytest.raises(ValueError):
        AcceleratedClock(speed, START)


def test_the_start_must_be_aware() -> None:
    with pytest.raises(ValueError):
        AcceleratedClock(1, datetime(2026, 3, 2))


def test_a_bank_on_an_accelerated_clock_settles_by_itself() -> None:
    real = FakeMonotonic()
    bank = MockBank(
        ProviderKind.ACH, MockBankConfig(), AcceleratedClock(3600, START, monotonic=real)
    )
    order_id = create(bank, "k1").order_id

    real.seconds += 23
    assert status(bank, order_id).status is OrderStatus.PROCESSING
    real.seconds += 1  # 24 real seconds: one simulated day
    assert status(bank, order_id).status is OrderStatus.COMPLETED
    bank.advance(DAY)  # advance still works on top of it
    assert bank.now() == START + 2 * DAY


# -- listings -----------------------------------------------------------------------


def test_future_events_are_not_listed_until_they_happen() -> None:
    bank = make_bank()
    order_id = create(bank, "k1").order_id
    later = START + timedelta(hours=1)

    assert list_all(bank, since=later) == []
    assert settlements(bank, (START + DAY).date()) == []
    bank.advance(DAY)
    assert list_all(bank, since=later) == [order_id]
    assert settlements(bank, (START + DAY).date()) == [(order_id, OrderStatus.COMPLETED)]


def test_an_order_is_listed_once_at_its_current_event() -> None:
    bank = make_bank(return_rate=1.0)
    order_id = create(bank, "k1").order_id
    bank.advance(3 * DAY)

    page = bank.changed_since(None, None, 10)
    assert [o.order_id for o in page.orders] == [order_id]
    assert list_all(bank, since=START + 2 * DAY) == [order_id]  # returned at START + 2 days
    assert list_all(bank, since=START + 2 * DAY + timedelta(microseconds=1)) == []


def test_changed_since_is_inclusive_and_ties_are_ordered_by_id() -> None:
    bank = make_bank()
    ids = sorted(create(bank, f"k{n}").order_id for n in range(5))

    assert list_all(bank, since=START, limit=2) == ids


def list_all_after(bank: MockBank, after: tuple[datetime, str] | None) -> list[str]:
    seen: list[str] = []
    while after is not None:
        page = bank.changed_since(None, after, 2)
        seen.extend(order.order_id for order in page.orders)
        after = page.next_after
    return seen


def test_orders_that_change_while_paging_move_past_the_cursor_and_none_is_missed() -> None:
    bank = make_bank(settlement_lag_days={"ACH": 0})  # each completes an hour after creation
    ids = []
    for n in range(6):
        ids.append(create(bank, f"k{n}").order_id)
        bank.advance(timedelta(minutes=20))
    first_read = bank.now()
    first = bank.changed_since(None, None, 3)
    bank.advance(timedelta(minutes=40))
    rest = list_all_after(bank, first.next_after)

    seen = [o.order_id for o in first.orders] + rest
    assert set(seen) == set(ids)
    moved = [order_id for order_id in rest if order_id in {o.order_id for o in first.orders}]
    assert moved and all(status(bank, i).at > first_read for i in moved)


def test_a_returned_order_is_in_both_days_settlement_reports() -> None:
    bank = make_bank(return_rate=1.0)
    order_id = create(bank, "k1").order_id
    bank.advance(3 * DAY)

    assert settlements(bank, (START + DAY).date()) == [(order_id, OrderStatus.COMPLETED)]
    assert settlements(bank, (START + 2 * DAY).date()) == [(order_id, OrderStatus.RETURNED)]
    assert settlements(bank, START.date()) == []


@pytest.mark.parametrize("seed", range(6))
def test_listings_match_their_definition_through_random_histories(seed: int) -> None:
    """Creates, clock moves and every injection, checked against brute force each step."""
    rng = random.Random(seed)
    bank = make_bank(ProviderKind.CROSS_BORDER, seed=seed, failure_rate=0.2, return_rate=0.3)
    for step in range(150):
        random_step(bank, rng, step)
        since = None if rng.random() < 0.3 else bank.now() - rng.random() * 4 * DAY
        assert list_all(bank, since, limit=rng.randint(1, 7)) == expected_listing(bank, since)
    for offset in range(-1, 8):
        day = (START + offset * DAY).date()
        assert settlements(bank, day) == expected_settlements(bank, day)


def random_step(bank: MockBank, rng: random.Random, step: int) -> None:
    ids = sorted(bank.orders)
    action = rng.random()
    if action < 0.45 or not ids:
        bank.create(f"k{step}", xb_body(rng.choice(["SEPA", "BACS", "ZENGIN"])))
    elif action < 0.75:
        bank.advance(timedelta(minutes=rng.randint(1, 36 * 60)))
    elif action < 0.8:
        bank.force_status(rng.choice(ids), rng.choice(list(OrderStatus)), "X01")
    elif action < 0.85:
        bank.override_amount(rng.choice(ids), Money(rng.randint(1, 10**6), "USD"))
    elif action < 0.9:
        bank.duplicate_order(rng.choice(ids))
    elif action < 0.95:
        bank.drop_order(rng.choice(ids))
    else:
        bank.inject_unknown_order()


@pytest.mark.slow
def test_listing_200k_orders_gives_each_once_in_order() -> None:
    bank = make_bank(failure_rate=0.05, return_rate=0.05, seed=1)
    order = body()
    for n in range(200_000):
        bank.create(f"k{n}", order)
        if n % 1000 == 999:
            bank.advance(timedelta(minutes=1))
    bank.advance(2 * DAY)  # most have completed or failed, some were returned since
    now = bank.now()

    listed = [bank.orders[order_id] for order_id in list_all(bank)]
    assert len(listed) == len({o.order_id for o in listed}) == len(bank.orders) == 200_000
    positions = [(o.current(now).at, o.order_id) for o in listed]
    assert positions == sorted(positions)
    since = START + DAY + timedelta(hours=2)
    assert list_all(bank, since) == [i for at, i in positions if at >= since]


# -- the timeline under the index ---------------------------------------------------


def test_the_timeline_stays_sorted_through_splits_and_removals() -> None:
    rng = random.Random(3)
    timeline = Timeline(load=4)
    model: set[tuple[datetime, str]] = set()
    for n in range(400):
        entry = (START + timedelta(minutes=rng.randint(0, 50)), f"o{n}")
        timeline.add(entry)
        model.add(entry)
        if rng.random() < 0.4:
            gone = rng.choice(sorted(model))
            timeline.remove(gone)
            model.discard(gone)
    bound = (START + timedelta(minutes=25), "o2")

    assert list(timeline.after(None)) == sorted(model)
    assert list(timeline.after(bound)) == [e for e in sorted(model) if e > bound]
    assert len(timeline) == len(model)
    with pytest.raises(KeyError):
        timeline.remove((START, "nope"))
