"""The payout state machine, exhaustively: every (from, to) pair is allowed or refused."""

from itertools import product

import pytest

from domain.errors import IllegalTransition
from domain.payouts import TERMINAL, PayoutStatus, transition

S = PayoutStatus
LEGAL = {
    (S.SKIPPED, S.PENDING),
    (S.SKIPPED, S.SKIPPED),
    (S.PENDING, S.SUBMITTING),
    (S.PENDING, S.CANCELLED),
    (S.SUBMITTING, S.SUBMITTED),
    (S.SUBMITTING, S.FAILED),
    (S.SUBMITTED, S.COMPLETED),
    (S.SUBMITTED, S.FAILED),
    (S.COMPLETED, S.RETURNED),
}


@pytest.mark.parametrize(("current", "target"), list(product(S, S)))
def test_every_pair(current: PayoutStatus, target: PayoutStatus) -> None:
    if (current, target) in LEGAL:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=f"{current}.*{target}"):
            transition(current, target)


def test_terminal_states_go_nowhere() -> None:
    assert {S.FAILED, S.RETURNED, S.CANCELLED} == TERMINAL
