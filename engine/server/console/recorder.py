"""What the console shows of recent traffic, kept in memory and bounded: the last events that arrived, per event
and destination instance the requests it sent, their answers and the verdicts (secrets masked when recorded),
per-instance outcome counts by minute, and the listeners of the live tail.

The worker calls `begin()` before delivering a job (it opens a capture for the requests of that job, in a context
variable, so concurrent jobs do not mix) and `finished(...)` after deciding; the instance's `Deliverer` is wrapped by
`RecordingDeliverer`, which adds every request it sends to the open capture.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from engine.delivery import Deliverer, Verdict
    from engine.delivery.client import Outcome
    from engine.delivery.models import PreparedRequest
    from engine.queue import Job
    from engine.secrets import Masker

KEEP_EVENTS = 300  # events in the ring
KEEP_ROUNDS = 5  # delivery rounds kept per event and instance
KEEP_REQUESTS = 20  # requests kept per round
MAX_BODY_CHARS = 8000  # a request body shown longer than this is cut
WINDOW_MINUTES = 15  # the counts cover this many minutes
LISTENER_BACKLOG = 200  # messages a slow tail listener may fall behind before it misses some

OUTCOMES = ("delivered", "filtered", "invalid", "failed", "retry")
COUNTER_OUTCOME = {"jobs_delivered_total": "delivered", "jobs_filtered_total": "filtered",
                   "jobs_invalid_total": "invalid", "jobs_failed_total": "failed", "jobs_retried_total": "retry"}

_CAPTURE: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("console_capture", default=None)


def _cut(value: Any) -> Any:
    """A request body for display: as it is, or cut to MAX_BODY_CHARS of its JSON text."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = str(value)
    return value if len(text) <= MAX_BODY_CHARS else text[:MAX_BODY_CHARS - 1] + "…"


class RecordingDeliverer:
    """A `Deliverer` whose `send` also adds the request (masked) and its answer to the job's open capture."""

    def __init__(self, inner: Deliverer) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def send(self, req: PreparedRequest, *, expect: Callable[[int], bool] | None = None) -> Outcome:
        outcome = await self._inner.send(req, expect=expect)
        capture = _CAPTURE.get()
        if capture is not None and len(capture) < KEEP_REQUESTS:
            masker = self._inner.masker
            shown = req.to_display(masker)
            shown["body"] = _cut(shown.get("body"))
            answer = None
            if outcome.response is not None:
                answer = outcome.response_excerpt or (outcome.response.excerpt(masker) if outcome.response.text else "")
            capture.append({"request": shown, "status": outcome.status, "outcome": outcome.verdict,
                            "attempts": outcome.attempts, "error": outcome.error, "response": answer})
        return outcome


class Recorder:
    """The ring of recent events and outcomes, the counts by minute and the tail's listeners."""

    def __init__(self, instances: list[str], masker: Masker, *, clock: Callable[[], float] = time.time) -> None:
        self.instances = list(instances)
        self.masker = masker
        self.clock = clock
        self.events: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.minutes: dict[str, collections.deque[tuple[int, dict[str, int]]]] = {i: collections.deque() for i in instances}
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.arrived_total = 0

    # -- recording ------------------------------------------------------------------------------

    def _entry(self, event: dict[str, Any], source: str | None) -> dict[str, Any]:
        key = str(event.get("messageId") or f"no-id-{id(event)}")
        entry = self.events.get(key)
        if entry is None:
            entry = {"id": key, "at": self.clock(), "source": source, "event": self.masker.mask(event),
                     "outcomes": {}, "arrivals": 0}
            self.events[key] = entry
            while len(self.events) > KEEP_EVENTS:
                self.events.popitem(last=False)
        else:
            self.events.move_to_end(key)
        return entry

    def arrived(self, events: list[dict[str, Any]], source: str) -> None:
        """Events accepted from `source` (durably queued)."""
        for event in events:
            entry = self._entry(event, source)
            entry["source"] = entry["source"] or source  # a fast worker may have recorded a round first
            entry["arrivals"] += 1
            self.arrived_total += 1
            self._publish(entry)

    def begin(self) -> list[dict[str, Any]]:
        """Open the capture of the current job's requests (call inside the job's task)."""
        capture: list[dict[str, Any]] = []
        _CAPTURE.set(capture)
        return capture

    def finished(self, instance: str, job: Job, verdicts: list[Verdict], counter: str, action: str,
                 capture: list[dict[str, Any]] | None) -> None:
        """One delivery round of `job` ended: its verdicts, what the worker decided (`counter` names the outcome,
        `action` is ack/retry/dead) and the requests it sent."""
        _CAPTURE.set(None)
        outcome = COUNTER_OUTCOME.get(counter, counter)
        self._count(instance, outcome)
        entry = self._entry(job.event, None)
        rounds = entry["outcomes"].setdefault(instance, [])
        rounds.append({"at": self.clock(), "outcome": outcome, "decision": action, "attempt": job.attempts + 1,
                       "verdicts": [self.masker.mask(v.to_json()) for v in verdicts], "requests": capture or []})
        del rounds[:-KEEP_ROUNDS]
        self._publish(entry)

    def _count(self, instance: str, outcome: str) -> None:
        minute = int(self.clock() // 60)
        buckets = self.minutes.setdefault(instance, collections.deque())
        if not buckets or buckets[-1][0] != minute:
            buckets.append((minute, dict.fromkeys(OUTCOMES, 0)))
            while buckets and buckets[0][0] <= minute - WINDOW_MINUTES:
                buckets.popleft()
        buckets[-1][1][outcome] = buckets[-1][1].get(outcome, 0) + 1

    # -- reading --------------------------------------------------------------------------------

    def counts(self, instance: str, minutes: int = WINDOW_MINUTES) -> dict[str, int]:
        """Outcomes of `instance`'s delivery rounds over the last `minutes` minutes (this one included)."""
        now = int(self.clock() // 60)
        total = dict.fromkeys(OUTCOMES, 0)
        for minute, counts in self.minutes.get(instance, ()):
            if minute > now - minutes:
                for key, value in counts.items():
                    total[key] = total.get(key, 0) + value
        return total

    def state(self, instance: str) -> str:
        """ok, degraded (some rounds failed or were retried in the last 5 minutes), failing (all of them), idle."""
        recent = self.counts(instance, 5)
        bad = recent["failed"] + recent["retry"] + recent["invalid"]
        good = recent["delivered"] + recent["filtered"]
        if not bad:
            return "ok" if good else "idle"
        return "failing" if not good else "degraded"

    def summary(self, entry: dict[str, Any]) -> dict[str, Any]:
        """What a tail row shows of an event."""
        event = entry["event"]
        return {"id": entry["id"], "at": entry["at"], "type": event.get("type"),
                "name": event.get("event") or event.get("name") or "",
                "who": event.get("userId") or event.get("anonymousId") or "", "source": entry["source"],
                "outcomes": {i: rounds[-1]["outcome"] for i, rounds in entry["outcomes"].items()}}

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest events first."""
        return [self.summary(e) for e in list(reversed(self.events.values()))[:limit]]

    def get(self, message_id: str) -> dict[str, Any] | None:
        return self.events.get(message_id)

    # -- the live tail --------------------------------------------------------------------------

    def listen(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LISTENER_BACKLOG)
        self.listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.listeners.discard(queue)

    def _publish(self, entry: dict[str, Any]) -> None:
        if not self.listeners:
            return
        message = self.summary(entry)
        for queue in list(self.listeners):
            if not queue.full():  # a listener that fell this far behind misses updates (the page reloads them)
                queue.put_nowait(message)
