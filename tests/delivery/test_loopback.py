"""Against a real HTTP server on 127.0.0.1 (port 0), through both real transports."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from engine.delivery import Deliverer, PreparedRequest, RetryPolicy, make_transport

KINDS = ["h1", "aiohttp", "httpx"]


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


# --- the direct aiohttp path (the default transport, routed or not) ---------------------------------------------


class RedirectingServer(Server):
    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if "redirect/" in tail:  # [prefix/]redirect/<status>/<where>
            _, status, where = tail[tail.index("redirect/"):].split("/", 2)
            await request.read()
            return _redirect(int(status), "/" + where)
        if tail.endswith("latin1"):
            return web.Response(body="café".encode("latin-1"), headers={"Content-Type": "text/plain; charset=ISO-8859-1"})
        if tail.endswith("headers"):
            return web.Response(text="ok", headers=[("X-Twice", "a"), ("X-Twice", "b"), ("X-Once", "c")])
        return await super().handle(request)


def _redirect(status: int, location: str) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def _direct_used(d: Deliverer) -> bool:
    return any(plan is not None for plan in d._origins.values())


@pytest.mark.parametrize(("status", "method"), [(302, "GET"), (303, "GET"), (307, "POST"), (308, "POST")])
def test_direct_path_follows_redirects_like_httpx_through_the_route(status, method, clock):
    async def main():
        async with RedirectingServer().running() as server:
            routes = {"api.example.com": f"http://127.0.0.1:{server.port}/mock"}
            async with Deliverer(make_transport(routes), clock.policy()) as d:
                req = PreparedRequest.from_json("POST", f"https://api.example.com/redirect/{status}/mock/to", {"a": 1})
                outcome = await d.send(req)
                assert _direct_used(d)
            return outcome

    outcome = run(main())
    assert outcome.verdict == "delivered"
    # the relative Location is resolved against the original URL, then routed again
    assert outcome.response.json["path"] == "/mock/mock/to"
    assert outcome.response.json["method"] == method
    assert outcome.response.json["body"] == ('{"a":1}' if method == "POST" else "")


def test_direct_path_response_headers_charset_and_host_header(clock):
    async def main():
        async with RedirectingServer().running() as server:
            routes = {"api.example.com": f"http://127.0.0.1:{server.port}"}
            async with Deliverer(make_transport(routes), clock.policy()) as d:
                latin = await d.send(PreparedRequest("GET", "https://api.example.com/latin1", {}))
                heads = await d.send(PreparedRequest("GET", "https://api.example.com/headers", {}))
                host = await d.send(PreparedRequest("GET", "https://api.example.com/x", {"Host": "api.example.com"}))
                assert _direct_used(d)
            return server, latin, heads, host

    server, latin, heads, host = run(main())
    assert latin.response.text == "café"
    assert heads.response.headers["x-twice"] == "a, b" and heads.response.headers["x-once"] == "c"
    assert host.response.json["host"] == f"127.0.0.1:{server.port}"  # routed: the Host header names the target


def test_direct_and_httpx_paths_give_the_same_response(clock):
    async def main():
        async with RedirectingServer().running() as server:
            base = f"http://127.0.0.1:{server.port}"
            answers = {}
            for kind in ("aiohttp", "httpx"):
                async with Deliverer(make_transport(kind=kind), clock.policy()) as d:
                    answers[kind] = [
                        (await d.send(PreparedRequest(m, f"{base}{p}", {}, body=b))).response
                        for m, p, b in (("GET", "/latin1", None), ("GET", "/headers", None),
                                        ("POST", "/echo?q=a%2Fb&r=1", b'{"k": [1, 2]}'), ("GET", "/status/418", None))
                    ]
            return answers

    answers = run(main())
    for direct, plain in zip(answers["aiohttp"], answers["httpx"], strict=True):
        assert (direct.status, direct.text, direct.json) == (plain.status, plain.text, plain.json)
        skip = {"date", "content-length", "server"}
        assert {k: v for k, v in direct.headers.items() if k not in skip} == {
            k: v for k, v in plain.headers.items() if k not in skip}


def test_urls_the_direct_path_does_not_take_go_through_httpx(clock):
    async def main():
        async with Server().running() as server:
            async with Deliverer(make_transport(), clock.policy()) as d:
                spaced = await d.send(PreparedRequest("GET", f"http://127.0.0.1:{server.port}/a b?q=x y", {}))
                assert not _direct_used(d)
                bad = await d.send(PreparedRequest("GET", "ftp://example.com/x", {}))
                nohost = await d.send(PreparedRequest("GET", "http:///x", {}))
                header = await d.send(PreparedRequest("GET", f"http://127.0.0.1:{server.port}/h", {"X-A": "1\r\nX-B: 2"}))
            return spaced, bad, nohost, header

    spaced, bad, nohost, header = run(main())
    assert spaced.verdict == "delivered" and spaced.response.json["path"] == "/a b"
    assert (bad.reason, bad.retryable, bad.attempts) == ("invalid url", False, 1)
    assert (nohost.reason, nohost.retryable) == ("invalid url", False)
    assert header.verdict == "failed" and not header.retryable and header.attempts == 1


def test_sandbox_hosts_go_through_httpx_the_rest_directly(clock):
    from engine.secrets import Masker
    from engine.server.sandbox import SandboxLog, SandboxTransport

    async def main():
        async with Server().running() as server:
            log = SandboxLog(Masker.empty(), stream=None)
            routes = {"api.example.com": f"http://127.0.0.1:{server.port}/r"}
            transport = SandboxTransport({"sandbox.example.com"}, make_transport(routes), log, "inst")
            async with Deliverer(transport, clock.policy()) as d:
                captured = await d.send(PreparedRequest.from_json("POST", "https://sandbox.example.com/v1/x", {"a": 1}))
                routed = await d.send(PreparedRequest.from_json("POST", "https://api.example.com/v1/y", {"b": 2}))
                plans = dict(d._origins)
            return server, log, captured, routed, plans

    server, log, captured, routed, plans = run(main())
    assert captured.verdict == routed.verdict == "delivered"
    assert [e["url"] for e in log.recent()] == ["https://sandbox.example.com/v1/x"]
    assert routed.response.json["path"] == "/r/v1/y" and len(server.seen) == 1
    assert plans["https://sandbox.example.com"] is None and plans["https://api.example.com"].routed


def test_direct_path_is_bounded_by_the_concurrency_and_reuses_connections():
    async def main():
        async with Server().running() as server:
            routes = {"api.example.com": f"http://127.0.0.1:{server.port}"}
            async with Deliverer(make_transport(routes, max_connections=4), RetryPolicy(attempts=1), concurrency=4) as d:
                reqs = [PreparedRequest("GET", f"https://api.example.com/c/{i}", {}) for i in range(40)]
                outcomes = await asyncio.gather(*(d.send(r) for r in reqs))
                assert _direct_used(d)
            return server, outcomes

    server, outcomes = run(main())
    assert all(o.verdict == "delivered" for o in outcomes)
    assert len(server.peers) <= 4
