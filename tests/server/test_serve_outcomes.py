"""Failures in sight: grouped, rate-limited failure lines on the terminal; per-instance state in /health;
/ready; engine_jobs_enqueued_total counts jobs created (a deduplicated resend is none)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, ServeProcess, wait_until, write_config

from engine.server.outcomes import Outcomes

UM_KEY = "um-outcome-key-7"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_grouped_and_rate_limited() -> None:
    log, clock = io.StringIO(), Clock()
    out = Outcomes(["usercom-dev"], log=log, interval=10, window=60, clock=clock)
    for _ in range(13):
        out.record("usercom-dev", "dead-lettered", "User.com answered without a user id")
        clock.now += 0.5
    out.record("usercom-dev", "retried", "timeout")
    lines = log.getvalue().splitlines()
    assert lines == ["engine serve: usercom-dev: 1 dead-lettered: User.com answered without a user id",
                     "engine serve: usercom-dev: 1 retried: timeout"]  # the first of each group at once
    clock.now += 10
    out.flush()
    assert log.getvalue().splitlines()[2:] == [
        "engine serve: usercom-dev: 12 dead-lettered in the last 10 s: User.com answered without a user id"]
    out.flush()
    assert len(log.getvalue().splitlines()) == 3  # nothing new: nothing printed


def test_state_from_recent_outcomes() -> None:
    clock = Clock()
    out = Outcomes(["a"], log=None, window=60, clock=clock)
    assert out.state("a")["state"] == "ok"
    out.record("a", "dead-lettered", "401 Unauthorized")
    assert out.state("a") == {"state": "failing", "ok": 0, "failed": 1, "window_seconds": 60,
                              "last_error": "401 Unauthorized"}
    out.record("a", "delivered")
    assert out.state("a")["state"] == "degraded"
    clock.now += 61  # the failure is older than the window
    out.record("a", "delivered")
    assert out.state("a")["state"] == "ok"
    out.record("a", "delivered", count=5)  # jobs acked together are counted together
    clock.now += 0.5
    out.record("a", "retried", "503", count=2)
    assert out.state("a") == {"state": "degraded", "ok": 6, "failed": 2, "window_seconds": 60, "last_error": "503"}


def test_serve_terminal_health_and_ready_show_a_failing_instance(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key="the-right-key")  # our key is refused: 401, permanent, dead letters
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n",
                              {"api.usermotion.com": s.base_url})
        with ServeProcess(config) as serve:
            batch = [{"type": "track", "userId": "u", "event": f"E{i}", "messageId": f"m{i}"} for i in range(5)]
            assert httpx.post(serve.base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, "")).status_code == 200
            wait_until(lambda: httpx.get(serve.base_url + "/health").json()["queue_depth"] == 0)
            health = httpx.get(serve.base_url + "/health")
            assert health.status_code == 200  # still the liveness probe
            um = health.json()["instances"]["um"]
            assert um["state"] == "failing" and um["failed"] == 5 and "401" in um["last_error"]
            assert UM_KEY not in health.text
            ready = httpx.get(serve.base_url + "/ready")
            assert ready.status_code == 200 and ready.json() == {"ready": True}
            wait_until(lambda: "um: 1 dead-lettered: " in serve.stderr())
            serve.terminate()
    err = serve.stderr()
    assert "401" in err.split("um: 1 dead-lettered: ")[1].splitlines()[0]
    assert err.count("dead-lettered") <= 2  # grouped: not one line per job
    assert UM_KEY not in err


def test_jobs_enqueued_counts_jobs_created(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    config = write_config(tmp_path, f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n",
                          {"api.usermotion.com": "sandbox"})
    server = app_server(config)
    server.app.worker.stopping.set()
    for _ in range(3):  # the same event sent three times: one job
        r = httpx.post(server.base_url + "/v1/track", json={"userId": "u", "event": "E", "messageId": "same"},
                       auth=(WRITE_KEY, ""))
        assert r.status_code == 200
    text = httpx.get(server.base_url + "/metrics").text
    assert 'engine_jobs_enqueued_total{instance="um"} 1' in text
    assert 'engine_events_received_total{source="web"} 3' in text
