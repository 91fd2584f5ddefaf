"""Ctrl-C during `engine send`: in-flight requests finish, the report is written, and the run
says that the rest of the input was not sent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from emulators import UserMotionEmulator, serve_in_thread


def test_sigint_finishes_in_flight_and_reports_what_was_not_sent(tmp_path: Path) -> None:
    emu = UserMotionEmulator(api_key="um-key-77")
    emu.faults.add(delay=0.3, times=None)  # every request is slow, so the run is still going when interrupted
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"email": f"{i}@x.io"}}) + "\n"
                              for i in range(200)))
    report = tmp_path / "report.jsonl"
    with serve_in_thread(emu) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "send", "usermotion", "--settings", '{"apiKey": "um-key-77"}',
             "--route", f"api.usermotion.com={server.base_url}", "--concurrency", "2", "--no-progress",
             "--report", str(report), str(events)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while len(emu.received) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "interrupted: the rest of" in err and "was not read or sent" in err
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert 3 <= len(lines) < 200
    # every request that was started got its answer and its verdict: nothing in flight was dropped
    assert all(line["verdicts"][0]["status"] == "delivered" for line in lines)
    assert len(lines) == len([r for r in emu.received if r.status == 200])
