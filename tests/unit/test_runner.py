"""Payout runs as the business tells them, on the in-memory store and fake providers.

One event allocates to nine payees. Four can be paid (a US payee by ACH, German and
Japanese payees through the cross-border provider's local rails, a payee in the UAE,
which has no local rail, by wire); five cannot, each for its own reason. After every
story the books are checked: a payee may still be paid what was allocated less what
is on its way or was paid, and never less than nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from domain.bank_details import BankAccount
from domain.clock import ManualClock
from domain.eligibility import PayeeProfile
from domain.errors import IllegalTransition
from domain.ledger import Balance
from domain.lifecycle import PayoutStatus, Trigger
from domain.merchant_payouts import PayoutRequest, PlannedPayout, plan_payout
from domain.money import Money
from domain.ports import (
    OrderStatus,
    ProviderKind,
    RunOutcome,
    Submission,
    SubmitOutcome,
    SubmitResult,
)
from domain.rails import PaymentMethod
from domain.runs import Evaluation, PayoutRunner, SubmissionResult
from tests.fakes import (
    FakeProvider,
    InMemoryPayoutStore,
    Item,
    ProviderCrash,
    fake_providers,
    sample_account,
    sample_payee,
)

S = PayoutStatus
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday afternoon: every rail is open
EVENT = "LIQ-2026-001"
CLAIM = timedelta(minutes=5)  # how long a run holds what it is sending


def usd(amount: str) -> Money:
    return Money.parse(amount, "USD")


ADA, BRUNO, CHIYO, DARA = 1, 2, 3, 4  # can be paid
NORA, OSCAR, SAM, WALTER, GRETA = 5, 6, 7, 8, 9  # cannot

ALLOCATED = {
    ADA: usd("1200.00"),
    BRUNO: usd("800.00"),
    CHIYO: usd("450.50"),
    DARA: usd("2000.00"),
    NORA: usd("300.00"),
    OSCAR: usd("150.00"),
    SAM: usd("99.99"),
    WALTER: usd("1500000.00"),  # above the $1M a single ACH payment may carry
    GRETA: usd("640.00"),
}
PAYABLE = (ADA, BRUNO, CHIYO, DARA)
WHY_NOT = {
    NORA: "missing_external_account",
    OSCAR: "invalid_method",
    SAM: "missing_country",
    WALTER: "amount_above_rail_limit",
    GRETA: "invalid_bank_account",
}
# A German IBAN with a wrong check digit.
GRETAS_ACCOUNT = BankAccount(
    "ba-greta", "Greta Vogel", "DE", "EUR", {"iban": "DE89370400440532013001"}
)
NORAS_NEW_ACCOUNT = sample_account("SE", 5, "Nora Lindqvist")


def people() -> dict[int, tuple[PayeeProfile, BankAccount | None]]:
    return {
        ADA: sample_payee("US", 1, "Ada Lovelace"),
        BRUNO: sample_payee("DE", 2, "Bruno Keller"),
        CHIYO: sample_payee("JP", 3, "Chiyo Tanaka"),
        DARA: sample_payee("AE", 4, "Dara Haddad"),
        NORA: sample_payee("SE", 5, "Nora Lindqvist", with_account=False),
        OSCAR: sample_payee("PT", 6, "Oscar Pereira", method=PaymentMethod.CHECK),
        SAM: (PayeeProfile(None, PaymentMethod.BANK_TRANSFER), sample_account("US", 7, "Sam Doe")),
        WALTER: sample_payee("US", 8, "Walter Brandt"),
        GRETA: (PayeeProfile("DE", PaymentMethod.BANK_TRANSFER), GRETAS_ACCOUNT),
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def store() -> InMemoryPayoutStore:
    store = InMemoryPayoutStore(claim=CLAIM)
    cast = people()
    store.add_event(EVENT, [(pid, amount, *cast[pid]) for pid, amount in ALLOCATED.items()])
    return store


@pytest.fixture
def providers(clock: ManualClock) -> dict[ProviderKind, FakeProvider]:
    return fake_providers(clock)


@pytest.fixture
def runner(
    store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider], clock: ManualClock
) -> PayoutRunner:
    return PayoutRunner(store, providers, clock, lease=CLAIM)


# --- reading what happened ---------------------------------------------------------------


def key_of(store: InMemoryPayoutStore, payee: int) -> str:
    return store.payout_of(EVENT, payee).idempotency_key


def status_of(store: InMemoryPayoutStore, payee: int) -> PayoutStatus | None:
    return store.payout_of(EVENT, payee).status


def orders_by_key(providers: dict[ProviderKind, FakeProvider]) -> Counter[str]:
    """How many orders the providers together hold for each key."""
    return Counter(key for p in providers.values() for key in p.orders)


def asked(providers: dict[ProviderKind, FakeProvider]) -> Counter[str]:
    """How many times each key was sent to a provider."""
    return Counter(key for p in providers.values() for key in p.asked)


def check_books(store: InMemoryPayoutStore) -> None:
    """Each payee may still be paid its allocation less what is held for a payout on its
    way or was paid out, never less than nothing; and every transfer balanced."""
    on_its_way_or_paid = {S.PENDING, S.SUBMITTING, S.SUBMITTED, S.COMPLETED}
    for payee, allocated in ALLOCATED.items():
        payout = store.payout_of(EVENT, payee)
        gone = payout.amount if payout.status in on_its_way_or_paid else usd("0")
        assert store.available(payee, "USD") == allocated - gone, payee
        assert store.available(payee, "USD") >= usd("0")
    total = sum(store.balances.values(), Balance())
    assert total.posted_debits == total.posted_credits
    assert total.pending_debits == total.pending_credits


# --- a run ---------------------------------------------------------------------------------


async def test_a_run_pays_every_eligible_payout_once_and_says_why_it_skips_the_others(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    summary = await runner.run(EVENT, "first")

    assert (summary.created, summary.skipped, summary.failed, summary.in_flight) == (4, 5, 0, 0)
    assert summary.created + summary.skipped == summary.total == len(ALLOCATED)
    assert dict(summary.skip_breakdown) == {reason: 1 for reason in WHY_NOT.values()}
    assert summary.already_submitted == 0
    assert summary.status == "completed"
    paid = {key_of(store, payee) for payee in PAYABLE}
    assert orders_by_key(providers) == Counter(paid)  # one order for each, nothing else
    assert asked(providers) == Counter(paid)  # and each was asked for once
    assert set(providers[ProviderKind.ACH].orders) == {key_of(store, ADA)}
    assert set(providers[ProviderKind.CROSS_BORDER].orders) == {
        key_of(store, BRUNO),
        key_of(store, CHIYO),
    }
    assert set(providers[ProviderKind.WIRE].orders) == {key_of(store, DARA)}
    for payee in PAYABLE:
        assert status_of(store, payee) is S.SUBMITTED
    for payee, reason in WHY_NOT.items():
        payout = store.payout_of(EVENT, payee)
        assert (payout.status, payout.skip_reason) == (S.SKIPPED, reason)
    check_books(store)


async def test_a_second_run_creates_no_orders_and_reports_the_paid_as_already_submitted(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    first = await runner.run(EVENT, "first")
    orders, calls = orders_by_key(providers), asked(providers)

    second = await runner.run(EVENT, "second")

    assert second.run_id != first.run_id
    assert (second.created, second.failed, second.in_flight) == (0, 0, 0)
    assert second.already_submitted == len(PAYABLE)
    assert dict(second.skip_breakdown) == {
        "existing_payment_order": 4,
        **{reason: 1 for reason in WHY_NOT.values()},
    }
    assert (orders_by_key(providers), asked(providers)) == (orders, calls)
    items = store.items(second.run_id)
    for payee in PAYABLE:
        payout = store.payout_of(EVENT, payee)
        assert items[payout.id] == Item(RunOutcome.SKIPPED, "existing_payment_order")
        assert payout.run_id == first.run_id  # the payout still belongs to the run that paid it
    check_books(store)


async def test_the_same_key_again_is_the_same_run_and_does_nothing(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    first = await runner.run(EVENT, "first")
    calls, steps = asked(providers), len(store.changes)

    again = await runner.run(EVENT, "first")

    assert again == first
    assert asked(providers) == calls
    assert len(store.changes) == steps
    check_books(store)


# --- when the provider misbehaves --------------------------------------------------------


async def test_an_unavailable_provider_leaves_payouts_in_flight_and_recovery_sends_them_once(
    runner: PayoutRunner,
    store: InMemoryPayoutStore,
    providers: dict[ProviderKind, FakeProvider],
    clock: ManualClock,
) -> None:
    for provider in providers.values():
        provider.go_down()

    summary = await runner.run(EVENT, "first")

    assert (summary.created, summary.in_flight, summary.skipped) == (0, 4, 5)
    assert orders_by_key(providers) == Counter()
    for payee in PAYABLE:
        assert status_of(store, payee) is S.SUBMITTING
        assert store.available(payee, "USD") == usd("0.00")  # the whole allocation is held
    check_books(store)

    for provider in providers.values():
        provider.come_back()
    # Nobody heard back about them, so the run let go of them at once: the next poll, a
    # minute later and well within the run's claim, asks again.
    clock.advance(timedelta(minutes=1))
    assert await runner.recover() == 4

    paid = {key_of(store, payee) for payee in PAYABLE}
    assert orders_by_key(providers) == Counter(paid)
    assert asked(providers) == Counter({key: 2 for key in paid})  # the same key both times
    for payee in PAYABLE:
        assert status_of(store, payee) is S.SUBMITTED
    after = await store.run_summary(summary.run_id)
    assert (after.created, after.in_flight) == (4, 0)
    check_books(store)


async def test_an_answer_lost_after_the_order_was_made_is_found_again_by_its_key(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    cross_border = providers[ProviderKind.CROSS_BORDER]
    cross_border.lose_next_answers(2)  # Bruno's and Chiyo's orders are made, the answers lost

    await runner.run(EVENT, "first")
    made = cross_border.orders
    assert status_of(store, BRUNO) is S.SUBMITTING
    assert await runner.recover() == 2

    assert cross_border.orders == made  # no second order
    for payee in (BRUNO, CHIYO):
        payout = store.payout_of(EVENT, payee)
        assert payout.status is S.SUBMITTED
        assert payout.provider_order_id == made[payout.idempotency_key].order_id
    check_books(store)


async def test_a_rejected_payout_fails_and_its_hold_is_released(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    providers[ProviderKind.CROSS_BORDER].answer_for(
        SubmitOutcome.REJECTED, beneficiaries=["Bruno Keller"]
    )

    summary = await runner.run(EVENT, "first")

    assert (summary.created, summary.failed, summary.skipped) == (3, 1, 5)
    bruno = store.payout_of(EVENT, BRUNO)
    assert (bruno.status, bruno.failure_code) == (S.FAILED, "account_closed")
    assert store.items(summary.run_id)[bruno.id] == Item(RunOutcome.FAILED, "account_closed")
    assert store.available(BRUNO, "USD") == usd("800.00")  # whole again
    assert orders_by_key(providers)[bruno.idempotency_key] == 0
    check_books(store)


async def test_a_run_that_dies_while_sending_keeps_its_claim_until_it_lapses(
    runner: PayoutRunner,
    store: InMemoryPayoutStore,
    providers: dict[ProviderKind, FakeProvider],
    clock: ManualClock,
) -> None:
    for provider in providers.values():
        provider.go_down(crash=True)
    with pytest.raises(ProviderCrash):
        await runner.run(EVENT, "first")
    for payee in PAYABLE:
        assert status_of(store, payee) is S.SUBMITTING
    check_books(store)
    for provider in providers.values():
        provider.come_back()  # the process restarts

    clock.advance(CLAIM - timedelta(seconds=1))
    assert await runner.recover() == 0  # the run's claim still stands
    clock.advance(timedelta(seconds=2))
    assert await runner.recover() == 4

    paid = {key_of(store, payee) for payee in PAYABLE}
    assert orders_by_key(providers) == Counter(paid)
    assert all(status_of(store, payee) is S.SUBMITTED for payee in PAYABLE)
    check_books(store)


async def test_a_run_resumed_with_its_key_sends_its_own_claimed_payouts_at_once(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    for provider in providers.values():
        provider.go_down(crash=True)
    with pytest.raises(ProviderCrash):
        await runner.run(EVENT, "first")
    for provider in providers.values():
        provider.come_back()  # the process restarts

    resumed = await runner.run(EVENT, "first")  # no time has passed: the claim is its own

    assert (resumed.created, resumed.skipped, resumed.in_flight) == (4, 5, 0)
    paid = {key_of(store, payee) for payee in PAYABLE}
    assert orders_by_key(providers) == Counter(paid)
    check_books(store)


# --- runs at the same time ------------------------------------------------------------------


async def test_two_runs_at_once_create_each_payout_once_and_leave_each_others_alone(
    store: InMemoryPayoutStore, clock: ManualClock
) -> None:
    """Found from outside once: the later run took the first run's payouts, still being
    sent, for a crash's leftovers and asked the bank about them again."""
    providers = fake_providers(clock, turns=1)  # each send gives way once, so runs interleave
    runner = PayoutRunner(store, providers, clock, lease=CLAIM)

    summaries = await asyncio.gather(runner.run(EVENT, "a"), runner.run(EVENT, "b"))

    assert sum(s.created for s in summaries) == len(PAYABLE)
    assert sum(s.in_flight for s in summaries) == 0
    paid = {key_of(store, payee) for payee in PAYABLE}
    assert asked(providers) == Counter(paid)  # nobody re-asked about a payout in flight
    assert orders_by_key(providers) == Counter(paid)
    submitted = Counter(c.payout_id for c in store.changes if c.target is S.SUBMITTED)
    assert submitted == Counter(store.payout_of(EVENT, payee).id for payee in PAYABLE)
    check_books(store)


