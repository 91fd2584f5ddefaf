"""`engine serve` delivers the jobs of an instance whose destination has a batch request in batches: leased
together (up to the batch size, waiting at most queue.batch_linger_ms for more), sent through
`deliver_events`, then each job acked, retried or dead-lettered from its own verdicts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from emulators import serve_in_thread
from emulators.server import read_body
from serve_helpers import WRITE_KEY, AppServer, ServeProcess, wait_until, write_config

SPEC = Path(__file__).resolve().parents[2] / "examples" / "batchy.yaml"
KEY = "batchy-serve-key-77"
DEST = f"  - {{id: b, spec: {SPEC}, settings: {{apiKey: {KEY}}}}}\n"


class BatchSink:
    """Answers every request 200; a batch body's events named in `refuse` (once each) are listed in the
    multi-status answer as refused with a retryable 503."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.refuse = set(refuse or ())
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        data = orjson.loads(body) if body else None
        errors = []
        with self.lock:
            self.requests.append((scope["path"], data))
            if scope["path"] == "/v1/batch":
                for index, item in enumerate(data["events"]):
                    if item["event"] in self.refuse:
                        self.refuse.discard(item["event"])
                        errors.append({"index": index, "message": "try later", "status": 503})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": orjson.dumps({"errors": errors})})

    def sent(self) -> list[str]:
        """Every event name the sink received, in batches or alone."""
        with self.lock:
            return [e["event"] for path, data in self.requests
                    for e in (data["events"] if path == "/v1/batch" else [data])]


def post_events(base_url: str, n: int) -> None:
    batch = [{"type": "track", "userId": f"u{i}", "event": f"E{i}", "messageId": f"m-{i}"} for i in range(n)]
    r = httpx.post(base_url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
    assert r.status_code == 200, r.text


def start(tmp_path: Path, sink_url: str, app_server: Callable[..., AppServer]) -> AppServer:
    config = write_config(tmp_path, DEST, {"api.batchy.test": sink_url})
    config.write_text(config.read_text().replace("lease_seconds: 5", "lease_seconds: 5, batch_linger_ms: 300"))
    return app_server(config)


def test_events_to_a_batching_destination_go_in_fewer_requests_and_all_are_acked(
        tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    n = 120
    sink = BatchSink()
    with serve_in_thread(sink) as s:
        server = start(tmp_path, s.base_url, app_server)
        [worker] = server.app.worker.instances
        assert worker.batch_size == 50  # batchy's max_count
        post_events(server.base_url, n)
        wait_until(lambda: server.app.metrics.get("jobs_delivered_total", "b") == n)
        wait_until(lambda: server.queue.depth() == {})  # every job acked
        assert sorted(sink.sent()) == sorted(f"E{i}" for i in range(n))  # each exactly once
        paths = [path for path, _ in sink.requests]
        assert set(paths) == {"/v1/batch"} and len(paths) < n
        assert all(len(data["events"]) <= 50 for _, data in sink.requests)
        print("requests for", n, "events:", len(paths))


def test_a_refused_item_is_retried_alone(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    n = 20
    sink = BatchSink(refuse={"E7"})
    with serve_in_thread(sink) as s:
        server = start(tmp_path, s.base_url, app_server)
        post_events(server.base_url, n)
        wait_until(lambda: server.app.metrics.get("jobs_delivered_total", "b") == n)
        wait_until(lambda: server.queue.depth() == {})
        sent = sink.sent()
        assert sent.count("E7") == 2  # refused once, retried, accepted
        assert sorted(e for e in sent if e != "E7") == sorted(f"E{i}" for i in range(n) if i != 7)  # once each
        assert server.app.metrics.get("jobs_retried_total", "b") == 1
        assert server.app.metrics.get("jobs_failed_total", "b") == 0


def test_no_batch_delivers_job_by_job(tmp_path: Path) -> None:
    """`engine serve --no-batch`: the same instance's jobs go one request each (the single request)."""
    n = 6
    sink = BatchSink()
    with serve_in_thread(sink) as s:
        config = write_config(tmp_path, DEST, {"api.batchy.test": s.base_url})
        with ServeProcess(config, "--no-batch") as serve:
            post_events(serve.base_url, n)
            wait_until(lambda: httpx.get(serve.base_url + "/health").json()["queue_depth"] == 0 and len(sink.requests) == n)
            serve.terminate()
    assert {path for path, _ in sink.requests} == {"/v1/track"}
    assert sorted(sink.sent()) == sorted(f"E{i}" for i in range(n))
