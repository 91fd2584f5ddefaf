"""Batch requests: grouping by batch keys and count, the byte limit, per-item verdicts from a multi-status
body, `engine plan --batch`, `engine send` batching, and the located checks of `engine validate`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from emulators import serve_in_thread
from emulators.server import read_body

from engine.cli import main
from engine.delivery.client import Deliverer
from engine.delivery.retry import RetryPolicy
from engine.runtime.batching import deliver_events, plan_batches
from engine.runtime.destination import compile_document, load_destination
from engine.secrets import Masker
from engine.spec.loader import load_text

SPEC = Path(__file__).resolve().parents[2] / "examples" / "batchy.yaml"
SETTINGS = {"apiKey": "batchy-secret-key"}


def _event(i: int, region: str = "eu", **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": f"u{i}", "event": "Clicked", "properties": {"n": i},
            "context": {"region": region}, **extra}


def _dest_with(mapping: dict[str, Any] | None = None, batch_changes: dict[str, Any] | None = None) -> Any:
    text = SPEC.read_text()
    dest = load_destination(SPEC)
    if not mapping and not batch_changes:
        return dest, dest.subscriptions()
    if batch_changes:
        for key, value in batch_changes.items():
            text = text.replace(f"      {key}: ", f"      {key}: {value}  # was: ", 1)
        dest = compile_document(load_text(text, "batchy.yaml"))
    return dest, dest.subscriptions("track", mapping) if mapping else dest.subscriptions()


def test_payloads_are_grouped_by_batch_key_and_keep_their_verdict_slots() -> None:
    dest, subs = _dest_with()
    events = [_event(i, "us" if i % 3 == 0 else "eu") for i in range(7)]
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert [[item.event for item in b.items] for b in plan.batches] == [[0, 3, 6], [1, 2, 4, 5]]
    body = plan.batches[0].request.json
    assert [p["userId"] for p in body["events"]] == ["u0", "u3", "u6"]
    assert plan.batches[0].request.url == "https://api.batchy.test/v1/batch"
    assert plan.singles == []


def test_count_field_lowers_the_count_per_instance() -> None:
    dest, subs = _dest_with(mapping={"batch_size": 2})
    plan = plan_batches(dest, [_event(i) for i in range(5)], SETTINGS, subs)
    assert [len(b.items) for b in plan.batches] == [2, 2, 1]


def test_max_count_caps_a_larger_count_field() -> None:
    dest, subs = _dest_with(mapping={"batch_size": 500})  # max_count is 50
    plan = plan_batches(dest, [_event(i) for i in range(120)], SETTINGS, subs)
    assert [len(b.items) for b in plan.batches] == [50, 50, 20]


def test_enabled_field_false_sends_one_by_one() -> None:
    dest, subs = _dest_with(mapping={"enable_batching": False})
    plan = plan_batches(dest, [_event(i) for i in range(3)], SETTINGS, subs)
    assert plan.batches == [] and [s.event for s in plan.singles] == [0, 1, 2]


def test_a_request_over_max_bytes_is_split_and_never_sent_oversized() -> None:
    dest, subs = _dest_with()
    events = [_event(i, properties={"text": "x" * 3000}) for i in range(12)]
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert len(plan.batches) > 1
    assert all(len(b.request.body) <= 20000 for b in plan.batches)
    assert sorted(i.event for b in plan.batches for i in b.items) == list(range(12))


def test_a_payload_alone_over_max_bytes_fails_alone() -> None:
    dest, subs = _dest_with()
    events = [_event(0), _event(1, properties={"text": "x" * 30000}), _event(2)]
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert [[i.event for i in b.items] for b in plan.batches] == [[0, 2]]
    [verdict] = plan.verdicts[1]
    assert verdict.status == "invalid" and "max_bytes of 20000" in verdict.error


def test_an_invalid_payload_fails_alone_not_the_batch() -> None:
    dest, subs = _dest_with()
    events = [_event(0), {"type": "track", "event": "No user"}, _event(2)]
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert [[i.event for i in b.items] for b in plan.batches] == [[0, 2]]
    assert plan.verdicts[1][0].status == "invalid" and "'userId'" in plan.verdicts[1][0].error


def _deliver(events: list[dict[str, Any]], handler: Any, subs: Any = None, dest: Any = None) -> list[list[Any]]:
    if dest is None:
        dest, subs = _dest_with()

    async def run() -> list[list[Any]]:
        async with Deliverer(httpx.MockTransport(handler), RetryPolicy(attempts=2, base=0, cap=0),
                             masker=Masker(["batchy-secret-key"])) as deliverer:
            return await deliver_events(dest, events, SETTINGS, subs, deliverer)

    return asyncio.run(run())


def test_multi_status_body_fails_only_the_items_it_names() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"errors": [{"index": 1, "message": "bad user", "status": 400},
                                                    {"index": 2, "message": "busy", "status": 503},
                                                    {"index": 99, "message": "out of range"}]})

    verdicts = _deliver([_event(i) for i in range(4)], handler)
    assert len(seen) == 1 and len(seen[0]["events"]) == 4
    assert [v[0].status for v in verdicts] == ["delivered", "failed", "failed", "delivered"]
    assert "bad user" in verdicts[1][0].error and not verdicts[1][0].retryable
    assert verdicts[2][0].retryable  # a 503 item may be tried again later; the others are done


def test_a_refused_batch_fails_every_item_with_the_request_verdict() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "nope batchy-secret-key"})

    verdicts = _deliver([_event(i) for i in range(3)], handler)
    assert [v[0].status for v in verdicts] == ["failed"] * 3
    assert all("batchy-secret-key" not in (v[0].response_excerpt or "") for v in verdicts)


def test_singles_and_filtered_events_keep_their_own_verdicts() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={})

    events = [_event(0), {"type": "identify", "userId": "x"}, _event(2)]
    verdicts = _deliver(events, handler)
    assert [v[0].status for v in verdicts] == ["delivered", "filtered", "delivered"]
    assert paths == ["/v1/batch"]
    dest, subs = _dest_with(mapping={"enable_batching": False})
    paths.clear()
    verdicts = _deliver(events, handler, subs, dest)
    assert sorted(paths) == ["/v1/track", "/v1/track"]


def test_plan_batch_shows_what_n_events_become(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(_event(i, "us" if i < 2 else "eu")) + "\n" for i in range(5)))
    code = main(["plan", str(SPEC), "--settings", json.dumps(SETTINGS), "--batch", "4", str(events)])
    out = capsys.readouterr().out
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["events"] for line in lines] == [4, 1]
    assert [r["items"] for r in lines[0]["requests"]] == [[0, 1], [2, 3]]
    assert lines[0]["requests"][0]["request"]["headers"]["Authorization"] == "Bearer ****"
    assert "batchy-secret-key" not in out


class _BatchSink:
    """A tiny ASGI app answering 200 and recording request bodies by path."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        self.bodies.append((scope["path"], orjson.loads(body) if body else None))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize("flags, requests", [([], 3), (["--no-batch"], 120)])
