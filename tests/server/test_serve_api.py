"""The ingestion API of `engine serve`: auth, limits, shapes, gzip, filled fields, integrations object,
health, metrics and the sandbox."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from emulators import UserMotionEmulator, UserpilotEmulator, serve_in_thread
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

UM_KEY = "um-secret-key-42"
UP_KEY = "up-secret-key-42"
DESTS = (f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"
         f"  - {{id: up, spec: userpilot, settings: {{apiKey: {UP_KEY}}}}}\n")


@pytest.fixture
def emus() -> Iterator[tuple[UserMotionEmulator, UserpilotEmulator, dict[str, str]]]:
    um, up = UserMotionEmulator(api_key=UM_KEY), UserpilotEmulator(api_key=UP_KEY)
    with serve_in_thread(um) as s1, serve_in_thread(up) as s2:
        yield um, up, {"api.usermotion.com": s1.base_url, "analytex.userpilot.io": s2.base_url}


@pytest.fixture
def server(tmp_path: Path, emus: tuple[UserMotionEmulator, UserpilotEmulator, dict[str, str]],
           app_server: Callable[..., AppServer]) -> AppServer:
    return app_server(write_config(tmp_path, DESTS, emus[2]))


def post(server: AppServer, path: str, body: object, *, key: str | None = WRITE_KEY, **kw: object) -> httpx.Response:
    auth = (key, "") if key is not None else None
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.base_url + path, content=content, auth=auth, timeout=10, **kw)  # type: ignore[arg-type]


def test_track_is_queued_then_delivered(server: AppServer, emus: tuple) -> None:
    um, up, _ = emus
    r = post(server, "/v1/track", {"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}})
    assert r.status_code == 200 and r.json() == {"success": True}
    wait_until(lambda: um.requests_to("/v1/track") and up.requests_to("/v1/track"))
    [req] = um.requests_to("/v1/track")
    assert req.json["event"] == "Signed Up" and req.json["properties"] == {"plan": "pro"}
    assert req.headers["authorization"] == f"Basic {UM_KEY}"


def test_unknown_or_missing_write_key_is_401(server: AppServer) -> None:
    r = post(server, "/v1/track", {"userId": "u1", "event": "x"}, key="nope")
    assert r.status_code == 401 and r.json()["success"] is False and "write key" in r.json()["message"]
    r = post(server, "/v1/track", {"userId": "u1", "event": "x"}, key=None)
    assert r.status_code == 401
    assert server.queue.depth() == {}


def test_write_key_in_the_body(server: AppServer, emus: tuple) -> None:
    r = post(server, "/v1/batch", {"writeKey": WRITE_KEY, "batch": [{"type": "identify", "userId": "u7",
                                                                      "traits": {"email": "u7@example.com"}}]},
             key=None)
    assert r.status_code == 200
    wait_until(lambda: emus[0].requests_to("/v1/identify"))
    assert WRITE_KEY not in json.dumps(emus[0].requests_to("/v1/identify")[0].json)


def test_malformed_json_and_wrong_shapes_are_400(server: AppServer) -> None:
    cases = [
        (b'{"userId": "u1", "event": ', "invalid_json"),
        (b"[1, 2]", "invalid_json"),
    ]
    for body, code in cases:
        r = post(server, "/v1/track", body)
        assert r.status_code == 400 and r.json()["code"] == code, r.text
    shapes = [
        ("/v1/batch", {"batch": {"type": "track"}}, "batch"),
        ("/v1/batch", {"batch": [{"type": "boom", "userId": "u"}]}, "batch[0]: type must be one of"),
        ("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "ok"}, "x"]}, "batch[1]"),
        ("/v1/track", {"userId": "u1"}, "track needs an event name"),
        ("/v1/identify", {"traits": {}}, "needs userId or anonymousId"),
        ("/v1/group", {"userId": "u"}, "group needs groupId"),
        ("/v1/alias", {"userId": "u"}, "alias needs userId and previousId"),
        ("/v1/track", {"userId": "u", "event": "e", "properties": [1]}, "properties must be an object"),
    ]
    for path, body, words in shapes:
        r = post(server, path, body)
        assert r.status_code == 400, (path, body, r.text)
        assert words in r.json()["message"], r.json()
    assert server.queue.depth() == {}  # a bad batch is refused whole


def test_oversized_event_and_batch_are_413(server: AppServer) -> None:
    big = "x" * (33 * 1024)
    r = post(server, "/v1/track", {"userId": "u", "event": "e", "properties": {"blob": big}})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    r = post(server, "/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "e", "properties": {"b": big}}]})
    assert r.status_code == 413 and "batch[0]" in r.json()["message"]
    events = [{"type": "track", "userId": "u", "event": "e", "properties": {"b": "y" * 20_000}} for _ in range(30)]
    r = post(server, "/v1/batch", {"batch": events})  # ~600 KB
    assert r.status_code == 413 and "500 KB" in r.json()["message"]
    bomb = gzip.compress(json.dumps({"batch": events}).encode())  # small on the wire, too big unzipped
    r = post(server, "/v1/batch", bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert server.queue.depth() == {}


def test_gzip_body_and_filled_fields(server: AppServer) -> None:
    body = {"batch": [
        {"type": "track", "userId": "u1", "event": "A"},
        {"type": "page", "anonymousId": "a1", "messageId": "m-given", "timestamp": "2024-01-01T00:00:00.000Z"},
    ], "sentAt": "2024-01-01T00:00:10.000Z"}
    server.app.worker.stopping.set()  # keep the jobs in the queue to look at them
    r = post(server, "/v1/batch", gzip.compress(json.dumps(body).encode()), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200
    jobs = {j.event["type"]: j.event for j in server.queue.lease(10, 60, instance="um")}
    track, page = jobs["track"], jobs["page"]
    assert track["messageId"].startswith("engine-") and track["receivedAt"].endswith("Z")
    assert track["timestamp"] == track["receivedAt"]
    assert page["messageId"] == "m-given" and page["originalTimestamp"] == "2024-01-01T00:00:00.000Z"
    # Segment's clock-skew correction: timestamp = receivedAt - (sentAt - originalTimestamp), here 10 s before
    from datetime import datetime
    received, corrected = (datetime.fromisoformat(page[k].replace("Z", "+00:00")) for k in ("receivedAt", "timestamp"))
    assert (received - corrected).total_seconds() == 10
    assert "writeKey" not in track


def test_single_call_type_comes_from_the_path(server: AppServer) -> None:
    server.app.worker.stopping.set()
    assert post(server, "/v1/t", {"type": "identify", "userId": "u", "event": "E"}).status_code == 200
    [job] = server.queue.lease(10, 60, instance="um")
    assert job.event["type"] == "track"


def test_same_message_id_is_queued_once(server: AppServer) -> None:
    server.app.worker.stopping.set()
    for _ in range(2):
        assert post(server, "/v1/track", {"userId": "u", "event": "E", "messageId": "dup-1"}).status_code == 200
    assert server.queue.depth() == {"um": 1, "up": 1}


def test_integrations_object_routes_by_destination_name(server: AppServer, emus: tuple) -> None:
    um, up, _ = emus
    only_um = {"All": False, "UserMotion (Actions)": True}
    not_um = {"UserMotion (Actions)": False}
    for i, integrations in enumerate([only_um, not_um, None]):
        event = {"userId": f"u{i}", "event": f"E{i}"}
        if integrations is not None:
            event["integrations"] = integrations
        assert post(server, "/v1/track", event).status_code == 200
    wait_until(lambda: server.queue.depth() == {})
    assert sorted(r.json["event"] for r in um.requests_to("/v1/track")) == ["E0", "E2"]
    assert sorted(r.json["event_name"] for r in up.requests_to("/v1/track")) == ["E1", "E2"]
    metrics = httpx.get(server.base_url + "/metrics").text
    assert 'engine_jobs_filtered_total{instance="um"} 1' in metrics
    assert 'engine_jobs_filtered_total{instance="up"} 1' in metrics
    assert 'engine_jobs_delivered_total{instance="um"} 2' in metrics


def test_health_metrics_and_404(server: AppServer, emus: tuple) -> None:
    assert post(server, "/v1/identify", {"userId": "u1", "traits": {"email": "a@example.com"}}).status_code == 200
    wait_until(lambda: emus[0].requests_to("/v1/identify") and server.queue.depth() == {})
    health = httpx.get(server.base_url + "/health").json()
    assert health["status"] == "ok" and health["queue_depth"] == 0 and set(health["depth"]) == {"um", "up"}
    text = wait_until(lambda: (t := httpx.get(server.base_url + "/metrics").text)
                      and 'engine_jobs_delivered_total{instance="um"} 1' in t and t)
    assert 'engine_events_received_total{source="web"} 1' in text
    assert 'engine_queue_depth{instance="um"} 0' in text
    assert 'engine_delivery_seconds_count{instance="um"} 1' in text
    assert 'engine_delivery_seconds_bucket{instance="um",le="+Inf"} 1' in text
    assert "# TYPE engine_delivery_seconds histogram" in text
    assert httpx.get(server.base_url + "/v1/nothing").status_code == 404
    assert httpx.get(server.base_url + "/v1/track").status_code == 405


def test_sandbox_captures_masked(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    server = app_server(write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox",
                                                       "analytex.userpilot.io": "sandbox"}))
    assert post(server, "/v1/track", {"userId": "u1", "event": "Signed Up"}).status_code == 200
    data = wait_until(lambda: (d := httpx.get(server.base_url + "/sandbox").json())["total"] >= 2 and d)
    urls = sorted(r["url"] for r in data["requests"])
    assert urls == ["https://analytex.userpilot.io/v1/track", "https://api.usermotion.com/v1/track"]
    text = json.dumps(data)
    assert UM_KEY not in text and UP_KEY not in text and base64.b64encode(UM_KEY.encode()).decode() not in text
    um = next(r for r in data["requests"] if r["instance"] == "um")
    assert um["headers"]["authorization"] == "Basic ****" and um["body"]["event"] == "Signed Up"
