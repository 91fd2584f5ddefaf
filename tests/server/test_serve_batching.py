"""The worker commits acks (and leases) in batches: many jobs share one queue transaction, a job is acked only
after its verdict is known, a crash between delivery and the batched ack delivers it again, jobs leased ahead
and not started go back to the queue on stop, and a job past its time limit is retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, ServeProcess, wait_until, write_config

from engine.config import load_config
from engine.queue import SQLiteQueue
from engine.server import Metrics, SandboxLog, WorkerOptions
from engine.server.worker import InstanceWorker, instance_deliverer

UM_KEY = "um-batch-key-31"
DEST = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


def post_events(base_url: str, n: int, prefix: str = "E") -> None:
    batch = [{"type": "track", "userId": f"u{i}", "event": f"{prefix}{i}", "messageId": f"{prefix}-{i}"}
             for i in range(n)]
    r = httpx.post(base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
    assert r.status_code == 200, r.text


def delivered(emu: UserMotionEmulator) -> list[str]:
    return [r.json["event"] for r in list(emu.received) if r.status == 200 and r.path == "/v1/track"]


def test_acks_of_many_jobs_share_transactions(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    n = 120
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        server = app_server(write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url}))
        begun: list[str] = []

        def trace(sql: str) -> None:  # a queue whose commits take a while, as on a busy disk
            if sql.startswith("BEGIN"):
                begun.append(sql)
            elif sql == "COMMIT":
                time.sleep(0.01)

        server.queue._conn.set_trace_callback(trace)  # type: ignore[union-attr]
        post_events(server.base_url, n)
        wait_until(lambda: server.app.metrics.get("jobs_delivered_total", "um") == n)
        assert server.queue.depth() == {}
        assert sorted(delivered(emu)) == sorted(f"E{i}" for i in range(n))
        # one job at a time needs n ack transactions (and about as many leases); batched, far fewer
        assert len(begun) < n // 2, len(begun)


CRASH_BEFORE_ACK = """
import threading
from engine.queue.sqlite import SQLiteQueue

_ack_and_lease = SQLiteQueue.ack_and_lease


def ack_and_lease(self, job_ids, limit, lease_seconds, *, instance=None):
    ids = list(job_ids)
    if ids:  # the process "dies" after the deliveries, before their acks commit
        print("ack pending", flush=True)
        threading.Event().wait()
    return _ack_and_lease(self, ids, limit, lease_seconds, instance=instance)


SQLiteQueue.ack_and_lease = ack_and_lease
"""


def test_crash_between_delivery_and_ack_delivers_again(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        config.write_text(config.read_text().replace("lease_seconds: 5", "lease_seconds: 1"))
        with ServeProcess(config, prelude=CRASH_BEFORE_ACK) as first:
            post_events(first.base_url, 60)  # more than one round of acks (4 x concurrency) can cover
            wait_until(lambda: any("ack pending" in line for line in first.stdout_lines))
            wait_until(lambda: len(delivered(emu)) >= 8)  # the first leased jobs (concurrency 8) are delivered
            time.sleep(0.2)
            first.proc.kill()  # SIGKILL: none of their acks was committed
            first.proc.wait(10)
        before = delivered(emu)
        assert 8 <= len(before) < 60 and len(set(before)) == len(before)
        with SQLiteQueue(tmp_path / "data") as queue:
            assert queue.depth() == {"um": 60}  # delivered, but not acked: still queued
        with ServeProcess(config) as second:
            wait_until(lambda: second.proc.poll() is None and set(delivered(emu)) == {f"E{i}" for i in range(60)})
            wait_until(lambda: httpx.get(second.base_url + "/health").json()["queue_depth"] == 0)
            second.terminate()
    again = delivered(emu)[len(before):]
    assert set(before) <= set(again)  # delivered again after the crash, not lost


def test_stop_puts_jobs_leased_ahead_back_at_once(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.3, times=None)  # slow: 2 jobs in flight, 2 more leased ahead when we stop
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        config.write_text(config.read_text().replace("concurrency: 8", "concurrency: 2")
                          .replace("lease_seconds: 5", "lease_seconds: 60"))
        server = app_server(config, WorkerOptions(poll_interval=0.05, drain_timeout=5))
        post_events(server.base_url, 10)
        [worker] = server.app.worker.instances
        wait_until(lambda: len(worker.inflight) == 2 and len(worker.ready) == 2)
        server.__exit__()
    with SQLiteQueue(tmp_path / "data") as queue:
        left = queue.depth().get("um", 0)
        assert left == 10 - len(delivered(emu)) and left >= 6
        jobs = queue.lease(100, 30)  # all due now: none waits for the 60 s lease of the stopped worker
        assert len(jobs) == left and all(j.attempts == 0 for j in jobs)


def test_time_limit_counts_from_the_lease(tmp_path: Path) -> None:
    """A job whose time limit has passed is not delivered any more: it is retried later (the limit is no
    longer the lease, which the heartbeat renews, but the retry deadline plus a margin)."""
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        config = load_config(write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url}))
        [dest] = config.enabled_destinations
        with SQLiteQueue(tmp_path / "data") as queue:
            queue.enqueue([{"type": "track", "userId": "u", "event": "Late", "messageId": "late-1"}], ["um"])
            [job] = queue.lease(1, 5)

            async def run() -> None:
                deliverer = instance_deliverer(config, dest, SandboxLog(config.masker()))
                worker = InstanceWorker(dest, queue, deliverer, Metrics(["um"]), WorkerOptions(), 5)
                async with deliverer:
                    await worker._process(job, asyncio.get_running_loop().time() - 0.001)
                assert worker.acks == []

            asyncio.run(run())
            assert emu.received == []
            assert queue.lease(1, 5) == [] and queue.depth() == {"um": 1}  # retried with a backoff: not due yet
            queue.clock = lambda: time.time() + 3600
            [retried] = queue.lease(1, 5)
            assert retried.attempts == 1 and retried.last_verdict["reason"] == "job timeout"
