"""A hostile destination on 127.0.0.1 (issue 18, defects 1 and 10), through both real transports:
redirects that would carry the key elsewhere, loop or reach a metadata path; answers too big or too slow."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.delivery import Deliverer, PreparedRequest, make_transport
from engine.delivery.client import RedirectPolicy, RedirectRefused
from engine.secrets import Masker

KINDS = ["h1", "aiohttp", "httpx"]
KEY = "sk_live_4f9a8b7c6d5e"


class Hostile:
    """Answers by path: /to/<url> redirects (307) there, /loop redirects to itself, /meta redirects to a
    metadata path, /huge streams 300 MB, /trickle one byte at a time; anything else echoes."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.sent = 0
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append({"path": request.path, "headers": dict(request.headers)})
        tail = request.match_info["tail"]
        if tail.startswith("to/"):
            return web.Response(status=307, headers={"Location": request.path_qs[len("/to/"):]})
        if tail == "loop":
            return web.Response(status=302, headers={"Location": "/loop"})
        if tail == "meta":
            return web.Response(status=302, headers={"Location": "/latest/meta-data/iam/security-credentials/"})
        if tail in ("huge", "huge500"):
            response = web.StreamResponse(status=200 if tail == "huge" else 500)
            response.content_length = 300 << 20
            await response.prepare(request)
            chunk = b"x" * 65536
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                while self.sent < 300 << 20:
                    await response.write(chunk)
                    self.sent += len(chunk)
            return response
        if tail == "trickle":
            response = web.StreamResponse(status=200)
            await response.prepare(request)
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                for _ in range(300):
                    await response.write(b"a")
                    await asyncio.sleep(0.1)
            return response
        return web.json_response({"path": request.path, "headers": dict(request.headers)})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Hostile]:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        try:
            yield self
        finally:
            await self.runner.cleanup()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


def keyed(url: str) -> PreparedRequest:
    return PreparedRequest("POST", url, {"x-api-key": KEY, "authorization": f"Bearer {KEY}",
                                         "cookie": "s=1", "content-type": "application/json"}, b"{}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_to_another_port_is_refused_and_the_key_never_arrives(kind, clock):
    async def main():
        async with Hostile().running() as a, Hostile().running() as b:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy(), masker=Masker([KEY])) as d:
                outcome = await d.send(keyed(f"http://api.example.com/to/http://localhost:{b.port}/internal/307"))
            return outcome, a, b

    outcome, a, b = run(main())
    assert outcome.verdict == "failed" and not outcome.retryable and outcome.attempts == 1
    assert outcome.reason == "redirect refused" and "another host" in outcome.error
    assert b.seen == [] and len(a.seen) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_allowed_host_gets_the_redirect_without_credentials_or_secret_headers(kind, clock):
    async def main():
        async with Hostile().running() as a, Hostile().running() as b:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}", "cdn.example.com": f"http://127.0.0.1:{b.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy(), masker=Masker([KEY]),
                                 redirects={"allow_hosts": ["cdn.example.com"]}) as d:
                outcome = await d.send(keyed("https://api.example.com/to/https://cdn.example.com/landing"))
            return outcome, b

    outcome, b = run(main())
    assert outcome.verdict == "delivered"
    assert [s["path"] for s in b.seen] == ["/landing"]
    received = {k.lower(): v for k, v in b.seen[0]["headers"].items()}
    assert "authorization" not in received and "cookie" not in received and "x-api-key" not in received
    assert KEY not in repr(received)


@pytest.mark.parametrize("kind", KINDS)
def test_a_same_origin_redirect_keeps_the_key(kind, clock):
    async def main():
        async with Hostile().running() as a:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy(), masker=Masker([KEY])) as d:
                return await d.send(keyed("https://api.example.com/to/https://api.example.com/v2/track"))

    outcome = run(main())
    assert outcome.verdict == "delivered" and outcome.response.json["path"] == "/v2/track"
    assert outcome.response.json["headers"]["x-api-key"] == KEY


@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_loop_is_bounded(kind, clock):
    async def main():
        async with Hostile().running() as a:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy()) as d:
                outcome = await d.send(PreparedRequest("GET", "https://api.example.com/loop", {}))
            return outcome, a

    outcome, a = run(main())
    assert outcome.verdict == "failed" and not outcome.retryable and outcome.reason == "redirect refused"
    assert "more than 5 redirects" in outcome.error
    assert len(a.seen) == 6  # the request and 5 redirects, once: never retried


@pytest.mark.parametrize("kind", KINDS)
def test_a_redirect_to_a_metadata_path_is_not_fetched(kind, clock):
    async def main():
        async with Hostile().running() as a:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy()) as d:
                outcome = await d.send(PreparedRequest("GET", "https://api.example.com/meta", {}))
            return outcome, a

    outcome, a = run(main())
    assert outcome.reason == "redirect refused" and "metadata" in outcome.error
    assert [s["path"] for s in a.seen] == ["/meta"]


@pytest.mark.parametrize(("url", "location", "why"), [
    ("https://api.example.com/a", "http://api.example.com/b", "from https to http"),
    ("https://api.example.com/a", "file:///etc/passwd", r"only http\(s\)"),
    ("https://api.example.com/a", "https://169.254.169.254/latest/", "internal address"),
    ("https://api.example.com/a", "https://10.0.0.7/", "internal address"),
])
def test_redirects_the_policy_refuses(url, location, why):
    d = Deliverer(redirects=RedirectPolicy(allow_hosts=frozenset({"169.254.169.254", "10.0.0.7"})))
    with pytest.raises(RedirectRefused, match=why):
        d._redirected(PreparedRequest("GET", url, {}), 302, location)


def test_an_http_to_https_upgrade_of_the_same_host_keeps_going():
    d = Deliverer()
    nxt = d._redirected(PreparedRequest("POST", "http://api.example.com/a", {"authorization": "x"}, b"{}"), 301,
                        "https://api.example.com/a")
    assert nxt.url == "https://api.example.com/a" and nxt.method == "GET" and nxt.body is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", ["huge", "huge500"])
def test_a_300_mb_answer_is_not_read_whole(kind, path, clock):
    async def main():
        async with Hostile().running() as a:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy(attempts=1)) as d:
                outcome = await d.send(PreparedRequest("GET", f"https://api.example.com/{path}", {}))
            return outcome, a.sent

    outcome, sent = run(main())
    assert outcome.response is not None and outcome.response.truncated
    assert len(outcome.response.text) <= 1 << 20
    assert sent < 100 << 20  # the client stopped reading long before the end
    if path == "huge500":
        assert outcome.verdict == "failed" and "answer cut at 1048576 bytes" in outcome.error


@pytest.mark.parametrize("kind", KINDS)
def test_a_trickling_answer_ends_at_the_total_timeout(kind, clock):
    async def main():
        async with Hostile().running() as a:
            routes = {"api.example.com": f"http://127.0.0.1:{a.port}"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy(attempts=1),
                                 default_timeout=1.0) as d:
                return await d.send(PreparedRequest("GET", "https://api.example.com/trickle", {}))

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.reason == "timeout" and outcome.retryable


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_connection_says_connection_refused(kind, clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main():
        async with Deliverer(make_transport(kind=kind), clock.policy(attempts=1)) as d:
            return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{port}/", {}))

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.reason == "connection refused" and outcome.retryable
