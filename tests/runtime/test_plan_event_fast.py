"""`Destination.plan_event` (one loop: the integrations check, triggers, mapping, validation, the template context
and the requests, written out inline) gives what its parts give composed as `engine send` composes them
(`matching`, `prepare`, `context`, `Runnable.plan`); and a request whose URL and headers read only settings,
remembered per settings key, renders as Jinja does while the settings change between renders, in place too; and
`LinePlanner` (engine plan's line, made ahead for fixed settings) writes the bytes `results_line(plan_event(...))` writes."""

from __future__ import annotations

import datetime as dt
import types
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.runtime import destination as destination_module
from engine.runtime.destination import (
    ActionResult,
    Destination,
    Subscription,
    load_destination,
    results_line,
    template_failure,
)
from engine.runtime.planner import LinePlanner
from engine.runtime.requests import compile_request
from engine.runtime.settings import secret_values
from engine.secrets import MIN_SUBSTRING_LENGTH, Masker
from engine.templates import TemplateError, filters
from engine.templates.compile import make_context
from engine.trigger import compile_trigger

SPECS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "specs").glob("*.yaml")
               if not p.name.endswith(".tests.yaml"))
NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)
SETTINGS = {"apiKey": "key-1", "api_key": "key-2", "server_token": "tok", "endpoint": "https://api.x.test/",
            "appSubdomain": "acme"}


class _FixedClock(dt.datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return NOW


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: n // 3)  # "333..."
    monkeypatch.setattr(filters._uuid, "uuid4", lambda: "00000000-0000-4000-8000-000000000000")
    monkeypatch.setattr(destination_module, "_now", _FixedClock.now)
    monkeypatch.setattr(destination_module, "_dt", types.SimpleNamespace(datetime=_FixedClock, UTC=dt.UTC))


_DESTS: dict[str, Destination] = {}


def _dest(name: str) -> Destination:
    if name not in _DESTS:
        _DESTS[name] = load_destination(name)
    return _DESTS[name]


def _composed(dest: Destination, event: dict[str, Any], settings_: dict[str, Any], subs: list[Any]) -> list[ActionResult]:
    results = []
    for sub in dest.matching(event, subs):
        result = dest.prepare(event, sub)
        if result.status == "ok":
            try:
                result.plan = sub.action.runnable.plan(dest.context(result.payload, settings_))
            except TemplateError as exc:
                result.status, result.error = "error", template_failure(exc)
        results.append(result)
    return results


def _view(results: list[ActionResult]) -> list[tuple[Any, ...]]:
    out = []
    for r in results:
        plan = r.plan
        requests = [(q.method, q.url, q.headers, q.body, repr(q.json), q.timeout, q.step) for q in plan.requests] if plan else None
        out.append((r.action, r.preset, r.status, r.error, repr(r.payload), requests, plan.unplanned if plan else None))
    return out


scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3),
                   st.sampled_from(["a@b.test", "2024-01-01T00:00:00Z", "https://x.test/p?q=1", "Order Completed"]))
value = st.recursive(scalar, lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c, max_size=2),
                     max_leaves=4)
objects = st.dictionaries(st.sampled_from(["email", "name", "title", "url", "company", "id", "plan", "price",
                                           "createdAt", "path", "userAgent", "timezone"]), value, max_size=5)
integrations = st.one_of(st.none(), st.dictionaries(
    st.sampled_from(["All", "UserMotion (Actions)", "Usermaven (Actions)", "Userpilot Cloud (Actions)", "User.com"]),
    st.one_of(st.booleans(), st.none(), st.integers(0, 1), st.just({})), max_size=3))
_TYPES = ["track", "page", "identify", "group", "screen", "alias", "other"]
events = st.fixed_dictionaries(
    {},
    optional={"type": st.one_of(st.sampled_from(_TYPES), st.sampled_from(_TYPES), st.none(), st.integers(0, 1),
                                st.lists(st.sampled_from(_TYPES), max_size=1)),"userId": st.one_of(st.text(max_size=4), st.integers(0, 9), st.none()),
              "anonymousId": st.text(max_size=4), "event": st.sampled_from(["Order Completed", "x", ""]),
              "name": st.text(max_size=4), "groupId": st.one_of(st.text(max_size=3), st.integers(0, 3)),
              "previousId": st.text(max_size=3), "timestamp": st.sampled_from(["2024-01-02T03:04:05.000Z", "bad"]),
              "traits": objects, "properties": objects, "context": st.fixed_dictionaries(
                  {}, optional={"traits": objects, "page": objects, "userAgent": st.text(max_size=3), "ip": scalar}),
              "integrations": integrations, "email": scalar},
)
settings_values = st.one_of(st.just(SETTINGS), st.dictionaries(st.sampled_from(sorted(SETTINGS)),
                                                               st.one_of(scalar, st.sampled_from(["https://h.test/"])),
                                                               max_size=5))


