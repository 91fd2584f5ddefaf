"""Several `engine serve` nodes on one PostgreSQL queue: any node accepts, any node delivers; a node killed
with SIGKILL leaves its leased jobs to the others (within one lease); messageId dedup holds across nodes;
PostgreSQL going away while a node serves means 503s, a reconnect, and every acknowledged event delivered."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from emulators import UserMotionEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, ServeProcess, wait_until

from engine.queue.postgres import PostgresQueue

UM_KEY = "um-pg-key-12345"


def arrived(emu: UserMotionEmulator) -> set[str]:
    return {r.json["event"] for r in list(emu.received) if r.status == 200 and r.path == "/v1/track"}


def pg_config(tmp_path: Path, base_url: str, dsn: str, schema: str, lease: float = 2) -> Path:
    path = tmp_path / "engine.yaml"
    path.write_text(f"sources: [{{name: web, write_key: {WRITE_KEY}}}]\n"
                    f"destinations:\n  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"
                    f"routes:\n  api.usermotion.com: {base_url}\n"
                    f"queue: {{kind: postgres, dsn: '{dsn}', schema: {schema}, lease_seconds: {lease}}}\n"
                    "retry: {attempts: 2, base: 0.05, cap: 0.2, deadline: 1}\n"
                    "concurrency: 8\n")
    return path


def batch(start: int, n: int) -> list[dict]:
    return [{"type": "track", "userId": f"u{i}", "event": f"E{i}", "messageId": f"m-{i}"} for i in range(start, start + n)]


def enqueued(node: ServeProcess) -> float:
    text = httpx.get(node.base_url + "/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r'^engine_jobs_enqueued_total\{instance="um"\} (\S+)$', text, re.M))


def test_three_nodes_sigkill_one(tmp_path: Path, pg_schema) -> None:
    dsn, schema = pg_schema
    n = 900
    emu = UserMotionEmulator(api_key=UM_KEY)
    emu.faults.add(delay=0.2, times=None)  # slow enough that each node holds leases when one is killed
    with serve_in_thread(emu) as sink:
        config = pg_config(tmp_path, sink.base_url, dsn, schema)
        nodes = [ServeProcess(config) for _ in range(3)]
        try:
            for k, start in enumerate(range(0, n, 100)):
                events = batch(start, 100)
                for node in (nodes[k % 3], nodes[(k + 1) % 3]):  # every batch twice, to two different nodes
                    r = httpx.post(node.base_url + "/v1/batch", json={"batch": events}, auth=(WRITE_KEY, ""), timeout=30)
                    assert r.status_code == 200, r.text
            assert sum(enqueued(node) for node in nodes) == n  # the resends created no job, whichever node got them
            wait_until(lambda: len(arrived(emu)) >= 150, timeout=30)
            with PostgresQueue(dsn, schema=schema, maintenance=False) as q:
                nodes[0].kill()  # SIGKILL mid-delivery
                held = q.depth().get("um", 0)
            at_kill = len(arrived(emu))
            assert at_kill < n and held > 0, "delivery finished before the kill; the test proves nothing"
            killed_at = time.monotonic()
            wait_until(lambda: len(arrived(emu)) == n, timeout=60, interval=0.2)
            took = time.monotonic() - killed_at
            for node in nodes[1:]:  # any node reads the shared queue
                wait_until(lambda node=node: httpx.get(node.base_url + "/health").json()["queue_depth"] == 0, timeout=15)
            for node in nodes[1:]:
                assert 'engine_dead_letters{instance="um"} 0' in httpx.get(node.base_url + "/metrics").text
                assert node.terminate() == 0
                assert "Traceback" not in node.stderr()
        finally:
            for node in nodes:
                node.kill()
    assert arrived(emu) == {f"E{i}" for i in range(n)}
    print(f"three nodes: {at_kill} delivered at the kill, the rest {took:.1f} s after it (lease 2 s)")


def _cluster() -> str:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir()) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        pytest.skip("no local PostgreSQL cluster to stop and start (pg_ctlcluster)")
    return versions[-1]


def _pg_ctl(version: str, action: str) -> None:
    args = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action]
    subprocess.run(args + (["-m", "fast"] if action == "stop" else []), check=True, capture_output=True, timeout=60)


def test_postgres_goes_away_while_serving(tmp_path: Path, pg_schema) -> None:
    dsn, schema = pg_schema
    version = _cluster()
    emu = UserMotionEmulator(api_key=UM_KEY)
    acknowledged: set[str] = set()
    refused = 0
    with serve_in_thread(emu) as sink:
        config = pg_config(tmp_path, sink.base_url, dsn, schema, lease=3)
        with ServeProcess(config) as node:
            def post(k: int) -> int:
                events = batch(k * 20, 20)
                try:
                    r = httpx.post(node.base_url + "/v1/batch", json={"batch": events}, auth=(WRITE_KEY, ""),
                                   timeout=30)
                except httpx.HTTPError:
                    return 0
                if r.status_code == 200:
                    acknowledged.update(e["event"] for e in events)
                return r.status_code

            for k in range(10):
                assert post(k) == 200
            _pg_ctl(version, "stop")
            try:
                codes = [post(k) for k in range(10, 13)]
                refused = codes.count(503)
                assert refused == 3, codes
                assert httpx.get(node.base_url + "/health", timeout=30).status_code == 503
            finally:
                _pg_ctl(version, "start")
            wait_until(lambda: post(13) == 200, timeout=60, interval=0.5)  # the node reconnected
            for k in range(14, 20):
                post(k)
            wait_until(lambda: acknowledged <= arrived(emu), timeout=60, interval=0.2)
            assert node.terminate() == 0
            err = node.stderr()
    assert "Traceback" not in err
    assert len(acknowledged) >= 300 and refused == 3
