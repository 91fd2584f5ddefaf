"""A process killed with SIGKILL in the middle of enqueueing, leasing and acking loses no job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.queue import SQLiteQueue

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 2000

CHILD = textwrap.dedent("""
    import sys, threading
    from engine.queue import SQLiteQueue

    data, acklog_path, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    q = SQLiteQueue(data)
    acklog = open(acklog_path, "a", buffering=1)

    def produce():
        for start in range(0, total, 50):
            batch = [{"type": "track", "messageId": f"m{i}"} for i in range(start, min(start + 50, total))]
            q.enqueue(batch, ["dest"])
            print(f"enqueued {batch[-1]['messageId']}", flush=True)

    producer = threading.Thread(target=produce)
    producer.start()
    while True:  # lease and ack until killed
        for job in q.lease(20, 30):
            acklog.write(job.message_id + "\\n")  # written before the ack: an ack may be lost, a job may not
            q.ack(job.id)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("kill_after", [TOTAL // 2 - 1, TOTAL - 1], ids=["while-enqueueing", "after-enqueueing"])
def test_sigkill_while_leasing_and_acking_loses_nothing(tmp_path: Path, kill_after: int) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    data, acklog = tmp_path / "data", tmp_path / "acked.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, str(script), str(data), str(acklog), str(TOTAL)],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    enqueued_upto = -1
    try:
        # wait until the batches up to `kill_after` were answered, then until acking is under way
        for line in child.stdout:
            enqueued_upto = int(line.split()[1][1:])
            if enqueued_upto >= kill_after:
                break
        assert enqueued_upto >= kill_after, "the child stopped before enqueueing enough"
        for _ in range(2000):
            if acklog.exists() and acklog.stat().st_size > 0:
                break
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL

    clock_after = time.time() + 3600  # every lease of the dead process has expired
    q = SQLiteQueue(data, clock=lambda: clock_after)
    remaining = [j.message_id for j in q.lease(10 * TOTAL, 30)]
    q.close()
    acked = set(acklog.read_text().split()) if acklog.exists() else set()
    everything = {f"m{i}" for i in range(enqueued_upto + 1)}  # what enqueue() had returned for
    assert len(remaining) == len(set(remaining)), "a job is in the queue twice"
    lost = everything - acked - set(remaining)
    assert not lost, f"{len(lost)} jobs lost, e.g. {sorted(lost)[:5]}"
    # a job is gone only because it was acked
    assert everything - set(remaining) <= acked
    assert set(remaining) <= {f"m{i}" for i in range(TOTAL)}