# --- later runs and later news ----------------------------------------------------------------


async def test_a_skipped_payee_whose_details_are_fixed_is_paid_by_the_next_run(
    runner: PayoutRunner, store: InMemoryPayoutStore, providers: dict[ProviderKind, FakeProvider]
) -> None:
    await runner.run(EVENT, "first")
    store.update_payee(NORA, PayeeProfile("SE", PaymentMethod.BANK_TRANSFER), NORAS_NEW_ACCOUNT)

    summary = await runner.run(EVENT, "second")

    assert summary.created == 1
    assert dict(summary.skip_breakdown) == {
        "existing_payment_order": 4,
        **{reason: 1 for payee, reason in WHY_NOT.items() if payee != NORA},
    }
    nora = store.payout_of(EVENT, NORA)
    assert [(c.source, c.target) for c in store.changes if c.payout_id == nora.id] == [
        (None, S.SKIPPED),
        (S.SKIPPED, S.PENDING),
        (S.PENDING, S.SUBMITTING),
        (S.SUBMITTING, S.SUBMITTED),
    ]
    assert orders_by_key(providers)[nora.idempotency_key] == 1
    check_books(store)


async def test_settled_then_returned_the_payees_money_is_whole_again(
    runner: PayoutRunner,
    store: InMemoryPayoutStore,
    providers: dict[ProviderKind, FakeProvider],
    clock: ManualClock,
) -> None:
    await runner.run(EVENT, "first")
    ada = store.payout_of(EVENT, ADA)
    ach = providers[ProviderKind.ACH]

    settled = ach.set_status(ada.idempotency_key, OrderStatus.COMPLETED)
    assert store.report(ada.id, settled.status, clock.now())
    assert status_of(store, ADA) is S.COMPLETED
    assert store.available(ADA, "USD") == usd("0.00")  # paid out, no longer merely held
    assert store.balance(ADA, "USD") == Balance(posted_debits=120_000, posted_credits=120_000)
    check_books(store)

    assert store.report(ada.id, OrderStatus.RETURNED, clock.now())
    assert status_of(store, ADA) is S.RETURNED
    assert store.available(ADA, "USD") == usd("1200.00")
    check_books(store)


