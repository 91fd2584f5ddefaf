from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from engine.delivery import (
    Deliverer,
    PreparedRequest,
    RetryPolicy,
    RouteTransport,
    SinkTransport,
    make_transport,
    parse_route,
    parse_routes,
)


def send_through(transport: httpx.AsyncBaseTransport, method: str, url: str, **kwargs) -> httpx.Response:
    async def run():
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(run())


def test_route_rewrites_scheme_host_port_and_prefixes_the_path():
    sink = SinkTransport()
    routes = {"api.example.com": "http://127.0.0.1:8080/mock/usermotion/"}
    send_through(RouteTransport(routes, sink), "POST", "https://api.example.com/v1/a%2Fb?x=1&y=2", content=b"hi")
    [captured] = sink.requests
    assert captured.url == "http://127.0.0.1:8080/mock/usermotion/v1/a%2Fb?x=1&y=2"
    assert captured.headers["host"] == "127.0.0.1:8080"
    assert captured.method == "POST" and captured.body == b"hi"


def test_route_host_port_key_wins_over_host_key_and_other_ports_fall_back():
    sink = SinkTransport()
    transport = RouteTransport(
        {"api.example.com:8443": "https://staging.example.org", "api.example.com": "http://localhost:9000"}, sink
    )
    send_through(transport, "GET", "https://api.example.com:8443/a")
    send_through(transport, "GET", "https://API.example.com/b")
    send_through(transport, "GET", "https://other.example.com/c")
    assert [r.url for r in sink.requests] == [
        "https://staging.example.org/a",
        "http://localhost:9000/b",
        "https://other.example.com/c",
    ]
    assert sink.requests[0].headers["host"] == "staging.example.org"


def test_route_on_explicit_default_port():
    transport = RouteTransport({"api.example.com:443": "http://127.0.0.1:1"}, SinkTransport())
    assert str(transport.rewrite(httpx.URL("https://api.example.com/x"))) == "http://127.0.0.1:1/x"
    assert transport.rewrite(httpx.URL("http://api.example.com/x")) is None


def test_parse_route_arguments():
    assert parse_route("api.example.com=http://127.0.0.1:8080/p") == ("api.example.com", "http://127.0.0.1:8080/p")
    assert parse_routes(["a.com=http://x", "a.com=http://y", "b.com:81=https://z"]) == {
        "a.com": "http://y",
        "b.com:81": "https://z",
    }
    for bad in ("api.example.com", "=http://x", "a.com=ftp://x", "a.com=http://x/?q=1", "a.com=/just/a/path"):
        with pytest.raises(ValueError):
            parse_route(bad)
    with pytest.raises(ValueError):
        RouteTransport({"https://a.com": "http://x"}, SinkTransport())


def test_sink_records_requests_and_answers_200_empty_object():
    sink = SinkTransport()

    async def run():
        async with Deliverer(sink, RetryPolicy()) as d:
            first = await d.send(PreparedRequest.from_json("POST", "https://a.example/x", {"k": [1, 2]}))
            second = await d.send(PreparedRequest("DELETE", "https://b.example/y?id=3", {"X-A": "1"}))
            return first, second

    first, second = asyncio.run(run())
    assert first.verdict == second.verdict == "delivered"
    assert first.response.json == {} and first.response.status == 200
    assert [(r.method, r.url) for r in sink.requests] == [
        ("POST", "https://a.example/x"),
        ("DELETE", "https://b.example/y?id=3"),
    ]
    assert sink.requests[0].json == {"k": [1, 2]}
    assert sink.requests[1].headers["x-a"] == "1" and sink.requests[1].body == b""
    sink.clear()
    assert sink.requests == []


def test_sink_with_custom_answer():
    sink = SinkTransport(status=202, body={"id": 7})
    response = send_through(sink, "GET", "https://a.example/")
    assert response.status_code == 202 and response.json() == {"id": 7}


def _verify_mode(transport: httpx.AsyncBaseTransport) -> ssl.VerifyMode:
    if isinstance(transport, httpx.AsyncHTTPTransport):
        return transport._pool._ssl_context.verify_mode
    return transport.ssl_context.verify_mode


def test_make_transport_kinds_keep_tls_verification_on():
    from httpx_aiohttp import AiohttpTransport

    from engine.delivery.h1 import H1Transport

    auto = make_transport()
    assert isinstance(auto, H1Transport)
    assert _verify_mode(auto) == ssl.CERT_REQUIRED
    fallback = make_transport(kind="aiohttp")
    assert isinstance(fallback, AiohttpTransport) and _verify_mode(fallback) == ssl.CERT_REQUIRED
    plain = make_transport(kind="httpx")
    assert isinstance(plain, httpx.AsyncHTTPTransport) and _verify_mode(plain) == ssl.CERT_REQUIRED
    routed = make_transport({"api.example.com": "https://127.0.0.1:8443"}, kind="httpx")
    assert isinstance(routed, RouteTransport) and _verify_mode(routed.inner) == ssl.CERT_REQUIRED
    assert isinstance(make_transport(kind="sink"), SinkTransport)
    with pytest.raises(ValueError):
        make_transport(kind="carrier-pigeon")


@pytest.mark.parametrize("kind", ["auto", "h1", "aiohttp"])
def test_direct_transports_and_routes_resolve_per_origin(kind):
    from engine.delivery.h1 import H1Transport
    from engine.delivery.transports import DirectAiohttpTransport

    auto = make_transport(kind=kind, max_connections=7)
    if kind == "aiohttp":
        assert isinstance(auto, DirectAiohttpTransport) and auto.limits.max_connections == 7
    else:
        assert isinstance(auto, H1Transport) and auto.max_connections == 7
    assert _verify_mode(auto) == ssl.CERT_REQUIRED
    routed = make_transport({"api.example.com": "http://127.0.0.1:8080/mock/", "b.example.com:8443": "https://c.example"},
                            kind=kind)
    inner, url = routed.direct_route(httpx.URL("https://API.example.com/"))
    assert inner is routed.inner and str(url) == "http://127.0.0.1:8080/mock/"
    assert str(routed.direct_route(httpx.URL("https://b.example.com:8443/"))[1]) == "https://c.example/"
    assert str(routed.direct_route(httpx.URL("https://b.example.com/"))[1]) == "https://b.example.com/"
    # pools that are not aiohttp's are always driven through httpx
    assert make_transport({"a.com": "http://x"}, kind="httpx").direct_route(httpx.URL("https://a.com/")) is None
    assert not hasattr(SinkTransport(), "direct_route") and not hasattr(httpx.MockTransport(lambda r: None), "direct_route")


def test_injected_transports_never_take_the_direct_path():
    sink = SinkTransport()

    async def run():
        async with Deliverer(sink, RetryPolicy()) as d:
            await d.send(PreparedRequest("GET", "https://a.example/x", {}))
            return dict(d._origins)

    assert asyncio.run(run()) == {} and len(sink.requests) == 1
