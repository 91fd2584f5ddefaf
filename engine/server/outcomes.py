"""Failures in sight: what `engine serve` tells its terminal and `/health` about recent delivery outcomes.

`Outcomes.record(instance, kind, reason)` is called by the worker for every job it decides (`kind`:
delivered, filtered, retried, dead-lettered). Failures (retried, dead-lettered) are printed grouped by
(instance, kind, reason) and rate-limited: the first of a group is printed at once, the following ones
of the same group are counted and printed as one line per `interval` seconds,

    usercom-dev: 12 dead-lettered in the last 10 s: User.com answered without a user id

and `state(instance)` is ok / degraded / failing from the outcomes of the last `window` seconds:
failing when jobs were decided and none was delivered or filtered, degraded when some failed, ok else.
Reasons come from verdicts the worker has already masked.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable
from typing import TextIO

FAILURES = ("retried", "dead-lettered")
OK, DEGRADED, FAILING = "ok", "degraded", "failing"


class Outcomes:
    def __init__(self, instances: list[str], *, log: TextIO | None = sys.stderr, interval: float = 10.0,
                 window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.interval = interval
        self.window = window
        self.clock = clock
        # per instance, the outcomes of the last `window` seconds counted per second: [second, good, failed]
        # (a tuple per job was 360,000 objects a minute at 6,000 jobs/s, for the garbage collector to walk)
        self._recent: dict[str, collections.deque[list[int]]] = {i: collections.deque() for i in instances}
        self._last_error: dict[str, str] = {}
        self._printed: dict[tuple[str, str, str], float] = {}  # group -> when its last line was printed
        self._pending: dict[tuple[str, str, str], int] = {}  # group -> failures not printed yet

    def record(self, instance: str, kind: str, reason: str | None = None, count: int = 1) -> None:
        """`count` jobs of `instance` decided as `kind` (with `reason`, for failures)."""
        now = self.clock()
        recent = self._recent.get(instance)
        if recent is None:
            recent = self._recent[instance] = collections.deque()
        failed = kind in FAILURES
        second = int(now)
        if not recent or recent[-1][0] != second:
            recent.append([second, 0, 0])
            self._trim(recent, now)
        recent[-1][2 if failed else 1] += count
        if not failed:
            return
        reason = " ".join((reason or "unknown").split())[:300]
        self._last_error[instance] = reason
        group = (instance, kind, reason)
        if now - self._printed.get(group, float("-inf")) >= self.interval:
            self._print(group, count, now, first=True)
        else:
            self._pending[group] = self._pending.get(group, 0) + count
        self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Print the groups whose interval has passed (the worker also calls this from time to time)."""
        now = self.clock() if now is None else now
        for group, count in list(self._pending.items()):
            if now - self._printed.get(group, float("-inf")) >= self.interval:
                del self._pending[group]
                self._print(group, count, now)

    def _print(self, group: tuple[str, str, str], count: int, now: float, *, first: bool = False) -> None:
        self._printed[group] = now
        if self.log is None:
            return
        instance, kind, reason = group
        when = "" if first else f" in the last {self.interval:g} s"
        print(f"engine serve: {instance}: {count} {kind}{when}: {reason}", file=self.log, flush=True)

    def _trim(self, recent: collections.deque[list[int]], now: float) -> None:
        while recent and now - recent[0][0] > self.window:
            recent.popleft()

    def state(self, instance: str) -> dict[str, object]:
        """{"state": ok|degraded|failing, "delivered": n, "failed": n, "last_error": ...} of the last window."""
        recent = self._recent.setdefault(instance, collections.deque())
        self._trim(recent, self.clock())
        good = sum(bucket[1] for bucket in recent)
        failed = sum(bucket[2] for bucket in recent)
        state = FAILING if failed and not good else DEGRADED if failed else OK
        out: dict[str, object] = {"state": state, "ok": good, "failed": failed, "window_seconds": self.window}
        if failed and instance in self._last_error:
            out["last_error"] = self._last_error[instance]
        return out