async def test_a_return_seen_before_the_settlement_still_settles_first(
    runner: PayoutRunner, store: InMemoryPayoutStore, clock: ManualClock
) -> None:
    await runner.run(EVENT, "first")
    bruno = store.payout_of(EVENT, BRUNO)

    assert store.report(bruno.id, OrderStatus.RETURNED, clock.now())

    steps = [(c.source, c.target) for c in store.changes if c.payout_id == bruno.id]
    assert steps[-2:] == [(S.SUBMITTED, S.COMPLETED), (S.COMPLETED, S.RETURNED)]
    assert store.available(BRUNO, "USD") == usd("800.00")
    check_books(store)


# --- what the store refuses ------------------------------------------------------------------


async def test_the_store_refuses_moves_the_lifecycle_does_not_allow(
    runner: PayoutRunner, store: InMemoryPayoutStore, clock: ManualClock
) -> None:
    await runner.run(EVENT, "first")
    ada = store.payout_of(EVENT, ADA)
    steps = len(store.changes)

    with pytest.raises(IllegalTransition):
        store.move(ada.id, S.PENDING, trigger=Trigger.RUN, now=clock.now())  # no way back
    with pytest.raises(IllegalTransition):
        store.move(ada.id, S.COMPLETED, trigger=Trigger.RUN, now=clock.now())  # only a bank says so
    with pytest.raises(IllegalTransition):
        store.move(ada.id, S.CANCELLED, trigger=Trigger.OPERATOR, now=clock.now())  # already sent

    assert status_of(store, ADA) is S.SUBMITTED
    assert len(store.changes) == steps
    check_books(store)


