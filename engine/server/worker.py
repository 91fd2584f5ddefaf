"""The delivery loop of `engine serve`: lease jobs per destination instance, deliver, then ack, retry
later or dead-letter.

Per instance, at most `concurrency` jobs are in flight. Each job gets `deliver_event` (routing,
triggers, mapping, validation, steps) through the instance's `Deliverer`, which retries retryable
failures in-process with the config's retry policy. Then:

    delivered / filtered            ack
    invalid                         dead letter (a spec or config fix and `engine dlq replay` deliver it)
    failed, retryable               queue.retry with exponential backoff by the job's attempts, until
                                    `max_attempts` rounds or `max_age` seconds since it was accepted;
                                    then dead letter
    failed, permanent (e.g. a 400)  dead letter

Leases follow the work: a heartbeat renews the leases of the instance's jobs (in flight, leased
ahead, or delivered and waiting for their ack) every third of `queue.lease_seconds`, so a slow
delivery is never taken over, while a crashed process's jobs are leased again within one lease. A
job is still never worked on forever: a per-job time limit (the retry deadline plus a margin;
running out counts as a retryable failure). A job whose lease expired `queue.max_orphaned` times
(its delivery was in flight when the process died, e.g. a poison event that kills the process) is
dead-lettered with that reason instead of being delivered again. On stop, in-flight jobs get `drain_timeout` seconds; those still running are cancelled and put back
into the queue (available at once).

Batching. An instance whose destination has an action with a `batch` request (docs/spec-format.md
"Batching") leases up to the largest `max_count` (at most 1,000) at a time, waits at most
`queue.batch_linger_ms` for more due jobs to fill the batch, and delivers the batch with one
`deliver_events` call (the batchable payloads in batch requests); each job is then acked, retried or
dead-lettered from its own verdicts, as a job delivered alone. At most `concurrency` batches are in flight.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from engine.delivery import Deliverer, Verdict, make_transport
from engine.delivery.verdicts import FAILED, INVALID, VerdictStatus
from engine.queue.base import QueueBusy, verdict_reason
from engine.runtime.batching import deliver_events
from engine.runtime.dispatcher import Dispatcher
from engine.server.metrics import Metrics
from engine.server.outcomes import Outcomes
from engine.server.sandbox import SandboxLog, SandboxTransport

if TYPE_CHECKING:
    from engine.config import Config, DestinationConfig
    from engine.queue import Job, JobQueue
    from engine.secrets import Masker
    from engine.server.console.recorder import Recorder


_KINDS = {"jobs_delivered_total": "delivered", "jobs_filtered_total": "filtered"}
CHECKPOINT_INTERVAL = 1.0  # seconds between checkpoints of the queue's write-ahead log (see Worker._checkpoint)
BUSY_RETRY = 0.05  # seconds a queue call on the loop's thread is tried again while the queue is busy (call_nowait)
ACK_LINGER = 0.05  # seconds a decided ack may wait for others to share its queue call (job by job instances)
HOLD_SECONDS = 1.0  # an instance takes over from an enqueue up to this long's worth of its recent deliveries
HOLD_MAX = 1000  # ... but never holds more jobs than this (nor fewer than it leases ahead)
LEASE_AHEAD = 0.02  # seconds of its recent deliveries an instance holds through its own leases ...
LEASE_MIN, LEASE_MAX = 3, 8  # ... between these many times `concurrency` (in flight included)


@dataclass
class WorkerOptions:
    max_attempts: int = 30  # delivery rounds (each with its in-process retries) before a dead letter
    max_age: float = 4 * 3600.0  # seconds since the event was accepted after which a failing job is dead-lettered
    backoff_cap: float = 600.0  # longest wait between rounds; the base is the config's retry.base
    max_orphaned: int | None = None  # None: the config's queue.max_orphaned
    poll_interval: float = 0.5  # how often an idle instance looks for due jobs (enqueues wake it at once)
    # With a queue that tells when its earliest job is due (`next_due`), the Worker looks once per poll interval
    # for all instances and wakes them when a job is due; an idle instance then looks on its own only this often.
    idle_poll_interval: float = 30.0
    drain_timeout: float = 10.0  # on stop: how long in-flight jobs may take to finish
    transport: str = "auto"  # make_transport kind
    batching: bool = True  # instances with a batch action deliver leased jobs in batches (deliver_events)
    batch_linger: float | None = None  # seconds a batch may wait to fill; None: the config's queue.batch_linger_ms


@dataclass(frozen=True)
class Decision:
    action: str  # ack | retry | dead
    counter: str  # metrics counter
    verdict: dict[str, Any] | None = None
    delay: float = 0.0


_ACK_DELIVERED = Decision("ack", "jobs_delivered_total")  # the two decisions without a verdict, made once
_ACK_FILTERED = Decision("ack", "jobs_filtered_total")


def backoff(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds before round `attempts + 1`: base·2^attempts capped, with jitter in [50 %, 100 %]."""
    ceiling = min(cap, max(base, 0.01) * (2 ** min(attempts, 40)))
    return ceiling * (0.5 + 0.5 * rand())


