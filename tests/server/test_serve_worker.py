"""The delivery loop of `engine serve`: what happens after a round (ack, retry later, dead letter), a
destination that is down for a while, and a permanent 400 that is dead-lettered and replayed after the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

from engine.cli import main
from engine.delivery import Verdict
from engine.delivery.verdicts import DELIVERED, FAILED, FILTERED, INVALID
from engine.queue import Job
from engine.server import WorkerOptions, decide

UM_KEY = "um-worker-key-77"
DEST = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


def job(attempts: int = 0, enqueued_at: float = 1000.0) -> Job:
    return Job(1, "um", {"type": "track"}, "m1", attempts, enqueued_at, enqueued_at)


def run_decide(verdicts: list[Verdict], attempts: int = 0, now: float = 1000.0):  # noqa: ANN201
    return decide(job(attempts), verdicts, now=now, max_attempts=5, max_age=3600, base=1.0, cap=60,
                  rand=lambda: 1.0)


def test_decide() -> None:
    assert run_decide([Verdict(DELIVERED)]).action == "ack"
    assert run_decide([Verdict(FILTERED)]).counter == "jobs_filtered_total"
    d = run_decide([Verdict(INVALID, "track", error="eventName is required", reason="missing field")])
    assert (d.action, d.counter, d.verdict["reason"]) == ("dead", "jobs_invalid_total", "missing field")
    retryable = Verdict(FAILED, "track", reason="HTTP 503 Service Unavailable", retryable=True)
    d = run_decide([retryable], attempts=3)
    assert (d.action, d.delay) == ("retry", 8.0)  # base·2^attempts
    capped = decide(job(10), [retryable], now=1000, max_attempts=50, max_age=3600, base=1.0, cap=60, rand=lambda: 1.0)
    assert (capped.action, capped.delay) == ("retry", 60)
    assert run_decide([retryable], attempts=4).action == "dead"  # the fifth round failed
    assert run_decide([retryable], now=1000 + 3601).action == "dead"  # too old
    permanent = Verdict(FAILED, "track", reason="HTTP 400 Bad Request", response_excerpt='{"error": "x"}')
    d = run_decide([Verdict(DELIVERED), permanent])
    assert d.action == "dead" and d.verdict["response_excerpt"] == '{"error": "x"}' and len(d.verdict["verdicts"]) == 2
    assert run_decide([retryable, permanent]).action == "dead"  # a permanent failure is not retried


def post_events(server: AppServer, n: int, prefix: str = "E") -> None:
    batch = [{"type": "track", "userId": f"u{i}", "event": f"{prefix}{i}", "messageId": f"{prefix}-{i}"}
             for i in range(n)]
    r = httpx.post(server.base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""))
    assert r.status_code == 200, r.text


def delivered(emu: UserMotionEmulator) -> set[str]:
    return {r.json["event"] for r in emu.received if r.status == 200 and r.path == "/v1/track"}


def test_destination_down_for_a_while(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.set_fail_ratio(1.0, status=503)  # down
    with serve_in_thread(emu) as s:
        server = app_server(write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url}),
                            WorkerOptions(poll_interval=0.05, backoff_cap=0.3, max_attempts=1000))
        post_events(server, 10)
        wait_until(lambda: server.app.metrics.get("jobs_retried_total", "um") >= 20)  # two rounds each
        assert delivered(emu) == set() and server.queue.depth() == {"um": 10}  # waiting, not lost
        emu.faults.clear()  # back up
        wait_until(lambda: delivered(emu) == {f"E{i}" for i in range(10)})
        wait_until(lambda: server.queue.depth() == {})
        assert server.queue.dlq.count() == 0
        assert server.app.metrics.get("jobs_delivered_total", "um") == 10


def test_permanent_400_dead_letter_then_replay(tmp_path: Path, app_server: Callable[..., AppServer],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(status=400, times=None, body={"error": f"bad payload for key {UM_KEY}"})
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        server = app_server(config)
        post_events(server, 3)
        wait_until(lambda: server.queue.dlq.count() == 3)
        assert len(emu.received) == 3  # a 400 is not retried
        assert server.queue.depth() == {}
        dead = server.queue.dlq.list()
        assert {d.reason for d in dead} == {"HTTP 400 Bad Request"}
        verdict = dead[0].verdict
        assert verdict["retryable"] is False and "bad payload" in verdict["response_excerpt"]
        assert UM_KEY not in json.dumps([d.to_json() for d in dead])  # masked
        assert server.app.metrics.get("jobs_failed_total", "um") == 3

        emu.faults.clear()  # the fix
        assert main(["dlq", "replay", "--config", str(config), "--instance", "um"]) == 0
        capsys.readouterr()
        wait_until(lambda: delivered(emu) == {"E0", "E1", "E2"})
        wait_until(lambda: server.queue.depth() == {})
        assert server.queue.dlq.count() == 0


def test_invalid_payload_is_dead_lettered(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        server = app_server(write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url}))
        # identify needs an email (required field): nothing is sent, the job is dead-lettered as invalid
        r = httpx.post(server.base_url + "/v1/identify", json={"userId": "u1"}, auth=(WRITE_KEY, ""))
        assert r.status_code == 200
        wait_until(lambda: server.queue.dlq.count() == 1)
        [dead] = server.queue.dlq.list()
        assert dead.verdict["status"] == "invalid" and emu.received == []
        # counted on the event loop just after the dead letter's commit (in a thread) returned
        wait_until(lambda: server.app.metrics.get("jobs_invalid_total", "um") == 1)


def test_every_job_is_acked_once_and_the_last_ones_too(tmp_path: Path, app_server: Callable[..., AppServer],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.queue.sqlite import SQLiteQueue

    calls: list[list[int]] = []  # the ids acked by each queue call that acked any
    real = SQLiteQueue.ack_and_lease

    def ack_and_lease(self, job_ids, limit, lease_seconds, *, instance=None):  # noqa: ANN001, ANN202
        ids = list(job_ids)
        if ids:
            calls.append(ids)
        return real(self, ids, limit, lease_seconds, instance=instance)

    monkeypatch.setattr(SQLiteQueue, "ack_and_lease", ack_and_lease)
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        server = app_server(write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url}))  # concurrency 8
        post_events(server, 80)
        wait_until(lambda: delivered(emu) == {f"E{i}" for i in range(80)})
        wait_until(lambda: server.queue.depth() == {})  # every job acked, the last ones too (nothing in flight)
        acked = [job_id for ids in calls for job_id in ids]
        assert len(acked) == len(set(acked)) == 80  # each job acked once
        assert server.app.metrics.get("jobs_delivered_total", "um") == 80


def test_when_decided_acks_go_to_the_queue() -> None:
    import time
    import types

    from engine.server.worker import ACK_LINGER, InstanceWorker

    now = time.monotonic()

    def due(acks: int, inflight: int, age: float) -> bool:
        worker = types.SimpleNamespace(acks=[(i, "jobs_delivered_total") for i in range(acks)], ack_batch=4,
                                       inflight=dict.fromkeys(range(inflight)), acks_since=now - age)
        return InstanceWorker._acks_due(worker)  # type: ignore[arg-type]

    assert not due(0, 0, 0.0)  # nothing to commit
    assert not due(1, 5, 0.0) and not due(3, 5, 0.0)  # a few, more jobs in flight: they wait for company
    assert due(4, 5, 0.0)  # enough for one call
    assert due(1, 5, ACK_LINGER)  # the oldest waited long enough
    assert due(1, 0, 0.0)  # nothing in flight: no more are coming soon