async def test_a_late_copy_of_an_answer_changes_nothing(
    runner: PayoutRunner, store: InMemoryPayoutStore, clock: ManualClock
) -> None:
    await runner.run(EVENT, "first")
    ada = store.payout_of(EVENT, ADA)
    steps = len(store.changes)
    assert ada.provider is not None and ada.order_request is not None
    submission = Submission(ada.id, ada.provider, ada.order_request, ada.run_id)
    late = SubmitResult(SubmitOutcome.REJECTED, error_code="late", error_message="late")

    await store.record_results(None, [SubmissionResult(submission, late)], clock.now())

    again = store.payout_of(EVENT, ADA)
    assert (again.status, again.failure_code) == (S.SUBMITTED, None)
    assert len(store.changes) == steps
    check_books(store)


# --- merchant payouts: planned in the domain, held, sent by the dispatcher ---------------------


async def test_the_dispatcher_sends_a_merchants_pending_payout_once(
    runner: PayoutRunner,
    store: InMemoryPayoutStore,
    providers: dict[ProviderKind, FakeProvider],
    clock: ManualClock,
) -> None:
    merchant = 501
    profile, account = sample_payee("IN", 501, "Acme Agency")
    assert account is not None
    store.add_merchant(merchant, Money.parse("10000.00", "INR"), profile, account)
    request = PayoutRequest(merchant, Money.parse("2500.00", "INR"), 1, "merchant-key-1")
    planned = plan_payout(request, profile, account, store.balance(merchant, "INR"), clock.now())
    assert isinstance(planned, PlannedPayout)
    payout_id = store.request_payout(merchant, planned, clock.now())
    assert store.available(merchant, "INR") == Money.parse("7500.00", "INR")

    assert await runner.dispatch() == 1
    assert await runner.dispatch() == 0

    assert store.payout(payout_id).status is S.SUBMITTED
    assert asked(providers) == Counter({planned.order.idempotency_key: 1})
    assert store.available(merchant, "INR") == Money.parse("7500.00", "INR")