def decide(job: Job, verdicts: list[Verdict], *, now: float, max_attempts: int, max_age: float,
           base: float, cap: float, rand: Callable[[], float] = random.random) -> Decision:
    """What to do with a job after one delivery round (pure: no queue, no clock)."""
    failed = [v for v in verdicts if v.status is FAILED]
    invalid = [v for v in verdicts if v.status is INVALID]
    deciding = (failed or invalid or [None])[0]
    if deciding is None:
        delivered = any(v.status is VerdictStatus.DELIVERED for v in verdicts)
        return _ACK_DELIVERED if delivered else _ACK_FILTERED
    record = deciding.to_json()
    record["retryable"] = deciding.retryable
    if len(verdicts) > 1:
        record["verdicts"] = [v.to_json() for v in verdicts]
    if failed:
        retryable = [v for v in failed if v.retryable]
        if retryable and len(retryable) == len(failed):
            rounds = job.attempts + 1
            if rounds >= max_attempts:
                record["error"] = f"{record.get('error') or record.get('reason')} (gave up after {rounds} rounds)"
                return Decision("dead", "jobs_failed_total", record)
            if now - job.enqueued_at >= max_age:
                record["error"] = (f"{record.get('error') or record.get('reason')} "
                                   f"(gave up: accepted {now - job.enqueued_at:.0f} s ago)")
                return Decision("dead", "jobs_failed_total", record)
            return Decision("retry", "jobs_retried_total", record, backoff(job.attempts, base, cap, rand))
        return Decision("dead", "jobs_failed_total", record)
    return Decision("dead", "jobs_invalid_total", record)


