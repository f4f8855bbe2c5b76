"""The status poller: providers' "changed since" feeds applied to payouts.

One execution:

1. re-asks the providers about payouts stuck in ``submitting`` (a crash between a
   call and its commit), with each payout's own idempotency key, claimed in batches
   (``FOR UPDATE SKIP LOCKED``) so that concurrent workers split them;
2. for every provider whose cursor it can claim, reads the orders changed since the
   cursor, a page at a time, and moves each payout along its order's status with
   the ledger effects and audit rows of every step (one transaction per page), then
   moves the cursor past the page. An order that already completed, failed or came
   back while its payout is still ``submitting`` (the answer died with its process,
   or is not written yet) is recorded first, its payout re-asking with its own key:
   the feed would not show it again.

Statuses are applied under a row lock and only if they are a step forward, so a page
read twice (after a crash, or by a worker whose lease ran out) changes nothing twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.ports import Clock, OrderStatus, PaymentProvider, ProviderKind, ProviderOrder
from domain.runs import PayoutRunner
from domain.settlement import StatusReport
from persistence.poll_store import SqlPollStore
from persistence.settlement_store import SqlSettlementStore

log = logging.getLogger(__name__)
# Statuses an order reaches after it was accepted: its last change may be long past.
_MOVED_ON = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.RETURNED})


@dataclass(frozen=True, slots=True)
class PollSettings:
    stale_submitting_after: timedelta = timedelta(minutes=2)
    lease: timedelta = timedelta(minutes=2)
    # Re-read this much of the feed before the cursor: a provider's feed may record a
    # change a little after the time it stamps on it.
    overlap: timedelta = timedelta(seconds=30)
    recover_batch: int = 500


class StatusPoller:
    def __init__(
        self,
        runner: PayoutRunner,
        providers: Mapping[ProviderKind, PaymentProvider],
        polls: SqlPollStore,
        settlement: SqlSettlementStore,
        clock: Clock,
        holder: str,
        settings: PollSettings | None = None,
    ) -> None:
        self._runner = runner
        self._providers = providers
        self._polls = polls
        self._settlement = settlement
        self._clock = clock
        self._holder = holder
        self._settings = settings or PollSettings()

    async def poll(self) -> dict[str, int]:
        """One pass over stuck submissions and every provider's feed; returns counts."""
        counts: Counter[str] = Counter()
        s = self._settings
        counts["recovered"] = await self._runner.recover(
            s.stale_submitting_after, lease=s.lease, limit=s.recover_batch
        )
        failures: list[str] = []
        for kind, provider in self._providers.items():
            try:
                await self._poll_provider(kind, provider, counts)
            except Exception as exc:  # one provider down must not stop the others
                log.warning("polling %s failed: %s", kind, exc)
                failures.append(f"{kind}: {exc}")
                counts["providers_failed"] += 1
        if failures:
            raise PollFailed(dict(counts), failures)
        return dict(counts)

    async def _poll_provider(
        self, kind: ProviderKind, provider: PaymentProvider, counts: Counter[str]
    ) -> None:
        s = self._settings
        claim = await self._polls.claim(kind.value, self._holder, self._clock.now(), s.lease)
        if claim is None:
            counts["providers_busy"] += 1
            return
        since = None if claim.changed_since is None else claim.changed_since - s.overlap
        try:
            async for page in provider.iter_orders(since):
                counts["orders_seen"] += len(page)
                counts["payouts_moved"] += await self._apply(page)
                if page and not await self._polls.advance(
                    kind.value,
                    self._holder,
                    _newest(page, claim.changed_since),
                    self._clock.now(),
                    s.lease,
                ):
                    counts["leases_lost"] += 1
                    return
            counts["providers_polled"] += 1
        finally:
            await self._polls.release(kind.value, self._holder, self._clock.now())

    async def _apply(self, page: list[ProviderOrder]) -> int:
        ids = [o.order_id for o in page]
        payouts = await self._polls.payouts_by_order(ids)
        # An order that moved on before its payout recorded it (the process that asked
        # died, or has not written the answer yet) is not in the feed again: record it
        # now, or read the page again next time.
        moved_on = [o for o in page if o.order_id not in payouts and o.status in _MOVED_ON]
        if moved_on:
            unrecorded = await self._runner.adopt(moved_on)
            if unrecorded:
                raise UnrecordedOrders(sorted(unrecorded))
            payouts = await self._polls.payouts_by_order(ids)
        reports = [
            StatusReport(payouts[o.order_id], o.status, o.failure_code, o.failure_reason)
            for o in page
            if o.order_id in payouts  # an order we have no record of is reconciliation's
        ]
        if not reports:
            return 0
        return await self._settlement.apply(reports, self._clock.now())


class UnrecordedOrders(RuntimeError):
    """Payouts still ``submitting`` whose orders moved on: the page is read again."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"{len(keys)} order(s) not recorded yet, e.g. for key {keys[0]}")


class PollFailed(RuntimeError):
    """Some providers could not be polled; the others were. Carries the counts."""

    def __init__(self, counts: dict[str, int], failures: list[str]) -> None:
        super().__init__("; ".join(failures))
        self.counts = counts


def _newest(page: list[ProviderOrder], cursor: datetime | None) -> datetime:
    newest = max(order.updated_at for order in page)
    return newest if cursor is None else max(newest, cursor)
