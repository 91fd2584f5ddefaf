from __future__ import annotations

from email.utils import formatdate

import aiohttp
import httpx
import pytest

from engine.delivery.retry import (
    ErrorRule,
    RetryPolicy,
    classify_exception,
    classify_status,
    parse_errors_table,
    parse_retry_after,
)


@pytest.mark.parametrize("status", [408, 423, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status):
    verdict = classify_status(status)
    assert verdict.retryable
    assert verdict.reason.startswith(f"HTTP {status}")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 501])
def test_client_errors_and_501_are_not_retryable(status):
    assert not classify_status(status).retryable


def test_errors_table_adds_hint_and_overrides_retry_both_ways():
    table = parse_errors_table(
        {
            403: {"message": "Key revoked.", "retry": False},
            "409": {"message": "Conflict, try later", "retry": True},
            503: {"message": "Maintenance.", "retry": False},
            500: {"message": "Only a hint."},
        }
    )
    assert table[409] == ErrorRule("Conflict, try later", True)
    forbidden = classify_status(403, table)
    assert (forbidden.retryable, forbidden.hint) == (False, "Key revoked.")
    assert classify_status(409, table).retryable
    assert not classify_status(503, table).retryable
    hinted = classify_status(500, table)
    assert (hinted.retryable, hinted.hint) == (True, "Only a hint.")
    assert classify_status(404, table).hint is None


def test_errors_table_rejects_nonsense():
    with pytest.raises(ValueError):
        parse_errors_table({403: 12})


@pytest.mark.parametrize(
    ("exc", "retryable", "reason"),
    [
        (httpx.ConnectError("refused"), True, "network error"),
        (httpx.ReadError("reset"), True, "network error"),
        (httpx.RemoteProtocolError("eof"), True, "network error"),
        (httpx.ReadTimeout("slow"), True, "timeout"),
        (httpx.ConnectTimeout("slow"), True, "timeout"),
        (TimeoutError(), True, "timeout"),
        (ConnectionResetError(), True, "network error"),
        (aiohttp.ServerDisconnectedError(), True, "network error"),
        (aiohttp.ClientPayloadError("truncated"), True, "network error"),
        (httpx.UnsupportedProtocol("ftp"), False, "invalid url"),
        (httpx.InvalidURL("bad"), False, "invalid url"),
    ],
)
def test_exception_classification(exc, retryable, reason):
    verdict = classify_exception(exc)
    assert (verdict.retryable, verdict.reason) == (retryable, reason)


def test_retry_after_delta_seconds():
    assert parse_retry_after("7", now=0) == 7.0
    assert parse_retry_after(" 1.5 ", now=0) == 1.5
    assert parse_retry_after("-3", now=0) == 0.0
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("nan", now=0) is None


def test_retry_after_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 42, usegmt=True), now=now) == pytest.approx(42)
    assert parse_retry_after(formatdate(now - 42, usegmt=True), now=now) == 0.0


def test_full_jitter_backoff_grows_then_caps():
    top = RetryPolicy(base=0.5, cap=3.0, rand=lambda: 1.0)
    assert [top.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    half = RetryPolicy(base=0.5, cap=3.0, rand=lambda: 0.5)
    assert [half.backoff(n) for n in range(1, 4)] == [0.25, 0.5, 1.0]
    assert RetryPolicy(rand=lambda: 0.0).backoff(3) == 0.0


def test_next_delay_stops_on_attempts_and_deadline():
    policy = RetryPolicy(attempts=3, base=1.0, cap=30.0, deadline=10.0, rand=lambda: 1.0)
    assert policy.next_delay(1, elapsed=0.0) == 1.0
    assert policy.next_delay(3, elapsed=0.0) is None
    assert policy.next_delay(2, elapsed=9.5) == 0.5  # backoff cut to the time left
    assert policy.next_delay(1, elapsed=10.0) is None


def test_next_delay_retry_after_capped_by_cap_and_deadline():
    policy = RetryPolicy(attempts=5, cap=30.0, deadline=120.0)
    assert policy.next_delay(1, elapsed=0.0, retry_after=4.0) == 4.0
    assert policy.next_delay(1, elapsed=0.0, retry_after=3600.0) == 30.0
    # Retry-After beyond the deadline: no point waiting only to be refused again.
    assert policy.next_delay(1, elapsed=100.0, retry_after=25.0) is None


def test_policy_validates():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(cap=-1)
