"""Events accepted by a process go to its own worker at enqueue: created leased (`JobQueue.enqueue_taking`) and
delivered without a lease query or a read back from the queue, but only while the instance has no older due jobs
left in the queue, within its room, and after the request was answered."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, make_instance_worker, wait_until, write_config

from engine.config import load_config
from engine.queue import SQLiteQueue
from engine.server import Metrics, SandboxLog
from engine.server.app import Enqueuer
from engine.server.worker import HOLD_MAX, LEASE_MAX, LEASE_MIN, InstanceWorker, Worker

UM_KEY = "um-handover-key-7"
DEST = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


def track(name: str) -> dict:
    return {"type": "track", "userId": "u", "event": name, "messageId": f"id-{name}"}


def tracked(emu: UserMotionEmulator) -> list[str]:
    return [r.json["event"] for r in list(emu.received) if r.path == "/v1/track"]


def make_worker(tmp_path: Path, queue: SQLiteQueue) -> InstanceWorker:
    return make_instance_worker(tmp_path, queue, DEST)


def test_accepted_events_are_handed_to_the_worker_and_delivered(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        with AppServer(config) as server:
            wait_until(lambda: server.app.worker.instances and server.app.worker.instances[0].caught_up)
            leases = []
            original = server.queue.ack_and_lease
            server.queue.ack_and_lease = lambda ids, limit, *a, **k: (leases.append(limit), original(ids, limit, *a, **k))[1]
            r = httpx.post(server.base_url + "/v1/batch", json={"batch": [track(f"E{i}") for i in range(5)]},
                           auth=(WRITE_KEY, ""))
            assert r.status_code == 200
            wait_until(lambda: sorted(tracked(emu)) == [f"E{i}" for i in range(5)])
            assert server.app.enqueuer.taken == 5
            wait_until(lambda: server.queue.depth() == {})  # acked like leased jobs
            assert [limit for limit in leases if limit > 0] == []  # no lease was needed for them


def test_older_due_jobs_are_not_overtaken(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.2, times=40)  # slow enough that the backlog outlasts the new POST
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        with SQLiteQueue(tmp_path / "data") as queue:  # a backlog from before the start: more than the room
            queue.enqueue([track(f"Old{i}") for i in range(40)], ["um"])
        with AppServer(config) as server:
            wait_until(lambda: len(tracked(emu)) >= 9)  # (counted on arrival) the first 8 done: the worker has room
            r = httpx.post(server.base_url + "/v1/track", json=track("New"), auth=(WRITE_KEY, ""))
            assert r.status_code == 200
            wait_until(lambda: "New" in tracked(emu))
            assert server.app.enqueuer.taken == 0  # it went into the queue behind the backlog
            wait_until(lambda: len(tracked(emu)) == 41)
            assert tracked(emu).index("New") >= 40 - 8  # after the backlog it found (but those delivered alongside)


def test_room_is_promised_once_and_only_when_caught_up(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            seen = [worker.reserve(100)]  # it has not looked at the queue yet: it may have due jobs there
            worker.caught_up = True
            seen.append(worker.reserve(100))  # 3 x concurrency (8)
            seen.append(worker.reserve(100))  # all of it is promised to the enqueue in progress
            worker.take([], 24)
            seen.append(worker.reserve(100))
            worker.take([], 24)
            worker.notify()  # jobs of this instance were left in the queue
            seen.append(worker.reserve(100))
            return seen

        assert asyncio.run(run()) == [0, 24, 0, 24, 0]


def test_overlapping_enqueues_are_each_promised_only_what_they_create(tmp_path: Path) -> None:
    # enqueues overlap (each is answered before its jobs are handed over): one promised the whole room would
    # leave the next none, and its shortfall would end the hand-over for the rest of a burst
    with SQLiteQueue(tmp_path / "data") as queue:
        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            worker.caught_up = True
            seen = [worker.reserve(5), worker.reserve(10), worker.reserve(5), worker.reserve(5)]
            worker.take([], 5)  # the first is handed over: its room is free again
            seen.append(worker.reserve(7))
            return seen

        assert asyncio.run(run()) == [5, 10, 5, 4, 5]  # room 24: 5 + 10 + 5 + the 4 left; then the 5 freed


def test_a_fast_instance_leases_further_ahead_and_a_slow_one_no_more_than_it_needs(tmp_path: Path) -> None:
    # leases ahead: about LEASE_AHEAD (20 ms) of the recent delivery rate, between LEASE_MIN and LEASE_MAX times
    # concurrency (8 here), so that a fast instance's slots do not run dry while a lease waits for the queue
    with SQLiteQueue(tmp_path / "data") as queue:
        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            seen = [worker._room()]  # no deliveries measured yet
            for finished in (6020, 20, 1_000_000):  # over the last 2 s: 3,010/s (60 in 20 ms), 10/s, 500,000/s
                worker.finished, worker.rate_since = finished, time.monotonic() - 2.0
                worker._measure()
                seen.append(worker._room())
            worker.ready.extend([object()] * 10)  # type: ignore[list-item]  # jobs already held count against it
            seen.append(worker._room())
            return seen

        assert asyncio.run(run()) == [LEASE_MIN * 8, 60, LEASE_MIN * 8, LEASE_MAX * 8, LEASE_MAX * 8 - 10]


def test_a_busy_instance_takes_about_a_second_of_its_deliveries_at_enqueue(tmp_path: Path) -> None:
    # jobs handed over need no lease query later: an instance delivering fast holds more of them, one delivering
    # slowly no more than it would lease (3 x concurrency), and none more than HOLD_MAX
    with SQLiteQueue(tmp_path / "data") as queue:
        async def run() -> list:
            worker = make_worker(tmp_path, queue)
            worker.caught_up = True
            seen = []
            for finished in (1201, 10, 100_000):  # over the last 2 s: ~600/s, 5/s, 50,000/s
                worker.finished, worker.rate_since = finished, time.monotonic() - 2.0
                seen.append(worker.reserve(5000))
                worker.take([], seen[-1])
            worker.finished = 10**6  # within the same second: not recomputed yet
            seen.append(worker.reserve(5000))
            worker.take([], seen[-1])
            worker.ready.extend([object()] * 30)  # type: ignore[list-item]  # jobs already held count against it
            seen.append(worker.reserve(5000))
            return seen

        assert asyncio.run(run()) == [600, 24, HOLD_MAX, HOLD_MAX, HOLD_MAX - 30]


def test_jobs_handed_to_a_stopping_worker_go_back_to_the_queue(tmp_path: Path) -> None:
    with SQLiteQueue(tmp_path / "data") as queue:
        async def run() -> None:
            worker = make_worker(tmp_path, queue)
            worker.caught_up = True
            room = worker.reserve(2)
            _, taken = queue.enqueue_taking([track("A"), track("B")], ["um"], {"um": room}, 30.0)
            worker.accepting = False  # stop began while the enqueue ran
            worker.take(taken["um"], room)
            assert not worker.inflight and not worker.ready
            await asyncio.sleep(0.05)
            assert worker.held == {}

        asyncio.run(run())
        assert sorted(j.event["event"] for j in queue.lease(5, 30.0)) == ["A", "B"]  # released: due at once


def test_a_failed_enqueue_gives_the_room_back(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, DEST, {"api.usermotion.com": "http://127.0.0.1:9"}))
    with SQLiteQueue(tmp_path / "data") as queue:
        def broken(*args, **kwargs):
            raise OSError("disk full")

        queue.enqueue_taking = broken  # type: ignore[method-assign]
        queue.nowait().enqueue_taking = broken  # type: ignore[method-assign]  # the loop-thread path too

        async def run() -> tuple[int, bool]:
            worker = Worker(config, queue, Metrics(["um"]), SandboxLog(config.masker()), log=None)
            worker.instances.append(make_worker(tmp_path, queue))
            worker.instances[0].caught_up = True
            enqueuer = Enqueuer(queue, ["um"], worker=worker)
            try:
                await enqueuer.submit([track("A")])
            except OSError:
                failed = True
            else:
                failed = False
            return worker.instances[0].reserved, failed

        assert asyncio.run(run()) == (0, True)


def test_events_are_answered_for_only_once_durable(tmp_path: Path) -> None:
    import threading

    config = load_config(write_config(tmp_path, DEST, {"api.usermotion.com": "http://127.0.0.1:9"}))
    with SQLiteQueue(tmp_path / "data") as queue:
        disk = threading.Event()
        queue.make_durable = lambda: disk.wait(5)  # type: ignore[method-assign]  # a slow disk

        async def run() -> tuple[bool, bool]:
            worker = Worker(config, queue, Metrics(["um"]), SandboxLog(config.masker()), log=None)
            enqueuer = Enqueuer(queue, ["um"], worker=worker)
            submit = asyncio.ensure_future(enqueuer.submit([track("A")]))
            await asyncio.sleep(0.2)
            before = submit.done()
            disk.set()
            await asyncio.wait_for(submit, 5)
            return before, submit.done()

        assert asyncio.run(run()) == (False, True)  # committed at once on the loop, answered after the fsync
        assert queue.depth() == {"um": 1}


def test_a_finished_jobs_ack_is_committed_while_others_are_still_in_flight(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=3.0, times=1)  # the first request to arrive is slow
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        with AppServer(config) as server:
            httpx.post(server.base_url + "/v1/track", json=track("Slow"), auth=(WRITE_KEY, ""))
            wait_until(lambda: tracked(emu) == ["Slow"])
            httpx.post(server.base_url + "/v1/track", json=track("Fast"), auth=(WRITE_KEY, ""))
            wait_until(lambda: server.queue.depth() == {"um": 1}, timeout=1.5)  # acked within its linger
            assert server.app.worker.in_flight == 1  # while Slow is still being delivered
            wait_until(lambda: server.queue.depth() == {}, timeout=10)
