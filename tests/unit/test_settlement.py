from itertools import product

import pytest

from domain.payouts import PayoutStatus, can_transition
from domain.ports import OrderStatus
from domain.settlement import path

S = PayoutStatus


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (S.SUBMITTED, OrderStatus.PROCESSING, ()),
        (S.SUBMITTED, OrderStatus.COMPLETED, (S.COMPLETED,)),
        (S.SUBMITTED, OrderStatus.FAILED, (S.FAILED,)),
        (S.SUBMITTED, OrderStatus.RETURNED, (S.COMPLETED, S.RETURNED)),
        (S.COMPLETED, OrderStatus.RETURNED, (S.RETURNED,)),
        (S.SUBMITTING, OrderStatus.COMPLETED, ()),  # recovery records the order first
        (S.SUBMITTING, OrderStatus.PROCESSING, ()),
        (S.SUBMITTING, OrderStatus.FAILED, ()),
        (S.COMPLETED, OrderStatus.FAILED, ()),  # not a transition: a reconciliation break
        (S.RETURNED, OrderStatus.COMPLETED, ()),
        (S.COMPLETED, OrderStatus.COMPLETED, ()),
    ],
)
def test_paths(current: PayoutStatus, reported: OrderStatus, expected: tuple) -> None:
    assert path(current, reported) == expected


@pytest.mark.parametrize(("current", "reported"), list(product(S, OrderStatus)))
def test_every_path_is_made_of_legal_steps(current: PayoutStatus, reported: OrderStatus) -> None:
    previous = current
    for step in path(current, reported):
        assert can_transition(previous, step)
        previous = step
