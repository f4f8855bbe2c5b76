"""A feed of payout changes read from the ``payouts`` table, shared by every subscriber.

Several processes move payouts (API processes running runs, workers polling providers),
so an in-process event bus would miss most changes: the feed reads the table. One task
per process polls it with one query per interval, started by the first listener and
stopped by the last, and hands each changed row to the listeners that want it.

Watermark: the newest ``updated_at`` seen, never the wall clock, so a clock that stands
still (tests, simulations) or lags another process's loses nothing. Each poll re-reads
an ``overlap`` window below the watermark, because a transaction can commit after one
with a newer ``updated_at`` (its ``now`` was taken before it waited for a lock, or on a
host whose clock is behind); the ``(id, version)`` pairs of the previous poll are
skipped, so nothing is delivered twice. A change that commits more than ``overlap``
after its ``updated_at`` is missed: the overlap must cover that delay and clock skew.
A payout that moves twice between polls is delivered once, in its latest state.

Slow listeners: each has a bounded queue; one that falls ``queue_size`` changes behind
is closed with ``FellBehind`` (its queue freed) instead of silently losing changes, so
a frontend knows to re-read with a query and subscribe again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.tables import Payout

log = logging.getLogger(__name__)

Wanted = Callable[[Payout], bool]


class FellBehind(Exception):
    """A listener did not keep up; its pending changes were dropped and it is closed."""


class _End:
    """Queue markers that end a listener: the app stopped, or it fell behind."""


_STOPPED = _End()
_FELL_BEHIND = _End()


async def _latest_change(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(Payout.updated_at)))


async def _changed_since(session: AsyncSession, low: datetime | None) -> Sequence[Payout]:
    statement = select(Payout).order_by(Payout.updated_at, Payout.id)
    if low is not None:
        statement = statement.where(Payout.updated_at >= low)
    return (await session.scalars(statement)).all()


class ChangeCursor:
    """Where the feed has read up to: the watermark and the last window's versions."""

    def __init__(self, overlap: timedelta) -> None:
        self._overlap = overlap
        self._watermark: datetime | None = None
        self._seen: set[tuple[int, int]] = set()

    async def start(self, session: AsyncSession) -> None:
        """Begin at the newest change: what happened before is not news."""
        self._watermark = await _latest_change(session)
        self._advance(await _changed_since(session, self._low()))

    async def poll(self, session: AsyncSession) -> list[Payout]:
        """The rows changed since the last poll, oldest first."""
        return self._advance(await _changed_since(session, self._low()))

    def _advance(self, window: Sequence[Payout]) -> list[Payout]:
        """Keep the window's versions and move the watermark; return the unseen rows."""
        fresh = [row for row in window if (row.id, row.version) not in self._seen]
        self._seen = {(row.id, row.version) for row in window}
        if window:
            newest = max(row.updated_at for row in window)
            self._watermark = max(newest, self._watermark or newest)
        return fresh

    def _low(self) -> datetime | None:
        return None if self._watermark is None else self._watermark - self._overlap


class Listener:
    """One subscriber's bounded queue of changed payouts, filtered by ``wanted``."""

    def __init__(self, wanted: Wanted, queue_size: int) -> None:
        self.wanted = wanted
        self._queue: asyncio.Queue[Payout | _End] = asyncio.Queue(maxsize=queue_size)

    def offer(self, row: Payout) -> bool:
        """Queue the row; False (and the listener ends) when the queue is full."""
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self.end(_FELL_BEHIND)
            return False
        return True

    def end(self, marker: _End) -> None:
        """Drop what is pending and leave only the marker, so memory is freed now."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(marker)

    def __aiter__(self) -> Listener:
        return self

    async def __anext__(self) -> Payout:
        item = await self._queue.get()
        if item is _FELL_BEHIND:
            self._queue.put_nowait(item)  # stays ended if asked again
            raise FellBehind("the subscriber fell behind the feed")
        if isinstance(item, _End):
            self._queue.put_nowait(item)
            raise StopAsyncIteration
        return item


class PayoutFeed:
    """The process's one poller of payout changes and the listeners it feeds."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = 1.0,
        overlap: timedelta = timedelta(seconds=5),
        queue_size: int = 10_000,
    ) -> None:
        if queue_size < 1:
            raise ValueError("a listener's queue holds at least one change")
        self._sessions = sessions
        self._interval_s = interval_s
        self._overlap = overlap
        self._queue_size = queue_size
        self._listeners: set[Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def listening(self) -> int:
        return len(self._listeners)

    @asynccontextmanager
    async def listen(self, wanted: Wanted) -> AsyncIterator[Listener]:
        """A listener for the changes ``wanted`` accepts, from now until the block exits."""
        listener = Listener(wanted, self._queue_size)
        await self._join(listener)
        try:
            yield listener
        finally:
            await self._leave(listener)

    async def aclose(self) -> None:
        """Stop polling and end every listener (the app is stopping)."""
        async with self._lock:
            for listener in self._listeners:
                listener.end(_STOPPED)
            self._listeners.clear()
            await self._stop()

    async def _join(self, listener: Listener) -> None:
        async with self._lock:
            if self._task is None:
                cursor = ChangeCursor(self._overlap)
                async with self._sessions() as session:
                    await cursor.start(session)
                self._task = asyncio.create_task(self._run(cursor), name="payout-feed")
            self._listeners.add(listener)

    async def _leave(self, listener: Listener) -> None:
        async with self._lock:
            self._listeners.discard(listener)
            if not self._listeners:
                await self._stop()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self, cursor: ChangeCursor) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                async with self._sessions() as session:
                    rows = await cursor.poll(session)
            except Exception:  # a database blip must not end every subscription
                log.exception("polling payout changes failed; trying again")
                continue
            self._publish(rows)

    def _publish(self, rows: Sequence[Payout]) -> None:
        for row in rows:
            for listener in list(self._listeners):
                if listener.wanted(row) and not listener.offer(row):
                    self._listeners.discard(listener)
