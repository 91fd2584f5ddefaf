"""`Deliverer`: sends `PreparedRequest`s for one destination, with retries, and says how it went."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from engine.delivery.h1 import H1Transport
from engine.delivery.models import PreparedRequest, Response, _decode_json
from engine.delivery.retry import (
    NETWORK_ERRORS,
    Classification,
    ErrorRule,
    RetryPolicy,
    classify_exception,
    classify_status,
    parse_errors_table,
    parse_retry_after,
)
from engine.delivery.transports import USER_AGENT, make_transport
from engine.jsvalues import UNDEFINED
from engine.secrets import Masker

try:
    import aiohttp
except ImportError:  # pragma: no cover - aiohttp is optional
    aiohttp = None  # type: ignore[assignment]

OutcomeVerdict = Literal["delivered", "expected", "failed"]
DEFAULT_CONNECT_TIMEOUT = 5.0
# scheme://authority of an absolute URL; what follows (path, query) is kept as written
_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@]*(?=[/?#]|$)")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_ORIGIN_CACHE_LIMIT = 4096
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20  # bytes read from an answer; the rest is left unread
# credentials never carried to another origin (plus any header whose value holds a secret)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_METADATA_HOSTS = frozenset({"169.254.169.254", "fd00:ec2::254", "100.100.100.200", "metadata.google.internal",
                             "metadata", "instance-data", "instance-data.ec2.internal"})
_METADATA_PATHS = ("/latest/meta-data", "/latest/api/token", "/latest/user-data", "/computemetadata/",
                   "/metadata/instance", "/metadata/identity", "/opc/v1/", "/openstack/")


class RedirectRefused(Exception):
    """A redirect the engine will not follow (never retried: the answer would be the same)."""


@dataclass(frozen=True)
class RedirectPolicy:
    """Which redirects are followed: at most `max` hops, to the same origin (or http -> https of the
    same host), or to a host named in `allow_hosts`; never to a loopback, private, link-local or
    metadata address unless `routed_hosts` (the routes) send that host somewhere on purpose."""

    max: int = DEFAULT_MAX_REDIRECTS
    allow_hosts: frozenset[str] = frozenset()
    routed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None, routed_hosts: frozenset[str] = frozenset()) -> RedirectPolicy:
        raw = raw or {}
        return cls(int(raw.get("max", DEFAULT_MAX_REDIRECTS)),
                   frozenset(str(h).lower() for h in raw.get("allow_hosts") or ()), routed_hosts)


def _routed_hosts(transport: Any) -> frozenset[str]:
    """The route keys (`host` / `host:port`) of the RouteTransport in `transport`'s chain, if any."""
    hosts: set[str] = set()
    seen = 0
    while transport is not None and seen < 8:
        routes = getattr(transport, "routes", None)
        if isinstance(routes, Mapping):
            hosts.update(str(k).lower() for k in routes)
        transport = getattr(transport, "inner", None)
        seen += 1
    return frozenset(hosts)


def _internal_host(host: str) -> bool:
    """True for a loopback, private, link-local, unspecified or metadata address (or localhost)."""
    host = host.lower().strip("[]").rstrip(".")
    if host in _METADATA_HOSTS or host == "localhost" or host.endswith(".localhost") or host.endswith(".internal"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or ip.is_reserved
                or ip.is_multicast)


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


def is_success(status: int) -> bool:
    return 200 <= status <= 299


