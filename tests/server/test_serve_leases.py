"""Leases that follow the work: a delivery slower than one lease is renewed, not taken over; a killed
process's jobs come back at the next start; one `engine serve` per queue; a job whose delivery was in
flight when the process died `queue.max_orphaned` times is dead-lettered instead of killing it again."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import ROOT, WRITE_KEY, ServeProcess, wait_until, write_config

from engine.queue import SQLiteQueue

UM_KEY = "um-lease-key-14"
DEST = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"


def post(base_url: str, *names: str) -> None:
    batch = [{"type": "track", "userId": "u", "event": name, "messageId": f"id-{name}"} for name in names]
    r = httpx.post(base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
    assert r.status_code == 200, r.text


def tracked(emu: UserMotionEmulator) -> list[str]:
    return [r.json["event"] for r in list(emu.received) if r.path == "/v1/track"]


def slow_config(tmp_path: Path, base_url: str) -> Path:
    config = write_config(tmp_path, DEST, {"api.usermotion.com": base_url})
    config.write_text(config.read_text().replace("lease_seconds: 5", "lease_seconds: 1")
                      .replace("deadline: 2", "deadline: 20"))
    return config


def test_delivery_slower_than_a_lease_is_not_taken_over(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=3.5, times=1)  # three and a half leases
    with serve_in_thread(emu) as s:
        config = slow_config(tmp_path, s.base_url)
        with ServeProcess(config) as serve:
            post(serve.base_url, "Slow")
            wait_until(lambda: tracked(emu) == ["Slow"])
            with SQLiteQueue(tmp_path / "data") as other:  # another caller polls for due jobs meanwhile
                taken = []
                until = time.monotonic() + 3.0
                while time.monotonic() < until:
                    taken += other.lease(10, 1)
                    time.sleep(0.1)
                assert taken == []  # the lease was renewed all along
            wait_until(lambda: httpx.get(serve.base_url + "/health").json()["queue_depth"] == 0)
            assert serve.terminate() == 0
    assert tracked(emu) == ["Slow"]  # delivered once: nobody took it over


def test_kill_during_a_delivery_slower_than_a_lease(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=3.5, times=1)
    with serve_in_thread(emu) as s:
        config = slow_config(tmp_path, s.base_url)
        with ServeProcess(config) as first:
            post(first.base_url, "Slow", "Other")
            wait_until(lambda: "Slow" in tracked(emu) and "Other" in tracked(emu))
            first.proc.kill()  # while Slow's answer is still 2 s away
            first.proc.wait(10)
        with ServeProcess(config) as second:
            wait_until(lambda: tracked(emu).count("Slow") == 2, timeout=10)
            wait_until(lambda: httpx.get(second.base_url + "/health").json()["queue_depth"] == 0)
            second.terminate()
    with SQLiteQueue(tmp_path / "data") as queue:
        assert queue.dlq.count() == 0


def test_second_serve_on_the_same_queue_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, DEST, {"api.usermotion.com": "sandbox"})
    with ServeProcess(config) as first:
        second = subprocess.run([sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0"],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert second.returncode == 2
        err = second.stderr.strip()
        assert err.count("\n") == 0 and "Traceback" not in err, err
        assert f"queue.db is in use by process {first.proc.pid}" in err
        assert str(tmp_path / "data") in err
        post(first.base_url, "Still")  # the first one is unaffected
        first.terminate()
    with ServeProcess(config) as third:  # once the first stopped, the queue is free again
        third.terminate()


POISON = """
import os, signal
import engine.server.worker as worker

_dispatch = worker.Dispatcher.__call__


async def dispatch(self, event):
    if event.get("event") == "Poison":  # this event kills the process (as an OOM kill would)
        os.kill(os.getpid(), signal.SIGKILL)
    return await _dispatch(self, event)


worker.Dispatcher.__call__ = dispatch
"""


def test_job_in_flight_at_three_deaths_is_dead_lettered(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, DEST, {"api.usermotion.com": s.base_url})
        config.write_text(config.read_text().replace(", lease_seconds: 5", ""))  # the default lease
        with ServeProcess(config, prelude=POISON) as first:
            post(first.base_url, "Poison")
            first.proc.wait(20)
        deaths = 1
        while deaths < 4:
            with ServeProcess(config, prelude=POISON) as again:
                try:
                    again.proc.wait(5)
                except subprocess.TimeoutExpired:
                    break  # it survived: the poison job is gone
                deaths += 1
        assert deaths == 3  # died with the job in flight three times, then did not lease it again
        with ServeProcess(config, prelude=POISON) as serve:
            post(serve.base_url, "Fine")
            wait_until(lambda: "Fine" in tracked(emu))
            assert serve.proc.poll() is None
            serve.terminate()
    assert tracked(emu) == ["Fine"]
    with SQLiteQueue(tmp_path / "data") as queue:
        [dead] = queue.dlq.list()
        assert dead.event["event"] == "Poison"
        assert dead.reason == "delivery was in flight when the process died 3 times"
        assert queue.depth() == {}
