"""The events a process has just stored, kept parsed for a while, so that its own leases of them skip decoding.

Under a burst the accepted events go into the queue faster than they are delivered: they are not handed over at
enqueue (the instance has older due jobs), so each is leased later and its stored form decoded again, ~10 µs of
object creation per 1.1 KB event, one of the larger costs of a served event. The enqueue keeps the very objects it
stored (`keep`), the lease takes them back (`event`) when the stored form it read is byte for byte the one kept
(so a later event reusing a messageId, or anything else that changed the row, is decoded as before).

Bounded: at most `budget` bytes of stored form are kept (the parsed objects take ~4 times as much memory), and
nothing longer than `max_age` seconds. When the budget is full new events are not kept: the oldest are the next to
be leased, so they stay. An entry goes once every job it was kept for has been leased, or when it ages out (its
jobs leased by another process, purged, or still far back in a long backlog).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

KEPT_BYTES = 8 * 1024 * 1024  # stored bytes kept parsed at most (per process)
KEPT_SECONDS = 30.0  # an event is kept at most this long


def jobs_left(count: int, handed: Iterable[int]) -> list[int]:
    """For `count` new events, each with a job per destination, of which destination d took the first `handed[d]`
    created leased: how many of each event's jobs are left for leases (what `keep` keeps it for)."""
    handed = list(handed)
    return [sum(1 for h in handed if n >= h) for n in range(count)]


class KeptEvents:
    """messageId -> [stored form, event, jobs left to lease, time kept], in the order kept; thread-safe (the enqueue
    and the lease run on the event loop's thread or in a thread)."""

    def __init__(self, budget: int = KEPT_BYTES, max_age: float = KEPT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.max_age = max_age
        self.clock = clock
        self.size = 0  # stored bytes kept
        self._kept: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, items: Iterable[tuple[str | None, bytes, Any, int]]) -> None:
        """Keep each (messageId, stored form, event, jobs it was stored for) that fits in the budget; events without a
        messageId, or with no job left to lease, are not kept."""
        now = self.clock()
        with self._lock:
            kept = self._kept
            oldest = now - self.max_age
            while kept:
                mid = next(iter(kept))
                entry = kept[mid]
                if entry[3] >= oldest:
                    break
                del kept[mid]
                self.size -= len(entry[0])
            for mid, blob, event, jobs in items:
                if mid is None or jobs <= 0 or mid in kept:
                    continue
                if self.size + len(blob) > self.budget:
                    break
                kept[mid] = [blob, event, jobs, now]
                self.size += len(blob)

    def event(self, mid: str | None, blob: bytes) -> Any:
        """The event stored as `blob`: the kept object when `blob` is the form kept under `mid`, else decoded."""
        if mid is not None:
            entry = self._kept.get(mid)
            if entry is not None and entry[0] == blob:
                with self._lock:
                    entry[2] -= 1
                    if entry[2] <= 0 and self._kept.get(mid) is entry:
                        del self._kept[mid]
                        self.size -= len(blob)
                return entry[1]
        return orjson.loads(blob)
