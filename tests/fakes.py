"""In-memory fakes of the ports, so unit tests drive the domain without a database or HTTP.

``InMemoryPayoutStore`` is ``domain.runs.PayoutStore`` on plain dicts, the way
cosmicpython's fake repositories stand in for SQL. It keeps the rules the SQL store
keeps: payouts move only along ``domain.lifecycle`` paths (an illegal one raises
``IllegalTransition``), each step writes its ledger effect, writes are guarded by the
status a path starts from, (event, payee) is unique, a run claims what it makes
``submitting``, and every public method is all-or-nothing, like a transaction.

``FakeProvider`` is ``domain.ports.PaymentProvider`` holding one order per idempotency
key, with scripted refusals, outages, lost answers and crashes.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter, deque
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count

from domain import ledger
from domain.bank_details import BankAccount
from domain.clock import ManualClock
from domain.eligibility import PayeeProfile, SkipReason
from domain.errors import IllegalTransition, LedgerInconsistent, NotFound
from domain.lifecycle import (
    REEVALUATED_BY_RUNS,
    LedgerEffect,
    Path,
    PayoutStatus,
    Trigger,
    reported_path,
)
from domain.merchant_payouts import PlannedPayout
from domain.money import Money, convert
from domain.ports import (
    Attempt,
    FxQuote,
    OrderStatus,
    PaymentOrderRequest,
    ProviderKind,
    ProviderOrder,
    RunHandle,
    RunOutcome,
    RunSummary,
    SettlementEntry,
    SettlementReport,
    Submission,
    SubmitOutcome,
    SubmitResult,
)
from domain.rails import INTERNATIONAL_WIRE, PaymentMethod, rail_for_country
from domain.runs import Candidate, Evaluation, SubmissionResult, outcome_of
from service.demo_accounts import sample_account_details

S = PayoutStatus

# --- payees ---------------------------------------------------------------------------


def sample_account(country: str, seed: int, holder: str) -> BankAccount:
    """A valid account for the rail that serves ``country``, held there in its currency."""
    rail = rail_for_country(country) or INTERNATIONAL_WIRE
    details = sample_account_details(country, seed)
    return BankAccount(f"ba-{country}-{seed}", holder, country, rail.currency, details)


def sample_payee(
    country: str | None,
    seed: int,
    holder: str,
    *,
    method: PaymentMethod | str = PaymentMethod.BANK_TRANSFER,
    with_account: bool = True,
) -> tuple[PayeeProfile, BankAccount | None]:
    """A payee living in ``country`` with (unless told otherwise) an account there."""
    account = sample_account(country or "US", seed, holder) if with_account else None
    return PayeeProfile(country=country, payment_method=method), account


# --- what the store holds ---------------------------------------------------------------


@dataclass
class StoredPayout:
    id: int
    event_id: int | None
    payee_id: int
    amount: Money
    idempotency_key: str
    status: PayoutStatus | None = None  # None only while it is being created
    run_id: int | None = None
    allocation_id: int | None = None
    provider: ProviderKind | None = None
    rail: str | None = None
    order_request: PaymentOrderRequest | None = None
    skip_reason: str | None = None
    skip_detail: str | None = None
    claimed_until: datetime | None = None
    provider_order_id: str | None = None
    failure_code: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One step a payout took, as the audit trail records it."""

    payout_id: int
    source: PayoutStatus | None
    target: PayoutStatus
    effect: LedgerEffect
    trigger: Trigger
    run_id: int | None


@dataclass(frozen=True, slots=True)
class Allocation:
    id: int
    event_id: int
    payee_id: int
    amount: Money


@dataclass(frozen=True, slots=True)
class Item:
    """What one run did with one payout (``payout_run_items``)."""

    outcome: RunOutcome
    reason: str | None


@dataclass
class StoredRun:
    id: int
    event_id: int
    idempotency_key: str
    started_at: datetime
    status: str = "running"
    finished_at: datetime | None = None
    counts: dict[RunOutcome, int] = field(default_factory=dict)  # as last stored


