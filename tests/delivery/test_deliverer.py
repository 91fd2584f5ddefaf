from __future__ import annotations

import asyncio
import base64
from email.utils import formatdate

import httpx
import pytest

from engine.delivery import Deliverer, PreparedRequest, RetryPolicy, Summary, Verdict
from engine.secrets import Masker

URL = "https://api.example.com/v1/track"


class Script:
    """A MockTransport handler answering from a list of statuses/exceptions, then 200."""

    def __init__(self, *steps, headers=None, body=b'{"ok":true}'):
        self.steps = list(steps)
        self.headers = headers or {}
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if self.steps else 200
        if isinstance(step, BaseException):
            raise step
        headers = self.headers if step != 200 else {}
        return httpx.Response(step, headers=headers, content=self.body)


def deliver(handler, policy, req=None, expect=None, **kwargs):
    async def run():
        async with Deliverer(httpx.MockTransport(handler), policy, **kwargs) as d:
            return await d.send(req or PreparedRequest.from_json("POST", URL, {"a": 1}), expect=expect)

    return asyncio.run(run())


@pytest.mark.parametrize("status", [408, 423, 429, 500, 503])
def test_retryable_status_is_retried_with_backoff(clock, status):
    script = Script(status, status)
    outcome = deliver(script, clock.policy(rand=0.5, base=1.0))
    assert outcome.verdict == "delivered" and outcome.ok
    assert outcome.attempts == 3 and len(script.requests) == 3
    assert clock.sleeps == [0.5, 1.0]  # full jitter draw 0.5 of 1*2**0, 1*2**1
    assert outcome.response.json == {"ok": True}


@pytest.mark.parametrize(
    "exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")]
)
def test_network_errors_and_timeouts_are_retried(clock, exc):
    outcome = deliver(Script(exc), clock.policy())
    assert (outcome.verdict, outcome.attempts) == ("delivered", 2)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_honoured(clock, status):
    outcome = deliver(Script(status, headers={"Retry-After": "7"}), clock.policy())
    assert outcome.ok and clock.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(clock):
    when = formatdate(clock.wall() + 12, usegmt=True)
    outcome = deliver(Script(503, headers={"Retry-After": when}), clock.policy())
    assert outcome.ok and clock.sleeps == [pytest.approx(12.0)]