def test_send_batches_unless_told_not_to(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                         requests: int) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(_event(i)) + "\n" for i in range(120)))
    report = tmp_path / "report.jsonl"
    sink = _BatchSink()
    with serve_in_thread(sink) as server:
        code = main(["send", str(SPEC), "--settings", json.dumps(SETTINGS), "--route",
                     f"api.batchy.test={server.base_url}", "--report", str(report), "--no-progress",
                     "--concurrency", "1", *flags, str(events)])
    assert code == 0, capsys.readouterr().err
    assert len(sink.bodies) == requests
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert len({line["input"] for line in lines}) == len(lines) == 120  # one line per event
    assert all(line["verdicts"][0]["status"] == "delivered" for line in lines)
    if not flags:
        assert sorted(len(body["events"]) for _, body in sink.bodies) == [20, 50, 50]


BAD = """\
spec_version: 1
name: Bad
slug: bad
mode: cloud
settings: {}
actions:
  track:
    title: Track
    fields:
      userId: {label: User, type: string}
      size: {label: Size, type: string}
    request: {method: POST, url: https://api.bad.test/one}
    batch:
      request:
        method: POST
        url: "https://{{ payloads[0].userId }}.bad.test/many"
        json: {who: "{{ payload.userId }}"}
      max_count: 10
      count_field: size
      enabled_field: nope
      keys: [userid]
"""


