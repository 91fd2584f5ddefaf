"""CORS for browser sources: preflights, allowed and refused origins, analytics.js's short paths and text/plain
bodies, against the ASGI app itself (no server, no worker: what is queued is read from the queue)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from serve_helpers import WRITE_KEY, write_config

from engine.config import ConfigError, load_config
from engine.server import build_app

OTHER_KEY = "wk-other-987654"
PAGE = "http://127.0.0.1:5173"
DESTS = "  - {id: um, spec: usermotion, settings: {apiKey: um-secret-key-42}}\n"
INGEST_PATHS = ["/v1/t", "/v1/p", "/v1/i", "/v1/g", "/v1/a", "/v1/s", "/v1/b", "/v1/m", "/v1/track", "/v1/batch",
                "/v1/import", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias"]


def config_with(tmp_path: Path, web_origins: str = f"['{PAGE}']", other: str = "") -> Path:
    path = write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"})
    text = path.read_text().replace(
        f"sources: [{{name: web, write_key: {WRITE_KEY}}}]",
        f"sources:\n  - {{name: web, write_key: {WRITE_KEY}, allowed_origins: {web_origins}}}\n"
        f"  - {{name: server, write_key: {OTHER_KEY}{other}}}")
    path.write_text(text)
    return path


def call(config_path: Path, method: str, path: str, **kw: object) -> tuple[httpx.Response, list[dict]]:
    """One request to a fresh app over ASGI; the answer and the events then in the queue."""
    config = load_config(config_path)
    queue = config.queue.open()
    app = build_app(config, queue, log=None)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://engine") as client:
            return await client.request(method, path, **kw)  # type: ignore[arg-type]

    try:
        response = asyncio.run(go())
        jobs = queue.lease(100, 60)
    finally:
        queue.close()
    return response, [j.event for j in jobs]


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_preflight_on_every_ingestion_path(tmp_path: Path, path: str) -> None:
    r, _ = call(config_with(tmp_path), "OPTIONS", path, headers={
        "Origin": PAGE, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == PAGE
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization"} <= allowed
    assert int(r.headers["access-control-max-age"]) > 0
    assert "Origin" in r.headers["vary"]


def test_preflight_from_an_unknown_origin_gets_no_allow_header(tmp_path: Path) -> None:
    r, _ = call(config_with(tmp_path), "OPTIONS", "/v1/t", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_text_plain_body_with_the_write_key_from_an_allowed_origin(tmp_path: Path) -> None:
    body = {"writeKey": WRITE_KEY, "type": "track", "event": "Clicked", "anonymousId": "a1", "messageId": "ajs-1"}
    r, events = call(config_with(tmp_path), "POST", "/v1/t", content=json.dumps(body),
                     headers={"Origin": PAGE, "Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json() == {"success": True}
    assert r.headers["access-control-allow-origin"] == PAGE and "Origin" in r.headers["vary"]
    assert [(e["type"], e["event"], e["messageId"]) for e in events] == [("track", "Clicked", "ajs-1")]
    assert "writeKey" not in events[0]


def test_an_error_answer_to_an_allowed_origin_is_readable(tmp_path: Path) -> None:
    r, events = call(config_with(tmp_path), "POST", "/v1/t", content=json.dumps({"writeKey": WRITE_KEY, "event": "x"}),
                     headers={"Origin": PAGE, "Content-Type": "text/plain"})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == PAGE and events == []


def test_short_batch_path(tmp_path: Path) -> None:
    body = {"writeKey": WRITE_KEY, "batch": [{"type": "page", "anonymousId": "a1", "name": "Home"},
                                             {"type": "identify", "userId": "u1"}]}
    r, events = call(config_with(tmp_path), "POST", "/v1/b", content=json.dumps(body),
                     headers={"Origin": PAGE, "Content-Type": "text/plain"})
    assert r.status_code == 200 and sorted(e["type"] for e in events) == ["identify", "page"]


def test_metrics_path_is_accepted_and_dropped(tmp_path: Path) -> None:
    body = {"series": [{"type": "Counter", "metric": "analytics_js.invoke", "value": 1, "tags": {}}]}
    r, events = call(config_with(tmp_path), "POST", "/v1/m", content=json.dumps(body),
                     headers={"Origin": PAGE, "Content-Type": "text/plain"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == PAGE and events == []


def test_an_origin_the_source_does_not_list_is_refused_and_nothing_is_queued(tmp_path: Path) -> None:
    body = {"writeKey": WRITE_KEY, "type": "track", "event": "Clicked", "anonymousId": "a1"}
    r, events = call(config_with(tmp_path), "POST", "/v1/t", content=json.dumps(body),
                     headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
    assert r.status_code == 403 and r.json()["code"] == "origin_not_allowed" and events == []
    assert "access-control-allow-origin" not in r.headers


def test_an_origin_allowed_for_another_source_only_is_refused(tmp_path: Path) -> None:
    """The preflight passes (some source allows the page), but the write key's source does not."""
    body = {"writeKey": OTHER_KEY, "type": "track", "event": "Clicked", "anonymousId": "a1"}
    r, events = call(config_with(tmp_path), "POST", "/v1/t", content=json.dumps(body),
                     headers={"Origin": PAGE, "Content-Type": "text/plain"})
    assert r.status_code == 403 and events == [] and "access-control-allow-origin" not in r.headers


def test_requests_without_origin_are_unaffected(tmp_path: Path) -> None:
    r, events = call(config_with(tmp_path), "POST", "/v1/track", auth=(OTHER_KEY, ""),
                     json={"userId": "u1", "event": "Signed Up"})
    assert r.status_code == 200 and len(events) == 1 and "access-control-allow-origin" not in r.headers


def test_star_allows_any_origin(tmp_path: Path) -> None:
    body = {"writeKey": WRITE_KEY, "type": "track", "event": "Clicked", "anonymousId": "a1"}
    path = config_with(tmp_path, web_origins="['*']")
    r, events = call(path, "POST", "/v1/t", content=json.dumps(body),
                     headers={"Origin": "https://anything.example", "Content-Type": "text/plain"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://anything.example"
    assert len(events) == 1


def test_star_must_stand_alone_and_origins_must_be_origins(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_with(tmp_path, web_origins=f"['*', '{PAGE}']"))
    assert "must be the only entry of allowed_origins" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(config_with(tmp_path, web_origins="['https://example.com/path']"))
    assert "allowed_origins" in str(info.value)
