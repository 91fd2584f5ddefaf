"""Transports behind httpx's `AsyncBaseTransport` interface.

- `make_transport()` picks the pool: the lean HTTP/1.1 client (`engine.delivery.h1`) when httptools
  is importable, else aiohttp (several times faster under concurrency than httpx's own pool), else
  httpx's `AsyncHTTPTransport(http2=True)`.
- `DirectAiohttpTransport` is an httpx transport over one `aiohttp.ClientSession` whose session the
  `Deliverer` also drives directly (no httpx models per request): the fast default path.
- `engine.delivery.h1.H1Transport`: a lean HTTP/1.1 client (asyncio Protocols, httptools) the
  `Deliverer` drives directly, like the aiohttp one.
- `RouteTransport` sends requests for chosen hosts to another base URL (`--route HOST=BASE_URL`).
- `SinkTransport` records every request in process and answers 200 `{}` (sandbox, dry runs).

A transport that can be bypassed has `direct_route(url) -> (DirectAiohttpTransport, url) | None`:
where a request for `url` (an origin: scheme, host, port) goes when sent directly, or None when it
must go through httpx (a sandbox host, an inner transport that is not aiohttp). The `Deliverer` asks
once per origin.

TLS verification is never turned off here.
"""

from __future__ import annotations

import functools
import importlib.util
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson

TransportKind = Literal["auto", "h1", "aiohttp", "httpx", "sink"]
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "engine/0.1"


@dataclass(frozen=True)
class RouteTarget:
    scheme: str
    host: str
    port: int | None
    prefix: str  # path prefix without trailing slash ("" for none)

    @property
    def netloc(self) -> str:
        if self.port is None or DEFAULT_PORTS.get(self.scheme) == self.port:
            return self.host if ":" not in self.host else f"[{self.host}]"
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"{host}:{self.port}"


def parse_route(arg: str) -> tuple[str, str]:
    """`"api.example.com=http://127.0.0.1:8080/prefix"` -> `("api.example.com", "http://...")`."""
    host, sep, base = arg.partition("=")
    host, base = host.strip(), base.strip()
    if not sep or not host or not base:
        raise ValueError(f"--route expects HOST=BASE_URL, got {arg!r}")
    _target(base)
    return host, base


def parse_routes(args: Iterable[str]) -> dict[str, str]:
    """Several `HOST=BASE_URL` arguments; a later one for the same host wins."""
    return dict(parse_route(a) for a in args)


def _target(base_url: str) -> RouteTarget:
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"route target {base_url!r}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"route target {base_url!r} must be an http(s) URL with a host")
    if url.query or url.fragment:
        raise ValueError(f"route target {base_url!r} must not have a query or fragment")
    return RouteTarget(url.scheme, url.host, url.port, url.raw_path.decode("ascii").rstrip("/"))


def _route_key(host: str) -> str:
    host = host.strip().lower()
    if "://" in host:
        raise ValueError(f"route host {host!r} must be a host or host:port, not a URL")
    return host


