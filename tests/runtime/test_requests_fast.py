"""Requests rendered through the fast paths (generated expressions, JSON bodies whose object literals leave out
their undefined keys themselves) against the same requests rendered by Jinja: the same method, URL, headers,
body bytes and data, or the same error, for every request of the seed specs and for bodies written to reach
each case of the undefined-key dropping, over random payloads, settings and steps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.runtime.requests import compile_request
from engine.templates import filters
from engine.templates.compile import make_context
from engine.templates.environment import TemplateError

SPECS = Path(__file__).resolve().parents[2] / "specs"
NOW = dt.datetime(2024, 3, 31, 0, 30, tzinfo=dt.UTC)


def _spec_requests() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def walk(value: Any, defaults: dict[str, Any], where: str) -> None:
        if isinstance(value, dict):
            if "method" in value and "url" in value:
                found.append((where, value, defaults))
                return
            for key, item in value.items():
                walk(item, defaults, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, defaults, f"{where}[{index}]")

    for path in sorted(SPECS.glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        doc = YAML(typ="safe").load(path.read_text())
        if doc.get("macros"):  # its requests compile only in the spec's own environment (test_macros.py)
            continue
        defaults = doc.get("request_defaults") or {}
        for part in ("actions", "procedures", "test_authentication", "on_delete"):
            walk(doc.get(part), defaults, f"{path.stem}.{part}")
    return found


BODIES = [
    # object literals in the result: their undefined keys may go at once
    "{{ {'a': payload.a, 'b': {'c': payload.b, 'd': payload.x if payload.y}, 'e': [payload.s, {'f': payload.x}]} }}",
    # spread by merge: a later undefined key still overrides an earlier one in place
    "{{ {'a': 1, 'b': 2} | merge({'a': payload.a}, {'c': payload.c, 'b': payload.b}) }}",
    "{{ {} | merge(payload.a, {'x': {'y': payload.y, 'z': 1}} if payload.n else {'x': payload.x}, payload.b or {'k': payload.k}) }}",
    "{{ [payload.a, {'k': payload.k}] if payload.n else {'k': payload.k, 'j': payload.a | default(payload.b)} }}",
    "{{ {'k': payload.a | url_host, 'l': payload.s | tz_offset, 'm': (payload.a | omit('x')) if payload.a is mapping} }}",
    "{{ payload.a }}",
    "{{ {'a': payload.a, 'n': none, 't': true} }}",
]
EXTRA = [
    ("json-tree", {"method": "POST", "url": "https://x.test/{{ payload.s }}",
                   "json": {"one": body, "two": {"inner": body, "c": 1}, "list": [body, "{{ payload.x }}"]}}, {})
    for body in BODIES
] + [("json", {"method": "POST", "url": "https://x.test/", "json": body}, {}) for body in BODIES]
# objects of `{{ root.key }}` values are one generated function (keys that are dict attributes, like `items`, and
# lookups of more than one step are left to their renderers)
OBJECT = {"c": 1, "a": "{{ payload.a }}", "items": "{{ payload.items }}", "x": "{{ payload['x'] }}",
          "k": "{{ settings.k }}", "g": "{{ payload.get }}", "st": "{{ steps.user_by_id }}", "n": None,
          "d": "{{ payload.a.b }}", "m": "{{ {} | merge(payload.b, {'k': payload.k}) }}", "t": "id {{ payload.s }}",
          "o": {"a": "{{ payload.a }}", "z": [1, "{{ payload.x }}"]}}
EXTRA += [("object-json", {"method": "POST", "url": "https://x.test/", "json": OBJECT, "headers": {"H": "{{ payload.s }}"},
                           "query": {"q": "{{ payload.s }}", "a": "{{ payload.a }}"}}, {}),
          ("object-form", {"method": "POST", "url": "https://x.test/", "form": {"a": "{{ payload.a }}", "b": 1}}, {})]
REQUESTS = _spec_requests() + EXTRA

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
    st.sampled_from(["https://Example.com:8080/p", "not a url", "Europe/Paris", "Mars/Base", "m", "female",
                     "2024-01-01T00:00:00Z", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"]),
)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "x", "width", "height", "id", "json", "status", "createdAt"]), c, max_size=3),
    max_leaves=10,
)
KEYS = ["a", "b", "c", "k", "s", "n", "x", "y", "url", "screen", "timezone", "event", "event_attributes", "user_id",
        "user_anonymous_id", "user_email", "user_created_at", "user_custom_attributes", "company_id",
        "company_custom_attributes", "traits", "gender", "userId", "anonymousId", "timestamp", "createdAt", "user_agent",
        "email", "name", "properties", "context", "groupId", "eventName", "endpoint", "apiKey", "api_key",
        "server_token", "appSubdomain"]
objects = st.dictionaries(st.sampled_from(KEYS), json_value, max_size=10)
steps_ = st.dictionaries(st.sampled_from(["user_by_id", "user_by_key", "user_created", "company_lookup"]),
                         st.fixed_dictionaries({}, optional={"status": st.sampled_from([200, 404]), "json": json_value}),
                         max_size=3)


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filters.secrets, "randbelow", lambda n: n // 3)  # "333..."
    monkeypatch.setattr(filters._uuid, "uuid4", lambda: "00000000-0000-4000-8000-000000000000")


_COMPILED: list[tuple[str, Any, Any]] = []


def _compiled() -> list[tuple[str, Any, Any]]:
    """Compiled once (as a spec is), rendered for every example."""
    if not _COMPILED:
        for where, spec, defaults in REQUESTS:
            _COMPILED.append((where, compile_request(spec, defaults), compile_request(spec, defaults, fast=False)))
    return _COMPILED


def _outcome(request: Any, ctx: dict[str, Any]) -> tuple[Any, ...]:
    try:
        r = request.render(ctx, "step")
    except TemplateError as exc:
        return ("error", type(exc).__name__, exc.message, getattr(exc, "path", None))
    except Exception as exc:  # noqa: BLE001 - the same unexpected error on both sides counts as the same
        return ("raised", type(exc).__name__, str(exc))
    return ("ok", r.method, r.url, r.headers, r.body, repr(r.json), r.timeout, r.step)


def test_the_bodies_reach_every_request() -> None:
    assert len(_spec_requests()) >= 20  # every seed spec's actions, procedures, authentication and deletion


@settings(max_examples=200, deadline=None)
@given(payload=objects, settings_=objects, steps=steps_,
       n=st.one_of(st.none(), st.integers(0, 2)), s=st.sampled_from(["", "a/b", "Europe/Paris", "x y"]))
def test_requests_match_jinja(payload: dict, settings_: dict, steps: dict, n: Any, s: Any) -> None:
    ctx = make_context({**payload, "n": n, "s": s}, settings_, steps, now=NOW)
    for where, fast, slow in _compiled():
        assert _outcome(fast, ctx) == _outcome(slow, ctx), where


def test_dropped_keys_are_the_ones_json_drops() -> None:
    spec = {"method": "POST", "url": "https://x.test/", "json": BODIES[0]}
    ctx = make_context({"a": 1, "y": True}, {}, now=NOW)
    fast, slow = compile_request(spec), compile_request(spec, fast=False)
    assert fast.body is not None and slow.body is not None
    # the raw values differ (the literals left their undefined keys out) ...
    assert repr(fast.body(ctx)) == "{'a': 1, 'b': {}, 'e': [UNDEFINED, {}]}"
    assert repr(slow.body(ctx)) == "{'a': 1, 'b': {'c': UNDEFINED, 'd': UNDEFINED}, 'e': [UNDEFINED, {'f': UNDEFINED}]}"
    # ... the requests do not
    assert fast.render(ctx).body == slow.render(ctx).body == b'{"a":1,"b":{},"e":[null,{}]}'
    assert fast.render(ctx).json == slow.render(ctx).json == {"a": 1, "b": {}, "e": [None, {}]}


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(objects, json_value), settings_=st.one_of(objects, json_value), steps=st.one_of(steps_, json_value))
def test_objects_of_lookups_match_jinja_for_any_roots(payload: Any, settings_: Any, steps: Any) -> None:
    """Roots that are not plain dicts (lists, strings, null) leave the generated object to its renderers."""
    ctx = make_context(payload, settings_, steps, now=NOW)
    for where, fast, slow in _compiled():
        if where.startswith("object-"):
            assert _outcome(fast, ctx) == _outcome(slow, ctx), where


def test_objects_of_lookups_are_generated() -> None:
    fast = compile_request({"method": "POST", "url": "https://x.test/", "json": OBJECT})
    assert "_r0.get(_n1, _UNDEF)" in fast.body.source  # type: ignore[union-attr]
    assert "_i9(ctx)" in fast.body.source  # type: ignore[union-attr]  # the merge has its own renderer
