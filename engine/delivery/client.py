"""`Deliverer`: sends `PreparedRequest`s for one destination, with retries, and says how it went."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

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
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=self._timeout(None),
            follow_redirects=follow_redirects,
            headers={"user-agent": USER_AGENT},
        )
        route = getattr(transport, "direct_route", None)
        self._direct_route: Callable[[httpx.URL], Any] | None = route if aiohttp is not None else None
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
        url = req.url
        if self._direct_route is not None and url.isascii() and url.isprintable() and " " not in url:
            match = _ORIGIN.match(url)
            if match is not None:
                direct = self._direct_for(match.group())
                if direct is not None:
                    return await self._send_direct(direct, req, match.end())
        return Response.from_httpx(await self._send_httpx(req))

    async def _send_httpx(self, req: PreparedRequest) -> httpx.Response:
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
        async with self._semaphore:
            return await self.client.send(request)

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
        session = direct.transport.session()
        async with self._semaphore:
            try:
                raw = await session.request(method, url, headers=headers, data=body or None,
                                            timeout=self._client_timeout(req.timeout), allow_redirects=False)
            except aiohttp.InvalidURL as exc:
                raise httpx.InvalidURL(str(exc) or f"invalid URL {req.url!r}") from exc
            except ValueError as exc:  # a header aiohttp refuses to write (httpx: LocalProtocolError)
                raise httpx.LocalProtocolError(str(exc)) from exc
            try:
                content = await raw.read()
            finally:
                raw.release()
            if raw.status in _REDIRECTS and self.follow_redirects and "Location" in raw.headers:
                return await self._follow_redirect(req, method, headers, body, raw, content)
        return _response_from_aiohttp(raw, content)

    async def _follow_redirect(self, req: PreparedRequest, method: str, headers: Mapping[str, str],
                               body: bytes | None, raw: Any, content: bytes) -> Response:
        """A redirect answered on the direct path: httpx builds the next request exactly as it would
        have (method change, dropped body and credentials across origins) and follows the rest.
        Called with the semaphore held, as `client.send` is on the httpx path."""
        request = self.client.build_request(method, req.url, headers=headers, content=body,
                                            timeout=self._timeout(req.timeout))
        answer = httpx.Response(raw.status, headers=list(raw.raw_headers), request=request)
        next_request = self.client._build_redirect_request(request, answer)
        return Response.from_httpx(await self.client.send(next_request))

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
            except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, *NETWORK_ERRORS) as exc:
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


def _response_from_aiohttp(raw: Any, content: bytes) -> Response:
    """`Response.from_httpx`'s result, from an aiohttp response: lower-case names, repeats joined,
    the text in the declared charset (else UTF-8; no detection), `json` when the body is JSON."""
    headers: dict[str, str] = {}
    for name, value in raw.headers.items():
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
    return Response(raw.status, headers, text, data)


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