class InstanceWorker:
    """Delivers the jobs of one destination instance.

    At most `concurrency` jobs are in flight, and more wait leased in `ready` (2 to 7 × `concurrency`, by the
    instance's delivery rate, `_measure`; more when an enqueue hands new jobs over: `_hold`), so that a finished
    job's slot is given to the next one at once, without waiting for the queue. One loop (`run`) does the queue
    work of the instance: the acks of the jobs that finished since its last call and, once fewer than
    `concurrency` are ready, the lease of as many jobs as there is room for go to the queue together in one
    `ack_and_lease` call (one transaction, on the loop's thread when the queue is free: see `_call`), however many
    jobs finished meanwhile. Acks alone wait for company: they go to the queue once 4 × `concurrency` are
    decided, the oldest has waited `ACK_LINGER`, or nothing is left in flight, so a busy instance makes one
    queue call per several jobs, not one per job. A job's ack is committed shortly after its delivery verdict is
    known, never before: a crash in between leaves it leased, and it is delivered again once its lease expires
    (at-least-once). Retries and dead letters, rarer, are written by the job itself. `held` is every job
    the instance holds a lease on (ready, in flight, or decided and waiting for its ack), with its
    current lease; `heartbeat` renews them.
    """

    def __init__(self, dest: DestinationConfig, queue: JobQueue, deliverer: Deliverer, metrics: Metrics,
                 options: WorkerOptions, lease_seconds: float, outcomes: Outcomes | None = None,
                 masker: Masker | None = None) -> None:
        self.dest = dest
        self.outcomes = outcomes if outcomes is not None else Outcomes([dest.id], log=None)
        self.queue = queue
        self.deliverer = deliverer
        self.metrics = metrics
        self.options = options
        self.lease_seconds = lease_seconds
        timeout = float((dest.destination.spec.get("request_defaults") or {}).get("timeout", 10.0))
        self.job_timeout = dest.retry.deadline + 2 * timeout  # the in-process retries end before this
        self.max_orphaned = options.max_orphaned if options.max_orphaned is not None else 3
        self.held: dict[int, Job] = {}  # job id -> the job with its current lease
        self.fast = nowait_handle(queue)  # the queue's handle for calls on the loop's own thread, if it has one
        self.masker = masker if masker is not None else dest.masker()  # the Worker's: one for every instance
        # deliver_event compiled once for this instance (what its settings decide is made ahead)
        self.dispatch = Dispatcher(dest.destination, dest.settings, dest.subscriptions, deliverer)
        # OAuth2: one access token per instance, shared by its workers through the queue (a TokenStore)
        if getattr(dest.destination, "oauth2", None) is not None and hasattr(queue, "get_token"):
            from engine.runtime.oauth import use_token_store

            use_token_store(deliverer, dest.destination, queue, dest.id)  # type: ignore[arg-type]
        self.wake = asyncio.Event()  # set by enqueues: new jobs may be due
        self.changed = asyncio.Event()  # set by enqueues and finished jobs: the loop has something to do
        self.inflight: dict[asyncio.Task[None], Job] = {}  # slot -> the job it is delivering
        self.slots: list[asyncio.Task[None]] = []  # the delivery slots (`_slot`), `concurrency` of them
        self.idle: collections.deque[asyncio.Future[None]] = collections.deque()  # idle slots wait on these
        self.deadlines: dict[asyncio.Task[None], float] = {}  # in flight -> its time limit (event loop time)
        self.expired: set[asyncio.Task[None]] = set()  # cancelled by `expire` (not by a stop)
        self.ready: collections.deque[Job] = collections.deque()  # leased, not started
        self.reserved = 0  # room promised to an enqueue in progress (`reserve`), which may hand over that many
        # whether the last look for due jobs found fewer than asked (nothing more was due): only then does an
        # enqueue hand new jobs over (`take`), so handed jobs never overtake older due ones left in the queue
        self.caught_up = False
        self.acks: list[tuple[int, str]] = []  # (job id, metrics counter) decided "ack", not yet committed
        self.acks_since = 0.0  # monotonic time the oldest of `acks` was decided
        self.ack_batch = 4 * dest.concurrency  # acks committed together (unless they linger too long)
        self.accepting = True  # False once stopping: finished jobs no longer start ready ones
        self.recorder: Recorder | None = None  # the console's record of recent deliveries, when it is on
        counts = [a.batch.max_count for a in dest.destination.actions.values() if getattr(a, "batch", None) is not None]
        self.batch_size = min(max(counts), 1000) if counts and options.batching else 0  # 0: job by job
        self.batch_linger = options.batch_linger if options.batch_linger is not None else 0.5
        self.batches: dict[asyncio.Task[None], list[Job]] = {}  # batches in flight (batching instances only)
        self.poll_interval = options.poll_interval  # how often it looks for due jobs unwoken (see Worker._poll)
        self.finished = 0  # jobs that left a slot since `rate_since` (for `_measure`)
        self.rate_since = time.monotonic()
        self.lease_hold = LEASE_MIN * dest.concurrency  # how many jobs it holds at most through its own leases
        self.hold = self.lease_hold  # how many it may hold when an enqueue hands some over (`_hold`)
        self.next_look = 0.0  # monotonic time from which `run` looks for due jobs without a wake (the poll)

    def notify(self) -> None:
        """Jobs of this instance may be due in the queue (enqueued and not handed over, a retry's delay ended, a
        lease expired, a replay): look for them."""
        self.caught_up = False
        self.wake.set()
        self.changed.set()

    def _room(self, hold: int | None = None) -> int:
        """How many more jobs this instance may hold: `hold` (`lease_hold` unless given), less those in flight,
        ready and promised."""
        return (self.lease_hold if hold is None else hold) - len(self.inflight) - len(self.ready) - self.reserved

    def _measure(self) -> None:
        """About once a second, size what this instance holds from its recent delivery rate: through its own leases
        (`lease_hold`) about `LEASE_AHEAD` of it, between `LEASE_MIN` and `LEASE_MAX` × `concurrency`, so that a
        fast instance's slots do not run dry while its next lease waits for the queue (another process writing)
        and it makes fewer, larger lease calls, while a slow one leases no more than it needs; at enqueue
        (`hold`) about `HOLD_SECONDS` of it, between `lease_hold` and `HOLD_MAX`."""
        now = time.monotonic()
        elapsed = now - self.rate_since
        if elapsed >= HOLD_SECONDS:
            rate = self.finished / elapsed
            conc = self.dest.concurrency
            self.lease_hold = max(LEASE_MIN * conc, min(LEASE_MAX * conc, int(rate * LEASE_AHEAD)))
            self.hold = max(self.lease_hold, min(HOLD_MAX, int(rate * HOLD_SECONDS)))
            self.finished = 0
            self.rate_since = now

    def _hold(self) -> int:
        """How many jobs this instance holds at most when an enqueue hands new ones over (`_measure`). Jobs an
        enqueue hands over cost no lease query later, so a busy instance takes more of them; a slow one takes
        no more than it would lease, so they do not wait long leased and unstarted."""
        self._measure()
        return self.hold

    def reserve(self, wanted: int) -> int:
        """How many of the `wanted` jobs an enqueue is about to create this instance takes at once (0 for a
        batching instance, one stopping, or one with due jobs still in the queue); that room stays promised until
        `take`. At most `wanted`: enqueues overlap (each is answered before its jobs are handed over), and one
        promised the whole room would leave none for the next, whose shortfall would end the hand-over."""
        if self.batch_size or not self.accepting or not self.caught_up:
            return 0
        room = min(wanted, self._room(self._hold()))
        if room <= 0:
            return 0
        self.reserved += room
        return room

    def take(self, jobs: list[Job], reserved: int) -> None:
        """The jobs an enqueue created leased for this instance (at most `reserved`, the room `reserve` gave):
        held and started like leased ones."""
        self.reserved -= reserved
        if not jobs:
            return
        if not self.accepting:  # stopped meanwhile: back into the queue (their leases end)
            asyncio.ensure_future(self._release(jobs))
            return
        for job in jobs:
            self.held[job.id] = job
        self.ready.extend(jobs)
        self._start_ready()
        self.changed.set()

    async def _release(self, jobs: Iterable[Job]) -> None:
        """Put jobs this instance will not start back into the queue, with their current leases (`held`)."""
        current = [self.held.pop(job.id, job) for job in jobs]
        if not current:
            return
        try:
            await self._call("release", current)
        except Exception as exc:  # not lost: leased until the lease ends, then delivered
            print(f"engine serve: {self.dest.id}: cannot release jobs: {exc}", file=sys.stderr)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """`queue.<name>(*args)`: on the loop's thread through the queue's `nowait()` handle when it has one and the
        queue is free (no hop to a thread, no wait: a lease or an ack is a few dozen microseconds of SQLite),
        else in a thread, where it waits its turn (another connection is writing, or the queue has no handle)."""
        return await call_nowait(self.fast, self.queue, name, *args, **kwargs)

    async def run(self, stopping: asyncio.Event) -> None:
        if self.batch_size:
            await self._run_batches(stopping)
            return
        stop_wait = asyncio.ensure_future(stopping.wait())
        conc = self.dest.concurrency
        low = conc  # lease again when fewer than this many jobs are ready
        self.next_look = 0.0
        heartbeat = asyncio.create_task(self.heartbeat(stopping), name=f"heartbeat:{self.dest.id}")
        self.slots = [asyncio.create_task(self._slot(), name=f"slot:{self.dest.id}:{k}") for k in range(conc)]
        try:
            while not stopping.is_set():
                self._measure()
                room = self._room()
                look = (room > 0 and len(self.ready) < low
                        and (self.wake.is_set() or time.monotonic() >= self.next_look))
                if not look and not self._acks_due():  # wait for a finished job, an enqueue, stop, the poll
                    self.changed.clear()                    # or the acks' linger
                    changed = asyncio.ensure_future(self.changed.wait())
                    timeout = (max(0.0, self.next_look - time.monotonic())
                               if room > 0 and len(self.ready) < low else None)
                    if self.acks:
                        linger = max(0.0, self.acks_since + ACK_LINGER - time.monotonic())
                        timeout = linger if timeout is None else min(timeout, linger)
                    await asyncio.wait([changed, stop_wait], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    changed.cancel()
                    continue
                if look:
                    self.wake.clear()
                got = await self._ack_and_lease(room if look else 0)
                if got is None:  # the queue is unreachable: said so; wait, go on (the acks stay due)
                    self.next_look = time.monotonic() + self.options.poll_interval
                    await asyncio.wait([stop_wait], timeout=self.options.poll_interval)
                    continue
                jobs, poison = got
                self.ready.extend(job for job in jobs if job.orphaned < self.max_orphaned)
                self._start_ready()
                if poison:
                    await self._dead_letter_orphans(poison)
                if look:  # fewer than asked: nothing more is due now, look again on an enqueue or at the poll
                    self.caught_up = len(jobs) < room
                    self.next_look = time.monotonic() + self.poll_interval if self.caught_up else 0.0
        finally:
            stop_wait.cancel()
        try:
            await self.drain()
        finally:
            heartbeat.cancel()

    def _acks_due(self) -> bool:
        """Whether the acks decided so far go to the queue now: enough of them for one call, or the oldest has
        waited `ACK_LINGER`, or no job is in flight (no more are coming soon)."""
        acks = self.acks
        return bool(acks) and (len(acks) >= self.ack_batch or not self.inflight
                               or time.monotonic() - self.acks_since >= ACK_LINGER)

    async def _ack_and_lease(self, limit: int) -> tuple[list[Job], list[Job]] | None:
        """Commit the acks due and lease up to `limit` jobs in one queue call: (jobs leased, the poison ones
        among them), every one held; None when the queue is unreachable (said; the acks stay due)."""
        acks, self.acks = self.acks, []
        try:
            jobs = await self._call("ack_and_lease", [a[0] for a in acks], limit, self.lease_seconds,
                                           instance=self.dest.id)
        except Exception as exc:
            print(f"engine serve: {self.dest.id}: cannot ack or lease jobs: {exc}", file=sys.stderr)
            self.acks[:0] = acks
            return None
        self._acked(acks)
        for job in jobs:
            self.held[job.id] = job
        return jobs, [job for job in jobs if job.orphaned >= self.max_orphaned]

    def _acked(self, acks: list[tuple[int, str]]) -> None:
        """The jobs of `acks` (job id, counter) were acked: no longer held, counted (per counter, not per job)."""
        held = self.held
        per_counter: dict[str, int] = {}
        for job_id, counter in acks:
            held.pop(job_id, None)
            per_counter[counter] = per_counter.get(counter, 0) + 1
        for counter, n in per_counter.items():
            self.metrics.inc(counter, self.dest.id, n)
            self.outcomes.record(self.dest.id, _KINDS[counter], count=n)

    async def _run_batches(self, stopping: asyncio.Event) -> None:
        """`run` for a batching instance: lease up to `batch_size`, let the batch fill for at most
        `batch_linger` seconds, deliver it as one `deliver_events` call; at most `concurrency` batches in flight."""
        stop_wait = asyncio.ensure_future(stopping.wait())
        next_look = 0.0
        heartbeat = asyncio.create_task(self.heartbeat(stopping), name=f"heartbeat:{self.dest.id}")
        try:
            while not stopping.is_set():
                room = len(self.batches) < self.dest.concurrency
                look = room and (self.wake.is_set() or time.monotonic() >= next_look)
                if not look and not self.acks:
                    self.changed.clear()
                    changed = asyncio.ensure_future(self.changed.wait())
                    timeout = max(0.0, next_look - time.monotonic()) if room else None
                    await asyncio.wait([changed, stop_wait], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    changed.cancel()
                    continue
                if look:
                    self.wake.clear()
                got = await self._ack_and_lease(self.batch_size if look else 0)
                if got is None:
                    next_look = time.monotonic() + self.options.poll_interval
                    await asyncio.wait([stop_wait], timeout=self.options.poll_interval)
                    continue
                jobs, poison = got
                until = time.monotonic() + self.batch_linger
                while jobs and len(jobs) < self.batch_size and not stopping.is_set():  # let the batch fill
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self.wake.clear()
                    woken = asyncio.ensure_future(self.wake.wait())
                    await asyncio.wait([woken, stop_wait], timeout=left, return_when=asyncio.FIRST_COMPLETED)
                    woken.cancel()
                    more = await self._ack_and_lease(self.batch_size - len(jobs))
                    if more is None:
                        break
                    jobs, poison = jobs + more[0], poison + more[1]
                if poison:
                    await self._dead_letter_orphans(poison)
                batch = [job for job in jobs if job.orphaned < self.max_orphaned]
                if batch:
                    deadline = asyncio.get_running_loop().time() + self.job_timeout
                    task = asyncio.create_task(self._process_batch(batch, deadline))
                    self.batches[task] = batch
                    task.add_done_callback(self._batch_done)
                if look:  # fewer than asked: nothing more is due now, look again on an enqueue or at the poll
                    next_look = time.monotonic() + self.poll_interval if len(jobs) < self.batch_size else 0.0
        finally:
            stop_wait.cancel()
        try:
            await self.drain()
        finally:
            heartbeat.cancel()

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self.batches.pop(task, None)
        self.changed.set()
        if not task.cancelled() and task.exception() is not None:
            print(f"engine serve: {self.dest.id}: batch failed in the worker: {task.exception()!r}", file=sys.stderr)

    async def heartbeat(self, stopping: asyncio.Event) -> None:
        """Every third of the lease, renew the leases of the jobs this instance holds (until cancelled:
        also while draining)."""
        interval = max(0.05, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            if not self.held:
                continue
            try:
                renewed = await self._call("renew", list(self.held.values()), self.lease_seconds)
            except Exception as exc:  # the queue is unreachable: try again at the next beat
                print(f"engine serve: {self.dest.id}: cannot renew leases: {exc}", file=sys.stderr)
                continue
            for job in renewed:
                if job.id in self.held:  # not finished meanwhile
                    self.held[job.id] = job
            self._update_ready()

    def _update_ready(self) -> None:
        """The jobs leased ahead carry their current lease (for `release`)."""
        self.ready = collections.deque(self.held.get(job.id, job) for job in self.ready)

    async def _dead_letter_orphans(self, jobs: list[Job]) -> None:
        for job in jobs:
            verdict = {"status": "failed", "retryable": False,
                       "reason": f"delivery was in flight when the process died {job.orphaned} times",
                       "error": f"the lease of this job expired {job.orphaned} times while it was being delivered "
                                f"(the process died or hung); not delivered again (queue.max_orphaned "
                                f"{self.max_orphaned}); fix the cause, then engine dlq replay"}
            try:
                await self._call("dead_letter", job.id, verdict)
            except Exception as exc:
                print(f"engine serve: {self.dest.id}: cannot dead-letter job {job.id}: {exc}", file=sys.stderr)
            else:
                self.metrics.inc("jobs_failed_total", self.dest.id)
                self.outcomes.record(self.dest.id, "dead-lettered", verdict["reason"])
            self.held.pop(job.id, None)

    def _start_ready(self) -> None:
        """Wake an idle slot for each job ready (the slots take the jobs themselves: `_slot`)."""
        idle, ready = self.idle, self.ready
        woken = 0
        while idle and len(ready) > woken and self.accepting:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                woken += 1

    async def _slot(self) -> None:
        """One of the instance's `concurrency` delivery slots: takes the next ready job, delivers and settles it,
        takes the next; waits when none is ready. A long-lived coroutine per slot, not a task per job."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        while self.accepting:
            if not self.ready:
                waiter = loop.create_future()
                self.idle.append(waiter)
                await waiter
                continue
            job = self.ready.popleft()
            deadline = loop.time() + self.job_timeout
            self.inflight[task] = job
            self.deadlines[task] = deadline
            try:
                await self._process(job, deadline)
            except asyncio.CancelledError:
                if task not in self.expired:
                    raise  # stopping
                task.uncancel()  # its time limit ran out while it was being settled: leased until the lease ends
                self.held.pop(job.id, None)
            except Exception as exc:  # noqa: BLE001 - a bug: said, the job stays leased until its lease ends
                print(f"engine serve: {self.dest.id}: job failed in the worker: {exc!r}", file=sys.stderr)
                self.held.pop(job.id, None)
            finally:
                self.inflight.pop(task, None)
                self.deadlines.pop(task, None)
                self.finished += 1
            self.expired.discard(task)
            # the loop is woken only when it has something to do: acks to commit (or the first of a group, whose
            # linger it then times), or too few ready and a look is due (each wake costs it a round of waiting)
            if (len(self.acks) == 1 or self._acks_due()
                    or (len(self.ready) < self.dest.concurrency
                        and (self.wake.is_set() or time.monotonic() >= self.next_look))):
                self.changed.set()
        self.changed.set()

    async def drain(self) -> None:
        """Put the ready jobs back (their leases end), wait up to `drain_timeout` for in-flight jobs, cancel
        the rest and put them back too; commit the acks of the jobs that finished."""
        self.accepting = False
        for waiter in self.idle:  # idle slots end (busy ones end after their job)
            if not waiter.done():
                waiter.set_result(None)
        self.idle.clear()
        ready, self.ready = self.ready, collections.deque()
        await self._release(ready)
        pending: dict[asyncio.Task[None], list[Job]] = {task: [job] for task, job in self.inflight.items()}
        pending.update(self.batches)
        still: set[asyncio.Task[None]] = set()
        if pending:
            _, still = await asyncio.wait(list(pending), timeout=self.options.drain_timeout)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
        acks, self.acks = self.acks, []
        if acks:
            try:
                await self._call("ack_many", [a[0] for a in acks])
            except Exception as exc:  # not lost: still leased, delivered again when the lease ends
                print(f"engine serve: {self.dest.id}: cannot ack jobs: {exc}", file=sys.stderr)
            else:
                self._acked(acks)
        for slot in self.slots:
            slot.cancel()
        if still:
            verdict = {"status": "failed", "reason": "interrupted by shutdown", "retryable": True}
            for task in still:
                for job in pending[task]:
                    self.held.pop(job.id, None)
                    with contextlib.suppress(Exception):
                        await self._call("retry", job.id, 0.0, verdict)

    def expire(self, now: float) -> None:
        """Cancel the jobs in flight whose time limit (`deadlines`, event loop time) has passed; each then settles
        as a retryable "job timeout". The Worker's watchdog calls this, so a job costs no timer of its own."""
        for task, deadline in self.deadlines.items():
            if deadline <= now and task not in self.expired and not task.done():
                self.expired.add(task)
                task.cancel()

    def _timed_out(self) -> list[Verdict]:
        return [Verdict(FAILED, error=f"delivery took longer than {self.job_timeout:g} s (the job's time limit)",
                        reason="job timeout", retryable=True)]

    async def _process(self, job: Job, deadline: float) -> None:
        """Deliver one job; `deadline` (event loop time) is its time limit, enforced by `expire`."""
        started = time.monotonic()
        capture = self.recorder.begin() if self.recorder is not None else None
        try:
            if deadline <= asyncio.get_running_loop().time():
                raise TimeoutError
            verdicts = await self.dispatch(job.event)
        except TimeoutError:
            verdicts = self._timed_out()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task not in self.expired:
                raise  # stopping
            self.expired.discard(task)
            task.uncancel()
            verdicts = self._timed_out()
        except Exception as exc:  # a bug must not lose the job: retry it, in the end dead-letter it
            message = self.masker.mask_text(f"engine error: {type(exc).__name__}: {exc}")
            verdicts = [Verdict(FAILED, error=message, reason="engine error", retryable=True)]
        self.metrics.observe(self.dest.id, time.monotonic() - started)
        await self._settle(job, verdicts, capture)

    async def _process_batch(self, jobs: list[Job], deadline: float) -> None:
        """Deliver the jobs leased together with one `deliver_events` call, then settle each from its verdicts."""
        started = time.monotonic()
        capture = self.recorder.begin() if self.recorder is not None else None
        try:
            async with asyncio.timeout_at(deadline):
                per_job = await deliver_events(self.dest.destination, [job.event for job in jobs], self.dest.settings,
                                               self.dest.subscriptions, self.deliverer)
        except TimeoutError:
            per_job = [self._timed_out()] * len(jobs)
        except Exception as exc:  # a bug must not lose the jobs: retry them, in the end dead-letter them
            message = self.masker.mask_text(f"engine error: {type(exc).__name__}: {exc}")
            per_job = [[Verdict(FAILED, error=message, reason="engine error", retryable=True)]] * len(jobs)
        self.metrics.observe(self.dest.id, time.monotonic() - started)
        for job, verdicts in zip(jobs, per_job, strict=True):
            await self._settle(job, verdicts, capture)

    async def _settle(self, job: Job, verdicts: list[Verdict], capture: list[dict[str, Any]] | None) -> None:
        """Ack, retry or dead-letter `job` after a delivery round that gave `verdicts`."""
        decision = decide(job, verdicts, now=time.time(), max_attempts=self.options.max_attempts,
                          max_age=self.options.max_age, base=self.dest.retry.base, cap=self.options.backoff_cap)
        if self.recorder is not None:
            self.recorder.finished(self.dest.id, job, verdicts, decision.counter, decision.action, capture)
        if decision.action == "ack":  # committed by the loop with the others that finished meanwhile
            if not self.acks:
                self.acks_since = time.monotonic()
            self.acks.append((job.id, decision.counter))
            return
        verdict = self.masker.mask(decision.verdict) if decision.verdict is not None else None
        if decision.action == "retry":
            await self._call("retry", job.id, decision.delay, verdict or {})
        else:
            await self._call("dead_letter", job.id, verdict or {})
        self.held.pop(job.id, None)
        self.metrics.inc(decision.counter, self.dest.id)
        record = verdict or {}
        self.outcomes.record(self.dest.id, "retried" if decision.action == "retry" else "dead-lettered",
                             str(record.get("error") or verdict_reason(record)))


async def call_nowait(fast: JobQueue | None, queue: JobQueue, name: str, *args: Any, **kwargs: Any) -> Any:
    """`queue.<name>(*args)` on the event loop's thread through `fast` (the queue's `nowait()` handle) when it has
    one: while another connection holds the write lock (`QueueBusy`), tried again on the loop after 1, 2, 4, 4, ...
    ms for up to `BUSY_RETRY` seconds, the loop running meanwhile; then in a thread, which waits its turn as long as
    the queue's busy timeout. (SQLite's own busy handler, in a thread, sleeps 1, 2, 5, 10, 15 ms... between tries,
    and the thread then needs the GIL back: ~11 ms per busy call were measured with two processes.)"""
    if fast is not None:
        delay = waited = 0.0
        call = getattr(fast, name)
        while True:
            try:
                return call(*args, **kwargs)
            except QueueBusy:
                if waited >= BUSY_RETRY:
                    break
            delay = min(2 * delay, 0.004) if delay else 0.001
            await asyncio.sleep(delay)
            waited += delay
    return await asyncio.to_thread(getattr(queue, name), *args, **kwargs)


def nowait_handle(queue: JobQueue) -> JobQueue | None:
    """The queue's `nowait()` handle, or None (a queue without one, or one that cannot open it: threads then)."""
    make = getattr(queue, "nowait", None)
    if make is None:
        return None
    try:
        return make()
    except Exception:  # noqa: BLE001 - the threads path reports queue problems as they happen
        return None


def instance_deliverer(config: Config, dest: DestinationConfig, sandbox: SandboxLog, transport: str = "auto",
                       masker: Masker | None = None) -> Deliverer:
    """The Deliverer of one configured instance: the config's routes, its sandbox hosts captured, the
    instance's retry policy and concurrency, its secrets masked. `engine serve` and `engine send --config`
    deliver through the same one."""
    inner = make_transport(config.url_routes, transport, max_connections=dest.concurrency)  # type: ignore[arg-type]
    if config.sandbox_hosts:
        inner = SandboxTransport(config.sandbox_hosts, inner, sandbox, dest.id)
    spec = dest.destination.spec
    return Deliverer(inner, dest.retry.policy(), concurrency=dest.concurrency,
                     masker=(masker or config.masker()).with_secrets(dest.secrets), errors_table=spec.get("errors"),
                     default_timeout=float((spec.get("request_defaults") or {}).get("timeout", 10.0)),
                     redirects=spec.get("redirects"))


class Worker:
    """One `InstanceWorker` per enabled destination instance, each with its own `Deliverer`."""

    def __init__(self, config: Config, queue: JobQueue, metrics: Metrics, sandbox: SandboxLog,
                 options: WorkerOptions | None = None, *, log: TextIO | None = sys.stderr) -> None:
        self.config = config
        self.queue = queue
        self.metrics = metrics
        self.sandbox = sandbox
        self.options = options or WorkerOptions()
        self.log = log
        self.instances: list[InstanceWorker] = []
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.masker = config.masker()
        self.outcomes = Outcomes([d.id for d in config.enabled_destinations], log=log)
        self.recorder: Recorder | None = None  # set by the app when the console is on
        self.looks = 0  # shared looks for due jobs made (`_poll`)
        self.lease_seconds = float(config.queue.lease_seconds)  # of the jobs an enqueue hands over (`take`)

    def _deliverer(self, dest: DestinationConfig) -> Deliverer:
        deliverer = instance_deliverer(self.config, dest, self.sandbox, self.options.transport, self.masker)
        if self.recorder is not None:
            from engine.server.console.recorder import RecordingDeliverer

            return RecordingDeliverer(deliverer)  # type: ignore[return-value]
        return deliverer

    async def start(self) -> None:
        lease = self.lease_seconds
        if self.options.max_orphaned is None:
            self.options.max_orphaned = self.config.queue.max_orphaned
        if self.options.batch_linger is None:
            self.options.batch_linger = self.config.queue.batch_linger_ms / 1000.0
        shared = callable(getattr(self.queue, "next_due", None))
        for dest in self.config.enabled_destinations:
            worker = InstanceWorker(dest, self.queue, self._deliverer(dest), self.metrics, self.options, lease,
                                    self.outcomes, self.masker)
            if shared:
                worker.poll_interval = max(self.options.idle_poll_interval, self.options.poll_interval)
            worker.recorder = self.recorder
            self.instances.append(worker)
            self._tasks.append(asyncio.create_task(worker.run(self.stopping), name=f"worker:{dest.id}"))
        self._tasks.append(asyncio.create_task(self._report(), name="worker:report"))
        self._tasks.append(asyncio.create_task(self._watch(), name="worker:watchdog"))
        if shared:
            self._tasks.append(asyncio.create_task(self._poll(), name="worker:poll"))
        if any(w.fast is not None for w in self.instances) and callable(getattr(self.queue, "checkpoint", None)):
            self._tasks.append(asyncio.create_task(self._checkpoint(), name="worker:checkpoint"))

    async def _poll(self) -> None:
        """Every poll interval, one read of when the queue's earliest job is due (an indexed `min`), for every
        instance; when one is due (a retry's delay ended, another process enqueued, a lease expired) the
        instances are woken to lease. Idle instances no longer each take a write transaction per interval:
        with 1,000 of them that was 2,000 a second, and /health waited behind them."""
        clock = getattr(self.queue, "clock", time.time)
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.options.poll_interval)
            if self.stopping.is_set():
                return
            self.looks += 1
            try:
                due = await asyncio.to_thread(self.queue.next_due)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - the instances find out themselves and say so
                due = 0.0
            if due is not None and due <= clock():
                self.notify()

    async def _checkpoint(self) -> None:
        """Once a second, in a thread, the queue's write-ahead log is copied back into its file (`checkpoint`):
        the loop-thread handle never does it at its own commits, and without enqueues (a backlog being drained)
        nothing else would."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), CHECKPOINT_INTERVAL)
            try:
                await asyncio.to_thread(self.queue.checkpoint)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a queue in trouble is reported by the calls that need it
                pass

    async def _watch(self) -> None:
        """The jobs' time limits: a tenth of the shortest limit apart (at most a second), the jobs in flight past
        their limit are cancelled and retried (one sweep for every instance instead of a timer per job)."""
        limits = [w.job_timeout for w in self.instances]
        interval = min([1.0, *(limit / 10 for limit in limits)]) if limits else 1.0
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set() or any(w.inflight for w in self.instances):  # also while they drain
            await asyncio.sleep(max(0.01, interval))
            now = loop.time()
            for worker in self.instances:
                if worker.deadlines:
                    worker.expire(now)

    async def _report(self) -> None:
        """Print the grouped failure lines whose interval has passed, once a second, until stopped."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 1.0)
            self.outcomes.flush()

    def notify(self) -> None:
        """New jobs were enqueued: wake idle instances."""
        for worker in self.instances:
            worker.notify()

    def reserve(self, wanted: int) -> dict[str, int]:
        """Per instance, how many of the jobs an enqueue is about to create it takes at once (`InstanceWorker.reserve`):
        what the enqueue then hands to `take`."""
        room = {}
        for worker in self.instances:
            n = worker.reserve(wanted)
            if n:
                room[worker.dest.id] = n
        return room

    def take(self, taken: dict[str, list[Job]], reserved: dict[str, int], created: int) -> None:
        """After an enqueue that created `created` jobs per instance (0 when it failed): each instance gets the
        jobs handed to it (`taken`, within the room `reserved` for it); one with more of them left in the queue
        is woken to lease them."""
        for worker in self.instances:
            jobs = taken.get(worker.dest.id, [])
            worker.take(jobs, reserved.get(worker.dest.id, 0))
            if created > len(jobs):
                worker.notify()

    @property
    def in_flight(self) -> int:
        return sum(len(w.inflight) + sum(len(jobs) for jobs in w.batches.values()) for w in self.instances)

    async def stop(self) -> None:
        """Stop leasing, let in-flight jobs finish (up to `drain_timeout`), close the clients."""
        self.stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in self.instances:
            with contextlib.suppress(Exception):
                await worker.deliverer.aclose()