class RouteTransport(httpx.AsyncBaseTransport):
    """Rewrites requests for routed hosts to a base URL, then hands them to `inner`.

    A route key is `host` or `host:port`; `host:port` wins when both match. The request's
    scheme, host and port become the target's, the target's path is prepended to the request
    path, and the query is kept. The Host header names the target.
    """

    def __init__(self, routes: Mapping[str, str], inner: httpx.AsyncBaseTransport) -> None:
        self.routes: dict[str, RouteTarget] = {_route_key(k): _target(v) for k, v in routes.items()}
        self.inner = inner

    def rewrite(self, url: httpx.URL) -> httpx.URL | None:
        """The routed URL for `url`, or None when no route matches."""
        host = (url.host or "").lower()
        port = url.port if url.port is not None else DEFAULT_PORTS.get(url.scheme)
        target = self.routes.get(f"{host}:{port}") or self.routes.get(host)
        if target is None:
            return None
        raw_path = target.prefix.encode("ascii") + (url.raw_path or b"/")
        return url.copy_with(scheme=target.scheme, host=target.host, port=target.port, raw_path=raw_path)

    def direct_route(self, url: httpx.URL) -> tuple[Any, httpx.URL] | None:
        inner = getattr(self.inner, "direct_route", None)
        if inner is None:
            return None
        return inner(self.rewrite(url) or url)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        new_url = self.rewrite(request.url)
        if new_url is None:
            return await self.inner.handle_async_request(request)
        headers = httpx.Headers(request.headers)
        headers["host"] = new_url.netloc.decode("ascii")
        routed = httpx.Request(
            request.method,
            new_url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return await self.inner.handle_async_request(routed)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class CapturedRequest:
    """One request a `SinkTransport` received."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    extensions: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class SinkTransport(httpx.AsyncBaseTransport):
    """Records every request and answers `status` with a JSON `body` (default 200 `{}`)."""

    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = {} if body is None else body
        self.requests: list[CapturedRequest] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        self.requests.append(
            CapturedRequest(
                method=request.method,
                url=str(request.url),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=content,
                extensions=dict(request.extensions),
            )
        )
        return httpx.Response(
            self.status,
            headers={"content-type": "application/json"},
            content=orjson.dumps(self.body),
            request=request,
        )

    def clear(self) -> None:
        self.requests.clear()


try:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport as _AiohttpTransport
except ImportError:  # pragma: no cover - aiohttp is optional
    DirectAiohttpTransport: Any = None
else:

    class DirectAiohttpTransport(_AiohttpTransport):  # type: ignore[no-redef]
        """httpx_aiohttp's transport (so it still works under httpx: the sandbox, redirects, tests),
        whose `aiohttp.ClientSession` the `Deliverer` also sends through directly.

        The session: one `TCPConnector` (limit = `max_connections`, keep-alive, this transport's
        `ssl_context`: verification on, httpx's CA bundle), default User-Agent `engine/0.1`.
        """

        def get_client(self) -> aiohttp.ClientSession:
            limit = {"limit": self.limits.max_connections} if self.limits.max_connections is not None else {}
            connector = aiohttp.TCPConnector(keepalive_timeout=self.limits.keepalive_expiry, ssl=self.ssl_context,
                                             **limit)  # type: ignore[arg-type]
            return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})

        def session(self) -> aiohttp.ClientSession:
            """The session (made on first use, inside the running loop)."""
            client = self.client
            if not isinstance(client, aiohttp.ClientSession):
                client = self.client = self.get_client()
            return client

        def direct_route(self, url: httpx.URL) -> tuple[Any, httpx.URL] | None:
            return self, url


def h1_available() -> bool:
    return importlib.util.find_spec("httptools") is not None


def aiohttp_available() -> bool:
    return DirectAiohttpTransport is not None


@functools.cache
def shared_ssl_context(kind: str) -> ssl.SSLContext:
    """The verifying TLS context (httpx's CA bundle and environment) of every transport of `kind` ("aiohttp" or
    "httpx"): loading the CA bundle takes tens of milliseconds, so one per process, not one per instance. Two
    kinds because httpcore sets the context's ALPN protocols (h2) on connect, which aiohttp must not offer."""
    return httpx.create_ssl_context(verify=True)


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


def make_transport(
    routes: Mapping[str, str] | None = None,
    kind: TransportKind = "auto",
    *,
    max_connections: int = 100,
) -> httpx.AsyncBaseTransport:
    """The transport a `Deliverer` should use.

    `kind`: "auto" (h1 when httptools is importable, else aiohttp, else httpx), "h1"
    (`engine.delivery.h1`'s lean HTTP/1.1 client on the direct path, httpx's pool under httpx),
    "aiohttp" (the fallback: `--transport aiohttp`), "httpx" (HTTP/2 when `h2` is
    installed) or "sink" (a `SinkTransport`: nothing leaves the process). `routes` wraps the
    result in a `RouteTransport`.
    """
    inner: httpx.AsyncBaseTransport
    if kind == "sink":
        inner = SinkTransport()
    elif kind == "h1" or (kind == "auto" and h1_available()):
        from engine.delivery.h1 import H1Transport

        inner = H1Transport(max_connections=max_connections)
    elif kind == "aiohttp" or (kind == "auto" and aiohttp_available()):
        if DirectAiohttpTransport is None:
            raise ValueError("the aiohttp transport needs the aiohttp and httpx-aiohttp packages")
        inner = DirectAiohttpTransport(verify=shared_ssl_context("aiohttp"), limits=_limits(max_connections))
    elif kind in ("httpx", "auto"):
        http2 = importlib.util.find_spec("h2") is not None
        inner = httpx.AsyncHTTPTransport(verify=shared_ssl_context("httpx"), http2=http2, limits=_limits(max_connections))
    else:
        raise ValueError(f"unknown transport kind {kind!r} (auto, h1, aiohttp, httpx, sink)")
    if routes:
        return RouteTransport(routes, inner)
    return inner
