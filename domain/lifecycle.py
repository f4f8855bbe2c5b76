"""The payout lifecycle: one table of steps, and everything else derived from it.

    pending --> submitting --> submitted --> completed --> returned
       |            |              |
       |            +--> failed <--+
       +--> cancelled       skipped (re-evaluated by the next run)

Each ``Step`` says where a payout may go from where, what the ledger writes when it
does, which audit event records it and who may make it happen. The allowed moves,
the statuses that hold money, the way a provider's report walks a payout forward and
the order statuses reconciliation compares against are all read off ``STEPS``; the
persistence layer writes a payout's status only by applying a ``Path`` of them.

``submitting`` is committed *before* the provider is called, so a crash leaves a
payout that recovery re-asks the provider about with the same idempotency key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import IllegalTransition
from domain.ports import OrderStatus


class PayoutStatus(StrEnum):
    SKIPPED = "skipped"
    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class LedgerEffect(StrEnum):
    """What the ledger writes for a step (see ``domain.ledger`` for the transfers)."""

    NONE = "none"
    RESERVE = "reserve"  # a pending transfer holds the amount on the payee's balance
    POST = "post"  # the hold settles: pending -> posted
    VOID = "void"  # the hold is released
    REVERSE = "reverse"  # a settled payout came back: the posted transfer is undone


class Trigger(StrEnum):
    """Who may make a step happen."""

    RUN = "run"  # a payout run evaluating an event's allocations
    PAYEE = "payee"  # a merchant's own request or cancel
    OPERATOR = "operator"  # an ops key acting on a payout
    DISPATCHER = "dispatcher"  # the job that sends pending ad-hoc payouts
    PROVIDER_ANSWER = "provider_answer"  # the provider's answer to creating the order
    PROVIDER_REPORT = "provider_report"  # a later status report (poller, reconciliation)


STATUS_CHANGED = "payout.status_changed"


@dataclass(frozen=True, slots=True)
class Step:
    source: PayoutStatus | None  # None: the payout is created by this step
    target: PayoutStatus
    effect: LedgerEffect
    triggers: frozenset[Trigger]
    audit_action: str = STATUS_CHANGED


def _step(
    source: PayoutStatus | None, target: PayoutStatus, effect: LedgerEffect, *by: Trigger
) -> Step:
    return Step(source, target, effect, frozenset(by))


_S, _E, _T = PayoutStatus, LedgerEffect, Trigger
# fmt: off
STEPS: tuple[Step, ...] = (
    _step(None,           _S.SKIPPED,    _E.NONE,    _T.RUN),
    _step(None,           _S.PENDING,    _E.RESERVE, _T.RUN, _T.PAYEE, _T.OPERATOR),
    _step(_S.SKIPPED,     _S.PENDING,    _E.RESERVE, _T.RUN),
    _step(_S.PENDING,     _S.SUBMITTING, _E.NONE,    _T.RUN, _T.DISPATCHER),
    _step(_S.PENDING,     _S.CANCELLED,  _E.VOID,    _T.PAYEE, _T.OPERATOR),
    _step(_S.SUBMITTING,  _S.SUBMITTED,  _E.NONE,    _T.PROVIDER_ANSWER),
    _step(_S.SUBMITTING,  _S.FAILED,     _E.VOID,    _T.PROVIDER_ANSWER),
    _step(_S.SUBMITTED,   _S.COMPLETED,  _E.POST,    _T.PROVIDER_REPORT),
    _step(_S.SUBMITTED,   _S.FAILED,     _E.VOID,    _T.PROVIDER_REPORT),
    _step(_S.COMPLETED,   _S.RETURNED,   _E.REVERSE, _T.PROVIDER_REPORT),
)
# fmt: on
_BY_PAIR: dict[tuple[PayoutStatus | None, PayoutStatus], Step] = {
    (s.source, s.target): s for s in STEPS
}

# Where a provider's order status leaves a payout that agrees with it.
AGREES_WITH_ORDER: Mapping[OrderStatus, PayoutStatus] = {
    OrderStatus.PROCESSING: _S.SUBMITTED,
    OrderStatus.COMPLETED: _S.COMPLETED,
    OrderStatus.FAILED: _S.FAILED,
    OrderStatus.RETURNED: _S.RETURNED,
}


def step(source: PayoutStatus | None, target: PayoutStatus) -> Step:
    """The step from ``source`` (None: a new payout) to ``target``, or IllegalTransition."""
    found = _BY_PAIR.get((source, target))
    if found is None:
        where = f"a {source} payout" if source else "a new payout"
        raise IllegalTransition(f"{where} cannot become {target}")
    return found


def can_move(source: PayoutStatus | None, target: PayoutStatus) -> bool:
    return (source, target) in _BY_PAIR


@dataclass(frozen=True, slots=True)
class Path:
    """One payout's walk through consecutive steps, taken in one transaction."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise IllegalTransition("a path needs at least one step")
        for before, after in zip(self.steps, self.steps[1:], strict=False):
            if before.target is not after.source:
                raise IllegalTransition(f"{before.target} does not lead on from {after.source}")

    @classmethod
    def of(cls, source: PayoutStatus | None, *targets: PayoutStatus) -> Path:
        steps, previous = [], source
        for target in targets:
            steps.append(step(previous, target))
            previous = target
        return cls(tuple(steps))

    @property
    def source(self) -> PayoutStatus | None:
        return self.steps[0].source

    @property
    def target(self) -> PayoutStatus:
        return self.steps[-1].target

    def allowed_for(self, trigger: Trigger) -> bool:
        return all(trigger in s.triggers for s in self.steps)


