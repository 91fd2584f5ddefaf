"""Helpers (imported by the tests as `serve_helpers`; conftest.py puts this folder on sys.path) for the `engine serve` tests: configs routed to emulators, the app under uvicorn in a thread,
`engine serve` in a subprocess, bounded waits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import load_config
from engine.server import EngineApp, WorkerOptions, build_app
from engine.server.http import EngineServer, HttpLimits, listen_socket, server_config

ROOT = Path(__file__).resolve().parents[2]
WRITE_KEY = "wk-test-123456"


def write_config(tmp_path: Path, destinations: str, routes: dict[str, str], *, extra: str = "") -> Path:
    """An engine.yaml with one source (WRITE_KEY), the given destinations block and routes."""
    route_lines = "".join(f"  {host}: {target}\n" for host, target in routes.items())
    text = (f"sources: [{{name: web, write_key: {WRITE_KEY}}}]\n"
            f"destinations:\n{destinations}"
            f"routes:\n{route_lines}"
            "queue: {path: data, durability: normal, lease_seconds: 5}\n"
            "retry: {attempts: 2, base: 0.05, cap: 0.2, deadline: 2}\n"
            "concurrency: 8\n" + extra)
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    return path


def make_instance_worker(tmp_path: Path, queue: Any, destinations: str) -> Any:
    """The InstanceWorker of the one destination in `destinations` (routed nowhere) on `queue`, 30 s leases."""
    from engine.server import Metrics, SandboxLog
    from engine.server.worker import InstanceWorker, instance_deliverer

    config = load_config(write_config(tmp_path, destinations, {"api.usermotion.com": "http://127.0.0.1:9"}))
    [dest] = config.enabled_destinations
    deliverer = instance_deliverer(config, dest, SandboxLog(config.masker()))
    return InstanceWorker(dest, queue, deliverer, Metrics([dest.id]), WorkerOptions(), 30)


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(interval)


class AppServer:
    """EngineApp under uvicorn (lifespan on: the worker runs in the server's loop) in a thread."""

    def __init__(self, config_path: Path, options: WorkerOptions | None = None,
                 limits: HttpLimits | None = None) -> None:
        self.config = load_config(config_path)
        self.queue = self.config.queue.open()
        self.app: EngineApp = build_app(self.config, self.queue,
                                        options or WorkerOptions(poll_interval=0.05, backoff_cap=0.2), log=None)
        self.sock = listen_socket("127.0.0.1", 0)  # what `engine serve` runs: same socket, protocol and guards
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = EngineServer(server_config(self.app, limits), log=None)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> AppServer:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), timeout=10)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        self.queue.close()
        assert not self.thread.is_alive(), "server thread did not stop"


class ServeProcess:
    """`engine serve --config PATH --port 0` in a subprocess; `base_url` read from its first line. With
    `prelude`, that Python code runs first in the same process (e.g. to make the queue misbehave)."""

    def __init__(self, config_path: Path, *args: str, prelude: str | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.stderr_path = config_path.parent / f"serve-{time.monotonic_ns()}.err"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        start = ["-m", "engine"] if prelude is None else \
            ["-c", f"{prelude}\nimport sys\nfrom engine.cli import main\nsys.exit(main(sys.argv[1:]))"]
        self.proc = subprocess.Popen(
            [sys.executable, *start, "serve", "--config", str(config_path), "--port", "0",
             "--poll-interval", "0.05", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.base_url = match.group(1)
                break
        else:
            self.kill()
        if not hasattr(self, "base_url"):
            self.kill()
            pytest.fail("engine serve did not start:\n" + "".join(lines) + self.stderr())
        self.stdout_lines = lines
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._stderr.close()

    def terminate(self, timeout: float = 30) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