@dataclass
class _State:
    events: dict[str, int] = field(default_factory=dict)  # code -> id
    allocations: list[Allocation] = field(default_factory=list)
    payees: dict[int, tuple[PayeeProfile, BankAccount | None]] = field(default_factory=dict)
    payouts: dict[int, StoredPayout] = field(default_factory=dict)
    runs: dict[int, StoredRun] = field(default_factory=dict)
    items: dict[tuple[int, int], Item] = field(default_factory=dict)  # (run, payout)
    journal: list[tuple[int | None, ledger.Transfer]] = field(default_factory=list)
    balances: dict[str, ledger.Balance] = field(default_factory=dict)
    holds: dict[int, ledger.Transfer] = field(default_factory=dict)  # open reserve by payout
    settled: dict[int, ledger.Transfer] = field(default_factory=dict)  # post by payout
    changes: list[StatusChange] = field(default_factory=list)


class InMemoryPayoutStore:
    """``domain.runs.PayoutStore`` in memory; see the module docstring for what it keeps."""

    def __init__(self, claim: timedelta = timedelta(minutes=5)) -> None:
        self._claim = claim  # how long a run or the dispatcher holds what it is sending
        self._state = _State()
        self._ids = count(1)

    # --- seeding and reading, for tests -------------------------------------------------

    def add_event(
        self,
        code: str,
        allocations: Sequence[tuple[int, Money, PayeeProfile, BankAccount | None]],
    ) -> int:
        """An event allocating to each payee (who is created or updated), with each positive
        allocation credited to the payee's payable, as creating an event does."""
        state = self._state
        if code in state.events:
            raise ValueError(f"an event with code {code!r} already exists")
        payees = [payee_id for payee_id, *_ in allocations]
        if len(set(payees)) != len(payees):
            raise ValueError("one allocation per payee")
        event_id = state.events[code] = next(self._ids)
        for payee_id, amount, profile, account in allocations:
            state.payees[payee_id] = (profile, account)
            state.allocations.append(Allocation(next(self._ids), event_id, payee_id, amount))
            if amount.is_positive:
                self._write(None, ledger.allocate(payee_id, amount))
        return event_id

    def update_payee(
        self, payee_id: int, profile: PayeeProfile, account: BankAccount | None
    ) -> None:
        self._state.payees[payee_id] = (profile, account)

    def add_merchant(
        self, payee_id: int, opening: Money, profile: PayeeProfile, account: BankAccount
    ) -> None:
        """A merchant with an opening balance it may request payouts against."""
        self._state.payees[payee_id] = (profile, account)
        self._write(None, ledger.fund_merchant(payee_id, opening))

    def request_payout(self, payee_id: int, planned: PlannedPayout, now: datetime) -> int:
        """A merchant's payout as ``plan_payout`` decided it: pending, its amount held."""
        with self._atomic():
            order = planned.order
            payout = StoredPayout(
                next(self._ids), None, payee_id, order.amount, order.idempotency_key
            )
            payout.provider = planned.decision.rail.provider
            payout.rail = planned.decision.rail.code
            payout.order_request = order
            self._take(payout, Path.of(None, S.PENDING), Trigger.PAYEE, now)
            self._state.payouts[payout.id] = payout
            return payout.id

    def payout(self, payout_id: int) -> StoredPayout:
        return self._state.payouts[payout_id]

    def payout_of(self, event_code: str, payee_id: int) -> StoredPayout:
        event_id = self._state.events[event_code]
        found = self._payout_for(event_id, payee_id)
        if found is None:
            raise KeyError(f"payee {payee_id} has no payout for {event_code}")
        return found

    def payouts(self) -> list[StoredPayout]:
        return sorted(self._state.payouts.values(), key=lambda p: p.id)

    def items(self, run_id: int) -> dict[int, Item]:
        """The run's items by payout id."""
        return {pid: item for (rid, pid), item in self._state.items.items() if rid == run_id}

    @property
    def changes(self) -> list[StatusChange]:
        return list(self._state.changes)

    @property
    def balances(self) -> dict[str, ledger.Balance]:
        return dict(self._state.balances)

    def balance(self, payee_id: int, currency: str) -> ledger.Balance | None:
        """The payee's payable totals in ``currency``; None if it never had any."""
        return self._state.balances.get(ledger.payable(payee_id, currency).code)

    def available(self, payee_id: int, currency: str) -> Money:
        """What the payee may still be paid: posted credits - posted debits - held."""
        account = ledger.payable(payee_id, currency)
        totals = self._state.balances.get(account.code, ledger.Balance())
        return Money(totals.available(account.type), currency)

    # --- moving payouts the way the other writers do, for tests ---------------------------

    def move(self, payout_id: int, *targets: PayoutStatus, trigger: Trigger, now: datetime) -> None:
        """Take the payout through ``targets`` from where it is, as ``trigger``."""
        with self._atomic():
            payout = self._state.payouts[payout_id]
            self._take(payout, Path.of(payout.status, *targets), trigger, now)

    def report(self, payout_id: int, status: OrderStatus, now: datetime) -> bool:
        """A provider's status report, as the poller applies it; False if it moves nothing."""
        with self._atomic():
            payout = self._state.payouts[payout_id]
            assert payout.status is not None
            path = reported_path(payout.status, status)
            if path is None:
                return False
            self._take(payout, path, Trigger.PROVIDER_REPORT, now)
            return True

    # --- runs ---------------------------------------------------------------------------

    async def open_run(self, event_code: str, idempotency_key: str, now: datetime) -> RunHandle:
        with self._atomic():
            event_id = self._state.events.get(event_code)
            if event_id is None:
                raise NotFound(f"no liquidation event {event_code!r}", field="liquidationEventId")
            run = self._find_run(event_id, idempotency_key)
            if run is None:
                run = StoredRun(next(self._ids), event_id, idempotency_key, now)
                self._state.runs[run.id] = run
            return RunHandle(run.id, event_id, event_code, run.status == "completed")

    async def run_handle(self, run_id: int) -> RunHandle:
        run = self._state.runs[run_id]
        code = next(c for c, ident in self._state.events.items() if ident == run.event_id)
        return RunHandle(run.id, run.event_id, code, run.status == "completed")

    async def stop_requested(self, run_id: int) -> bool:
        return False

    async def load_candidates(self, event_id: int) -> list[Candidate]:
        candidates = []
        for allocation in self._state.allocations:
            if allocation.event_id != event_id:
                continue
            profile, account = self._state.payees[allocation.payee_id]
            payout = self._payout_for(event_id, allocation.payee_id)
            candidates.append(
                Candidate(
                    allocation_id=allocation.id,
                    payee_id=allocation.payee_id,
                    amount=allocation.amount,
                    payee=profile,
                    account=account,
                    payout_id=payout.id if payout else None,
                    payout_status=payout.status if payout else None,
                    payout_key=payout.idempotency_key if payout else None,
                )
            )
        return candidates

    async def record_evaluations(
        self, run_id: int, evaluations: Sequence[Evaluation], now: datetime
    ) -> list[Submission]:
        with self._atomic():
            sent = []
            for e in evaluations:
                payout = self._record(run_id, e, now)
                if payout is None:  # another run created or moved it first
                    continue
                self._state.items.setdefault((run_id, payout.id), _evaluation_item(e))
                if e.pays and e.order_request is not None:
                    sent.append(_submission(payout))
            return sent

    async def refresh_counts(self, run_ids: Sequence[int]) -> None:
        with self._atomic():
            for run_id in run_ids:
                self._store_counts(run_id)

    async def finish_run(self, run_id: int, now: datetime) -> RunSummary:
        with self._atomic():
            self._store_counts(run_id)
            run = self._state.runs[run_id]
            run.status, run.finished_at = "completed", now
        return await self.run_summary(run_id)

    async def run_summary(self, run_id: int) -> RunSummary:
        run = self._state.runs.get(run_id)
        if run is None:
            raise NotFound(f"no run {run_id}", field="id")
        skipped = Counter(
            item.reason or "unknown"
            for item in self.items(run_id).values()
            if item.outcome is RunOutcome.SKIPPED
        )
        breakdown = tuple(sorted(skipped.items(), key=lambda pair: (-pair[1], pair[0])))
        code = next(c for c, eid in self._state.events.items() if eid == run.event_id)
        counts = {o: run.counts.get(o, 0) for o in RunOutcome}
        return RunSummary(
            run_id=run.id,
            event_code=code,
            status=run.status,
            total=sum(counts.values()),
            created=counts[RunOutcome.CREATED],
            skipped=counts[RunOutcome.SKIPPED],
            failed=counts[RunOutcome.FAILED],
            in_flight=counts[RunOutcome.IN_FLIGHT],
            skip_breakdown=breakdown,
            already_submitted=skipped[SkipReason.EXISTING_PAYMENT_ORDER.value],
        )

    # --- submission -----------------------------------------------------------------------

    async def claim_pending(self, limit: int, now: datetime) -> list[Submission]:
        with self._atomic():
            ad_hoc = [p for p in self.payouts() if p.status is S.PENDING and p.event_id is None]
            pending = ad_hoc[:limit]
            for payout in pending:
                payout.claimed_until = now + self._claim
                self._take(payout, Path.of(S.PENDING, S.SUBMITTING), Trigger.DISPATCHER, now)
            return [_submission(p) for p in pending]

    async def submitting(
        self, event_id: int | None, keys: Collection[str] | None = None
    ) -> list[Submission]:
        return [
            _submission(p)
            for p in self.payouts()
            if p.status is S.SUBMITTING
            and (event_id is None or p.event_id == event_id)
            and (keys is None or p.idempotency_key in keys)
        ]

    async def claim_submitting(
        self,
        untouched_since: datetime,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        payout_ids: Sequence[int] | None = None,
        own_run: int | None = None,
    ) -> list[Submission]:
        with self._atomic():
            wanted = set(payout_ids) if payout_ids is not None else None
            free = [
                p
                for p in self.payouts()
                if p.status is S.SUBMITTING
                and p.updated_at is not None
                and p.updated_at <= untouched_since
                and (wanted is None or p.id in wanted)
                and _claimable(p, now, own_run)
            ]
            chosen = free if limit is None else free[:limit]
            for payout in chosen:
                payout.claimed_until = now + lease
            return [_submission(p) for p in chosen]

    async def record_results(
        self, run_id: int | None, results: Sequence[SubmissionResult], now: datetime
    ) -> None:
        with self._atomic():
            earlier: set[int] = set()
            for r in results:
                payout = self._state.payouts.get(r.submission.payout_id)
                if payout is None or payout.status is not S.SUBMITTING:
                    continue  # answered already: a later copy changes nothing
                self._answer(payout, run_id, r, now)
                if r.submission.run_id is not None and r.submission.run_id != run_id:
                    earlier.add(r.submission.run_id)
            for rid in sorted(earlier):
                self._store_counts(rid)

    # --- inside ---------------------------------------------------------------------------

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """All or nothing, like the SQL store's transaction per method. A failed call puts
        the state back as it was: payouts read before it are then stale, read them again."""
        before = copy.deepcopy(self._state)
        try:
            yield
        except BaseException:
            self._state = before
            raise

    def _find_run(self, event_id: int, key: str) -> StoredRun | None:
        return next(
            (
                r
                for r in self._state.runs.values()
                if r.event_id == event_id and r.idempotency_key == key
            ),
            None,
        )

    def _payout_for(self, event_id: int, payee_id: int) -> StoredPayout | None:
        return next(
            (
                p
                for p in self._state.payouts.values()
                if p.event_id == event_id and p.payee_id == payee_id
            ),
            None,
        )

    def _record(self, run_id: int, e: Evaluation, now: datetime) -> StoredPayout | None:
        """Write one evaluation; the payout it is about, or None if it was not written."""
        c = e.candidate
        event_id = self._state.runs[run_id].event_id
        if e.is_new:
            if self._payout_for(event_id, c.payee_id) is not None:
                return None
            payout = StoredPayout(
                next(self._ids), event_id, c.payee_id, c.amount, e.idempotency_key
            )
            payout.allocation_id = c.allocation_id
            self._evaluated(payout, run_id, e, now)
            self._take(payout, _path_of(e), Trigger.RUN, now)
            self._state.payouts[payout.id] = payout
            return payout
        assert c.payout_id is not None
        payout = self._state.payouts[c.payout_id]
        if c.payout_status not in REEVALUATED_BY_RUNS:
            return payout  # an existing payment order: only this run's item says so
        if payout.status is not c.payout_status:
            return None  # moved on since it was loaded
        self._evaluated(payout, run_id, e, now)
        if e.pays:
            self._take(payout, _path_of(e), Trigger.RUN, now)
        return payout

    def _evaluated(self, payout: StoredPayout, run_id: int, e: Evaluation, now: datetime) -> None:
        decision = e.eligibility.decision if e.eligibility else None
        reason = e.skip_reason if not e.pays else None
        payout.run_id = run_id
        payout.provider = decision.rail.provider if decision else None
        payout.rail = decision.rail.code if decision else None
        payout.order_request = e.order_request
        payout.skip_reason = reason.value if reason else None
        payout.skip_detail = "; ".join(f.detail for f in e.findings) or None
        payout.claimed_until = now + self._claim if e.pays else None
        payout.updated_at = now

    def _answer(
        self, payout: StoredPayout, run_id: int | None, r: SubmissionResult, now: datetime
    ) -> None:
        outcome, status = outcome_of(r.result)
        # The run that made it submitting learns its fate too, not only the one that asked.
        for rid in {run_id or r.submission.run_id, r.submission.run_id} - {None}:
            assert rid is not None
            self._state.items[(rid, payout.id)] = Item(outcome, r.result.error_code)
        if status is None:  # no answer: free it for the next recovery at once
            payout.claimed_until = None
            return
        if r.result.order is not None:
            payout.provider_order_id = r.result.order.order_id
        else:
            payout.failure_code = r.result.error_code
        self._take(payout, Path.of(S.SUBMITTING, status), Trigger.PROVIDER_ANSWER, now)

    def _take(self, payout: StoredPayout, path: Path, trigger: Trigger, now: datetime) -> None:
        """The only status writer: each step's ledger effect and its audit record."""
        if not path.allowed_for(trigger):
            raise IllegalTransition(
                f"{trigger} may not move a payout {path.source or 'new'} -> {path.target}"
            )
        if path.source is not payout.status:
            raise IllegalTransition(f"payout {payout.id} is {payout.status}, not {path.source}")
        for step in path.steps:
            self._effect(payout, step.effect)
            self._state.changes.append(
                StatusChange(
                    payout.id, step.source, step.target, step.effect, trigger, payout.run_id
                )
            )
        payout.status, payout.updated_at = path.target, now

    def _effect(self, payout: StoredPayout, effect: LedgerEffect) -> None:
        state = self._state
        if effect is LedgerEffect.RESERVE:
            hold = _hold(payout)
            owed = hold.legs[0].account
            totals = state.balances.get(owed.code, ledger.Balance())
            ledger.check_available(totals, owed.type, payout.amount)
            self._write(payout.id, hold)
            state.holds[payout.id] = hold
        elif effect in (LedgerEffect.POST, LedgerEffect.VOID):
            if payout.id not in state.holds:
                raise LedgerInconsistent(f"payout {payout.id} has no open hold to {effect}")
            hold = state.holds.pop(payout.id)
            if effect is LedgerEffect.POST:
                state.settled[payout.id] = ledger.post(hold)
                self._write(payout.id, state.settled[payout.id])
            else:
                self._write(payout.id, ledger.void(hold))
        elif effect is LedgerEffect.REVERSE:
            if payout.id not in state.settled:
                raise LedgerInconsistent(f"payout {payout.id} has no settlement to reverse")
            settled = state.settled.pop(payout.id)
            self._write(payout.id, ledger.reverse(settled, kind=ledger.Kind.RETURN))

    def _write(self, payout_id: int | None, transfer: ledger.Transfer) -> None:
        self._state.journal.append((payout_id, transfer))
        for code, delta in ledger.balance_deltas(transfer).items():
            self._state.balances[code] = self._state.balances.get(code, ledger.Balance()) + delta

    def _store_counts(self, run_id: int) -> None:
        counted = Counter(item.outcome for item in self.items(run_id).values())
        self._state.runs[run_id].counts = {o: counted[o] for o in RunOutcome}


