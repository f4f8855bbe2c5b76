"""The payout lifecycle, stated as the business states it: worked examples of what may
and may not happen, and properties that every path through the table must keep.

Nothing here is read off ``STEPS``: each expectation is written from ARCHITECTURE's
lifecycle (a payout holds money while pending, submitting or submitted; failed,
returned and cancelled are final; only a provider says a payout settled, failed or
came back), so a wrong new row in the table fails a test instead of joining the key.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain import ledger
from domain.errors import IllegalTransition
from domain.lifecycle import (
    AGREES_WITH_ORDER,
    HOLDING,
    REEVALUATED_BY_RUNS,
    STEPS,
    LedgerEffect,
    Path,
    PayoutStatus,
    Step,
    Trigger,
    holding,
    reported_path,
)
from domain.money import Money
from domain.ports import OrderStatus

S = PayoutStatus
T = Trigger
IN_FLIGHT = {S.PENDING, S.SUBMITTING, S.SUBMITTED}
FINAL = {S.FAILED, S.RETURNED, S.CANCELLED}


# --- worked examples -------------------------------------------------------------------

LIVES = {
    "a run pays and the bank settles": (None, S.PENDING, S.SUBMITTING, S.SUBMITTED, S.COMPLETED),
    "the bank refuses the order": (None, S.PENDING, S.SUBMITTING, S.FAILED),
    "the bank fails it later": (None, S.PENDING, S.SUBMITTING, S.SUBMITTED, S.FAILED),
    "it settles, then comes back": (
        None,
        S.PENDING,
        S.SUBMITTING,
        S.SUBMITTED,
        S.COMPLETED,
        S.RETURNED,
    ),
    "a merchant cancels before it is sent": (None, S.PENDING, S.CANCELLED),
    "skipped, then paid by the next run": (None, S.SKIPPED, S.PENDING, S.SUBMITTING),
}


@pytest.mark.parametrize("life", LIVES.values(), ids=list(LIVES))
def test_the_lives_a_payout_can_have(life: tuple[PayoutStatus | None, ...]) -> None:
    path = Path.of(life[0], *life[1:])
    assert path.target is life[-1]


NEVER = {
    "a settled payout cannot fail": (S.COMPLETED, S.FAILED),
    "a payout at the bank cannot be cancelled": (S.SUBMITTED, S.CANCELLED),
    "nor one being sent": (S.SUBMITTING, S.CANCELLED),
    "failed is final": (S.FAILED, S.PENDING),
    "returned is final": (S.RETURNED, S.SUBMITTING),
    "cancelled is final": (S.CANCELLED, S.PENDING),
    "nothing is sent without its intent committed": (S.PENDING, S.SUBMITTED),
    "a skipped payout is not sent unreserved": (S.SKIPPED, S.SUBMITTING),
    "a new payout does not start at the bank": (None, S.SUBMITTED),
    "a return needs a settlement first": (S.SUBMITTED, S.RETURNED),
}


@pytest.mark.parametrize(("source", "target"), NEVER.values(), ids=list(NEVER))
def test_what_can_never_happen(source: PayoutStatus | None, target: PayoutStatus) -> None:
    with pytest.raises(IllegalTransition):
        Path.of(source, target)


def test_a_path_must_be_one_walk() -> None:
    first, second = Path.of(None, S.PENDING), Path.of(S.SUBMITTING, S.SUBMITTED)
    with pytest.raises(IllegalTransition):
        Path(first.steps + second.steps)
    with pytest.raises(IllegalTransition):
        Path(())


WHO = {
    "a merchant asks for a payout": (None, (S.PENDING,), T.PAYEE, True),
    "a merchant cancels its own": (S.PENDING, (S.CANCELLED,), T.PAYEE, True),
    "a merchant cannot say its payout settled": (S.SUBMITTED, (S.COMPLETED,), T.PAYEE, False),
    "an operator cannot either": (S.SUBMITTED, (S.COMPLETED,), T.OPERATOR, False),
    "a status report settles": (S.SUBMITTED, (S.COMPLETED,), T.PROVIDER_REPORT, True),
    "a report cannot record an order it never saw": (
        S.SUBMITTING,
        (S.SUBMITTED,),
        T.PROVIDER_REPORT,
        False,
    ),
    "the bank's answer records it": (S.SUBMITTING, (S.SUBMITTED,), T.PROVIDER_ANSWER, True),
    "a run reserves and commits the intent": (None, (S.PENDING, S.SUBMITTING), T.RUN, True),
    "a run cannot settle": (S.SUBMITTED, (S.COMPLETED,), T.RUN, False),
    "the dispatcher sends pending payouts": (S.PENDING, (S.SUBMITTING,), T.DISPATCHER, True),
}


@pytest.mark.parametrize(("source", "targets", "who", "may"), WHO.values(), ids=list(WHO))
def test_who_may_move_a_payout(
    source: PayoutStatus | None, targets: tuple[PayoutStatus, ...], who: Trigger, may: bool
) -> None:
    assert Path.of(source, *targets).allowed_for(who) is may


# --- properties of every path ----------------------------------------------------------


def _lives(
    life: tuple[PayoutStatus | None, ...] = (None,),
) -> Iterator[tuple[PayoutStatus | None, ...]]:
    """Every walk from creation through the table, each status at most once."""
    yield life
    for step in STEPS:
        if step.source is life[-1] and step.target not in life:
            yield from _lives((*life, step.target))


ALL_LIVES = list(_lives())[1:]


def test_every_status_can_be_reached() -> None:
    assert {life[-1] for life in ALL_LIVES} == set(PayoutStatus)


def test_final_statuses_go_nowhere() -> None:
    assert {s.source for s in STEPS} & FINAL == set()


def test_the_statuses_that_hold_money() -> None:
    assert HOLDING == IN_FLIGHT


def test_a_loop_in_the_table_is_walked_once() -> None:
    """An operator's hold that goes back to pending (a loop) still ends the walk."""
    on_hold = S.SKIPPED  # any status will do as the stand-in for a new one
    steps = (
        Step(None, S.PENDING, LedgerEffect.RESERVE, frozenset({T.RUN})),
        Step(S.PENDING, on_hold, LedgerEffect.NONE, frozenset({T.OPERATOR})),
        Step(on_hold, S.PENDING, LedgerEffect.NONE, frozenset({T.OPERATOR})),
    )
    assert holding(steps) == {S.PENDING, on_hold}


