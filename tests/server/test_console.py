"""The operator console of `engine serve` over HTTP (uvicorn in a thread): access (token, sign-in cookie, CSRF),
the instances' numbers, the recorded requests of an event, the live tail, dead letters, the playground; no secret
on any page."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from serve_helpers import WRITE_KEY, AppServer, wait_until, write_config

from engine.config import ConfigError, load_config

TOKEN = "console-token-0123456789"
UM_KEY = "um-secret-key-42"
DESTS = f"  - {{id: um, spec: usermotion, settings: {{apiKey: {UM_KEY}}}}}\n"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def console_config(tmp_path: Path, token: str | None = TOKEN) -> Path:
    extra = f"console: {{token: {token}}}\n" if token else ""
    return write_config(tmp_path, DESTS, {"api.usermotion.com": "sandbox"}, extra=extra)


@pytest.fixture
def server(tmp_path: Path, app_server: Callable[..., AppServer]) -> AppServer:
    return app_server(console_config(tmp_path))


def track(server: AppServer, message_id: str, event: str = "Signed Up") -> None:
    r = httpx.post(server.base_url + "/v1/track", auth=(WRITE_KEY, ""), timeout=10,
                   json={"userId": "u1", "event": event, "messageId": message_id})
    assert r.status_code == 200


def csrf(server: AppServer) -> str:
    return httpx.get(server.base_url + "/console/api/session", headers=BEARER, timeout=10).json()["csrf"]


def dead_letter(server: AppServer, message_id: str) -> int:
    """A dead letter of instance um, made the way the worker makes one (the worker is not running it)."""
    server.app.worker.stopping.set()  # keep the worker from delivering the job first
    wait_until(lambda: all(t.done() for t in server.app.worker._tasks), timeout=10)
    server.queue.enqueue([{"type": "track", "userId": "u9", "event": "Failed Once", "messageId": message_id}], ["um"])
    [job] = server.queue.lease(1, 60)
    server.queue.dead_letter(job.id, {"status": "failed", "reason": "HTTP 400 Bad Request",
                                      "response_excerpt": '{"error": "bad"}'})
    [letter] = server.queue.dlq.list()
    return letter.id


def test_the_console_is_off_without_a_token(tmp_path: Path, app_server: Callable[..., AppServer]) -> None:
    server = app_server(console_config(tmp_path, token=None))
    assert httpx.get(server.base_url + "/console", headers=BEARER, timeout=10).status_code == 404
    assert server.app.console is None


def test_without_the_token_401(server: AppServer) -> None:
    r = httpx.get(server.base_url + "/console", timeout=10)
    assert r.status_code == 401 and 'name="token"' in r.text  # the sign-in form
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"}):
        assert httpx.get(server.base_url + "/console/api/instances", headers=headers, timeout=10).status_code == 401
    r = httpx.post(server.base_url + "/console/dead/purge", data={"scope": "filtered"}, timeout=10)
    assert r.status_code == 401


def test_sign_in_form_sets_an_http_only_session_cookie(server: AppServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.post("/console/login", data={"token": "not-the-token"})
        assert r.status_code == 401 and "not the console token" in r.text
        r = client.post("/console/login", data={"token": TOKEN})
        assert r.status_code == 303 and r.headers["location"] == "/console"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        assert TOKEN not in cookie
        page = client.get("/console")
        assert page.status_code == 200 and "Sign out" in page.text and TOKEN not in page.text
        value = re.search(r'name="csrf" content="([0-9a-f]+)"', page.text).group(1)
        client.post("/console/logout", data={"csrf": value})
        assert client.get("/console").status_code == 401


def test_state_changing_requests_need_the_csrf_value(server: AppServer) -> None:
    letter = dead_letter(server, "m-csrf")
    for data in ({"id": str(letter)}, {"id": str(letter), "csrf": "0" * 64}):
        r = httpx.post(server.base_url + "/console/dead/purge", data=data, headers=BEARER, timeout=10)
        assert r.status_code == 403
    with httpx.Client(base_url=server.base_url, timeout=10) as client:  # a session's value is not another's
        client.post("/console/login", data={"token": TOKEN})
        assert client.post("/console/dead/purge", data={"id": str(letter), "csrf": csrf(server)}).status_code == 403
    assert server.queue.dlq.count() == 1
    r = httpx.post(server.base_url + "/console/dead/purge", data={"id": str(letter), "csrf": csrf(server)},
                   headers=BEARER, timeout=10)
    assert r.status_code == 303 and "purged+1" in r.headers["location"] and server.queue.dlq.count() == 0


def test_an_event_opens_to_the_requests_it_became(server: AppServer) -> None:
    track(server, "m-open")
    wait_until(lambda: server.app.metrics.get("jobs_delivered_total", "um") == 1)
    html = httpx.get(server.base_url + "/console/events/m-open", headers=BEARER, timeout=10).text
    assert "POST https://api.usermotion.com/v1/track" in html and "<strong>200</strong>" in html
    assert "delivered" in html and "Signed Up" in html
    assert UM_KEY not in html and "Basic ****" in html
    numbers = httpx.get(server.base_url + "/console/api/instances", headers=BEARER, timeout=10).json()
    [um] = numbers["instances"]
    assert um["id"] == "um" and um["counts"]["delivered"] == 1 and um["state"] == "ok"
    assert um["queue_depth"] == 0 and um["dead_letters"] == 0


def test_the_live_tail_streams_arriving_events(server: AppServer) -> None:
    seen: list[dict] = []

    def listen() -> None:
        with httpx.stream("GET", server.base_url + "/console/api/tail", headers=BEARER, timeout=20) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    seen.append(json.loads(line[6:]))
                    if any(m["outcomes"].get("um") == "delivered" for m in seen):
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    wait_until(lambda: server.app.console.recorder.listeners, timeout=10)
    track(server, "m-tail", event="Tail Me")
    thread.join(20)
    assert seen[0]["id"] == "m-tail" and seen[0]["name"] == "Tail Me" and seen[0]["type"] == "track"
    assert seen[-1]["outcomes"] == {"um": "delivered"}


def test_dead_letters_filter_replay_and_show_the_verdict(server: AppServer) -> None:
    letter = dead_letter(server, "m-dead")
    page = httpx.get(server.base_url + "/console/dead", params={"instance": "um", "reason": "400"}, headers=BEARER,
                     timeout=10).text
    assert "Failed Once" in page and "HTTP 400 Bad Request" in page and "&#34;error&#34;: &#34;bad&#34;" in page
    assert "No dead letter matches" in httpx.get(server.base_url + "/console/dead", params={"reason": "timeout"},
                                                 headers=BEARER, timeout=10).text
    r = httpx.get(server.base_url + "/console/dead", params={"instance": "nope"}, headers=BEARER, timeout=10)
    assert r.status_code == 400 and "no destination instance &#39;nope&#39;" in r.text
    r = httpx.post(server.base_url + "/console/dead/replay", headers=BEARER, timeout=10,
                   data={"scope": "filtered", "instance": "um", "reason": "400", "csrf": csrf(server)})
    assert r.status_code == 303 and "replayed+1" in r.headers["location"]
    assert server.queue.dlq.get(letter) is None and server.queue.depth() == {"um": 1}


def test_the_playground_plans_without_sending(server: AppServer) -> None:
    event = {"type": "identify", "userId": "u5", "traits": {"email": "u5@example.com"}}
    r = httpx.post(server.base_url + "/console/playground", headers=BEARER, timeout=10,
                   data={"csrf": csrf(server), "instance": "um", "event": json.dumps(event)})
    assert r.status_code == 200
    assert "POST https://api.usermotion.com/v1/identify" in r.text and "u5@example.com" in r.text
    assert UM_KEY not in r.text and server.app.sandbox.total == 0
    r = httpx.post(server.base_url + "/console/playground", headers=BEARER, timeout=10,
                   data={"csrf": csrf(server), "instance": "um", "event": "{not json"})
    assert r.status_code == 400 and "event: not valid JSON" in r.text and "Traceback" not in r.text


def test_the_console_token_is_a_secret_and_not_a_write_key(tmp_path: Path) -> None:
    config = load_config(console_config(tmp_path))
    assert config.console.token == TOKEN and TOKEN in config.secrets
    path = console_config(tmp_path)
    path.write_text(path.read_text().replace(TOKEN, WRITE_KEY + "xxxxx").replace(
        f"write_key: {WRITE_KEY}", f"write_key: {WRITE_KEY}xxxxx"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "must not be a write key" in str(info.value)
    path.write_text(path.read_text().replace(f"token: {WRITE_KEY}xxxxx", "token: short"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "console.token" in str(info.value)


def test_stopping_engine_serve_ends_the_live_tails_cleanly(tmp_path: Path) -> None:
    """SIGTERM ends an open tail with the stream's last chunk (the page's EventSource reconnects later) instead
    of the connection being cut when the drain timeout runs out; the banner says where the console is."""
    from serve_helpers import ServeProcess

    with ServeProcess(console_config(tmp_path), "--drain-timeout", "30") as proc:
        wait_until(lambda: any(f"console {proc.base_url}/console" in line and "loopback only" in line
                               for line in proc.stdout_lines))
        lines: list[str] = []
        ended: list[BaseException | None] = []

        def listen() -> None:
            try:
                with httpx.stream("GET", proc.base_url + "/console/api/tail", headers=BEARER, timeout=60) as r:
                    for line in r.iter_lines():
                        lines.append(line)
                ended.append(None)
            except httpx.HTTPError as exc:
                ended.append(exc)

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        wait_until(lambda: ": tail" in lines, timeout=20)
        assert proc.terminate(timeout=60) == 0
        thread.join(30)
    assert ended == [None]
