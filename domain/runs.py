"""Payout runs: evaluate every allocation of an event, then pay the eligible ones.

A run is safe to repeat and to resume after a crash:

1. Evaluation writes, per batch and in one transaction, each payout as
   ``skipped`` (with its reasons) or straight through ``pending`` to
   ``submitting``: the intent to pay is committed before any provider call.
2. Submission starts as soon as a batch is committed (the next batch is evaluated
   while the providers work), then asks about every other ``submitting`` payout of
   the event, those left behind by a crashed run, always with the payout's own
   idempotency key, so the provider never holds two orders for one payout.
3. Answers are written back in batches; an unreachable provider leaves the
   payout ``submitting`` for the next run, the poller or start-up recovery.
4. A run cut off half-way (a lost database connection) is resumed with its key,
   which is what a restarted process does too: ``resume`` may do it in the same call.

A run creates attempt 1 of an (event, payee) only where none exists, so a second
run creates no new payouts; it reports the existing ones (the last attempt of each
allocation) as ``existing_payment_order``. A failed or returned payout is paid again
only by ``retryPayout``, never by a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from domain import log_context
from domain.bank_details import BankAccount
from domain.eligibility import (
    Eligibility,
    Finding,
    PayeeProfile,
    SkipReason,
    check_eligibility,
)
from domain.errors import InvalidInput, ProviderUnavailable
from domain.lifecycle import REEVALUATED_BY_RUNS, PayoutStatus
from domain.money import Money
from domain.orders import new_provider_key, order_for
from domain.ports import (
    Clock,
    PaymentOrderRequest,
    PaymentProvider,
    ProviderKind,
    ProviderOrder,
    RunHandle,
    RunOutcome,
    RunSummary,
    Submission,
    SubmitOutcome,
    SubmitResult,
)
from domain.rails import RAILS
from domain.run_workflow import PreviewItem, RunPreview, build_preview


@dataclass(frozen=True, slots=True)
class Candidate:
    """One allocation of the event, with what the store knows of its payee and payout."""

    allocation_id: int
    payee_id: int
    amount: Money
    payee: PayeeProfile
    account: BankAccount | None
    payout_id: int | None
    payout_status: PayoutStatus | None
    payout_key: str | None = None  # the provider idempotency key of an existing payout


@dataclass(frozen=True, slots=True)
class Evaluation:
    candidate: Candidate
    status: PayoutStatus  # SUBMITTING (pay it), SKIPPED, or the unchanged existing status
    eligibility: Eligibility | None  # None when an existing payment order short-cuts it
    idempotency_key: str  # the provider key of a new payout (kept for an existing one)

    @property
    def is_new(self) -> bool:
        return self.candidate.payout_id is None

    @property
    def skip_reason(self) -> SkipReason | None:
        if self.eligibility is None:
            return SkipReason.EXISTING_PAYMENT_ORDER
        return self.eligibility.primary_reason

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.eligibility.findings if self.eligibility else ()

    @property
    def pays(self) -> bool:
        """Whether this evaluation sends the payout (it becomes ``submitting``)."""
        return self.status is PayoutStatus.SUBMITTING and self.eligibility is not None

    @property
    def order_request(self) -> PaymentOrderRequest | None:
        """What the provider is asked for, when this evaluation pays the payout."""
        c = self.candidate
        decision = self.eligibility.decision if self.eligibility else None
        if not self.pays or decision is None or c.account is None:
            return None
        return order_for(self.idempotency_key, c.amount, decision, c.account, c.payee.country)


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    submission: Submission
    result: SubmitResult


class PayoutStore(Protocol):
    """Persistence the runs need. Every method is one atomic transaction."""

    async def open_run(self, event_code: str, idempotency_key: str, now: datetime) -> RunHandle: ...

    async def run_handle(self, run_id: int) -> RunHandle:
        """A recorded run, to be executed."""
        ...

    async def stop_requested(self, run_id: int) -> bool:
        """Whether the run was asked to stop (cancelRun)."""
        ...

    async def load_candidates(self, event_id: int) -> list[Candidate]: ...

    async def record_evaluations(
        self, run_id: int, evaluations: Sequence[Evaluation], now: datetime
    ) -> list[Submission]:
        """Commit a batch; the payouts it made ``submitting``, ready to be sent."""
        ...

    async def claim_pending(self, limit: int, now: datetime) -> list[Submission]:
        """Pending ad-hoc payouts, moved to submitting for this caller."""
        ...

    async def submitting(
        self, event_id: int | None, keys: Collection[str] | None = None
    ) -> list[Submission]:
        """Payouts in ``submitting``: of one event, or of all events when None; only
        those with these idempotency keys, when given."""
        ...

    async def claim_submitting(
        self,
        untouched_since: datetime,
        now: datetime,
        lease: timedelta,
        limit: int | None,
        payout_ids: Sequence[int] | None = None,
        own_run: int | None = None,
    ) -> list[Submission]:
        """Payouts stuck in ``submitting`` (of ``payout_ids`` if given) that nobody
        claims, or that run ``own_run`` claims (it is being resumed), claimed for this
        caller until ``now + lease``."""
        ...

    async def record_results(
        self, run_id: int | None, results: Sequence[SubmissionResult], now: datetime
    ) -> None:
        """Write answers; run items go to ``run_id``, else to each payout's own run."""
        ...

    async def refresh_counts(self, run_ids: Sequence[int]) -> None: ...

    async def finish_run(self, run_id: int, now: datetime) -> RunSummary: ...

    async def run_summary(self, run_id: int) -> RunSummary: ...


