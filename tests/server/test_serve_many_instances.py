"""Start-up with many destination instances does per-instance work only (issue 18, defect 11): each spec is
compiled once however many instances use it, one Masker serves the config, the worker and every instance
(each instance's secrets still masked), the TLS CA bundle is loaded once, and /health answers every
instance's own state. Counted, not timed: the counts must not grow with the number of instances."""

from __future__ import annotations

import ssl
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import AppServer, wait_until, write_config

import engine.runtime.destination as destination_module
from engine.delivery import transports
from engine.queue.sqlite import SQLiteQueue
from engine.secrets import MASK, Masker

SPECS = (("usermotion", "apiKey: {s}-a"), ("usermaven", "{{api_key: {s}-a, server_token: {s}-b}}"),
         ("userpilot", "{{apiKey: {s}-a, endpoint: 'https://analytex.userpilot.io/'}}"),
         ("usercom", "{{apiKey: {s}-a, appSubdomain: acme}}"))
ROUTES = {"api.usermotion.com": "sandbox", "events.usermaven.com": "sandbox", "analytex.userpilot.io": "sandbox",
          "acme.user.com": "sandbox"}


def secret(i: int) -> str:
    return f"instance-secret-{i:04d}-x7"


def many_instances(tmp_path: Path, count: int) -> Path:
    lines = []
    for i in range(count):
        spec, settings = SPECS[i % len(SPECS)]
        if spec == "usermotion":
            settings = "{" + settings.format(s=secret(i)) + "}"
        else:
            settings = settings.format(s=secret(i))
        lines.append(f"  - {{id: {spec}-{i}, spec: {spec}, settings: {settings}}}\n")
    folder = tmp_path / str(count)
    folder.mkdir()
    return write_config(folder, "".join(lines), ROUTES)


def start_counting(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[Counter[str], AppServer]:
    """Counts of the costly start-up steps while the config is loaded and the server started."""
    counts: Counter[str] = Counter()

    def counted(owner: Any, name: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counted(Masker, "__init__")
    counted(destination_module, "load_destination")
    counted(ssl.SSLContext, "load_verify_locations")
    transports.shared_ssl_context.cache_clear()
    server = AppServer(path).__enter__()
    return counts, server


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_start_up_work_does_not_grow_with_the_instances(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        transport: str) -> None:
    seen = {}
    for count in (4, 24):
        with monkeypatch.context() as patch:
            patch.setattr("serve_helpers.WorkerOptions", lambda **kw: _options(transport, **kw))
            counts, server = start_counting(patch, many_instances(tmp_path, count))
            try:
                assert len(server.app.worker.instances) == count
                seen[count] = dict(counts)
            finally:
                server.__exit__()
    # four specs: each compiled once, for 4 instances as for 24
    assert seen[4]["load_destination"] == seen[24]["load_destination"] == 4
    # one masker for the whole config (none per instance, none per instance over every secret)
    assert seen[4]["__init__"] == seen[24]["__init__"] == 1
    # the CA bundle: loaded once per process, not per instance's HTTP client
    assert seen[4]["load_verify_locations"] == seen[24]["load_verify_locations"] == 1


def _options(transport: str, **kwargs: Any) -> Any:
    from engine.server import WorkerOptions

    return WorkerOptions(transport=transport, **kwargs)


def test_the_shared_masker_masks_every_instances_secrets(tmp_path: Path, app_server: Any) -> None:
    server = app_server(many_instances(tmp_path, 12))
    workers = server.app.worker.instances
    assert len({id(w.deliverer.masker) for w in workers} | {id(w.masker) for w in workers}) == 1
    for i, worker in enumerate(workers):
        assert worker.dest.id.endswith(f"-{i}")
        for masker in (worker.masker, worker.deliverer.masker, server.app.masker):
            assert masker.mask_text(f"Bearer {secret(i)}-a!") == f"Bearer {MASK}!"
    assert "instance-secret" not in server.app.masker.mask_text(" ".join(f"{secret(i)}-a" for i in range(12)))


def test_health_answers_each_instances_own_state(tmp_path: Path, app_server: Any) -> None:
    server = app_server(many_instances(tmp_path, 40))
    outcomes = server.app.worker.outcomes
    outcomes.record("usermaven-5", "dead-lettered", "401 Unauthorized")
    outcomes.record("usercom-7", "delivered")
    outcomes.record("usercom-7", "retried", "timeout")
    for _ in range(3):
        outcomes.record("userpilot-38", "delivered")
    body = httpx.get(f"{server.base_url}/health", timeout=10).json()
    states = body["instances"]
    assert list(states) == [f"{SPECS[i % 4][0]}-{i}" for i in range(40)]
    assert states["usermaven-5"]["state"] == "failing" and states["usermaven-5"]["last_error"] == "401 Unauthorized"
    assert states["usercom-7"] | {"window_seconds": 0} == {"state": "degraded", "ok": 1, "failed": 1,
                                                          "last_error": "timeout", "window_seconds": 0}
    assert states["userpilot-38"]["ok"] == 3 and states["userpilot-38"]["state"] == "ok"
    others = {k: v for k, v in states.items() if k not in ("usermaven-5", "usercom-7", "userpilot-38")}
    assert len(others) == 37 and all(v["state"] == "ok" and v["ok"] == v["failed"] == 0 for v in others.values())
    assert body["depth"] == {i: 0 for i in states}


def test_idle_instances_take_no_lease_until_a_job_is_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One shared look per poll interval (when is the earliest job due) replaces a lease transaction per idle
    instance per interval; a job enqueued behind the app's back (another process) is still delivered."""
    leases: Counter[str] = Counter()
    original = SQLiteQueue.ack_and_lease

    def counted(self: Any, job_ids: Any, limit: int, lease_seconds: float, *, instance: str | None = None) -> Any:
        leases[str(instance)] += 1
        return original(self, job_ids, limit, lease_seconds, instance=instance)

    monkeypatch.setattr(SQLiteQueue, "ack_and_lease", counted)
    server = AppServer(many_instances(tmp_path, 16)).__enter__()  # poll interval 0.05 s
    try:
        worker = server.app.worker
        wait_until(lambda: len(leases) == 16)  # each instance's first look, at start
        looks = worker.looks
        wait_until(lambda: worker.looks >= looks + 10)  # ten poll intervals, nothing due
        assert sum(leases.values()) == 16 and set(leases.values()) == {1}
        event = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m-behind-the-back",
                 "timestamp": "2026-01-01T00:00:00Z"}
        server.queue.enqueue([event], ["usermotion-4"])  # not through the app: no wake but the shared look's
        wait_until(lambda: server.app.sandbox.total >= 1 and not server.queue.depth(), timeout=20)
        assert [r["url"] for r in server.app.sandbox.recent()][0].startswith("https://api.usermotion.com/")
        assert leases["usermotion-4"] >= 2
    finally:
        server.__exit__()
