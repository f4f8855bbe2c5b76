"""Group commit: requests for one key that arrive together share one transaction.

``submit`` queues a request under its key. While no batch of that key is in flight,
a task is started that takes what is queued (at most ``limit``) and commits it as one
batch, then the next batch with whatever queued up meanwhile, until none is left. So
the first request of a quiet key starts at once, and under load each transaction
carries everything that waited for the one before: no timer adds latency.

Requests with the same ``distinct`` token never share a batch: the later one waits
for the next, and sees the first's committed outcome, as if they had come one after
the other. If a batch raises, every request in it gets that error. Batching is per
process; whatever must hold across processes is the database's to hold (row locks).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

BATCH_LIMIT = 64


class GroupCommit(Generic[K, T, R]):
    def __init__(
        self,
        commit: Callable[[K, Sequence[T]], Awaitable[Sequence[R]]],
        distinct: Callable[[T], Hashable],
        limit: int = BATCH_LIMIT,
    ) -> None:
        """``commit(key, items)`` makes one batch's outcomes, one per item, in order."""
        self._commit = commit
        self._distinct = distinct
        self._limit = limit
        self._queues: dict[K, deque[tuple[T, asyncio.Future[R]]]] = {}
        self._workers: set[asyncio.Task[None]] = set()  # held, or the loop may drop them

    async def submit(self, key: K, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is None:  # no batch of this key in flight: start one
            queue = self._queues[key] = deque()
            worker = asyncio.create_task(self._drain(key, queue))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
            worker.add_done_callback(_seen)
        queue.append((item, future))
        # A caller that goes away (a dropped connection) cancels only its own wait: its
        # request may still be committed with the batch, and its key then replays it.
        return await future

    async def _drain(self, key: K, queue: deque[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            while queue:
                await self._one_batch(key, self._take(queue))
        finally:
            del self._queues[key]
            for _, future in queue:  # only if this task was cancelled or went down
                future.cancel()

    def _take(self, queue: deque[tuple[T, asyncio.Future[R]]]) -> list[tuple[T, asyncio.Future[R]]]:
        """The next batch: the oldest requests, skipping (and keeping, in their order)
        any whose token is already in it."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        later: list[tuple[T, asyncio.Future[R]]] = []
        tokens: set[Hashable] = set()
        while queue and len(batch) < self._limit:
            entry = queue.popleft()
            token = self._distinct(entry[0])
            (later if token in tokens else batch).append(entry)
            tokens.add(token)
        queue.extendleft(reversed(later))
        return batch

    async def _one_batch(self, key: K, batch: Sequence[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._commit(key, [item for item, _ in batch])
        except asyncio.CancelledError:  # the batch's callers are cancelled too
            for _, future in batch:
                future.cancel()
            raise
        except BaseException as error:  # each caller gets it, as if it were its own
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise  # the process is going down (SystemExit and the like): stop here
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)


def _seen(worker: asyncio.Task[None]) -> None:
    """A worker that went down handed its error to its batch's callers already."""
    if not worker.cancelled():
        worker.exception()
