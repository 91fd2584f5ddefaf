from __future__ import annotations

import httpx

from engine.delivery import Outcome, PreparedRequest, Response, Summary, Verdict, VerdictStatus
from engine.delivery.verdicts import DELIVERED, FAILED, FILTERED, INVALID
from engine.jsvalues import UNDEFINED
from engine.secrets import Masker

SECRET = "pw-0123456789"


def test_to_display_shows_json_body_as_data_and_masks_everything():
    req = PreparedRequest.from_json(
        "post",
        f"https://api.example.com/x?key={SECRET}",
        {"user": "u1", "token": SECRET, "n": None},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    shown = req.to_display(Masker([SECRET]))
    assert shown == {
        "method": "POST",
        "url": "https://api.example.com/x?key=****",
        "headers": {"Authorization": "Bearer ****", "content-type": "application/json"},
        "body": {"user": "u1", "token": "****", "n": None},
    }
    assert SECRET not in repr(shown)


def test_to_display_parses_json_bytes_keeps_text_and_none():
    as_bytes = PreparedRequest("POST", "https://a.example/", {}, body=b'{"a":1}')
    assert as_bytes.to_display()["body"] == {"a": 1}
    form = PreparedRequest("POST", "https://a.example/", {}, body=f"a=1&key={SECRET}".encode())
    assert form.to_display(Masker([SECRET]))["body"] == "a=1&key=****"
    assert PreparedRequest("GET", "https://a.example/", {}).to_display()["body"] is None
    assert PreparedRequest("POST", "https://a.example/", {}, json=None).to_display()["body"] is None


def test_json_body_is_encoded_when_only_data_is_given():
    req = PreparedRequest("POST", "https://a.example/", {}, json={"a": [1, "é"]})
    assert req.wire_body() == '{"a":[1,"é"]}'.encode()
    assert req.wire_headers() == {"content-type": "application/json"}
    assert PreparedRequest("POST", "https://a.example/", {}, json=None).wire_body() == b"null"
    assert PreparedRequest("GET", "https://a.example/", {}).json is UNDEFINED
    kept = PreparedRequest.from_json("POST", "https://a.example/", [], headers={"Content-Type": "application/vnd+json"})
    assert kept.wire_headers() == {"Content-Type": "application/vnd+json"}


def test_response_from_httpx():
    raw = httpx.Response(
        201,
        headers=[("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
        content=b'{"id": 5}',
    )
    res = Response.from_httpx(raw)
    assert (res.status, res.json, res.text) == (201, {"id": 5}, '{"id": 5}')
    assert res.headers["set-cookie"] == "a=1, b=2" and res.headers["content-type"] == "application/json"
    assert res.to_context() == {"status": 201, "headers": res.headers, "json": {"id": 5}, "text": '{"id": 5}'}
    plain = Response.from_httpx(httpx.Response(200, text="OK"))
    assert (plain.json, plain.text) == (None, "OK")
    assert Response.from_httpx(httpx.Response(204)).json is None


def test_excerpt_masks_before_cutting_and_collapses_whitespace():
    res = Response(500, {}, "x" * 10 + SECRET + "\n\n  tail " + "y" * 600)
    excerpt = res.excerpt(Masker([SECRET]), limit=40)
    assert excerpt.startswith("x" * 10 + "**** tail ") and len(excerpt) == 40 and excerpt.endswith("…")


def failed(reason: str, action: str, hint: str | None = None) -> Verdict:
    return Verdict(FAILED, action, "Preset", error=f"{reason} (gave up after 5 attempts)", hint=hint,
                   attempts=5, response_excerpt='{"e":1}', reason=reason)


def test_summary_counts_and_groups_failures_by_reason():
    summary = Summary()
    summary.extend(
        [
            Verdict(DELIVERED, "track", attempts=1),
            Verdict(DELIVERED, "identify", attempts=2),
            Verdict(FILTERED, reason="no subscription matched"),
            Verdict(INVALID, "identify", error="userId is required", reason="userId is required"),
            failed("HTTP 503 Service Unavailable", "track"),
            failed("HTTP 503 Service Unavailable", "track"),
            failed("HTTP 403 Forbidden", "identify", hint="The key was revoked."),
        ]
    )
    assert summary.total == 7 and summary.has_failures
    assert dict(summary.counts) == {DELIVERED: 2, FILTERED: 1, INVALID: 1, FAILED: 3}
    groups = summary.failure_groups()
    assert [(g.status, g.reason, g.count) for g in groups] == [
        (FAILED, "HTTP 503 Service Unavailable", 2),
        (FAILED, "HTTP 403 Forbidden", 1),
        (INVALID, "userId is required", 1),
    ]
    text = summary.render_text()
    assert text.splitlines()[0] == "7 events: 2 delivered, 1 filtered, 1 invalid, 3 failed"
    summary.events = 5  # two events matched two actions each
    assert summary.render_text().splitlines()[0] == "5 events, 7 results: 2 delivered, 1 filtered, 1 invalid, 3 failed"
    assert "failed ×2: HTTP 503 Service Unavailable [track ×2]" in text
    assert "hint: The key was revoked." in text
    data = summary.to_json()
    assert data["counts"] == {"delivered": 2, "filtered": 1, "invalid": 1, "failed": 3}
    assert data["failures"][0]["actions"] == {"track": 2}


def test_clean_run_has_no_failures():
    summary = Summary()
    summary.add(Verdict(DELIVERED, "track"))
    assert not summary.has_failures and summary.render_text() == "1 event: 1 delivered, 0 filtered, 0 invalid, 0 failed"


def test_verdict_from_outcome():
    ok = Verdict.from_outcome(Outcome("expected", 1, status=404), action="a")
    assert ok.status is VerdictStatus.DELIVERED and ok.attempts == 1
    bad = Outcome("failed", 3, status=500, error="HTTP 500", hint="h", retryable=True, reason="HTTP 500",
                  response_excerpt="oops")
    verdict = Verdict.from_outcome(bad, action="a", preset="P", step="lookup")
    assert verdict.to_json() == {
        "status": "failed",
        "action": "a",
        "preset": "P",
        "error": "step lookup: HTTP 500",
        "hint": "h",
        "response_excerpt": "oops",
        "reason": "HTTP 500",
        "attempts": 3,
    }
    masked = Verdict(FAILED, error=f"bad {SECRET}", reason=SECRET).masked(Masker([SECRET]))
    assert SECRET not in repr(masked)


def test_integers_beyond_64_bits_are_encoded_exactly() -> None:
    from engine.delivery.models import encode_json

    assert encode_json({"n": 18446744073709551616, "s": "é"}) == '{"n":18446744073709551616,"s":"é"}'.encode()
    assert encode_json({"n": -9223372036854775809}) == b'{"n":-9223372036854775809}'
