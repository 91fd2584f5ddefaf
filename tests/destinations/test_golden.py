"""Parity with Segment's published implementation: the engine gives the same requests and the same
accept/reject decisions as @segment/action-destinations 3.497.0 on the recorded events and batches
(tests/destinations/golden, recorded by tools/record_goldens.mjs; formats in tools/goldens/README.md).

Every `<slug>.jsonl` of the golden folder is a destination (specs/<slug>.yaml):
- single events: `engine plan`'s per-event path (`plan_event`) must give Segment's requests; an action whose
  later steps need a response (a look-up before a write) runs through the runtime instead, each request
  answered with the reply Segment's request got when it was recorded;
- batches (`<slug>.batch.jsonl`): the engine's batch planner (`plan_batches`, what `engine plan --batch`
  prints) must give Segment's performBatch requests, and delivering the batch against the recorded replies
  must give every item Segment's verdict (2xx delivered, payload validation failed -> invalid, else failed).
The spec's test_authentication and on_delete must send the requests Segment's did (meta file).
A case the engine knowingly does differently is listed in `<slug>.skips.json` ({case id: reason}, the reason
also in the spec's docs) and shows as skipped with that reason, never silently.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest

from engine.runtime import load_destination
from engine.runtime.destination import Subscription
from engine.runtime.settings import resolve_settings
from engine.secrets import Masker

GOLDEN = Path(__file__).parent / "golden"


def _slugs() -> list[str]:
    return sorted(p.name[:-len(".jsonl")] for p in GOLDEN.glob("*.jsonl") if not p.name.endswith(".batch.jsonl"))


def _skips(slug: str) -> dict[str, str]:
    path = GOLDEN / f"{slug}.skips.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _param(slug: str, case_id: str, *values: Any) -> Any:
    reason = _skips(slug).get(case_id)
    marks = [pytest.mark.skip(reason=f"divergence from Segment: {reason}")] if reason else []
    return pytest.param(slug, *values, id=case_id, marks=marks)


def _lines(path: Path) -> list[tuple[int, dict[str, Any]]]:
    return [(i, json.loads(line)) for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]


def _single_cases() -> list[Any]:
    return [_param(slug, f"{slug}-{i}", golden) for slug in _slugs() for i, golden in _lines(GOLDEN / f"{slug}.jsonl")]


def _batch_cases() -> list[Any]:
    out = []
    for slug in _slugs():
        path = GOLDEN / f"{slug}.batch.jsonl"
        if path.exists():
            out += [_param(slug, f"{slug}-batch-{golden['name']}", golden) for _, golden in _lines(path)]
    return out


_destinations: dict[str, Any] = {}


def _dest(slug: str) -> tuple[Any, dict[str, Any], list[Subscription]]:
    """The destination, the recording's settings, and its subscriptions: the spec's presets, or the recording's
    own (`meta.subscriptions`: destinations without presets, such as Webhook)."""
    if slug not in _destinations:
        from engine.trigger import compile_trigger

        meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
        dest = load_destination(slug)
        if "subscriptions" in meta:
            subs = [Subscription(s["name"], dest.actions[s["action"]], dest.actions[s["action"]].mapping_with(s["mapping"]),
                                 compile_trigger(s["subscribe"])) for s in meta["subscriptions"]]
        else:
            subs = dest.subscriptions()
        _destinations[slug] = (dest, meta["settings"], subs)
    return _destinations[slug]


def _normalised(slug: str, golden: dict[str, Any]) -> dict[str, Any]:
    """Segment's requests with the query parameters `<slug>.normalise.json` names taken out of their URLs
    (`{"drop_query": [{"name", "value", "reason"}]}`): values Segment's HTTP client adds by accident, which the
    spec knowingly does not send (the reasons are in the spec's docs too)."""
    path = GOLDEN / f"{slug}.normalise.json"
    if not path.exists():
        return golden
    drop = {(d["name"], d["value"]) for d in json.loads(path.read_text()).get("drop_query") or []}
    golden = json.loads(json.dumps(golden))
    for result in golden.get("results") or [golden]:
        for request in result.get("requests") or []:
            base, sep, query = request["url"].partition("?")
            if not sep:
                continue
            kept = [pair for pair in query.split("&")
                    if tuple(unquote_plus(part) for part in (pair.split("=", 1) + [""])[:2]) not in drop]
            request["url"] = base + ("?" + "&".join(kept) if kept else "")
    return golden


def _token(slug: str) -> str | None:
    """The OAuth2 access token the recording ran with (`meta.auth`, tools/goldens/README.md), when the spec has an
    `oauth2` section (plan renders its `auth.access_token` as ""); a spec that takes the token as a setting
    (Intercom) renders it like any setting."""
    auth = json.loads((GOLDEN / f"{slug}.meta.json").read_text()).get("auth") or {}
    if getattr(_dest(slug)[0], "oauth2", None) is None:
        return None
    return auth.get("accessToken")


_PATH = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _drop(data: Any, path: str) -> tuple[bool, Any]:
    """Remove `path` (`results[0].requests[1].body.user.id`) from `data`: (found, value)."""
    keys = [int(i) if i else k for k, i in _PATH.findall(path)]
    node = data
    for key in keys[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return False, None
    last = keys[-1]
    if isinstance(node, dict) and last in node:
        return True, node.pop(last)
    return False, None


def _without_nondeterministic(golden: dict[str, Any], ours: list[dict[str, Any]]) -> None:
    """The values the recording lists as nondeterministic (random ids, the time of recording) are dropped from both
    sides; where Segment's request has one, ours must have it too."""
    theirs = {"results": golden["results"]}
    mine = {"results": ours}
    for path in golden.get("nondeterministic") or []:
        found, _ = _drop(theirs, path)
        found_ours, _ = _drop(mine, path)
        assert found_ours or not found, f"{path}: Segment's request has it, ours does not"


def _same_request(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["method"] == want["method"]
    assert got["url"] == want["url"]
    got_headers = {k.lower(): v for k, v in (got.get("headers") or {}).items()}
    for name, value in want["headers"].items():
        assert got_headers.get(name.lower()) == value, name
    assert got["body"] == want["body"]


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _replaying(recorded: list[dict[str, Any]], sent: list[dict[str, Any]]) -> httpx.MockTransport:
    """A transport that answers each request with the reply of the recorded request it equals (method, URL and
    body), else the next unused recorded reply in order, else 200 `{}`; every request goes into `sent`."""
    used: set[int] = set()

    def handle(request: httpx.Request) -> httpx.Response:
        seen = {"method": request.method, "url": str(request.url),
                "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw},
                "body": _body(request.content)}
        sent.append(seen)
        free = [i for i in range(len(recorded)) if i not in used]
        same = [i for i in free if recorded[i]["method"] == seen["method"] and recorded[i]["url"] == seen["url"]
                and recorded[i]["body"] == seen["body"]]
        pick = same[0] if same else (free[0] if free else None)
        if pick is None:
            return httpx.Response(200, json={})
        used.add(pick)
        reply = recorded[pick].get("reply") or {"status": 200, "body": {}}
        body = reply.get("body")
        if isinstance(body, str):
            return httpx.Response(int(reply["status"]), text=body)
        return httpx.Response(int(reply["status"]), json=body if body is not None else {})

    return httpx.MockTransport(handle)


def _deliverer(dest: Any, transport: httpx.MockTransport) -> Any:
    from engine.delivery import Deliverer, RetryPolicy

    return Deliverer(transport, RetryPolicy(attempts=1), concurrency=1, errors_table=dest.spec.get("errors"))


async def _run_steps(dest: Any, sub: Any, payload: Any, settings: dict[str, Any],
                     recorded: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    from engine.runtime.deliver import run_action

    sent: list[dict[str, Any]] = []
    async with _deliverer(dest, _replaying(recorded, sent)) as deliverer:
        verdict = await run_action(dest, sub.action.runnable, payload, settings, deliverer,
                                   action=sub.action.key, preset=sub.name)
    return verdict, sent


@pytest.mark.parametrize(("slug", "golden"), _single_cases())
def test_plan_matches_segment(slug: str, golden: dict[str, Any]) -> None:
    dest, raw_settings, subs = _dest(slug)
    settings = resolve_settings(dest.settings_spec, {**raw_settings, **(golden.get("settings") or {})})
    golden = _normalised(slug, golden)
    event = golden["event"]
    results = dest.plan_event(event, settings, subs)
    ours = [r.to_json(Masker.empty()) for r in results]
    theirs = golden["results"]
    by_name = {s.name: s for s in subs}
    ran: set[int] = set()
    for index, result in enumerate(results):
        if not ours[index].get("unplanned"):
            continue
        # later steps need a response: run the action against Segment's recorded replies (of the same
        # subscription); a run the spec refuses (`fail(...)`) after its look-ups is Segment's "error"
        seg = next((r for r in theirs if r["preset"] == result.preset), {"requests": []})
        verdict, sent = asyncio.run(_run_steps(dest, by_name[result.preset], result.payload, settings,
                                               seg["requests"]))
        if verdict.status.value != "delivered":
            ours[index]["status"], ours[index]["error"] = "error", verdict.error
        ours[index]["requests"] = sent
        ran.add(index)
    assert [(r["preset"], r["action"], r["status"]) for r in ours] == \
           [(r["preset"], r["action"], r["status"]) for r in theirs]
    _without_nondeterministic(golden, ours)
    token = _token(slug)
    for index, (mine, seg) in enumerate(zip(ours, theirs, strict=True)):
        if seg["status"] in ("invalid", "error"):
            assert mine["error"] == seg["error"]
            if index not in ran:
                continue
        assert len(mine["requests"]) == len(seg["requests"])
        for got, want in zip(mine["requests"], seg["requests"], strict=True):
            if token is not None:  # `engine plan` fetches no OAuth2 token: auth.access_token renders as ""
                want = {**want, "headers": {k: v.replace(token, "") for k, v in want["headers"].items()}}
            _same_request(got, want)


def _batch_subscription(slug: str, dest: Any, golden: dict[str, Any]) -> Subscription:
    """The batch's subscription without its trigger (every event of a recorded batch matches it), its mapping with
    the batch's `mapping` overrides."""
    meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
    if "subscriptions" in meta:
        own = next(s for s in meta["subscriptions"] if s["name"] == golden["preset"])
        action, mapping = dest.actions[own["action"]], dict(own["mapping"])
    else:
        raw = next(p for p in dest.spec["presets"] if p["name"] == golden["preset"])
        action, mapping = dest.actions[raw["action"]], dict(raw.get("mapping") or {})
    mapping.update(golden.get("mapping") or {})
    return Subscription(golden["preset"], action, action.mapping_with(mapping))


def _segment_item_status(item: dict[str, Any]) -> str:
    status = item.get("status")
    if isinstance(status, int) and 200 <= status < 300:
        return "delivered"
    if item.get("errortype") == "PAYLOAD_VALIDATION_FAILED":
        return "invalid"
    return "failed"


@pytest.mark.parametrize(("slug", "golden"), _batch_cases())
def test_batch_matches_segment(slug: str, golden: dict[str, Any]) -> None:
    from engine.runtime.batching import deliver_events, plan_batches, plan_lines

    dest, raw_settings, _ = _dest(slug)
    settings = resolve_settings(dest.settings_spec, {**raw_settings, **(golden.get("settings") or {})})
    sub = _batch_subscription(slug, dest, golden)
    assert sub.action.key == golden["action"]
    assert sub.action.batch is not None, f"{golden['action']} has no batch request in specs/{slug}.yaml"
    events = golden["events"]
    masker = Masker.empty()
    token = _token(slug)
    auth = {"access_token": token} if token is not None else None
    plan = plan_lines(plan_batches(dest, events, settings, [sub], masker, auth), settings, masker)
    # the requests the batch planner makes (what `engine plan --batch N` prints) are Segment's
    assert len(plan["requests"]) == len(golden["requests"])
    for got, want in zip(plan["requests"], golden["requests"], strict=True):
        assert got["action"] == golden["action"]
        _same_request(got["request"], want)
    # delivered against Segment's replies, every item gets Segment's verdict
    sent: list[dict[str, Any]] = []

    async def deliver() -> list[list[Any]]:
        async with _deliverer(dest, _replaying(golden["requests"], sent)) as deliverer:
            if token is not None:  # the instance already holds the recording's token: no refresh request
                from engine.runtime.oauth import manager_for

                manager_for(deliverer, dest).store.put_token(dest.slug, token, time.time() + 3600)
            return await deliver_events(dest, events, settings, [sub], deliverer)

    verdicts = asyncio.run(deliver())
    ours = [v[0].status.value if v else "filtered" for v in verdicts]
    if golden["status"] != "ok":  # performBatch threw (the receiver refused the request): the whole batch failed
        assert ours == ["failed"] * len(events), golden["error"]
        return
    assert ours == [_segment_item_status(item) for item in golden["items"]]


def test_every_skip_names_a_recorded_case_and_gives_a_reason() -> None:
    ids = {p.id for p in _single_cases() + _batch_cases() + _meta_cases("actions") + _run_cases()}
    for slug in _slugs():
        for case_id, reason in _skips(slug).items():
            assert case_id in ids, f"{slug}.skips.json: no golden case {case_id}"
            assert isinstance(reason, str) and len(reason) > 20, f"{slug}.skips.json: {case_id} needs its reason"


def _meta_cases(key: str) -> list[Any]:
    out = []
    for slug in _slugs():
        meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
        for i, case in enumerate(meta.get(key) or [], 1):
            out.append(_param(slug, f"{slug}-{key}-{i}", case))
    return out


@pytest.mark.parametrize(("slug", "case"), _meta_cases("actions"))
def test_action_without_preset_matches_segment(slug: str, case: dict[str, Any]) -> None:
    """Actions no preset uses (`meta.actions`: one event run through the action on its default mapping) plan
    Segment's requests, or fail with Segment's error."""
    dest, raw_settings, _ = _dest(slug)
    settings = resolve_settings(dest.settings_spec, raw_settings)
    action = dest.actions[case["action"]]
    [result] = dest.plan_event(case["event"], settings, [Subscription(case["action"], action, action.mapping_with({}))])
    ours = result.to_json(Masker.empty())
    assert ours["status"] == case["status"], ours.get("error")
    if case["status"] != "ok":
        assert ours["error"] == case["error"]
        return
    assert len(ours["requests"]) == len(case["requests"])
    for got, want in zip(ours["requests"], case["requests"], strict=True):
        _same_request(got, want)


@pytest.mark.parametrize("slug", [s for s in _slugs() if _token(s) is not None])
def test_oauth2_token_request_matches_segment(slug: str) -> None:
    """Segment's credentials test of an OAuth2 destination is its token request: the spec's `oauth2.refresh`
    renders the same request, and reads the token from the recorded answer."""
    dest, raw_settings, _ = _dest(slug)
    settings = resolve_settings(dest.settings_spec, raw_settings)
    meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
    [want] = meta["test_authentication"]["requests"]
    request = dest.oauth2.refresh.render({"payload": {}, "settings": settings, "steps": {}}, "oauth2_refresh")
    got = {"method": request.method, "url": request.url, "headers": request.headers, "body": _body(request.body or b"")}
    _same_request(got, want)
    assert dest.oauth2.access_token({"response": {"status": 200, "json": want["reply"]["body"]}}) == _token(slug)


def _auth_test_slugs() -> list[str]:
    out = []
    for slug in _slugs():
        meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
        if "auth" not in meta and (meta.get("test_authentication") or {}).get("requests"):
            out.append(slug)
    return out


@pytest.mark.parametrize("slug", _auth_test_slugs())
def test_authentication_request_matches_segment(slug: str) -> None:
    """The spec's test_authentication plans the request(s) Segment's credentials test sends."""
    import datetime as dt

    dest, raw_settings, _ = _dest(slug)
    settings = resolve_settings(dest.settings_spec, raw_settings)
    meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
    assert dest.test_authentication is not None
    planned = dest.test_authentication.plan({"payload": {}, "settings": settings, "steps": {},
                                             "now": dt.datetime.now(dt.UTC)})
    ours = [r.to_display(Masker.empty()) for r in planned.requests]
    theirs = meta["test_authentication"]["requests"]
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        _same_request(got, want)


def _run_cases() -> list[Any]:
    """on_delete of every recording that has one, and test_authentication where the test above does not plan it: a
    recording with OAuth2 data (`meta.auth`) whose spec takes the token as a setting (Intercom). An OAuth2 spec's
    credentials test is its token request (test_oauth2_token_request_matches_segment)."""
    out = []
    for slug in _slugs():
        meta = json.loads((GOLDEN / f"{slug}.meta.json").read_text())
        kinds = ["on_delete"] if "on_delete" in meta else []
        if "auth" in meta and _token(slug) is None and "test_authentication" in meta:
            kinds.insert(0, "test_authentication")
        out += [_param(slug, f"{slug}-{kind}", kind) for kind in kinds]
    return out


@pytest.mark.parametrize(("slug", "kind"), _run_cases())
def test_auth_and_delete_run_like_segment(slug: str, kind: str) -> None:
    """The spec's on_delete (`engine delete`, user id "user-1") and test_authentication (`engine auth`), run
    against the replies Segment's requests got, send Segment's requests and succeed when Segment's did."""
    from engine.runtime.deliver import run_action

    dest, raw_settings, _ = _dest(slug)
    settings = resolve_settings(dest.settings_spec, raw_settings)
    seg = _normalised(slug, json.loads((GOLDEN / f"{slug}.meta.json").read_text())[kind])
    runnable = dest.test_authentication if kind == "test_authentication" else dest.on_delete
    if runnable is None:  # Segment's destination defines none either (its recording sent nothing)
        assert seg["requests"] == [], f"specs/{slug}.yaml has no {kind}; Segment's destination has one"
        return
    payload = {} if kind == "test_authentication" else {"userId": seg["userId"]}
    sent: list[dict[str, Any]] = []

    async def run() -> Any:
        async with _deliverer(dest, _replaying(seg["requests"], sent)) as deliverer:
            return await run_action(dest, runnable, payload, settings, deliverer, action=kind)

    verdict = asyncio.run(run())
    assert (verdict.status.value == "delivered") == (seg["status"] == "ok"), verdict.error
    assert len(sent) == len(seg["requests"])
    for got, want in zip(sent, seg["requests"], strict=True):
        _same_request(got, want)