class _BatchLog(InMemoryPayoutStore):
    """The in-memory store, noting each evaluation batch's size and how many orders the
    providers held when it was written."""

    def __init__(self, providers: dict[ProviderKind, FakeProvider]) -> None:
        super().__init__(claim=CLAIM)
        self.providers = providers
        self.batches: list[tuple[int, int]] = []

    async def record_evaluations(
        self, run_id: int, evaluations: Sequence[Evaluation], now: datetime
    ) -> list[Submission]:
        held = sum(len(p.orders) for p in self.providers.values())
        self.batches.append((len(evaluations), held))
        return await super().record_evaluations(run_id, evaluations, now)


async def test_a_large_run_sends_its_first_orders_before_the_rest_is_evaluated(
    providers: dict[ProviderKind, FakeProvider], clock: ManualClock
) -> None:
    store = _BatchLog(providers)
    payees = range(100, 400)
    store.add_event(
        EVENT, [(pid, usd("10.00"), *sample_payee("US", pid, f"Payee {pid}")) for pid in payees]
    )
    summary = await PayoutRunner(store, providers, clock, batch_size=500).run(EVENT, "k")
    assert summary.created == len(payees)
    # 32 payouts are committed first, and the providers are already paying them while
    # the next batches (doubling in size; what fits in twice the step goes at once) are
    # evaluated.
    assert [size for size, _ in store.batches] == [32, 64, 204]
    assert store.batches[1][1] > 0
    assert sum(orders_by_key(providers).values()) == len(payees)