def test_validate_locates_batch_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    code = main(["validate", str(spec)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code != 0
    assert "bad.yaml:16:14" in text and "host depends on payloads" in text
    assert "bad.yaml:17:" in text and "reads 'payloads'" in text
    assert "bad.yaml:19:" in text and "field 'size' must be of type integer or number" in text
    assert "bad.yaml:20:" in text and "'nope' is not a field of action 'track'" in text
    assert "bad.yaml:21:" in text and "batch key 'userid' is not a field" in text


CASES = """\
- name: three events become one batch request; the item the body names fails alone
  settings: {apiKey: k}
  events:
    - {type: track, userId: u1, event: A}
    - {type: track, userId: u2, event: B}
    - {type: track, event: no user}
    - {type: track, userId: u3, event: C}
  responses:
    - {method: POST, url: "https://api.batchy.test/v1/batch", status: 200, json: {errors: [{index: 1, message: dup}]}}
  expect:
    requests:
      - method: POST
        url: https://api.batchy.test/v1/batch
        body: {events: [{userId: u1, event: A, enable_batching: true, batch_size: 100},
                        {userId: u2, event: B, enable_batching: true, batch_size: 100},
                        {userId: u3, event: C, enable_batching: true, batch_size: 100}]}
    status: [delivered, failed, invalid, delivered]
    error: "item 1 of the batch was refused: dup"
"""


def test_fixtures_can_test_batches(tmp_path: Path) -> None:
    from engine.authoring.fixtures import run_spec

    spec = tmp_path / "batchy.yaml"
    spec.write_text(SPEC.read_text())
    (tmp_path / "batchy.tests.yaml").write_text(CASES)
    report = run_spec(spec)
    assert (report.passed, report.failed) == (1, 0), "\n".join(report.lines)
    # a wrong expectation is caught: the batch answer failing nothing would give four verdicts but one failure less
    (tmp_path / "batchy.tests.yaml").write_text(CASES.replace("index: 1,", "index: 7,"))
    report = run_spec(spec)
    assert (report.passed, report.failed) == (0, 1)


def test_docs_page_says_how_an_action_batches() -> None:
    from engine.authoring.docs import page_for

    page = page_for(SPEC)
    assert ("Sends up to 50 events per request (at most 20,000 bytes). **Batch Size** lowers the count. Turning "
            "**Batch** off sends one request per event. Events with different **Region** go in separate requests. "
            "The answer says which events were refused; only those fail.") in page


def test_the_schema_requires_a_count_and_knows_the_batch_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "batchy.yaml"
    spec.write_text(SPEC.read_text().replace("      max_count: 50\n", "      max_cuont: 50\n"))
    assert main(["validate", str(spec)]) != 0
    text = capsys.readouterr().out
    assert "actions.track.batch" in text and "max_count" in text and "max_cuont" in text


def test_batched_payloads_are_validated_as_segment_validates_a_batch() -> None:
    # Segment's executeBatch keeps a top-level "" (a single event's validation drops it, so a required field
    # given as "" is missing); with batching off the single rule applies
    dest, subs = _dest_with()
    events = [_event(0), _event(1, event="")]
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert [[item.event for item in b.items] for b in plan.batches] == [[0, 1]]
    assert plan.batches[0].request.json["events"][1]["event"] == ""
    dest, subs = _dest_with(mapping={"enable_batching": False})
    plan = plan_batches(dest, events, SETTINGS, subs)
    assert [s.event for s in plan.singles] == [0]
    assert plan.verdicts[1][0].status.value == "invalid"
    assert "required field 'event'" in plan.verdicts[1][0].error