def holding(steps: Iterable[Step]) -> frozenset[PayoutStatus]:
    """The statuses in which a payout has an open hold, found by walking every step from
    creation: a reserve opens the hold, a post or void closes it. A status that holds
    money on one path and not on another is a mistake in the table: it raises."""
    steps = tuple(steps)
    holds: dict[PayoutStatus, bool] = {}
    queue: deque[tuple[PayoutStatus | None, bool]] = deque([(None, False)])
    while queue:
        status, held = queue.popleft()
        for s in steps:
            if s.source is not status:
                continue
            now_held = _held_after(held, s.effect)
            if s.target in holds:  # seen: cycles end here, disagreements are loud
                if holds[s.target] != now_held:
                    raise AssertionError(f"{s.target} holds money on one path, not another")
                continue
            holds[s.target] = now_held
            queue.append((s.target, now_held))
    return frozenset(status for status, held in holds.items() if held)


def _held_after(held: bool, effect: LedgerEffect) -> bool:
    if effect is LedgerEffect.RESERVE:
        return True
    if effect in (LedgerEffect.POST, LedgerEffect.VOID):
        return False
    return held


HOLDING: frozenset[PayoutStatus] = holding(STEPS)
# Statuses a run evaluates again: those a run may move back to pending (and pay).
REEVALUATED_BY_RUNS: frozenset[PayoutStatus] = frozenset(
    s.source
    for s in STEPS
    if s.source is not None and s.target is _S.PENDING and Trigger.RUN in s.triggers
)


def reported_path(current: PayoutStatus, reported: OrderStatus) -> Path | None:
    """The steps a provider's status report takes ``current`` through; None if none.

    A poll can miss a moment (an order seen already returned was completed first), so
    the shortest walk over report-triggered steps is taken and each step writes its own
    ledger effect and audit row. A report the steps cannot reach (a completed payout
    reported failed, or a ``submitting`` one whose order id is not recorded yet) is
    not a transition but a discrepancy for reconciliation.
    """
    target = AGREES_WITH_ORDER[reported]
    if current is target:
        return None
    walk = _shortest(current, target, Trigger.PROVIDER_REPORT)
    return Path(walk) if walk else None


def _shortest(source: PayoutStatus, target: PayoutStatus, trigger: Trigger) -> tuple[Step, ...]:
    queue: deque[tuple[PayoutStatus, tuple[Step, ...]]] = deque([(source, ())])
    seen = {source}
    while queue:
        status, walked = queue.popleft()
        for s in _steps_from(status, trigger):
            if s.target is target:
                return (*walked, s)
            if s.target not in seen:
                seen.add(s.target)
                queue.append((s.target, (*walked, s)))
    return ()


def _steps_from(status: PayoutStatus, trigger: Trigger) -> Iterable[Step]:
    return (s for s in STEPS if s.source is status and trigger in s.triggers)
