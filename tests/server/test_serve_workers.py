"""`engine serve --workers N`: N processes share the port and the queue; the supervisor holds the queue's lock;
a SIGKILL of all of them mid-delivery loses nothing: after a restart every event arrives within 30 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import ROOT, WRITE_KEY, ServeProcess, wait_until, write_config

from engine.queue import SQLiteQueue

N = 2000
UM_KEY = "um-workers-key-5"


def arrived(emu: UserMotionEmulator) -> set[str]:
    return {r.json["event"] for r in list(emu.received) if r.status == 200 and r.path == "/v1/track"}


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def post_all(base_url: str) -> None:
    for start in range(0, N, 500):
        batch = [{"type": "track", "userId": f"u{i}", "event": f"E{i}", "messageId": f"m-{i}"}
                 for i in range(start, start + 500)]
        r = httpx.post(base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
        assert r.status_code == 200, r.text


def config_for(tmp_path: Path, base_url: str) -> Path:
    config = write_config(tmp_path, f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n",
                          {"api.usermotion.com": base_url})
    config.write_text(config.read_text().replace(", lease_seconds: 5", ""))  # the default lease
    return config


def test_two_workers_share_port_and_queue_and_stop_together(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    with serve_in_thread(emu) as s:
        config = config_for(tmp_path, s.base_url)
        with ServeProcess(config, "--workers", "2") as serve:
            wait_until(lambda: len(children(serve.proc.pid)) == 2)
            workers = children(serve.proc.pid)
            post_all(serve.base_url)
            wait_until(lambda: len(arrived(emu)) == N, timeout=60, interval=0.2)
            second = subprocess.run([sys.executable, "-m", "engine", "serve", "--config", str(config), "--port", "0"],
                                    cwd=ROOT, capture_output=True, text=True, timeout=30)
            assert second.returncode == 2 and f"in use by process {serve.proc.pid}" in second.stderr
            assert serve.terminate() == 0
            for pid in workers:  # the workers stopped with it
                wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists() or
                           Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", timeout=15)
    with SQLiteQueue(tmp_path / "data") as queue:
        assert queue.depth() == {} and queue.dlq.count() == 0


def test_sigkill_during_workers_2_loses_nothing(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.02, times=None)
    emu.faults.set_fail_ratio(0.1, status=503, seed=14)
    with serve_in_thread(emu) as s:
        config = config_for(tmp_path, s.base_url)
        with ServeProcess(config, "--workers", "2", "--backoff-cap", "0.5") as first:
            wait_until(lambda: len(children(first.proc.pid)) == 2)
            post_all(first.base_url)
            wait_until(lambda: len(arrived(emu)) >= 300, timeout=30)
            for pid in [*children(first.proc.pid), first.proc.pid]:  # SIGKILL every process, mid-delivery
                os.kill(pid, signal.SIGKILL)
            first.proc.wait(10)
        at_kill = len(arrived(emu))
        assert at_kill < N, "delivery finished before the kill; the test proves nothing"
        time.sleep(0.5)
        with ServeProcess(config, "--workers", "2", "--backoff-cap", "0.5") as second:
            wait_until(lambda: len(arrived(emu)) == N, timeout=30, interval=0.2)  # all within 30 s of the restart
            wait_until(lambda: httpx.get(second.base_url + "/health").json()["queue_depth"] == 0, timeout=10)
            second.terminate()
    assert arrived(emu) == {f"E{i}" for i in range(N)}
    with SQLiteQueue(tmp_path / "data") as queue:
        assert queue.depth() == {} and queue.dlq.count() == 0