def _path_of(e: Evaluation) -> Path:
    if e.pays:
        return Path.of(e.candidate.payout_status, S.PENDING, S.SUBMITTING)
    return Path.of(e.candidate.payout_status, S.SKIPPED)


def _evaluation_item(e: Evaluation) -> Item:
    if e.pays:
        return Item(RunOutcome.IN_FLIGHT, None)
    reason = e.skip_reason
    return Item(RunOutcome.SKIPPED, reason.value if reason else None)


def _claimable(payout: StoredPayout, now: datetime, own_run: int | None) -> bool:
    """Nobody claims it, the claim has lapsed, or it is the resumed run's own."""
    lapsed = payout.claimed_until is None or payout.claimed_until < now
    return lapsed or (own_run is not None and payout.run_id == own_run)


def _hold(payout: StoredPayout) -> ledger.Transfer:
    if payout.provider is None:
        raise LedgerInconsistent(f"payout {payout.id} has no provider, so it cannot hold money")
    return ledger.reserve(payout.payee_id, payout.amount, payout.provider.value)


def _submission(payout: StoredPayout) -> Submission:
    assert payout.provider is not None and payout.order_request is not None
    return Submission(payout.id, payout.provider, payout.order_request, payout.run_id)


# --- the provider ------------------------------------------------------------------------