# triggers of subscriptions a config may give (those testing only the type are routed by `Trigger.types`)
TRIGGERS = ['type = "track"', 'type = "page" or type = "track"', 'type = "identify" or type = "group"',
            'type != "track"', 'type = "track" and event = "x"', 'event = "Order Completed"', 'type = "other"']


def _subscriptions(dest: Destination, action: int | None, triggers: list[tuple[int, str]] | None) -> list[Subscription]:
    """The presets (with triggers), or one action on its defaults (no trigger), or actions under other triggers."""
    if triggers is not None:
        actions = list(dest.actions.values())
        return [Subscription(text, act, act.default_mapping, compile_trigger(text))
                for act, text in ((actions[i % len(actions)], text) for i, text in triggers)]
    return dest.subscriptions() if action is None else dest.subscriptions(list(dest.actions)[action % len(dest.actions)])


@settings(max_examples=300, deadline=None)
@given(event=events, settings_=settings_values, name=st.sampled_from(SPECS),
       action=st.one_of(st.none(), st.integers(0, 10)),
       triggers=st.one_of(st.none(), st.lists(st.tuples(st.integers(0, 10), st.sampled_from(TRIGGERS)), max_size=4)))
def test_plan_event_is_its_parts_composed(event: dict[str, Any], settings_: dict[str, Any], name: str,
                                          action: int | None, triggers: list[tuple[int, str]] | None) -> None:
    dest = _dest(name)
    subs = _subscriptions(dest, action, triggers)
    assert _view(dest.plan_event(event, settings_, subs)) == _view(_composed(dest, event, settings_, subs))


def test_the_events_reach_every_outcome() -> None:
    """The generated events reach ok, invalid and error results and excluded events (the test above can fail)."""
    seen = set()
    for name in SPECS:
        dest = _dest(name)
        for event in ({"type": "track", "event": "E", "userId": "u", "properties": {}},
                      {"type": "identify", "userId": "u", "traits": {"email": "a@b.test"}},
                      {"type": "identify"}, {"type": "track", "integrations": {"All": False}}):
            results = dest.plan_event(event, SETTINGS, dest.subscriptions())
            seen.update(r.status for r in results)
            seen.add("excluded" if not dest.allows(event) else "allowed")
    assert {"ok", "invalid", "excluded", "allowed"} <= seen


REQUEST = {"method": "POST", "url": "{{ settings.endpoint if settings.endpoint is absolute_url else 'https://d.test/' }}v1/"
                                    "{{ settings.apiKey }}?k={{ settings.apiKey }}",
           "headers": {"Authorization": "Bearer {{ settings.apiKey }}", "X-N": "{{ settings.n }}"},
           "query": {"q": "{{ payload.a }}"},  # the query's keys are not the settings key
           "json": {"a": "{{ payload.a }}"}}


