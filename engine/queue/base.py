"""The queue interface the runner delivers from: what `engine serve` needs, and nothing more.

Delivery code talks only to `JobQueue`; `SQLiteQueue` is the embedded default and a distributed
broker can implement the same methods later (see docs/runner.md). Times are seconds since the
epoch from the queue's injectable clock. Verdicts are plain dicts (`Verdict.to_json()`), already
masked by the caller: the queue stores what it is given.
"""

from __future__ import annotations

import datetime as _dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

Event = dict[str, Any]
TimeLike = float | int | _dt.datetime

DEFAULT_DEDUP_WINDOW = 24 * 3600.0


class QueueError(RuntimeError):
    """The queue cannot be used as configured (a folder that cannot be written, a file held by another
    process, a damaged file): its message is one sentence for the user, naming the path and what to do."""


class QueueLocked(QueueError):
    """Another process owns the queue (a second `engine serve` on the same path)."""


class QueueBusy(QueueError):
    """A call on a `nowait()` handle found the queue busy (another connection is writing): nothing was done;
    make the same call on the queue itself (in a thread), which waits its turn."""


def as_epoch(value: TimeLike | None) -> float | None:
    """Seconds since the epoch for a number or a datetime (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.timestamp()
    return float(value)


@dataclass(slots=True)
class Job:
    """One event for one destination instance, as leased from the queue. Read-only by convention (not frozen: a
    frozen dataclass costs ~2 µs per construction, and every leased or handed-over job is one); a changed lease
    is a new `Job` (`dataclasses.replace`). Hot paths construct it positionally, in field order."""

    id: int
    instance: str
    event: Event
    message_id: str | None
    attempts: int  # deliveries tried before this lease (0 on the first)
    enqueued_at: float
    available_at: float
    leased_until: float | None = None
    last_verdict: dict[str, Any] | None = None
    orphaned: int = 0  # earlier leases that ended without ack/retry/dead_letter/release (the holder died or hung)


# the columns a SQL queue reads a job from, in this order (`job_from_row`)
JOB_COLUMNS = "id, instance, message_id, event, attempts, enqueued_at, available_at, leased_until, last_verdict, orphaned"


def job_from_row(r: Any, event: Callable[[str | None, bytes], Event]) -> Job:
    """The `Job` of a row of `JOB_COLUMNS`; `event` turns (messageId, stored form) into the event (`KeptEvents.event`)."""
    return Job(r[0], r[1], event(r[2], r[3]), r[2], r[4], r[5], r[6], r[7],
               orjson.loads(r[8]) if r[8] is not None else None, r[9])


@dataclass(frozen=True)
class DeadLetter:
    """A job that will not be retried: the event, the instance and why it failed."""

    id: int
    job_id: int
    instance: str
    event: Event
    message_id: str | None
    attempts: int
    reason: str
    verdict: dict[str, Any] = field(default_factory=dict)
    enqueued_at: float = 0.0
    failed_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "job_id": self.job_id, "instance": self.instance, "message_id": self.message_id,
            "attempts": self.attempts, "reason": self.reason, "verdict": self.verdict,
            "enqueued_at": _iso(self.enqueued_at), "failed_at": _iso(self.failed_at), "event": self.event,
        }


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def verdict_reason(verdict: dict[str, Any]) -> str:
    """The groupable cause of a verdict dict: its reason, else its error, else its status."""
    for key in ("reason", "error", "status"):
        value = verdict.get(key)
        if value:
            return str(value)
    return "unknown"


class DeadLetterStore(ABC):
    """Dead letters of one queue. Filters combine with AND; `since`/`until` bound the failure time."""

    @abstractmethod
    def list(self, instance: str | None = None, reason: str | None = None, since: TimeLike | None = None,
             until: TimeLike | None = None, limit: int | None = 100) -> list[DeadLetter]:
        """Matching dead letters, oldest failure first. `reason` matches a substring, case-insensitively."""

    @abstractmethod
    def get(self, dead_id: int) -> DeadLetter | None:
        """One dead letter by id, or None."""

    @abstractmethod
    def count(self, instance: str | None = None, reason: str | None = None, since: TimeLike | None = None,
              until: TimeLike | None = None) -> int:
        """How many dead letters match."""

    @abstractmethod
    def replay(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
               since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        """Put matching dead letters back into the queue (available now, attempts 0); how many."""

    @abstractmethod
    def purge(self, ids: Iterable[int] | None = None, *, instance: str | None = None, reason: str | None = None,
              since: TimeLike | None = None, until: TimeLike | None = None) -> int:
        """Delete matching dead letters for good (no ids and no filters: all of them); how many."""


class JobQueue(ABC):
    """A durable, at-least-once job queue: one job per (event, destination instance).

    Contract for implementations:
    - `enqueue` returns only once the jobs are durable: after it returns, a crash of the process loses none.
    - A leased job that is neither acked, retried nor dead-lettered before its lease ends is leased again.
    - An event whose `messageId` was accepted within the dedup window is not enqueued again.
    - `Job.orphaned` counts the earlier leases of a job that ended without `ack`, `retry`, `dead_letter` or
      `release` (the lease expired: the process died or hung mid-delivery). It is counted when the job is
      leased again after such an expired lease, so the caller sees it on the lease that follows (and can
      dead-letter a job that keeps killing its workers).
    - `renew` extends the leases a caller still holds (same id and same `leased_until` as the `Job` it was
      given); a job whose lease changed since (expired and leased by another caller, acked, retried) is
      skipped. A worker renews the leases of its in-flight jobs (a heartbeat), so a lease can be short: a
      crashed worker's jobs are leased again within one lease, and a slow delivery is never taken over.
    """

    dlq: DeadLetterStore

    def nowait(self) -> JobQueue | None:
        """A handle on the same queue whose calls never wait for a lock or the network, so an event loop can make
        them on its own thread: each either completes at once or raises `QueueBusy` having done nothing (the
        caller then makes it on the queue in a thread). None (the default) when the queue has no such handle."""
        return None

    @abstractmethod
    def enqueue(self, events: list[Event], destinations: list[str]) -> int:
        """One job per (event, destination) in one transaction, skipping messageIds seen within the
        dedup window (also duplicates within `events`); the number of jobs created."""

    def enqueue_taking(self, events: list[Event], destinations: list[str], take: Mapping[str, int],
                       lease_seconds: float, *, encoded: list[bytes] | None = None) -> tuple[int, dict[str, list[Job]]]:
        """`enqueue`, and hand the caller (its own process's worker) up to `take[d]` of the new jobs of instance
        `d`, created already leased for `lease_seconds`: (jobs created, the jobs taken by instance). A taken job
        holds the very event object given, so the worker delivers it without leasing it and reading it back;
        it is otherwise a leased job like any other (renewed, acked, leased again by anyone once its lease ends:
        a crash loses none). `encoded`, when given, is each event already JSON-encoded (the stored form).
        The default takes none (a queue that does not implement it: the worker leases the jobs as usual)."""
        return self.enqueue(events, destinations), {}

    def make_durable(self) -> None:
        """Make every commit made so far durable (on disk, as the queue's durability setting promises). `enqueue`
        does it itself before it returns; a `nowait()` handle's `enqueue_taking` does not (it must not wait for the
        disk on an event loop's thread), so its caller calls this on the queue, in a thread, before it answers for
        the events. Default: nothing left to do."""
        return None

    @abstractmethod
    def lease(self, limit: int, lease_seconds: float) -> list[Job]:
        """Up to `limit` jobs that are due (available and not leased, or whose lease expired), oldest first,
        each leased for `lease_seconds`."""

    @abstractmethod
    def ack(self, job_id: int) -> None:
        """The job is done (delivered, filtered or invalid by decision of the caller): remove it."""

    def ack_many(self, job_ids: Iterable[int]) -> int:
        """Ack several jobs (implementations do it in one transaction); how many existed."""
        return sum(1 for job_id in job_ids if self.ack(job_id) is not False)

    def ack_and_lease(self, job_ids: Iterable[int], limit: int, lease_seconds: float, *,
                      instance: str | None = None) -> list[Job]:
        """`ack_many(job_ids)`, then `lease(limit, lease_seconds)` (of `instance`'s jobs when given): what a
        worker does between two rounds, in one call (implementations do it in one transaction). Acking
        again a job already acked is harmless, so a caller whose call failed may pass the same ids again."""
        ids = list(job_ids)
        if ids:
            self.ack_many(ids)
        if limit <= 0:
            return []
        if instance is None:
            return self.lease(limit, lease_seconds)
        return self.lease(limit, lease_seconds, instance=instance)  # type: ignore[call-arg]

    @abstractmethod
    def release(self, jobs: Iterable[Job]) -> int:
        """End the leases of jobs that were leased (as `jobs`, by this caller) but not worked on: due again at
        once, attempts unchanged. A job whose lease has changed since (expired and leased again) is left
        alone. How many were released."""

    @abstractmethod
    def renew(self, jobs: Iterable[Job], lease_seconds: float) -> list[Job]:
        """Extend to now + `lease_seconds` the lease of each job still held under the lease it was given
        (same id and same `leased_until` as the `Job` passed); a job whose lease changed since is skipped.
        The renewed jobs, with their new `leased_until` (pass those to the next `renew`, `release`)."""

    @abstractmethod
    def retry(self, job_id: int, delay: float, verdict: dict[str, Any]) -> None:
        """Back to the queue, available after `delay` seconds, attempts + 1, `verdict` kept as the last one."""

    @abstractmethod
    def dead_letter(self, job_id: int, verdict: dict[str, Any]) -> None:
        """Move the job to the dead letters with its last (masked) verdict."""

    @abstractmethod
    def depth(self) -> dict[str, int]:
        """Jobs waiting or leased, per destination instance (instances with none are absent)."""

    def check_writable(self) -> None:
        """Raise `QueueError` (one sentence) when jobs cannot be written now; the default only reads."""
        try:
            self.depth()
        except Exception as exc:
            raise QueueError(f"{self!r} cannot be read: {exc}") from None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the queue must not be used afterwards."""

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
