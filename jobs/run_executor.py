"""The job runner for queued payout runs, in ``serve`` and in every ``worker``.

A run is claimed in the database under a lease that a heartbeat renews while the run
executes (and which carries the run's progress). A process that loses its lease stops
at once; one that is killed leaves the lease to lapse, after which another process
claims the run and resumes it: the run is safe to resume at any point (see
``domain.runs``), and no key needs to be sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from domain.ports import Clock
from domain.runs import PayoutRunner
from persistence.run_queue import Claim, SqlRunQueue

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another process took the run over (this one missed its renewals)."""


class RunExecutor:
    def __init__(
        self,
        queue: SqlRunQueue,
        runner: PayoutRunner,
        clock: Clock,
        worker: str,
        *,
        lease: timedelta = timedelta(seconds=30),
        heartbeat_s: float = 1.0,
    ) -> None:
        self.queue = queue
        self._runner = runner
        self._clock = clock
        self.worker = worker
        self._lease = lease
        self._heartbeat_s = min(heartbeat_s, lease.total_seconds() / 3)

    async def claim(self) -> Claim | None:
        return await self.queue.claim(self.worker, self._clock.now(), self._lease)

    async def execute(self, claim: Claim) -> dict[str, Any]:
        """Execute a claimed run to its end; its counts, for the job's record."""
        evaluated = 0

        def progress(phase: str, done: int, _total: int) -> None:
            nonlocal evaluated
            if phase == "evaluate":
                evaluated = done

        work = asyncio.ensure_future(self._runner.execute(claim.run_id, progress))
        beat = asyncio.create_task(self._heartbeat(claim.run_id, work, lambda: evaluated))
        try:
            summary = await work
        except asyncio.CancelledError:
            if beat.done() and not beat.cancelled() and beat.result():
                raise LeaseLost(f"run {claim.run_id} was taken over by another process") from None
            with contextlib.suppress(Exception):  # stopping: let another process resume it
                await self.queue.release(claim.run_id, self.worker, self._clock.now())
            raise
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            work.cancel()
        await self.queue.ended(claim.run_id, evaluated)
        return {
            "run_id": claim.run_id,
            "status": summary.status,
            "resumed_from": claim.resumed_from,
            # (not "skipped": that key marks a skipped job execution)
            "payouts_created": summary.created,
            "payouts_skipped": summary.skipped,
            "payouts_failed": summary.failed,
            "payouts_in_flight": summary.in_flight,
        }

    async def _heartbeat(self, run_id: int, work: asyncio.Future[Any], evaluated: Any) -> bool:
        """Renew the lease until the run ends; True (and the run stopped) if it was lost,
        or if it could not be renewed while it was sure to be still ours: this process
        then stops by itself before another may claim the run."""
        lease_s = self._lease.total_seconds()
        ours_until = time.monotonic() + lease_s
        while not work.done():
            await asyncio.sleep(self._heartbeat_s)
            try:
                async with asyncio.timeout(max(ours_until - time.monotonic(), 0.001)):
                    kept = await self.queue.renew(
                        run_id, self.worker, self._clock.now(), self._lease, evaluated()
                    )
            except Exception:  # a database hiccup or a slow answer: the next beat tries again
                log.warning("could not renew the lease of run %s", run_id, exc_info=True)
                kept = time.monotonic() < ours_until - self._heartbeat_s
                if kept:
                    continue
            if not kept:
                log.error("run %s: lease lost (or about to be); stopping", run_id)
                work.cancel()
                return True
            ours_until = time.monotonic() + lease_s
        return False
