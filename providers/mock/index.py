"""Where a mock bank's listings find orders without sorting or scanning them all.

``changed_since`` wants each order once, at its current status event, in (time,
order id) order. The index keeps exactly that as of its last read, plus a heap of
the events still in the future; each read first applies the events that have
fallen due since (moving those orders to their new place). So a page costs
O((page + events due since the last read) * log n), whatever the bank holds.
Settlement reports read a second timeline holding every completion and return.

Changed or dropped orders leave their old future events in the heap; they are
recognised as stale and skipped when they fall due. The bank's time never goes
back, so an event once applied stays applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from heapq import heappop, heappush

from providers.mock.orders import StoredOrder
from providers.mock.timeline import Entry, Timeline


class OrderIndex:
    def __init__(self, orders: Mapping[str, StoredOrder]) -> None:
        self._orders = orders  # the bank's own, to tell stale due events from live ones
        self._current = Timeline()
        self._position: dict[str, datetime] = {}  # order id -> its entry in _current
        self._due: list[Entry] = []
        self._settlements = Timeline()

    def add(self, order: StoredOrder, now: datetime) -> None:
        position = order.current(now).at
        self._current.add((position, order.order_id))
        self._position[order.order_id] = position
        for event in order.events():
            if event.at > now:
                heappush(self._due, (event.at, order.order_id))
        for at in order.settlement_times():
            self._settlements.add((at, order.order_id))

    def remove(self, order: StoredOrder) -> None:
        self._current.remove((self._position.pop(order.order_id), order.order_id))
        for at in order.settlement_times():
            self._settlements.remove((at, order.order_id))

    def current_after(self, bound: Entry | None, now: datetime) -> Iterator[Entry]:
        """(current event time, order id) of each order, from just after ``bound``."""
        self._apply_due(now)
        return self._current.after(bound)

    def settlements_from(self, start: datetime) -> Iterator[Entry]:
        """(time, order id) of every completion and return at or after ``start``."""
        return self._settlements.after((start, ""))  # "" sorts before every order id

    def _apply_due(self, now: datetime) -> None:
        while self._due and self._due[0][0] <= now:
            self._move(*heappop(self._due))

    def _move(self, at: datetime, order_id: str) -> None:
        order = self._orders.get(order_id)
        position = self._position.get(order_id)
        if order is None or position is None or at <= position or not order.changes_at(at):
            return  # stale: the order was dropped or changed after this event was queued
        self._current.remove((position, order_id))
        self._current.add((at, order_id))
        self._position[order_id] = at
