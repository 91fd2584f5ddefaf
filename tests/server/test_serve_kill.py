"""SIGKILL `engine serve` while it delivers 2,000 events to a slow emulator that sometimes answers 503;
after a restart every event arrives within 30 s (duplicates allowed, none missing), with the default
`queue.lease_seconds` (30): the restarted owner takes over the dead one's leases at once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, ServeProcess, wait_until, write_config

from engine.queue import SQLiteQueue

N = 2000
UM_KEY = "um-kill-key-9"


def arrived(emu: UserMotionEmulator) -> set[str]:
    """Distinct events the emulator accepted (2xx)."""
    return {r.json["event"] for r in list(emu.received) if r.status == 200 and r.path == "/v1/track"}


def test_sigkill_during_delivery_loses_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.02, times=None)  # slow
    emu.faults.set_fail_ratio(0.1, status=503, seed=6)  # and sometimes unavailable
    with serve_in_thread(emu) as s:
        config = write_config(tmp_path, f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n",
                              {"api.usermotion.com": s.base_url})
        config.write_text(config.read_text().replace(", lease_seconds: 5", "")  # the default lease
                          .replace("concurrency: 8", "concurrency: 16"))
        assert "lease_seconds" not in config.read_text()
        with ServeProcess(config, "--backoff-cap", "0.5") as first:
            for start in range(0, N, 500):
                batch = [{"type": "track", "userId": f"u{i}", "event": f"E{i}", "messageId": f"m-{i}"}
                         for i in range(start, start + 500)]
                r = httpx.post(first.base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
                assert r.status_code == 200, r.text
            wait_until(lambda: len(arrived(emu)) >= 300, timeout=30)
            first.proc.kill()  # SIGKILL, mid-delivery
            first.proc.wait(10)
        at_kill = len(arrived(emu))
        assert at_kill < N, "delivery finished before the kill; the test proves nothing"
        with ServeProcess(config, "--backoff-cap", "0.5") as second:
            wait_until(lambda: len(arrived(emu)) == N, timeout=30, interval=0.2)  # all within 30 s of the restart
            wait_until(lambda: httpx.get(second.base_url + "/health").json()["queue_depth"] == 0, timeout=10)
            second.terminate()
    assert arrived(emu) == {f"E{i}" for i in range(N)}
    with SQLiteQueue(tmp_path / "data") as queue:
        assert queue.depth() == {} and queue.dlq.count() == 0
    accepted = [r for r in emu.received if r.status == 200]
    print(f"kill test: {at_kill} delivered before SIGKILL, {len(accepted) - N} duplicates, "
          f"{sum(1 for r in emu.received if r.status == 503)} answers 503, {time.monotonic() - started:.1f} s")
