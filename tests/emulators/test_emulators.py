"""Behaviour of the emulators themselves, in-process (httpx.ASGITransport) and over loopback (uvicorn)."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import pytest

from . import (
    ConnectionDropped,
    Emulator,
    UserComEmulator,
    UsermavenEmulator,
    UserMotionEmulator,
    UserpilotEmulator,
    serve_in_thread,
)

Send = Callable[..., httpx.Response]


@contextmanager
def sender(app: Emulator, mode: str) -> Iterator[Send]:
    """Yield ``send(method, url, **httpx_kwargs) -> httpx.Response`` talking to ``app``."""
    if mode == "asgi":

        def send(method: str, url: str, **kwargs: Any) -> httpx.Response:
            async def go() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
                    return await client.request(method, url, **kwargs)

            return asyncio.run(go())

        yield send
    else:
        with serve_in_thread(app) as server, httpx.Client(base_url=server.base_url, timeout=5) as client:
            yield client.request


MODES = ["asgi", "loopback"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


# -- UserMotion --------------------------------------------------------------------------------------

UM_HEADERS = {"Authorization": "Basic um-key", "x-source": "Segment"}


def test_usermotion_accepts_and_records(mode: str) -> None:
    em = UserMotionEmulator(api_key="um-key")
    with sender(em, mode) as send:
        assert send("POST", "/v1/verify", headers=UM_HEADERS).status_code == 200
        r = send(
            "POST",
            "/v1/identify",
            headers=UM_HEADERS,
            json={"id": "u1", "anonymousId": "a1", "properties": {"email": "a@b.c"}},
        )
        assert (r.status_code, r.json()) == (200, {"success": True})
        assert (
            send("POST", "/v1/group", headers=UM_HEADERS, json={"id": "g1", "properties": {}}).status_code
            == 200
        )
        r = send(
            "POST",
            "/v1/track",
            headers=UM_HEADERS,
            json={"event": "pageview", "context": {}, "properties": {}},
        )
        assert r.status_code == 200
    assert [(q.method, q.path, q.status) for q in em.received] == [
        ("POST", "/v1/verify", 200),
        ("POST", "/v1/identify", 200),
        ("POST", "/v1/group", 200),
        ("POST", "/v1/track", 200),
    ]
    identify = em.received[1]
    assert identify.json == {"id": "u1", "anonymousId": "a1", "properties": {"email": "a@b.c"}}
    assert identify.headers["authorization"] == "Basic um-key"
    assert identify.headers["x-source"] == "Segment"
    assert identify.headers["content-type"] == "application/json"


def test_usermotion_rejects_base64_auth(mode: str) -> None:
    em = UserMotionEmulator(api_key="um-key")
    encoded = base64.b64encode(b"um-key").decode()
    with sender(em, mode) as send:
        r = send("POST", "/v1/track", headers={"Authorization": f"Basic {encoded}"}, json={"event": "x"})
        assert r.status_code == 401
        assert send("POST", "/v1/verify").status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/v1/identify", {"id": "u1"}, "properties"),
        ("/v1/identify", {"id": 5, "properties": {}}, "id"),
        ("/v1/identify", {"id": "u1", "properties": []}, "properties"),
        ("/v1/group", {"properties": {}}, "id"),
        ("/v1/track", {"properties": {}}, "event"),
        ("/v1/track", {"event": "e", "context": "nope"}, "context"),
    ],
)
def test_usermotion_rejects_bad_shapes(path: str, body: Any, key: str) -> None:
    em = UserMotionEmulator(api_key="um-key")
    with sender(em, "asgi") as send:
        r = send("POST", path, headers=UM_HEADERS, json=body)
    assert r.status_code == 400
    assert r.json()["key"] == key and key in r.json()["error"]


# -- Usermaven ---------------------------------------------------------------------------------------

MV_URL = "/api/v1/s2s/event"
MV_BODY = {
    "api_key": "k1",
    "event_type": "signed_up",
    "ids": {},
    "doc_encoding": "utf-8",
    "src": "usermaven-segment",
    "screen_resolution": "0",
    "user": {"id": "u1", "anonymous_id": "1234567890", "email": "a@b.c", "custom": {}},
    "company": {"id": "c1", "name": "Acme"},
}


def test_usermaven_accepts_and_records(mode: str) -> None:
    em = UsermavenEmulator(api_key="k1", server_token="s1")
    with sender(em, mode) as send:
        r = send("POST", MV_URL, params={"token": "k1.s1"}, json=MV_BODY)
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
    [req] = em.received
    assert req.query == {"token": "k1.s1"}
    assert req.json == MV_BODY


@pytest.mark.parametrize("token", [None, "k1", "k1.wrong", "s1.k1"])
def test_usermaven_rejects_wrong_token(token: str | None) -> None:
    em = UsermavenEmulator(api_key="k1", server_token="s1")
    params = {} if token is None else {"token": token}
    with sender(em, "asgi") as send:
        assert send("POST", MV_URL, params=params, json=MV_BODY).status_code == 401


def test_usermaven_rejects_body_key_not_matching_token() -> None:
    em = UsermavenEmulator(api_key="k1", server_token="s1")
    with sender(em, "asgi") as send:
        r = send("POST", MV_URL, params={"token": "k1.s1"}, json={**MV_BODY, "api_key": "other"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"api_key": None}, "api_key"),
        ({"event_type": None}, "event_type"),
        ({"event_type": ""}, "event_type"),
        ({"ids": "x"}, "ids"),
        ({"user": None}, "user"),
        ({"user": {"id": "u1"}}, "user.anonymous_id"),
        ({"user": {"anonymous_id": "1", "custom": []}}, "user.custom"),
        ({"company": {"name": "Acme"}}, "company.id"),
    ],
)
def test_usermaven_rejects_bad_shapes(change: dict[str, Any], key: str) -> None:
    em = UsermavenEmulator(api_key="k1", server_token="s1")
    body = {k: v for k, v in {**MV_BODY, **change}.items() if v is not None}
    with sender(em, "asgi") as send:
        r = send("POST", MV_URL, params={"token": "k1.s1"}, json=body)
    assert r.status_code == 400
    assert r.json()["key"] == key


# -- Userpilot ---------------------------------------------------------------------------------------

UP_HEADERS = {"Authorization": "Token up-key", "X-API-Version": "2020-09-22"}


def test_userpilot_accepts_and_records(mode: str) -> None:
    em = UserpilotEmulator(api_key="up-key")
    with sender(em, mode) as send:
        assert send("GET", "/v1/validate", headers=UP_HEADERS).status_code == 200
        body = {"user_id": "u1", "metadata": {"created_at": "2024-01-01T00:00:00.000Z"}}
        assert send("POST", "/v1/identify", headers=UP_HEADERS, json=body).status_code == 202
        body = {"company_id": "g1", "metadata": {}}
        assert send("POST", "/v1/companies/identify", headers=UP_HEADERS, json=body).status_code == 202
        body = {"user_id": "u1", "event_name": "Clicked", "metadata": {"a": 1}}
        assert send("POST", "/v1/track", headers=UP_HEADERS, json=body).status_code == 202
        r = send("DELETE", "/v1/users", headers=UP_HEADERS, json={"users": ["u1"]})
        assert r.status_code == 202
    assert [(q.method, q.path) for q in em.received] == [
        ("GET", "/v1/validate"),
        ("POST", "/v1/identify"),
        ("POST", "/v1/companies/identify"),
        ("POST", "/v1/track"),
        ("DELETE", "/v1/users"),
    ]
    assert em.received[-1].json == {"users": ["u1"]}
    assert em.received[0].headers["x-api-version"] == "2020-09-22"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Token wrong", "X-API-Version": "2020-09-22"},
        {"Authorization": "Bearer up-key", "X-API-Version": "2020-09-22"},
        {"Authorization": "Token up-key"},
        {"Authorization": "Token up-key", "X-API-Version": "2021-01-01"},
    ],
)
def test_userpilot_rejects_wrong_auth(headers: dict[str, str]) -> None:
    em = UserpilotEmulator(api_key="up-key")
    with sender(em, "asgi") as send:
        assert send("GET", "/v1/validate", headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "key"),
    [
        ("POST", "/v1/identify", {"metadata": {}}, "user_id"),
        ("POST", "/v1/identify", {"user_id": "u", "metadata": "x"}, "metadata"),
        ("POST", "/v1/companies/identify", {"metadata": {}}, "company_id"),
        ("POST", "/v1/track", {"user_id": "u1"}, "event_name"),
        ("POST", "/v1/track", {"event_name": "e"}, "user_id"),
        ("DELETE", "/v1/users", {"users": "u1"}, "users"),
        ("DELETE", "/v1/users", {"users": []}, "users"),
        ("DELETE", "/v1/users", {"users": [1]}, "users"),
    ],
)
def test_userpilot_rejects_bad_shapes(method: str, path: str, body: Any, key: str) -> None:
    em = UserpilotEmulator(api_key="up-key")
    with sender(em, "asgi") as send:
        r = send(method, path, headers=UP_HEADERS, json=body)
    assert r.status_code == 400
    assert r.json()["key"] == key


# -- User.com ----------------------------------------------------------------------------------------

UC = "/api/public"
UC_HEADERS = {"Authorization": "Token uc-key", "Accept": "*/*; version=2", "Host": "acme.user.com"}


def test_usercom_user_flow_unknown_create_found(mode: str) -> None:
    em = UserComEmulator(api_key="uc-key")
    with sender(em, mode) as send:
        assert send("GET", f"{UC}/users-by-id/u%2F1/", headers=UC_HEADERS).status_code == 404
        r = send(
            "POST",
            f"{UC}/users/",
            headers=UC_HEADERS,
            json={"custom_id": "u/1", "email": "a@b.c", "gender": 2, "order_completed_last_30days": True},
        )
        assert r.status_code == 201
        created = r.json()
        assert isinstance(created["id"], int) and created["user_key"]
        assert created["order_completed_last_30days"] is True
        r = send("GET", f"{UC}/users-by-id/u%2F1/", headers=UC_HEADERS)
        assert r.status_code == 200 and r.json()["id"] == created["id"]
        assert r.json()["custom_id"] == "u/1" and r.json()["email"] == "a@b.c"
        r = send("PUT", f"{UC}/users/{created['id']}/", headers=UC_HEADERS, json={"first_name": "Zoë"})
        assert r.status_code == 200 and r.json()["first_name"] == "Zoë"
        assert r.json()["email"] == "a@b.c"
        assert send("PUT", f"{UC}/users/999/", headers=UC_HEADERS, json={}).status_code == 404
    assert em.received[0].raw_path == f"{UC}/users-by-id/u%2F1/"
    assert em.users[created["id"]]["first_name"] == "Zoë"


def test_usercom_anonymous_user_by_key(mode: str) -> None:
    em = UserComEmulator(api_key="uc-key")
    with sender(em, mode) as send:
        r = send("GET", f"{UC}/users/search/", params={"key": "anon-1"}, headers=UC_HEADERS)
        assert r.status_code == 404
        r = send("POST", f"{UC}/users/", headers=UC_HEADERS, json={"user_key": "anon-1"})
        assert r.status_code == 201 and r.json()["user_key"] == "anon-1" and r.json()["custom_id"] is None
        r = send("GET", f"{UC}/users/search/", params={"key": "anon-1"}, headers=UC_HEADERS)
        assert r.status_code == 200 and r.json()["user_key"] == "anon-1"
        r = send("POST", f"{UC}/users/", headers=UC_HEADERS, json={"user_key": "anon-1"})
        assert r.status_code == 400 and "user_key" in r.json()
    assert em.received[0].query == {"key": "anon-1"}


def test_usercom_events_and_site_views(mode: str) -> None:
    em = UserComEmulator(api_key="uc-key")
    user = em.add_user(custom_id="u1")
    with sender(em, mode) as send:
        event = {
            "user_id": user["id"],
            "name": "Order Completed",
            "timestamp": 1700000000,
            "data": {"total": 3},
        }
        r = send("POST", f"{UC}/events/", headers=UC_HEADERS, json=event)
        assert r.status_code == 201 and r.json()["name"] == "Order Completed"
        view = {
            "client_user": user["user_key"],
            "page_domain": "https://example.com/a",
            "page_path": "/a",
            "timestamp": 1700000000,
        }
        assert send("POST", f"{UC}/site-views/", headers=UC_HEADERS, json=view).status_code == 201
        r = send("POST", f"{UC}/events/", headers=UC_HEADERS, json={**event, "user_id": 999})
        assert r.status_code == 400 and "user_id" in r.json()
        r = send("POST", f"{UC}/site-views/", headers=UC_HEADERS, json={**view, "client_user": "nobody"})
        assert r.status_code == 400 and "client_user" in r.json()
    assert em.events == [{"id": 1, **event}]
    assert len(em.site_views) == 1


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/events/", {"name": "e", "timestamp": 1, "data": {}}, "user_id"),
        ("/events/", {"user_id": 1, "timestamp": 1, "data": {}}, "name"),
        ("/events/", {"user_id": 1, "name": "e", "timestamp": "1", "data": {}}, "timestamp"),
        ("/events/", {"user_id": 1, "name": "e", "timestamp": 1.5, "data": {}}, "timestamp"),
        ("/events/", {"user_id": 1, "name": "e", "timestamp": 1, "data": []}, "data"),
        ("/site-views/", {"client_user": "k", "page_domain": "d", "timestamp": 1}, "page_path"),
        ("/users/", {"email": 5}, "email"),
        ("/users/", {"gender": 7}, "gender"),
        ("/companies/", {"name": "Acme"}, "custom_id"),
        ("/companies/", {"custom_id": "g1", "employees": []}, "employees"),
    ],
)
def test_usercom_rejects_bad_shapes(path: str, body: Any, key: str) -> None:
    em = UserComEmulator(api_key="uc-key")
    em.add_user(custom_id="u1")
    with sender(em, "asgi") as send:
        r = send("POST", f"{UC}{path}", headers=UC_HEADERS, json=body)
    assert r.status_code == 400
    assert key in r.json()


def test_usercom_company_flow(mode: str) -> None:
    em = UserComEmulator(api_key="uc-key")
    user = em.add_user(custom_id="u1")
    with sender(em, mode) as send:
        assert send("GET", f"{UC}/companies-by-id/g1/", headers=UC_HEADERS).status_code == 404
        r = send("POST", f"{UC}/companies/", headers=UC_HEADERS, json={"custom_id": "g1", "name": "Acme"})
        assert r.status_code == 201
        company_id = r.json()["id"]
        assert isinstance(company_id, int)
        r = send("GET", f"{UC}/companies-by-id/g1/", headers=UC_HEADERS)
        assert r.status_code == 200 and r.json()["name"] == "Acme"
        r = send("PUT", f"{UC}/companies/{company_id}/", headers=UC_HEADERS, json={"employees": 12})
        assert r.status_code == 200 and r.json()["employees"] == 12 and r.json()["name"] == "Acme"
        path = f"{UC}/companies/{company_id}/add_member/"
        r = send("POST", path, headers=UC_HEADERS, json={"user_id": user["id"]})
        assert r.status_code == 200 and r.json()["members"] == [user["id"]]
        assert send("POST", path, headers=UC_HEADERS, json={"user_id": 999}).status_code == 400
        r = send("POST", f"{UC}/companies/999/add_member/", headers=UC_HEADERS, json={"user_id": user["id"]})
        assert r.status_code == 404
        r = send("POST", f"{UC}/companies/", headers=UC_HEADERS, json={"custom_id": "g1"})
        assert r.status_code == 400
    assert em.companies[company_id]["members"] == [user["id"]]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Token revoked", "Accept": "*/*; version=2"}, 403),
        ({"Accept": "*/*; version=2"}, 403),
        ({"Authorization": "Token uc-key"}, 406),
        ({"Authorization": "Token uc-key", "Accept": "*/*; version=1"}, 406),
    ],
)
def test_usercom_rejects_wrong_auth(headers: dict[str, str], status: int) -> None:
    em = UserComEmulator(api_key="uc-key")
    with sender(em, "asgi") as send:
        r = send("GET", f"{UC}/users-by-id/u1/", headers=headers)
    assert r.status_code == status
    if status == 403:
        assert "revoked" in r.json()["detail"]


# -- routing and content type (shared base) ----------------------------------------------------------


def test_unknown_path_wrong_method_wrong_content_type() -> None:
    em = UserMotionEmulator(api_key="um-key")
    with sender(em, "asgi") as send:
        assert send("POST", "/v1/nope", headers=UM_HEADERS, json={}).status_code == 404
        r = send("GET", "/v1/track", headers=UM_HEADERS)
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        r = send(
            "POST",
            "/v1/track",
            headers={**UM_HEADERS, "Content-Type": "text/plain"},
            content=b'{"event":"e"}',
        )
        assert r.status_code == 415
        r = send(
            "POST", "/v1/track", headers={**UM_HEADERS, "Content-Type": "application/json"}, content=b"{nope"
        )
        assert r.status_code == 400 and r.json()["key"] == "body"
        r = send("POST", "/v1/track", headers={**UM_HEADERS, "Content-Type": "application/json"})
        assert r.status_code == 400
    assert [q.status for q in em.received] == [404, 405, 415, 400, 400]


# -- faults ------------------------------------------------------------------------------------------


def test_fault_status_times_and_retry_after(mode: str) -> None:
    em = UserpilotEmulator(api_key="up-key")
    em.faults.add(status=503, times=2, retry_after=7)
    body = {"user_id": "u1", "event_name": "e"}
    with sender(em, mode) as send:
        answers = [send("POST", "/v1/track", headers=UP_HEADERS, json=body) for _ in range(3)]
    assert [r.status_code for r in answers] == [503, 503, 202]
    assert [r.headers.get("retry-after") for r in answers] == ["7", "7", None]
    assert len(em.received) == 3 and all(q.json == body for q in em.received)


def test_fault_filters_by_path_prefix_and_method() -> None:
    em = UserComEmulator(api_key="uc-key")
    em.faults.add(status=429, times=None, path_prefix=f"{UC}/events/", retry_after="1")
    em.faults.add(status=500, times=1, method="PUT")
    with sender(em, "asgi") as send:
        assert send("GET", f"{UC}/users-by-id/x/", headers=UC_HEADERS).status_code == 404
        for _ in range(3):
            r = send("POST", f"{UC}/events/", headers=UC_HEADERS, json={})
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert send("PUT", f"{UC}/users/1/", headers=UC_HEADERS, json={}).status_code == 500
        assert send("PUT", f"{UC}/users/1/", headers=UC_HEADERS, json={}).status_code == 404


def test_fault_delay(mode: str) -> None:
    em = UserMotionEmulator(api_key="um-key")
    em.faults.add(delay=0.3)
    with sender(em, mode) as send:
        started = time.monotonic()
        r = send("POST", "/v1/verify", headers=UM_HEADERS)
        slow = time.monotonic() - started
        started = time.monotonic()
        send("POST", "/v1/verify", headers=UM_HEADERS)
        fast = time.monotonic() - started
    assert r.status_code == 200
    assert slow >= 0.3 and fast < 0.3


def test_fault_delay_then_status_then_timeout_client() -> None:
    em = UserMotionEmulator(api_key="um-key")
    em.faults.add(status=504, delay=0.5)
    with serve_in_thread(em) as server, httpx.Client(base_url=server.base_url, timeout=0.1) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/verify", headers=UM_HEADERS)


def test_fault_drop(mode: str) -> None:
    em = UserMotionEmulator(api_key="um-key")
    em.faults.add(drop=True, times=1)
    with sender(em, mode) as send:
        with pytest.raises(httpx.RemoteProtocolError):
            send("POST", "/v1/verify", headers=UM_HEADERS)
        assert send("POST", "/v1/verify", headers=UM_HEADERS).status_code == 200
    assert [q.status for q in em.received] == [None, 200]


def test_fault_drop_in_process_raises_connection_dropped() -> None:
    em = UserMotionEmulator(api_key="um-key")
    em.faults.add(drop=True)
    with sender(em, "asgi") as send, pytest.raises(ConnectionDropped):
        send("POST", "/v1/verify", headers=UM_HEADERS)


def test_fault_drop_seen_by_aiohttp_over_loopback() -> None:
    em = UserMotionEmulator(api_key="um-key")
    em.faults.add(drop=True)

    async def go(url: str) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "/v1/verify", headers=UM_HEADERS) as response:
                await response.read()

    with serve_in_thread(em) as server, pytest.raises(aiohttp.ServerDisconnectedError):
        asyncio.run(go(server.base_url))


def test_fail_ratio_is_seeded_and_roughly_right() -> None:
    def outcomes(seed: int) -> list[int]:
        em = UsermavenEmulator(api_key="k1", server_token="s1")
        em.faults.set_fail_ratio(0.3, status=502, seed=seed)
        with sender(em, "asgi") as send:
            return [
                send("POST", MV_URL, params={"token": "k1.s1"}, json=MV_BODY).status_code for _ in range(200)
            ]

    first = outcomes(seed=42)
    assert first == outcomes(seed=42)
    assert first != outcomes(seed=43)
    assert set(first) == {200, 502}
    assert 30 <= first.count(502) <= 90


def test_faults_validation_and_clear() -> None:
    em = UserMotionEmulator()
    with pytest.raises(ValueError):
        em.faults.add()
    with pytest.raises(ValueError):
        em.faults.set_fail_ratio(1.5)
    em.faults.add(status=500, times=None)
    em.reset()
    with sender(em, "asgi") as send:
        assert send("POST", "/v1/verify", headers={"Authorization": "Basic um-test-key"}).status_code == 200


# -- server ------------------------------------------------------------------------------------------


def test_server_starts_and_stops_quickly() -> None:
    started = time.monotonic()
    handle = serve_in_thread(UserMotionEmulator())
    assert handle.port > 0 and handle.base_url == f"http://127.0.0.1:{handle.port}"
    assert handle.running
    assert (
        httpx.post(handle.base_url + "/v1/verify", headers={"Authorization": "Basic um-test-key"}).status_code
        == 200
    )
    handle.stop()
    handle.stop()  # idempotent
    assert not handle.running
    assert time.monotonic() - started < 5
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", handle.port), timeout=1):
        pass


def test_server_stops_with_a_slow_request_in_flight() -> None:
    em = UserMotionEmulator()
    em.faults.add(delay=30)
    handle = serve_in_thread(em)
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.post(handle.base_url + "/v1/verify")
    started = time.monotonic()
    handle.stop()
    assert time.monotonic() - started < 5
