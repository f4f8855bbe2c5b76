"""A sorted collection of (time, order id) entries: what ``OrderIndex`` is made of.

One flat sorted list would make each insert a memmove of everything after it, and
new orders' settlement events land among the future ones rather than at the end,
which goes quadratic towards a million orders. So entries live in sorted buckets
of at most ``2 * load`` (as sortedcontainers' SortedList does): inserting or
removing costs O(log n + load), and reading from any entry on costs what it reads.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from datetime import datetime

Entry = tuple[datetime, str]  # (event time, order id)


class Timeline:
    def __init__(self, load: int = 1000) -> None:
        self._load = load
        self._buckets: list[list[Entry]] = []
        self._maxes: list[Entry] = []  # the last entry of each bucket
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, entry: Entry) -> None:
        if not self._buckets:
            self._buckets.append([entry])
            self._maxes.append(entry)
        else:
            index = min(bisect_left(self._maxes, entry), len(self._maxes) - 1)
            bucket = self._buckets[index]
            insort(bucket, entry)
            self._maxes[index] = bucket[-1]
            if len(bucket) > 2 * self._load:
                self._split(index)
        self._size += 1

    def remove(self, entry: Entry) -> None:
        index = bisect_left(self._maxes, entry)
        bucket = self._buckets[index] if index < len(self._buckets) else []
        position = bisect_left(bucket, entry)
        if position == len(bucket) or bucket[position] != entry:
            raise KeyError(entry)
        del bucket[position]
        if bucket:
            self._maxes[index] = bucket[-1]
        else:
            del self._buckets[index], self._maxes[index]
        self._size -= 1

    def after(self, bound: Entry | None) -> Iterator[Entry]:
        """Entries strictly after ``bound`` (all of them when None), in order.

        Do not change the timeline while iterating.
        """
        index = 0 if bound is None else bisect_right(self._maxes, bound)
        if index == len(self._buckets):
            return
        first = self._buckets[index]
        yield from first[0 if bound is None else bisect_right(first, bound) :]
        for later in range(index + 1, len(self._buckets)):
            yield from self._buckets[later]

    def _split(self, index: int) -> None:
        bucket = self._buckets[index]
        halves = [bucket[: self._load], bucket[self._load :]]
        self._buckets[index : index + 1] = halves
        self._maxes[index : index + 1] = [half[-1] for half in halves]
