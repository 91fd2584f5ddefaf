"""Hostile events at the ingestion API: deep nesting and timestamps that overflow the clock-skew correction
get 400 naming the event (and the batch index), never 500; nothing of the request is queued."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

from engine.events import MAX_EVENT_DEPTH

DESTS = "  - {id: um, spec: usermotion, settings: {apiKey: um-secret-key-42}}\n"


def nested(levels: int) -> dict[str, Any]:
    """A track event that nests `levels` objects deep, the event itself counting as 1."""
    event: dict[str, Any] = {"type": "track", "userId": "u1", "event": "Deep"}
    cur = event
    for _ in range(levels - 1):
        cur["properties" if cur is event else "a"] = {}
        cur = cur["properties" if cur is event else "a"]
    return event


@pytest.fixture
def server(tmp_path: Path, app_server: Callable[..., AppServer]) -> AppServer:
    return app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}))


def post(server: AppServer, path: str, body: object) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, auth=(WRITE_KEY, ""), timeout=10)


def test_deep_nesting_is_400_naming_the_event(server: AppServer) -> None:
    r = post(server, "/v1/track", nested(300))
    assert r.status_code == 400 and r.json()["code"] == "invalid_event", r.text
    assert r.json()["message"].startswith("event:") and str(MAX_EVENT_DEPTH) in r.json()["message"]
    ok = {"type": "track", "userId": "u2", "event": "ok"}
    r = post(server, "/v1/batch", {"batch": [ok, ok, nested(300)]})
    assert r.status_code == 400 and r.json()["message"].startswith("batch[2]:"), r.text
    assert server.queue.depth() == {}
    r = post(server, "/v1/track", nested(MAX_EVENT_DEPTH))  # the limit itself is accepted
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("timestamp", "sent_at"), [("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"),
                                                    ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")])
def test_timestamps_overflowing_the_skew_correction_are_400(server: AppServer, timestamp: str, sent_at: str) -> None:
    event = {"type": "track", "userId": "u1", "event": "Old", "timestamp": timestamp, "sentAt": sent_at}
    r = post(server, "/v1/track", event)
    assert r.status_code == 400 and r.json()["message"].startswith("event:") and "sentAt" in r.json()["message"]
    ok = {"type": "track", "userId": "u2", "event": "ok"}
    r = post(server, "/v1/batch", {"batch": [ok, {**event, "sentAt": None}], "sentAt": sent_at})
    assert r.status_code == 400 and r.json()["message"].startswith("batch[1]:"), r.text
    assert server.queue.depth() == {}


def test_an_unknown_header_key_is_refused_before_the_body_is_read_as_json(
        server: AppServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import engine.server.app as app_module

    unzipped: list[int] = []
    real = app_module._gunzip
    monkeypatch.setattr(app_module, "_gunzip", lambda raw, limit: unzipped.append(len(raw)) or real(raw, limit))
    big = gzip.compress(b'{"batch": [' + b",".join([b'{"type": "track", "userId": "u", "event": "e"}'] * 8000) + b"]}")
    for body in (big, b"this is not gzip", b"{not json"):
        r = httpx.post(server.base_url + "/v1/batch", content=body, auth=("wrong-key-0000", ""), timeout=10,
                       headers={"Content-Encoding": "gzip"} if body != b"{not json" else {})
        assert r.status_code == 401 and r.json()["code"] == "unauthorized", r.text
    assert unzipped == []
    r = httpx.post(server.base_url + "/v1/batch", content=big, auth=(WRITE_KEY, ""), timeout=10,
                   headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200 and len(unzipped) == 1


def test_an_integer_beyond_64_bits_is_accepted_as_a_number(server: AppServer) -> None:
    body = b'{"userId": "u1", "event": "Big", "properties": {"n": 123456789012345678901234567890, "m": -1' + \
        b"0" * 40 + b"}}"
    r = httpx.post(server.base_url + "/v1/track", content=body, auth=(WRITE_KEY, ""), timeout=10)
    assert r.status_code == 200, r.text
    [sent] = wait_until(lambda: server.app.sandbox.recent())  # queued, delivered to the sandbox
    assert sent["body"]["properties"] == {"n": 1.2345678901234568e29, "m": -1e40}