def test_a_status_that_holds_money_only_sometimes_is_refused() -> None:
    steps = (
        Step(None, S.PENDING, LedgerEffect.RESERVE, frozenset({T.RUN})),
        Step(None, S.SKIPPED, LedgerEffect.NONE, frozenset({T.RUN})),
        Step(S.SKIPPED, S.SUBMITTING, LedgerEffect.NONE, frozenset({T.RUN})),
        Step(S.PENDING, S.SUBMITTING, LedgerEffect.NONE, frozenset({T.RUN})),
    )
    with pytest.raises(AssertionError, match="submitting"):
        holding(steps)


def test_runs_evaluate_again_only_what_was_skipped() -> None:
    assert {S.SKIPPED} == REEVALUATED_BY_RUNS


@pytest.mark.parametrize("life", ALL_LIVES, ids=lambda life: "-".join(map(str, life[1:])))
def test_every_life_leaves_the_books_straight(life: tuple[PayoutStatus | None, ...]) -> None:
    """Allocate 25.00 to a payee, walk the life writing each step's ledger effect, and
    check the payee's balance as an accountant would: held while in flight, paid out
    once settled, owed again after a return or any other end."""
    amount = Money.parse("25.00", "USD")
    books = _write({}, ledger.allocate(1, amount))
    hold: ledger.Transfer | None = None
    settled: ledger.Transfer | None = None
    for step in Path.of(life[0], *life[1:]).steps:
        match step.effect:
            case LedgerEffect.RESERVE:
                assert hold is None, "reserved twice"
                hold = ledger.reserve(1, amount, "ach")
                books = _write(books, hold)
            case LedgerEffect.POST | LedgerEffect.VOID:
                assert hold is not None, f"{step.effect} with nothing held"
                done = ledger.post(hold) if step.effect is LedgerEffect.POST else ledger.void(hold)
                settled = done if step.effect is LedgerEffect.POST else None
                books, hold = _write(books, done), None
            case LedgerEffect.REVERSE:
                assert settled is not None, "a return of nothing settled"
                books = _write(books, ledger.reverse(settled, kind=ledger.Kind.RETURN))
    payee = books[ledger.payable(1, "USD").code]
    end = life[-1]
    assert payee.pending_out(ledger.AccountType.LIABILITY) == (2500 if end in IN_FLIGHT else 0)
    assert payee.posted_balance(ledger.AccountType.LIABILITY) == (0 if end is S.COMPLETED else 2500)


def _write(books: dict[str, ledger.Balance], t: ledger.Transfer) -> dict[str, ledger.Balance]:
    out = dict(books)
    for code, delta in ledger.balance_deltas(t).items():
        out[code] = out.get(code, ledger.Balance()) + delta
    return out


# --- a provider's report ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "reported", "walk"),
    [
        (S.SUBMITTED, OrderStatus.PROCESSING, None),
        (S.SUBMITTED, OrderStatus.COMPLETED, (S.COMPLETED,)),
        (S.SUBMITTED, OrderStatus.FAILED, (S.FAILED,)),
        (S.SUBMITTED, OrderStatus.RETURNED, (S.COMPLETED, S.RETURNED)),  # a missed settlement
        (S.COMPLETED, OrderStatus.RETURNED, (S.RETURNED,)),
        (S.SUBMITTING, OrderStatus.COMPLETED, None),  # recovery records the order first
        (S.SUBMITTING, OrderStatus.PROCESSING, None),
        (S.SUBMITTING, OrderStatus.FAILED, None),
        (S.COMPLETED, OrderStatus.FAILED, None),  # not a transition: a reconciliation break
        (S.RETURNED, OrderStatus.COMPLETED, None),
        (S.COMPLETED, OrderStatus.COMPLETED, None),
    ],
)
def test_a_report_walks_the_payout_to_what_the_bank_says(
    current: PayoutStatus, reported: OrderStatus, walk: tuple[PayoutStatus, ...] | None
) -> None:
    path = reported_path(current, reported)
    assert (tuple(s.target for s in path.steps) if path else None) == walk


def test_an_order_in_progress_agrees_with_a_submitted_payout() -> None:
    assert AGREES_WITH_ORDER[OrderStatus.PROCESSING] is S.SUBMITTED
    assert {AGREES_WITH_ORDER[o] for o in OrderStatus if o is not OrderStatus.PROCESSING} == {
        S(o.value) for o in OrderStatus if o is not OrderStatus.PROCESSING
    }
