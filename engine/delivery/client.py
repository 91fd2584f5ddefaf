"""`Deliverer`: sends `PreparedRequest`s for one destination, with retries, and says how it went."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from engine.delivery.models import PreparedRequest, Response
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
from engine.delivery.transports import make_transport
from engine.secrets import Masker

OutcomeVerdict = Literal["delivered", "expected", "failed"]
DEFAULT_CONNECT_TIMEOUT = 5.0
USER_AGENT = "engine/0.1"


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


class Deliverer:
    """One pooled `httpx.AsyncClient` per destination, bounded concurrency, retries.

    `transport` defaults to `make_transport()`. `errors_table` is the spec's `errors` section
    (status -> {message, retry}). `default_timeout` applies to requests without `timeout`;
    the connect timeout is the smaller of it and `connect_timeout`. The semaphore is held
    during attempts only, never during backoff waits.
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
        self.client = httpx.AsyncClient(
            transport=transport if transport is not None else make_transport(max_connections=concurrency),
            timeout=self._timeout(None),
            follow_redirects=follow_redirects,
            headers={"user-agent": USER_AGENT},
        )

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        total = self.default_timeout if seconds is None else seconds
        return httpx.Timeout(total, connect=min(total, self.connect_timeout))

    async def _attempt(self, req: PreparedRequest) -> httpx.Response:
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
                raw = await self._attempt(req)
            except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, *NETWORK_ERRORS) as exc:
                cls = classify_exception(exc)
                detail = str(exc) or type(exc).__name__
            else:
                response = Response.from_httpx(raw)
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