T = TypeVar("T")
Progress = Callable[[str, int, int], None]  # (phase, done, total)
# How a run cut off by a failure is started again: once, by default; the composition
# root resumes it when the failure was a lost database connection.
Resume = Callable[[Callable[[], Awaitable[RunSummary]]], Awaitable[RunSummary]]


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


# Asked before each batch of a run: True stops it (a cancelled run).
Stop = Callable[[], Awaitable[bool]]


def _preview_item(e: Evaluation) -> PreviewItem:
    decision = e.eligibility.decision if e.pays and e.eligibility else None
    reason = e.skip_reason if decision is None else None
    return PreviewItem(
        amount=e.candidate.amount,
        rail=decision.rail.code if decision else None,
        provider=decision.rail.provider.value if decision else None,
        skip_reason=reason.value if reason else None,
    )


def _once(run: Callable[[], Awaitable[RunSummary]]) -> Awaitable[RunSummary]:
    return run()


class PayoutRunner:
    def __init__(
        self,
        store: PayoutStore,
        providers: Mapping[ProviderKind, PaymentProvider],
        clock: Clock,
        *,
        concurrency: int = 64,
        batch_size: int = 500,
        resume: Resume = _once,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self._store = store
        self._providers = providers
        self._clock = clock
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._resume = resume
        self._lease = lease  # how long a claim on payouts to re-ask about lasts

    async def run(
        self, event_code: str, idempotency_key: str, progress: Progress = _no_progress
    ) -> RunSummary:
        """Run the event's payouts, or resume the run with this key (``resume`` may do so
        by itself after a failure: a run is safe to resume at any point)."""
        return await self._resume(lambda: self._run(event_code, idempotency_key, progress))

    async def _run(self, event_code: str, idempotency_key: str, progress: Progress) -> RunSummary:
        handle = await self._store.open_run(event_code, idempotency_key, self._clock.now())
        log_context.bind(run_id=handle.run_id)  # on every line logged while it runs
        if handle.completed:
            return await self._store.run_summary(handle.run_id)
        return await self._execute(handle, progress, self._stop_when_asked(handle.run_id))

    def _stop_when_asked(self, run_id: int) -> Stop:
        async def stop() -> bool:
            return await self._store.stop_requested(run_id)

        return stop

    async def execute(
        self, run_id: int, progress: Progress = _no_progress, stop: Stop | None = None
    ) -> RunSummary:
        """Execute a recorded run (the background runner's way; safe to resume at any
        point, like ``run``). ``stop`` is asked before each batch: when it says so, no
        further allocation is evaluated, and what was already sent goes on to its answer."""

        async def execute() -> RunSummary:
            handle = await self._store.run_handle(run_id)
            return await self._execute(handle, progress, stop or self._stop_when_asked(run_id))

        return await self._resume(execute)

    async def preview(self, event_id: int) -> RunPreview:
        """What a run of the event would do now: evaluated, nothing written or reserved."""
        candidates = await self._store.load_candidates(event_id)
        rates = await self._fx_rates(candidates)
        now = self._clock.now()
        return build_preview(_preview_item(self._evaluate(c, rates, now)) for c in candidates)

    async def _execute(self, handle: RunHandle, progress: Progress, stop: Stop) -> RunSummary:
        candidates = await self._store.load_candidates(handle.event_id)
        rates = await self._fx_rates(candidates)
        # Each batch is sent as soon as its intent is committed, while the next one is
        # evaluated and written: the providers are busy from the first batch on.
        sender = self._sender(handle.run_id, progress)
        try:
            # What an interrupted run of this event left submitting goes first.
            sender.send(await self._claim_leftovers(handle, sender.sent))
            for done, chunk in _ramped(candidates, self._batch_size):
                if await stop():
                    break
                now = self._clock.now()  # one instant per batch: routed once per rail
                batch = [self._evaluate(c, rates, now) for c in chunk]
                sender.send(await self._store.record_evaluations(handle.run_id, batch, now))
                progress("evaluate", done, len(candidates))
                await asyncio.sleep(0)  # let this batch's sends start
        finally:
            await sender.wait()
        # And what another run left meanwhile, if its claim has lapsed since.
        await self._submit(
            handle.run_id, await self._claim_leftovers(handle, sender.sent), progress
        )
        return await self._store.finish_run(handle.run_id, self._clock.now())

    async def _claim_leftovers(self, handle: RunHandle, sent: Collection[int]) -> list[Submission]:
        """The event's payouts left ``submitting`` that nobody is sending: those this
        run claims itself (it is being resumed) or whose claim has lapsed. Those another
        live run is sending stay its own."""
        left = [
            s.payout_id
            for s in await self._store.submitting(handle.event_id)
            if s.payout_id not in sent
        ]
        if not left:
            return []
        now = self._clock.now()
        return await self._store.claim_submitting(
            now, now, self._lease, None, left, own_run=handle.run_id
        )

    async def recover(
        self,
        stale_after: timedelta = timedelta(0),
        *,
        lease: timedelta = timedelta(minutes=5),
        limit: int | None = None,
        payout_ids: Sequence[int] | None = None,
    ) -> int:
        """Re-ask the providers, with each payout's own key, about payouts left in
        ``submitting`` for ``stale_after`` or longer: start-up asks about all of them, the
        poller about those no run is working on. Claimed, so concurrent workers split
        them; the provider finds the order an earlier attempt created, or creates it."""
        now = self._clock.now()
        work = await self._store.claim_submitting(now - stale_after, now, lease, limit, payout_ids)
        await self._submit(None, work, _no_progress)
        await self._store.refresh_counts(sorted({w.run_id for w in work if w.run_id}))
        return len(work)

    async def adopt(self, orders: Sequence[ProviderOrder]) -> set[str]:
        """Record the orders a provider holds for payouts still ``submitting``: each such
        payout re-asks with its own key, whoever claimed it (the answer is written
        status-guarded). For orders that moved on at the provider before their payout
        recorded them, which a feed does not show again. Returns the keys of payouts
        still ``submitting`` after that (the provider could not be asked)."""
        keys = {order.idempotency_key for order in orders}
        work = await self._submitting_with(keys)
        if not work:
            return set()
        await self._submit(None, work, _no_progress)
        await self._store.refresh_counts(sorted({w.run_id for w in work if w.run_id}))
        return {w.request.idempotency_key for w in await self._submitting_with(keys)}

    async def _submitting_with(self, keys: set[str]) -> list[Submission]:
        return await self._store.submitting(None, keys)

    async def dispatch(self, limit: int = 500) -> int:
        """Send pending ad-hoc (merchant) payouts to their providers; returns how many."""
        work = await self._store.claim_pending(limit, self._clock.now())
        await self._submit(None, work, _no_progress)
        return len(work)

    async def _submit(
        self, run_id: int | None, work: Sequence[Submission], progress: Progress
    ) -> None:
        sender = self._sender(run_id, progress)
        sender.send(work)
        await sender.wait()

    def _sender(self, run_id: int | None, progress: Progress) -> _Sender:
        writer = _ResultWriter(self._store, run_id, self._clock, self._batch_size)
        return _Sender(self._providers, writer, asyncio.Semaphore(self._concurrency), progress)

    def _evaluate(
        self, candidate: Candidate, rates: Mapping[str, Decimal], now: datetime
    ) -> Evaluation:
        key = candidate.payout_key or new_provider_key()
        status = candidate.payout_status
        if status is not None and status not in REEVALUATED_BY_RUNS:
            return Evaluation(candidate, status, None, key)
        eligibility = check_eligibility(
            amount=candidate.amount,
            payee=candidate.payee,
            account=candidate.account,
            now=now,
            fx_rates=rates,
        )
        target = PayoutStatus.SUBMITTING if eligibility.eligible else PayoutStatus.SKIPPED
        return Evaluation(candidate, target, eligibility, key)

    async def _fx_rates(self, candidates: Iterable[Candidate]) -> dict[str, Decimal]:
        return await self.limit_rates({c.amount.currency for c in candidates})

    async def limit_rates(self, funding: set[str]) -> dict[str, Decimal]:
        """Indicative rates for the rail limits that are not in the funding currency."""
        pairs = {
            (source, rail.currency)
            for rail in RAILS
            if rail.max_amount is not None
            for source in funding
            if rail.currency != source
        }
        if len(funding) > 1:
            raise InvalidInput(
                "a liquidation event pays out in one funding currency",
                field="liquidation_event_id",
            )
        provider = self._providers[ProviderKind.CROSS_BORDER]
        try:
            quotes = await asyncio.gather(*(provider.fx_quote(s, t) for s, t in sorted(pairs)))
        except Exception as exc:  # the run cannot check rail limits without rates
            raise ProviderUnavailable(f"FX quotes unavailable: {exc}") from exc
        return {q.target_currency: q.rate for q in quotes}


class _Sender:
    """Sends submissions in the background under one concurrency bound and writes the
    answers in batches; remembers which payouts it sent."""

    def __init__(
        self,
        providers: Mapping[ProviderKind, PaymentProvider],
        writer: _ResultWriter,
        gate: asyncio.Semaphore,
        progress: Progress,
    ) -> None:
        self._providers = providers
        self._writer = writer
        self._gate = gate
        self._progress = progress
        self._tasks: list[asyncio.Task[None]] = []
        self.sent: set[int] = set()

    def send(self, work: Sequence[Submission]) -> None:
        self.sent.update(item.payout_id for item in work)
        self._tasks += [asyncio.create_task(self._one(item)) for item in work]

    async def _one(self, item: Submission) -> None:
        async with self._gate:
            result = await self._providers[item.provider].create_order(item.request)
        await self._writer.add(SubmissionResult(item, result))
        self._progress("submit", self._writer.seen, len(self.sent))

    async def wait(self) -> None:
        """Every send answered and written (or, on an error, the rest cancelled)."""
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            # None of them may still be writing when the run is resumed.
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._writer.flush()


class _ResultWriter:
    """Buffers provider answers and writes them in batches (one transaction each)."""

    def __init__(
        self, store: PayoutStore, run_id: int | None, clock: Clock, batch_size: int
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._clock = clock
        self._batch_size = batch_size
        self._buffer: list[SubmissionResult] = []
        self._lock = asyncio.Lock()
        self.seen = 0

    async def add(self, result: SubmissionResult) -> None:
        self.seen += 1
        self._buffer.append(result)
        if len(self._buffer) >= self._batch_size:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if batch:
                await self._store.record_results(self._run_id, batch, self._clock.now())


def outcome_of(result: SubmitResult) -> tuple[RunOutcome, PayoutStatus | None]:
    """The run outcome and the payout's next status for a provider answer."""
    if result.outcome is SubmitOutcome.ACCEPTED:
        return RunOutcome.CREATED, PayoutStatus.SUBMITTED
    if result.outcome is SubmitOutcome.REJECTED:
        return RunOutcome.FAILED, PayoutStatus.FAILED
    return RunOutcome.IN_FLIGHT, None


FIRST_BATCH = 32


def _ramped(items: Sequence[T], size: int) -> Iterable[tuple[int, Sequence[T]]]:
    """Batches of ``size``, the first ones smaller (32, 64, ... doubling): the providers
    get their first orders after 32 payouts are committed, not a full batch, and are
    kept busy while the batches grow to the size that writes cheapest. What would fit
    in twice the current step (and in ``size``) goes as one batch."""
    start, step = 0, min(FIRST_BATCH, size)
    while start < len(items):
        left = len(items) - start
        chunk = items[start : start + (left if left <= min(2 * step, size) else step)]
        start += len(chunk)
        yield start, chunk
        step = min(step * 2, size)
