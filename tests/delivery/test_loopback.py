"""Against a real HTTP server on 127.0.0.1 (port 0), through both real transports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.delivery import Deliverer, PreparedRequest, RetryPolicy, make_transport

KINDS = ["aiohttp", "httpx"]


class Server:
    def __init__(self) -> None:
        self.flaky_left = 0
        self.peers: set[tuple[str, int]] = set()
        self.seen: list[dict] = []
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.peers.add(request.transport.get_extra_info("peername")[:2])
        body = await request.read()
        self.seen.append({"method": request.method, "path": request.path, "query": request.query_string})
        tail = request.match_info["tail"]
        if tail.endswith("flaky") and self.flaky_left > 0:
            self.flaky_left -= 1
            return web.Response(status=503, headers={"Retry-After": "0"}, text="busy")
        if tail.endswith("slow"):
            await self.release.wait()
        if tail.startswith("status/"):
            return web.Response(status=int(tail.split("/")[1]), text=f"status {tail}")
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "host": request.headers.get("Host"),
                "body": body.decode(),
            }
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Server]:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        try:
            yield self
        finally:
            self.release.set()
            await self.runner.cleanup()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


@pytest.mark.parametrize("kind", KINDS)
def test_routed_request_reaches_the_server_and_keeps_alive(kind, clock):
    async def main():
        async with Server().running() as server:
            routes = {"api.example.com": f"http://127.0.0.1:{server.port}/mock"}
            async with Deliverer(make_transport(routes, kind=kind), clock.policy()) as d:
                outcomes = []
                for i in range(5):
                    req = PreparedRequest.from_json("POST", f"https://api.example.com/v1/track?n={i}", {"i": i})
                    outcomes.append(await d.send(req))
            return server, outcomes

    server, outcomes = run(main())
    assert [o.verdict for o in outcomes] == ["delivered"] * 5
    last = outcomes[-1].response
    assert last.json == {
        "method": "POST",
        "path": "/mock/v1/track",
        "query": "n=4",
        "host": f"127.0.0.1:{server.port}",
        "body": '{"i":4}',
    }
    assert last.headers["content-type"].startswith("application/json")
    assert len(server.peers) == 1  # one pooled keep-alive connection served all five


@pytest.mark.parametrize("kind", KINDS)
def test_real_503_with_retry_after_is_retried(kind, clock):
    async def main():
        async with Server().running() as server:
            server.flaky_left = 2
            async with Deliverer(make_transport(kind=kind), clock.policy()) as d:
                return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{server.port}/flaky", {}))

    outcome = run(main())
    assert outcome.verdict == "delivered" and outcome.attempts == 3
    assert clock.sleeps == [0.0, 0.0]


@pytest.mark.parametrize("kind", KINDS)
def test_real_timeout_is_retried_then_fails(kind, clock):
    async def main():
        async with Server().running() as server:
            async with Deliverer(make_transport(kind=kind), clock.policy(attempts=2)) as d:
                req = PreparedRequest("GET", f"http://127.0.0.1:{server.port}/slow", {}, timeout=0.05)
                return await d.send(req)

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.attempts == 2
    assert outcome.retryable and outcome.reason == "timeout"


@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused_is_a_retryable_network_failure(kind, clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there

    async def main():
        async with Deliverer(make_transport(kind=kind), clock.policy(attempts=3)) as d:
            return await d.send(PreparedRequest("GET", f"http://127.0.0.1:{port}/", {}))

    outcome = run(main())
    assert outcome.verdict == "failed" and outcome.attempts == 3 and outcome.retryable
    assert outcome.response is None and len(clock.sleeps) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_real_statuses_expected_and_not_retried(kind, clock):
    async def main():
        async with Server().running() as server:
            base = f"http://127.0.0.1:{server.port}"
            async with Deliverer(make_transport(kind=kind), clock.policy()) as d:
                lookup = await d.send(PreparedRequest("GET", f"{base}/status/404", {}), expect=lambda s: s in (200, 404))
                refused = await d.send(PreparedRequest("GET", f"{base}/status/403", {}))
                return server, lookup, refused

    server, lookup, refused = run(main())
    assert lookup.verdict == "expected" and lookup.response.text == "status status/404"
    assert refused.verdict == "failed" and refused.attempts == 1 and not refused.retryable
    assert refused.response_excerpt == "status status/403"
    assert len(server.seen) == 2 and clock.sleeps == []


def test_many_concurrent_requests_over_the_default_transport():
    async def main():
        async with Server().running() as server:
            async with Deliverer(make_transport(), RetryPolicy(attempts=1), concurrency=8) as d:
                reqs = [PreparedRequest("GET", f"http://127.0.0.1:{server.port}/c/{i}", {}) for i in range(60)]
                outcomes = await asyncio.gather(*(d.send(r) for r in reqs))
            return server, outcomes

    server, outcomes = run(main())
    assert all(o.verdict == "delivered" for o in outcomes)
    assert sorted(o.response.json["path"] for o in outcomes) == sorted(f"/c/{i}" for i in range(60))
    assert len(server.peers) <= 8  # never more connections than the concurrency bound
