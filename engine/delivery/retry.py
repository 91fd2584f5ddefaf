"""When to try again, and how long to wait.

Retryable: network errors, timeouts, 408, 423, 429 and every 5xx except 501. Never the
other 4xx (the request itself is wrong; sending it again changes nothing). A spec's `errors`
table (status -> {message, retry}) adds a hint and may override the retryability of a status.

Waits grow exponentially with full jitter (a uniform draw in [0, min(cap, base * 2**n)]);
a `Retry-After` header (delta seconds or HTTP-date) replaces the draw. Every wait is capped by
`cap`; a backoff wait is also cut to the time left before `deadline`, while a Retry-After wait
that would end past the deadline stops retrying at once (the server asked us not to come back
in time). When no time is left, retrying stops.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

try:  # the aiohttp transport maps most aiohttp errors to httpx ones, but not all of them
    from aiohttp import ClientError as _AiohttpClientError
except ImportError:  # pragma: no cover - aiohttp is optional
    class _AiohttpClientError(Exception):  # type: ignore[no-redef]
        pass

NETWORK_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError, OSError, _AiohttpClientError)
RETRYABLE_STATUSES = frozenset({408, 423, 429})


@dataclass(frozen=True)
class ErrorRule:
    """One entry of a spec's `errors` table."""

    message: str | None = None
    retry: bool | None = None  # None: keep the default classification


ErrorsTable = Mapping[int, ErrorRule]


def parse_errors_table(raw: Mapping[Any, Any] | None) -> dict[int, ErrorRule]:
    """`{403: {"message": ..., "retry": false}}` (keys int or numeric str) -> `{403: ErrorRule}`."""
    table: dict[int, ErrorRule] = {}
    for key, value in (raw or {}).items():
        status = int(key)
        if isinstance(value, ErrorRule):
            table[status] = value
        elif isinstance(value, str):
            table[status] = ErrorRule(message=value)
        elif isinstance(value, Mapping):
            retry = value.get("retry")
            table[status] = ErrorRule(
                message=value.get("message"), retry=None if retry is None else bool(retry)
            )
        else:
            raise ValueError(f"errors.{key}: expected an object with message/retry, got {value!r}")
    return table


@dataclass(frozen=True)
class Classification:
    """Whether a failed attempt may be retried, why it failed, and the spec's hint for it."""

    retryable: bool
    reason: str  # short, groupable: "http 429", "timeout", "network error", "invalid url"
    hint: str | None = None


def status_reason(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {status} {phrase}".rstrip()


def default_status_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUSES or (500 <= status <= 599 and status != 501)


def classify_status(status: int, errors_table: ErrorsTable | None = None) -> Classification:
    """Classify a response status that is not a success."""
    retryable = default_status_retryable(status)
    rule = (errors_table or {}).get(status)
    hint = None
    if rule is not None:
        hint = rule.message
        if rule.retry is not None:
            retryable = rule.retry
    return Classification(retryable, status_reason(status), hint)


def classify_exception(exc: BaseException) -> Classification:
    """Classify an exception raised while sending."""
    if _refused(exc):
        return Classification(True, "connection refused")
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        return Classification(True, "timeout")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return Classification(False, "invalid url")
    if isinstance(exc, httpx.LocalProtocolError):
        return Classification(False, "invalid request")
    if isinstance(exc, httpx.TooManyRedirects):
        return Classification(False, "too many redirects")
    if type(exc).__name__ == "RedirectRefused":  # engine.delivery.client (not imported here: no cycle)
        return Classification(False, "redirect refused")
    if isinstance(exc, NETWORK_ERRORS):
        return Classification(True, "network error")
    return Classification(False, type(exc).__name__)


def _refused(exc: BaseException) -> bool:
    """True when a ConnectionRefusedError is `exc` or in its causes (httpx and aiohttp wrap it)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, ConnectionRefusedError) or isinstance(getattr(current, "os_error", None),
                                                                      ConnectionRefusedError):
            return True
        if isinstance(current, OSError) and current.errno == 111:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta seconds or HTTP-date); None if unusable.

    `now` is the wall clock (epoch seconds) used for the HTTP-date form. Dates in the past give 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


@dataclass
class RetryPolicy:
    """How many attempts, how long to wait between them, and the clocks to measure with.

    `sleep`, `clock` (monotonic, for the deadline), `wall_clock` (epoch, for HTTP-date
    Retry-After) and `rand` (uniform in [0, 1)) are injectable so tests run instantly.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    deadline: float = 120.0
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    wall_clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    rand: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base < 0 or self.cap < 0 or self.deadline < 0:
            raise ValueError("base, cap and deadline must not be negative")

    @classmethod
    def no_retry(cls) -> RetryPolicy:
        return cls(attempts=1)

    def backoff(self, retry_number: int) -> float:
        """Full-jitter wait before retry number `retry_number` (1 for the first retry)."""
        ceiling = min(self.cap, self.base * (2 ** (retry_number - 1)))
        return self.rand() * ceiling

    def next_delay(self, attempts_done: int, elapsed: float, retry_after: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when no attempt is left.

        `attempts_done` attempts have been made, `elapsed` seconds since the first began.
        """
        if attempts_done >= self.attempts:
            return None
        remaining = self.deadline - elapsed
        if remaining <= 0:
            return None
        if retry_after is not None:
            wanted = min(retry_after, self.cap)
            if wanted > remaining:
                # The server asks us not to come back before the deadline: give up now.
                return None
            return max(0.0, wanted)
        return max(0.0, min(self.backoff(attempts_done), remaining))