def _outcome(request: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    try:
        r = request.render(ctx, "step")
    except TemplateError as exc:
        return ("error", type(exc).__name__, exc.message)
    return ("ok", r.url, r.headers, r.body)


def test_settings_only_url_and_headers_are_cached() -> None:
    fast = compile_request(REQUEST)
    assert fast.url_cache is not None and fast.header_cache is not None


@settings(max_examples=200, deadline=None)
@given(sequence=st.lists(st.dictionaries(st.sampled_from(["endpoint", "apiKey", "n"]),
                                         st.one_of(scalar, st.sampled_from(["https://e.test/", 1.0, 1, float("nan")])),
                                         max_size=3), min_size=1, max_size=6),
       in_place=st.booleans())
def test_settings_only_url_and_headers_follow_the_settings(sequence: list[dict[str, Any]], in_place: bool) -> None:
    fast, slow = compile_request(REQUEST), compile_request(REQUEST, fast=False)
    settings_: dict[str, Any] = {}
    ctx = make_context({"a": 1}, settings_, now=NOW)
    for values in sequence:
        if in_place:  # the same settings object, changed between renders of the same context
            settings_.clear()
            settings_.update(values)
        else:
            ctx = make_context({"a": 1}, values, now=NOW)
        assert _outcome(fast, ctx) == _outcome(slow, ctx), values
        assert _outcome(fast, ctx) == _outcome(slow, ctx), values  # and again, from the cache


# --- LinePlanner: engine plan's line, compiled once per settings --------------------------------------------

MASKERS = {"settings": None, "none": Masker.empty(), "display key": Masker(["url", "key-1"]), "odd": Masker(["tok", '"q'])}


def _masker(kind: str, settings_: dict[str, Any], dest: Destination) -> Masker:
    found = MASKERS[kind]
    return Masker(secret_values(dest.settings_spec, settings_)) if found is None else found


@settings(max_examples=300, deadline=None)
@given(event=events, settings_=settings_values, name=st.sampled_from(SPECS),
       action=st.one_of(st.none(), st.integers(0, 10)),
       triggers=st.one_of(st.none(), st.lists(st.tuples(st.integers(0, 10), st.sampled_from(TRIGGERS)), max_size=4)),
       masker_kind=st.sampled_from(sorted(MASKERS)))
def test_the_planner_writes_the_line_of_plan_event(event: dict[str, Any], settings_: dict[str, Any], name: str,
                                                   action: int | None, triggers: list[tuple[int, str]] | None,
                                                   masker_kind: str) -> None:
    dest = _dest(name)
    subs = _subscriptions(dest, action, triggers)
    masker = _masker(masker_kind, settings_, dest)
    expected = results_line(dest.plan_event(event, settings_, subs), masker)
    assert LinePlanner(dest, settings_, subs, masker)(event) == expected


REALISTIC = [
    {"type": "track", "event": "Order Completed", "userId": "u1", "anonymousId": "a1", "messageId": "m1",
     "timestamp": "2024-01-02T03:04:05.000Z", "properties": {"price": 3, "email": "a@b.test", "url": "https://x.test/p"},
     "context": {"page": {"url": "https://shop.test/a?b=1", "path": "/a", "title": "A"}, "ip": "1.2.3.4",
                 "userAgent": "Mozilla/5.0", "locale": "en", "traits": {"email": "a@b.test"},
                 "screen": {"width": 10, "height": 20}}},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "a@b.test", "name": "A", "plan": "p"}},
    {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "G", "plan": "p"}},
    {"type": "page", "userId": "u1", "name": "Home", "properties": {"url": "https://x.test/", "path": "/"}},
]