class ProviderCrash(Exception):
    """The process dies while the provider is being called (no answer is ever written)."""


@dataclass(frozen=True, slots=True)
class _Scripted:
    outcome: SubmitOutcome | None  # None: the process crashes during the call
    stores: bool = False  # the order is stored before the answer is lost


class FakeProvider:
    """``domain.ports.PaymentProvider`` in memory: one order per idempotency key.

    ``turns``: how many times a create gives way to other tasks (``asyncio.sleep(0)``)
    while it is on the wire, so that concurrent runs interleave.
    """

    def __init__(
        self,
        kind: ProviderKind,
        clock: ManualClock,
        *,
        fx_rate: Decimal = Decimal("0.9"),
        turns: int = 0,
    ) -> None:
        self.kind = kind
        self.turns = turns
        self._clock = clock
        self._fx_rate = fx_rate
        self._orders: dict[str, ProviderOrder] = {}  # by idempotency key
        self._next: deque[_Scripted] = deque()
        self._by_key: dict[str, SubmitOutcome] = {}
        self._by_beneficiary: dict[str, SubmitOutcome] = {}
        self._down: _Scripted | None = None
        self.asked: list[str] = []  # the key of every create_order call, in order
        self.fx_asked: list[tuple[str, str]] = []

    # --- test controls ------------------------------------------------------------------

    @property
    def orders(self) -> dict[str, ProviderOrder]:
        return dict(self._orders)

    def answer_next(self, outcome: SubmitOutcome, times: int = 1) -> None:
        """The next ``times`` creates answer ``outcome`` (nothing is stored)."""
        self._next.extend([_Scripted(outcome)] * times)

    def lose_next_answers(self, times: int = 1) -> None:
        """The next ``times`` orders are stored, but the answer never arrives."""
        self._next.extend([_Scripted(SubmitOutcome.UNAVAILABLE, stores=True)] * times)

    def answer_for(
        self,
        outcome: SubmitOutcome,
        *,
        keys: Collection[str] = (),
        beneficiaries: Collection[str] = (),
    ) -> None:
        """Every create with one of these keys, or paying one of these names, answers
        ``outcome`` (REJECTED: the bank refuses that account)."""
        self._by_key.update(dict.fromkeys(keys, outcome))
        self._by_beneficiary.update(dict.fromkeys(beneficiaries, outcome))

    def go_down(self, *, crash: bool = False) -> None:
        """Every create answers UNAVAILABLE until ``come_back``; with ``crash``, the calling
        process dies during each create instead."""
        self._down = _Scripted(None) if crash else _Scripted(SubmitOutcome.UNAVAILABLE)

    def come_back(self) -> None:
        self._down = None

    def set_status(self, key: str, status: OrderStatus) -> ProviderOrder:
        """The order moves on at the provider (settles, fails, comes back)."""
        order = replace(self._orders[key], status=status, updated_at=self._clock.now())
        self._orders[key] = order
        return order

    # --- the port -----------------------------------------------------------------------

    async def create_order(self, request: PaymentOrderRequest) -> SubmitResult:
        key = request.idempotency_key
        self.asked.append(key)
        for _ in range(self.turns):
            await asyncio.sleep(0)
        scripted = self._scripted(request)
        if scripted is not None:
            if scripted.outcome is None:
                raise ProviderCrash(f"crashed while sending {key}")
            if scripted.stores:
                self._order_for(request)
            if scripted.outcome is not SubmitOutcome.ACCEPTED:
                return _refusal(scripted.outcome)
        replay = key in self._orders
        order = self._order_for(request)
        result = "http_200" if replay else "http_201"
        return SubmitResult(SubmitOutcome.ACCEPTED, order, attempts=(_attempt(result),))

    async def find_order(self, idempotency_key: str) -> ProviderOrder | None:
        return self._orders.get(idempotency_key)

    async def list_orders(self, changed_since: datetime | None = None) -> list[ProviderOrder]:
        return [order async for page in self.iter_orders(changed_since) for order in page]

    async def iter_orders(
        self, changed_since: datetime | None = None, page_size: int = 100
    ) -> AsyncIterator[list[ProviderOrder]]:
        changed = sorted(
            (
                o
                for o in self._orders.values()
                if not changed_since or o.updated_at >= changed_since
            ),
            key=lambda o: (o.updated_at, o.order_id),
        )
        for start in range(0, len(changed), page_size):
            yield changed[start : start + page_size]

    async def settlement_report(self, day: date) -> SettlementReport:
        settled = (OrderStatus.COMPLETED, OrderStatus.RETURNED)
        entries = tuple(
            SettlementEntry(o.order_id, o.idempotency_key, o.status, o.updated_at, o.amount)
            for o in self._orders.values()
            if o.status in settled and o.updated_at.date() == day
        )
        return SettlementReport(self.kind.value, day, entries)

    async def fx_quote(self, source_currency: str, target_currency: str) -> FxQuote:
        self.fx_asked.append((source_currency, target_currency))
        return FxQuote(source_currency, target_currency, self._fx_rate, self._clock.now())

    # --- inside ---------------------------------------------------------------------------

    def _scripted(self, request: PaymentOrderRequest) -> _Scripted | None:
        if self._next:
            return self._next.popleft()
        if self._down is not None:
            return self._down
        outcome = self._by_key.get(request.idempotency_key) or self._by_beneficiary.get(
            request.beneficiary_name
        )
        return _Scripted(outcome) if outcome is not None else None

    def _order_for(self, request: PaymentOrderRequest) -> ProviderOrder:
        key = request.idempotency_key
        if key not in self._orders:
            self._orders[key] = self._new_order(request)
        return self._orders[key]

    def _new_order(self, request: PaymentOrderRequest) -> ProviderOrder:
        now = self._clock.now()
        converts = request.target_currency != request.amount.currency
        return ProviderOrder(
            order_id=f"{self.kind.value}-order-{len(self._orders) + 1}",
            idempotency_key=request.idempotency_key,
            status=OrderStatus.PROCESSING,
            amount=request.amount,
            target_amount=(
                convert(request.amount, self._fx_rate, request.target_currency)
                if converts
                else request.amount
            ),
            fx_rate=self._fx_rate if converts else None,
            rail=request.rail,
            created_at=now,
            updated_at=now,
        )


def _attempt(result: str) -> Attempt:
    code = int(result.removeprefix("http_")) if result.startswith("http_") else None
    return Attempt(1, result, code, None)


def _refusal(outcome: SubmitOutcome) -> SubmitResult:
    if outcome is SubmitOutcome.REJECTED:
        return SubmitResult(
            outcome,
            None,
            "account_closed",
            "the beneficiary account is closed",
            (_attempt("http_422"),),
        )
    return SubmitResult(
        outcome, None, "http_503", "the provider is unavailable", (_attempt("http_503"),)
    )


def fake_providers(clock: ManualClock, *, turns: int = 0) -> dict[ProviderKind, FakeProvider]:
    """One fake provider of each kind, as a run needs them."""
    return {kind: FakeProvider(kind, clock, turns=turns) for kind in ProviderKind}