@dataclass
class Outcome:
    """The result of sending one request (all its attempts).

    verdict:
      - "delivered": a 2xx (or, with `expect`, an expected 2xx);
      - "expected": a non-2xx status that `expect` accepted (a result, e.g. 404 on a lookup);
      - "failed": anything else. `retryable` says whether the last failure was of a retryable
        kind (so retries ran out or the deadline passed), `reason` is short and groupable
        ("HTTP 429 Too Many Requests", "timeout", "network error"), `error` is the full,
        masked sentence, `hint` the spec's `errors` message for the status.

    `response` is the last response (None when none arrived); it is not masked, because later
    steps may need its data, and it is left out of the repr. `response_excerpt` is masked.
    """

    verdict: OutcomeVerdict
    attempts: int
    response: Response | None = field(default=None, repr=False)
    status: int | None = None
    error: str | None = None
    hint: str | None = None
    retryable: bool = False
    reason: str | None = None
    response_excerpt: str | None = None
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the caller got a result: delivered, or an expected status."""
        return self.verdict != "failed"


@dataclass(frozen=True)
class _Direct:
    """Where requests for one origin go on the direct path: the aiohttp transport, and the new
    `scheme://host[:port][/prefix]` that replaces the origin (routed: the Host header is the target's)."""

    transport: Any
    base: str
    routed: bool


class Deliverer:
    """One pooled client per destination, bounded concurrency, retries.

    `transport` defaults to `make_transport()`. When the transport is the default aiohttp one
    (possibly under `RouteTransport` or the sandbox), requests go through its `aiohttp.ClientSession`
    directly: the route is a string rewrite of the URL's origin, decided once per origin, and the
    `Response` is built from aiohttp's. Any other transport (httpx's pool, `MockTransport`, a sink),
    and URLs the direct path does not take (userinfo, spaces, non-ASCII: httpx normalises them), go
    through an `httpx.AsyncClient`; both paths behave alike (redirects, timeouts, errors).

    `errors_table` is the spec's `errors` section (status -> {message, retry}). `default_timeout`
    applies to requests without `timeout`; the connect timeout is the smaller of it and
    `connect_timeout`. The semaphore is held during attempts only, never during backoff waits.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        *,
        concurrency: int = 16,
        masker: Masker | None = None,
        errors_table: Mapping[Any, Any] | None = None,
        default_timeout: float = 10.0,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        follow_redirects: bool = True,
        redirects: Mapping[str, Any] | RedirectPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.policy = policy or RetryPolicy()
        self.masker = masker or Masker.empty()
        self.errors_table: dict[int, ErrorRule] = parse_errors_table(errors_table)
        self.default_timeout = default_timeout
        self.connect_timeout = connect_timeout
        self.concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)
        self.follow_redirects = follow_redirects
        if transport is None:
            transport = make_transport(max_connections=concurrency)
        self.transport = transport
        routed = _routed_hosts(transport)
        self.redirects = (redirects if isinstance(redirects, RedirectPolicy)
                          else RedirectPolicy.from_spec(redirects, routed))
        self.max_response_bytes = max_response_bytes
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=self._timeout(None),
            follow_redirects=False,  # followed by `_attempt`, on both paths, under `self.redirects`
            headers={"user-agent": USER_AGENT},
        )
        route = getattr(transport, "direct_route", None)
        self._direct_route: Callable[[httpx.URL], Any] | None = route
        self._origins: dict[str, _Direct | None] = {}
        self._aiohttp_timeouts: dict[float | None, Any] = {}

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        total = self.default_timeout if seconds is None else seconds
        return httpx.Timeout(total, connect=min(total, self.connect_timeout))

    def _direct_for(self, origin: str) -> _Direct | None:
        """How requests for `origin` (`scheme://authority`) go on the direct path; None: through httpx."""
        try:
            return self._origins[origin]
        except KeyError:
            pass
        plan: _Direct | None = None
        try:
            url = httpx.URL(origin + "/")
        except httpx.InvalidURL:
            url = None
        if url is not None and url.scheme in ("http", "https") and url.host and self._direct_route is not None:
            found = self._direct_route(url)
            if found is not None:
                transport, target = found
                base = str(target)
                plan = _Direct(transport, base[:-1] if base.endswith("/") else base, target != url)
        if len(self._origins) >= _ORIGIN_CACHE_LIMIT:
            self._origins.clear()
        self._origins[origin] = plan
        return plan

    def _client_timeout(self, seconds: float | None) -> Any:
        try:
            return self._aiohttp_timeouts[seconds]
        except KeyError:
            total = self.default_timeout if seconds is None else seconds
            # as httpx_aiohttp maps httpx.Timeout(total, connect=min(total, connect_timeout))
            timeout = aiohttp.ClientTimeout(total=None, connect=total, sock_connect=min(total, self.connect_timeout),
                                            sock_read=total)
            self._aiohttp_timeouts[seconds] = timeout
            return timeout

    async def _attempt(self, req: PreparedRequest) -> Response:
        """One attempt: the request, then the redirects `self.redirects` allows (each hop routed again)."""
        hop = req
        for done in range(self.redirects.max + 1):
            response = await self._hop(hop)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or not self.follow_redirects or not location:
                return response
            if done == self.redirects.max:
                raise RedirectRefused(f"more than {self.redirects.max} redirects (the last to {location})")
            hop = self._redirected(hop, response.status, location)
        raise AssertionError("unreachable")  # pragma: no cover

    def _redirected(self, req: PreparedRequest, status: int, location: str) -> PreparedRequest:
        """The next request of a redirect, or RedirectRefused saying why it is not followed."""
        try:
            here = httpx.URL(req.url)
            there = here.join(location)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise RedirectRefused(f"redirect to an invalid URL {location!r}") from exc
        if there.scheme not in ("http", "https") or not there.host:
            raise RedirectRefused(f"redirect to {location!r}: only http(s) URLs with a host are followed")
        if here.scheme == "https" and there.scheme != "https":
            raise RedirectRefused(f"redirect from https to {there.scheme} ({location!r}) is not followed")
        host = there.host.lower()
        same_host = host == (here.host or "").lower()
        same_origin = same_host and _port(there) == _port(here) and there.scheme == here.scheme
        upgrade = same_host and here.scheme == "http" and there.scheme == "https" and there.port is None
        policy = self.redirects
        if not (same_origin or upgrade or host in policy.allow_hosts):
            raise RedirectRefused(f"redirect to another host ({location!r}) is not followed; the spec's "
                                  f"redirects.allow_hosts names the hosts that may be")
        routed = host in policy.routed_hosts or f"{host}:{_port(there)}" in policy.routed_hosts
        if not routed and _internal_host(host):
            raise RedirectRefused(f"redirect to an internal address ({location!r}) is not followed")
        path = there.path.lower()
        if path.startswith(_METADATA_PATHS):
            raise RedirectRefused(f"redirect to a cloud metadata path ({location!r}) is not followed")
        method = req.method.upper()
        body, json_body = req.body, req.json
        headers = dict(req.headers)
        if status == 303 and method != "HEAD" or status in (301, 302) and method == "POST":
            method, body, json_body = "GET", None, UNDEFINED
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in ("content-type", "content-length", "content-encoding", "transfer-encoding")}
        if not same_origin:
            masker = self.masker
            headers = {k: v for k, v in headers.items()
                       if k.lower() not in _CREDENTIAL_HEADERS and k.lower() != "host" and masker.mask_text(v) == v}
        return PreparedRequest(method, str(there), headers, body, json_body, req.timeout, req.step)

    async def _hop(self, req: PreparedRequest) -> Response:
        url = req.url
        if self._direct_route is not None and url.isascii() and url.isprintable() and " " not in url:
            match = _ORIGIN.match(url)
            if match is not None:
                direct = self._direct_for(match.group())
                if direct is not None:
                    return await self._send_direct(direct, req, match.end())
        return await self._send_httpx(req)

    def _total(self, req: PreparedRequest) -> float:
        return self.default_timeout if req.timeout is None else req.timeout

    async def _send_httpx(self, req: PreparedRequest) -> Response:
        url = httpx.URL(req.url)
        if url.scheme not in ("http", "https") or not url.host:
            raise httpx.UnsupportedProtocol(f"only http(s) URLs with a host can be sent, got {req.url!r}")
        request = self.client.build_request(
            req.method.upper(),
            req.url,
            headers=req.wire_headers(),
            content=req.wire_body(),
            timeout=self._timeout(req.timeout),
        )
        limit = self.max_response_bytes
        async with self._semaphore:
            async with asyncio.timeout(self._total(req)):  # the whole request, not only each read
                answer = await self.client.send(request, stream=True)
                try:
                    chunks: list[bytes] = []
                    size = 0
                    truncated = False
                    async for chunk in answer.aiter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > limit:
                            truncated = True
                            break
                finally:
                    await answer.aclose()
        content = b"".join(chunks)
        if truncated:
            return _truncated(answer.status_code, answer.headers.multi_items(), content[:limit])
        headers = [(k, v) for k, v in answer.headers.multi_items() if k.lower() != "content-encoding"]
        return Response.from_httpx(httpx.Response(answer.status_code, headers=headers, content=content,
                                                  request=request))

    async def _send_direct(self, direct: _Direct, req: PreparedRequest, origin_end: int) -> Response:
        rest = req.url[origin_end:]
        if not rest.startswith("/"):
            rest = "/" + rest
        url = direct.base + rest
        if req.body is not None:
            body: bytes | None = req.body
            headers = req.headers
        elif req.json is UNDEFINED:
            body, headers = None, req.headers
        else:
            body, headers = req.wire_body(), req.wire_headers()
        if direct.routed and any(k.lower() == "host" for k in headers):  # the Host header names the target
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        method = req.method.upper()
        limit = self.max_response_bytes
        if isinstance(direct.transport, H1Transport):
            total = self._total(req)
            async with self._semaphore:  # the whole request within `total`, not only each read
                answer = await direct.transport.request(method, direct.base, rest, headers, body, limit=limit,
                                                        connect_timeout=min(total, self.connect_timeout), timeout=total)
            if answer.truncated:
                return _truncated(answer.status, answer.headers, answer.body[:limit])
            return _response_from(answer.status, answer.headers, answer.body)
        session = direct.transport.session()
        async with self._semaphore:
            async with asyncio.timeout(self._total(req)):  # the whole request, not only each read
                try:
                    raw = await session.request(method, url, headers=headers, data=body or None,
                                                timeout=self._client_timeout(req.timeout), allow_redirects=False)
                except aiohttp.InvalidURL as exc:
                    raise httpx.InvalidURL(str(exc) or f"invalid URL {req.url!r}") from exc
                except ValueError as exc:  # a header aiohttp refuses to write (httpx: LocalProtocolError)
                    raise httpx.LocalProtocolError(str(exc)) from exc
                truncated = False
                try:
                    content = await raw.content.read(limit + 1) if raw.content_length is None or \
                        raw.content_length > limit else await raw.read()
                    while len(content) <= limit and not raw.content.at_eof():
                        more = await raw.content.read(limit + 1 - len(content))
                        if not more:
                            break
                        content += more
                    if len(content) > limit:
                        truncated = True
                        raw.close()  # the rest is never read: the connection is dropped
                finally:
                    raw.release()
        if truncated:
            return _truncated(raw.status, list(raw.headers.items()), content[:limit])
        return _response_from(raw.status, raw.headers.items(), content)

    async def send(
        self,
        req: PreparedRequest,
        *,
        expect: Callable[[int], bool] | None = None,
    ) -> Outcome:
        """Send `req`, retrying per the policy, and return how it went (never raises for HTTP or
        network failures). `expect(status)` decides which statuses are results (default: 2xx);
        an expected status is never retried."""
        policy = self.policy
        accept = expect or is_success
        start = policy.clock()
        attempts = 0
        while True:
            attempts += 1
            response: Response | None = None
            retry_after: float | None = None
            try:
                response = await self._attempt(req)
            except (TimeoutError, RedirectRefused, httpx.HTTPError, httpx.InvalidURL, *NETWORK_ERRORS) as exc:
                cls = classify_exception(exc)
                detail = str(exc) or type(exc).__name__
            else:
                if accept(response.status):
                    verdict: OutcomeVerdict = "delivered" if is_success(response.status) else "expected"
                    return Outcome(
                        verdict,
                        attempts,
                        response,
                        status=response.status,
                        elapsed=policy.clock() - start,
                    )
                cls = classify_status(response.status, self.errors_table)
                detail = ""
                retry_after = parse_retry_after(response.headers.get("retry-after"), policy.wall_clock())
            elapsed = policy.clock() - start
            delay = policy.next_delay(attempts, elapsed, retry_after) if cls.retryable else None
            if delay is None:
                return self._failed(cls, detail, attempts, response, elapsed)
            await policy.sleep(delay)

    def _failed(
        self,
        cls: Classification,
        detail: str,
        attempts: int,
        response: Response | None,
        elapsed: float,
    ) -> Outcome:
        message = cls.reason + (f": {detail}" if detail and detail != cls.reason else "")
        if response is not None and response.truncated:
            message += f" (answer cut at {self.max_response_bytes} bytes, the rest not read)"
        if cls.retryable:
            if attempts >= self.policy.attempts:
                message += f" (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
            else:
                message += f" (retry deadline of {self.policy.deadline:g}s reached after {attempts} attempts)"
        excerpt = response.excerpt(self.masker) if response is not None and response.text else None
        return Outcome(
            "failed",
            attempts,
            response,
            status=response.status if response is not None else None,
            error=self.masker.mask_text(message),
            hint=self.masker.mask_text(cls.hint) if cls.hint else None,
            retryable=cls.retryable,
            reason=self.masker.mask_text(cls.reason),
            response_excerpt=excerpt,
            elapsed=elapsed,
        )


def _truncated(status: int, items: Any, content: bytes) -> Response:
    """The answer of a body longer than the limit: its first bytes as text, no JSON, `truncated` set."""
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(status, headers, content.decode("utf-8", "replace"), None, truncated=True)


def _response_from(status: int, items: Any, content: bytes) -> Response:
    """`Response.from_httpx`'s result, from a direct answer (aiohttp's or the lean client's): lower-case
    names, repeats joined, the text in the declared charset (else UTF-8; no detection), `json` when the
    body is JSON."""
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    data = None
    if content and not content.isspace():
        parsed = _decode_json(content)
        data = None if parsed is UNDEFINED else parsed
    charset = None
    content_type = headers.get("content-type")
    if content_type is not None and "charset" in content_type.lower():
        charset = _declared_charset(content_type)
    text = content.decode(charset or "utf-8", "replace")
    return Response(status, headers, text, data)


def _declared_charset(content_type: str) -> str | None:
    """The charset of a Content-Type value as httpx reads it (None when absent or unknown)."""
    import codecs
    from email.message import Message

    msg = Message()
    msg["content-type"] = content_type
    charset = msg.get_content_charset(None)
    if charset is None:
        return None
    try:
        codecs.lookup(charset)
    except LookupError:
        return None
    return charset
