"""How the delivery loop makes its queue calls: on the event loop's thread through the queue's `nowait()` handle
when the queue is free, in a thread when another connection is writing (the loop is never held up)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from serve_helpers import make_instance_worker

from engine.queue import SQLiteQueue
from engine.server.worker import InstanceWorker

DEST = "  - {id: um, spec: usermotion, settings: {apiKey: um-calls-key-5}}\n"


def make_worker(tmp_path: Path, queue: SQLiteQueue) -> InstanceWorker:
    return make_instance_worker(tmp_path, queue, DEST)


def test_a_free_queue_is_called_on_the_loop_thread(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        queue.enqueue([{"type": "track", "userId": "u", "event": "E", "messageId": "m1"}], ["um"])
        calls: list[str] = []
        original = queue.ack_and_lease

        def spy(*args, **kwargs):  # the queue's own method: used only on the thread path
            calls.append(threading.current_thread().name)
            return original(*args, **kwargs)

        queue.ack_and_lease = spy  # type: ignore[method-assign]

        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            return await worker._call("ack_and_lease", [], 5, 30.0, instance="um")

        jobs = asyncio.run(run())
        assert [j.message_id for j in jobs] == ["m1"] and calls == []  # done by the nowait handle, no thread


def test_a_busy_queue_is_waited_for_in_a_thread_without_holding_up_the_loop(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        queue.enqueue([{"type": "track", "userId": "u", "event": "E", "messageId": f"m{i}"} for i in range(3)],
                      ["um"])
        leased = queue.lease(3, 30.0)
        other = sqlite3.connect(queue.file, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        released = threading.Event()

        def release_later() -> None:
            time.sleep(0.4)
            other.execute("COMMIT")
            released.set()

        async def run() -> tuple[int, int, bool]:
            worker = make_worker(tmp_path, queue)
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            tick = asyncio.create_task(ticker())
            threading.Thread(target=release_later).start()
            acked = await worker._call("ack_many", [j.id for j in leased])
            tick.cancel()
            return acked, ticks, released.is_set()

        acked, ticks, after_release = asyncio.run(run())
        other.close()
        assert after_release and acked == 3  # it waited for the lock, then did the work
        assert ticks >= 10  # the loop went on meanwhile (~40 ticks of 10 ms while the lock was held)
        assert queue.depth() == {}


def test_a_job_past_its_time_limit_is_cancelled_by_the_watchdog_and_retried(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        queue.enqueue([{"type": "track", "userId": "u", "event": "E", "messageId": m} for m in ("slow", "stop")],
                      ["um"])
        slow, stop = sorted(queue.lease(2, 30.0), key=lambda j: j.message_id)

        async def hang(event):  # a delivery that never ends on its own
            await asyncio.Event().wait()

        async def run() -> tuple[bool, bool]:
            worker = make_worker(tmp_path, queue)
            worker.dispatch = hang  # type: ignore[assignment]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 0.1
            timed = asyncio.create_task(worker._process(slow, deadline))
            stopped = asyncio.create_task(worker._process(stop, deadline + 60))
            worker.deadlines.update({timed: deadline, stopped: deadline + 60})
            await asyncio.sleep(0.2)
            worker.expire(loop.time())  # what the Worker's watchdog does every sweep
            await timed  # settles: not cancelled out of the worker
            stopped.cancel()  # a stop's cancellation is not a time limit: it goes through
            try:
                await stopped
            except asyncio.CancelledError:
                return timed.cancelled(), True
            return timed.cancelled(), False

        timed_cancelled, stop_propagated = asyncio.run(run())
        assert not timed_cancelled and stop_propagated
        queue.clock = lambda: time.time() + 3600
        [retried] = [j for j in queue.lease(5, 30.0) if j.message_id == "slow"]
        assert retried.attempts == 1 and retried.last_verdict["reason"] == "job timeout"


def test_a_briefly_busy_queue_is_tried_again_on_the_loop_thread(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        queue.enqueue([{"type": "track", "userId": "u", "event": "E", "messageId": "m1"}], ["um"])
        threads: list[str] = []
        original = queue.ack_and_lease

        def spy(*args, **kwargs):  # the queue's own method: the thread path
            threads.append(threading.current_thread().name)
            return original(*args, **kwargs)

        queue.ack_and_lease = spy  # type: ignore[method-assign]
        other = sqlite3.connect(queue.file, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # held for 20 ms: shorter than BUSY_RETRY

        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            asyncio.get_running_loop().call_later(0.02, other.execute, "COMMIT")
            return await worker._call("ack_and_lease", [], 5, 30.0, instance="um")

        jobs = asyncio.run(run())
        other.close()
        assert [j.message_id for j in jobs] == ["m1"] and threads == []  # waited on the loop, not in a thread


def test_a_slot_goes_on_with_the_next_job_after_one_ran_out_of_time(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        queue.enqueue([{"type": "track", "userId": "u", "event": "E", "messageId": m} for m in ("a-slow", "b-next")],
                      ["um"])
        jobs = sorted(queue.lease(2, 30.0), key=lambda j: j.message_id)
        delivered: list[str] = []

        async def dispatch(event):
            if event["messageId"] == "a-slow":
                await asyncio.Event().wait()  # never ends on its own
            delivered.append(event["messageId"])
            return []

        async def run() -> tuple[bool, int]:
            worker = make_worker(tmp_path, queue)
            worker.dispatch = dispatch  # type: ignore[assignment]
            worker.job_timeout = 0.1
            for job in jobs:
                worker.held[job.id] = job
            worker.ready.extend(jobs)
            slot = asyncio.create_task(worker._slot())  # one slot for both jobs
            await asyncio.sleep(0.2)
            worker.expire(asyncio.get_running_loop().time())  # the watchdog's sweep
            for _ in range(100):
                await asyncio.sleep(0.01)
                if delivered:
                    break
            alive = not slot.done()
            worker.accepting = False
            worker._start_ready()
            for waiter in worker.idle:
                waiter.set_result(None)
            await asyncio.wait_for(slot, 2)
            return alive, len(worker.inflight)

        alive, inflight = asyncio.run(run())
        assert delivered == ["b-next"] and alive and inflight == 0