def test_retry_after_is_capped(clock):
    outcome = deliver(Script(429, headers={"Retry-After": "3600"}), clock.policy(cap=30.0))
    assert outcome.ok and clock.sleeps == [30.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_client_errors_are_not_retried(clock, status):
    script = Script(status, body=b'{"error":"nope"}')
    outcome = deliver(script, clock.policy())
    assert outcome.verdict == "failed" and not outcome.ok
    assert outcome.attempts == 1 and len(script.requests) == 1 and clock.sleeps == []
    assert not outcome.retryable
    assert outcome.status == status and outcome.reason.startswith(f"HTTP {status}")
    assert outcome.response_excerpt == '{"error":"nope"}'


def test_gives_up_after_the_attempt_budget(clock):
    outcome = deliver(Script(*[503] * 10), clock.policy(attempts=4))
    assert outcome.verdict == "failed" and outcome.retryable
    assert outcome.attempts == 4 and len(clock.sleeps) == 3
    assert "gave up after 4 attempts" in outcome.error


def test_deadline_cuts_retries(clock):
    # base 4, rand 1: waits would be 4, 8, 16 ...; a 10 s deadline allows 4 then 6 (cut), then stops.
    script = Script(*[500] * 10)
    outcome = deliver(script, clock.policy(rand=1.0, base=4.0, attempts=10, deadline=10.0))
    assert clock.sleeps == [4.0, 6.0]
    assert outcome.attempts == 3 and len(script.requests) == 3
    assert outcome.verdict == "failed" and "deadline" in outcome.error


def test_retry_after_past_the_deadline_stops_at_once(clock):
    outcome = deliver(Script(429, headers={"Retry-After": "90"}), clock.policy(cap=300.0, deadline=60.0))
    assert outcome.verdict == "failed" and outcome.attempts == 1 and clock.sleeps == []


def test_expected_status_is_a_result_not_an_error(clock):
    outcome = deliver(Script(404), clock.policy(), expect=lambda s: s in (200, 404))
    assert (outcome.verdict, outcome.ok, outcome.attempts, outcome.error) == ("expected", True, 1, None)
    assert outcome.response.status == 404


def test_expected_retryable_status_is_not_retried(clock):
    outcome = deliver(Script(503), clock.policy(), expect=lambda s: s == 503)
    assert outcome.verdict == "expected" and outcome.attempts == 1 and clock.sleeps == []


def test_a_2xx_outside_expect_fails(clock):
    outcome = deliver(Script(201), clock.policy(), expect=lambda s: s == 200)
    assert outcome.verdict == "failed" and outcome.attempts == 1


def test_errors_table_hint_and_override(clock):
    table = {403: {"message": "The key was revoked.", "retry": False}, 400: {"retry": True}}
    outcome = deliver(Script(403), clock.policy(), errors_table=table)
    assert outcome.hint == "The key was revoked." and outcome.attempts == 1
    outcome = deliver(Script(400, 400), clock.policy(), errors_table=table)
    assert outcome.ok and outcome.attempts == 3


def test_errors_table_can_stop_a_default_retry(clock):
    outcome = deliver(Script(503), clock.policy(), errors_table={503: {"message": "Down", "retry": False}})
    assert outcome.attempts == 1 and not outcome.retryable and outcome.hint == "Down"


def test_request_is_sent_as_prepared_with_timeouts(clock):
    script = Script()
    req = PreparedRequest("put", URL + "?q=1", {"X-Key": "v"}, json={"a": [1, None]}, timeout=3.0)
    deliver(script, clock.policy(), req=req, default_timeout=10.0, connect_timeout=2.0)
    sent = script.requests[0]
    assert sent.method == "PUT" and str(sent.url) == URL + "?q=1"
    assert sent.headers["x-key"] == "v" and sent.headers["content-type"] == "application/json"
    assert sent.content == b'{"a":[1,null]}'
    assert sent.extensions["timeout"] == {"connect": 2.0, "read": 3.0, "write": 3.0, "pool": 3.0}


def test_default_timeout_applies(clock):
    script = Script()
    deliver(script, clock.policy(), default_timeout=4.0)
    assert script.requests[0].extensions["timeout"]["read"] == 4.0


def test_invalid_url_fails_without_retry(clock):
    script = Script()
    for url in ("ftp://example.com/x", "https://", "not a url"):
        outcome = deliver(script, clock.policy(), req=PreparedRequest("GET", url, {}))
        assert outcome.verdict == "failed" and outcome.attempts == 1 and outcome.reason == "invalid url", url
    assert script.requests == [] and clock.sleeps == []


SECRET = "hunter2-super-secret"


def test_secret_never_leaks_into_outcome_verdict_summary_or_display(clock):
    basic = base64.b64encode(f"user:{SECRET}".encode()).decode()
    url = f"https://api.example.com/v1/x?api_key={SECRET}"

    def handler(request: httpx.Request) -> httpx.Response:
        if len(calls) == 0:
            calls.append(1)
            raise httpx.ConnectError(f"cannot connect to {request.url} with {SECRET}")
        echo = f'{{"error":"bad key {SECRET}","auth":"{request.headers["authorization"]}"}}'
        return httpx.Response(401, text=echo)

    calls: list[int] = []
    masker = Masker([SECRET])
    req = PreparedRequest.from_json("POST", url, {"key": SECRET}, headers={"Authorization": f"Basic {basic}"})
    table = {401: {"message": f"check the key {SECRET}", "retry": False}}
    outcome = deliver(handler, clock.policy(), req=req, masker=masker, errors_table=table)
    assert outcome.verdict == "failed" and outcome.attempts == 2
    verdict = Verdict.from_outcome(outcome, action="track", preset="Track")
    summary = Summary()
    summary.add(verdict)
    texts = [
        repr(outcome),
        outcome.error,
        outcome.hint,
        outcome.response_excerpt,
        repr(verdict),
        repr(verdict.to_json()),
        summary.render_text(),
        repr(summary.to_json()),
        repr(req.to_display(masker)),
    ]
    for text in texts:
        assert SECRET not in text and basic not in text, text
    assert "****" in outcome.response_excerpt and "****" in outcome.hint
    # The raw response stays intact for later steps.
    assert SECRET in outcome.response.text

    # A network failure's message is masked too.
    only_errors = deliver(
        lambda r: (_ for _ in ()).throw(httpx.ConnectError(f"refused {r.url}")),
        clock.policy(attempts=2),
        req=req,
        masker=masker,
    )
    assert only_errors.reason == "network error" and "****" in only_errors.error
    assert SECRET not in repr(only_errors)


def test_concurrency_bound_is_honoured():
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json={})

    async def run():
        async with Deliverer(httpx.MockTransport(handler), RetryPolicy(), concurrency=4) as d:
            reqs = [PreparedRequest("GET", f"{URL}/{i}", {}) for i in range(40)]
            return await asyncio.gather(*(d.send(r) for r in reqs))

    outcomes = asyncio.run(run())
    assert all(o.ok for o in outcomes) and len(outcomes) == 40
    assert peak == 4


def test_backoff_wait_does_not_hold_a_concurrency_slot():
    # With one slot, request A fails and waits on an event that only B's completion sets.
    # If A kept its slot while waiting, B could never run.
    async def run():
        done_b = asyncio.Event()

        async def sleep(_: float) -> None:
            await done_b.wait()

        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/a") and not seen_a:
                seen_a.append(1)
                return httpx.Response(503)
            return httpx.Response(200)

        seen_a: list[int] = []
        policy = RetryPolicy(sleep=sleep)
        async with Deliverer(httpx.MockTransport(handler), policy, concurrency=1) as d:
            task_a = asyncio.create_task(d.send(PreparedRequest("GET", f"{URL}/a", {})))
            await asyncio.sleep(0)
            while not seen_a:
                await asyncio.sleep(0)
            b = await d.send(PreparedRequest("GET", f"{URL}/b", {}))
            done_b.set()
            a = await asyncio.wait_for(task_a, timeout=5)
            return a, b

    a, b = asyncio.run(asyncio.wait_for(run(), timeout=10))
    assert b.ok and a.ok and a.attempts == 2