@pytest.mark.parametrize("name", ["usermotion", "usermaven", "userpilot"])
def test_the_planner_makes_its_lines_itself_for_the_presets(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With real settings the presets' requests are made ahead (the test above compares something): no event here
    falls back to plan_event, and every event gives a request whose secret is masked."""
    dest = _dest(name)
    masker = Masker(secret_values(dest.settings_spec, SETTINGS))
    planner = LinePlanner(dest, SETTINGS, dest.subscriptions(), masker)
    assert all(route.body is not None for route in planner.routes)
    monkeypatch.setattr(LinePlanner, "general", lambda self, event: pytest.fail("fell back to plan_event"))
    lines = [planner(event) for event in REALISTIC]
    for event, line in zip(REALISTIC, lines, strict=True):
        assert line == results_line(dest.plan_event(event, SETTINGS, dest.subscriptions()), masker)
    assert sum(len(orjson.loads(line)["results"]) for line in lines) >= 3
    secrets = [s for s in secret_values(dest.settings_spec, SETTINGS) if len(s) >= MIN_SUBSTRING_LENGTH]
    assert secrets and not any(secret.encode() in line for line in lines for secret in secrets)


def test_the_planner_keeps_the_settings_it_was_made_with() -> None:
    dest = _dest("userpilot")
    settings_ = dict(SETTINGS)
    masker = Masker(secret_values(dest.settings_spec, settings_))
    planner = LinePlanner(dest, settings_, dest.subscriptions(), masker)
    before = planner(REALISTIC[1])
    settings_["endpoint"] = "https://elsewhere.test/"
    assert planner(REALISTIC[1]) == before
    assert b"https://api.x.test/v1/identify" in before


SHAPES = """\
spec_version: 1
name: Shapes
slug: shapes
description: Requests of every shape the planner makes ahead or leaves to plan_event.
mode: cloud
settings:
  token: {label: Token, description: A secret., type: password, required: true}
  host: {label: Host, description: Where requests go., type: string}
presets:
  - {name: Bare, subscribe: type = "track", action: bare}
  - {name: Own type, subscribe: type = "track" or type = "page", action: own_type}
  - {name: Form, subscribe: type = "identify", action: form}
  - {name: Query, subscribe: type = "group", action: query}
  - {name: Keyed, subscribe: type = "page", action: keyed}
actions:
  bare:
    title: Bare
    description: No headers at all; the JSON body gets Content-Type.
    fields:
      a: {label: A, description: A value., type: string, default: {"@path": "$.properties.a"}}
      o: {label: O, description: An object., type: object, default: {"@path": "$.properties"}}
    request:
      method: POST
      url: "https://{{ settings.host or 'h.test' }}/t?k={{ settings.token }}"
      json: {a: "{{ payload.a }}", picked: "{{ payload.o | pick('a', 'b') }}", t: "{{ settings.token }}"}
  own_type:
    title: Own type
    description: The spec's own content-type header, lower case.
    fields:
      a: {label: A, description: A value., type: string, default: {"@path": "$.properties.a"}}
    request:
      method: PUT
      url: https://h.test/own
      headers: {content-type: application/vnd.x+json, X-Key: "{{ settings.token }}"}
      json: "{{ {'a': payload.a} if payload.a else undefined_value }}"
  form:
    title: Form
    description: A form body.
    fields:
      a: {label: A, description: A value., type: string, default: {"@path": "$.traits.a"}}
    request: {method: POST, url: https://h.test/f, form: {a: "{{ payload.a }}"}}
  query:
    title: Query
    description: A query string.
    fields:
      a: {label: A, description: A value., type: string, default: {"@path": "$.traits.a"}}
    request: {method: POST, url: https://h.test/q, query: {a: "{{ payload.a }}"}, json: {a: 1}}
  keyed:
    title: Keyed
    description: Headers that read the payload.
    fields:
      a: {label: A, description: A value., type: string, default: {"@path": "$.properties.a"}}
    request:
      method: POST
      url: https://h.test/k
      headers: {X-A: "{{ payload.a }}"}
      json: {a: "{{ payload.a }}"}
"""
_SHAPES: list[Destination] = []


def _shapes() -> Destination:
    if not _SHAPES:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "shapes.yaml"
            path.write_text(SHAPES)
            _SHAPES.append(load_destination(path))
    return _SHAPES[0]


@settings(max_examples=200, deadline=None)
@given(event=events, token=st.sampled_from(["tok-secret", "a", "x y", '"q"']),
       host=st.sampled_from([None, "api.test", ""]), a=st.one_of(st.none(), st.text(max_size=3), st.just("tok-secret")),
       masked=st.booleans())
def test_the_planner_agrees_on_every_request_shape(event: dict[str, Any], token: str, host: str | None, a: Any,
                                                   masked: bool) -> None:
    dest = _shapes()
    settings_ = {"token": token} if host is None else {"token": token, "host": host}
    event = {**event, "properties": {"a": a, "b": 1}, "traits": {"a": a}}
    masker = Masker([token]) if masked else Masker.empty()
    planner = LinePlanner(dest, settings_, dest.subscriptions(), masker)
    assert planner(event) == results_line(dest.plan_event(event, settings_, dest.subscriptions()), masker)


def test_the_shapes_made_ahead_are_the_json_ones_with_settings_only_heads() -> None:
    dest = _shapes()
    planner = LinePlanner(dest, {"token": "tok-secret"}, dest.subscriptions(), Masker(["tok-secret"]))
    assert [route.body is not None for route in planner.routes] == [True, True, False, False, False]
    line = planner({"type": "track", "properties": {"a": "x"}})
    [bare, own] = orjson.loads(line)["results"]
    assert bare["requests"][0]["headers"] == {"Content-Type": "application/json"}
    assert own["requests"][0]["headers"] == {"content-type": "application/vnd.x+json", "X-Key": "****"}
    assert bare["requests"][0]["url"] == "https://h.test/t?k=****"
    assert b"tok-secret" not in line
