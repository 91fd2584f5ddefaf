"""compile_value / compile_template: native values, text, undefined vs null, paths, fast paths."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.jsvalues import UNDEFINED
from engine.templates import (
    TemplateCompileError,
    TemplateRenderError,
    compile_template,
    compile_value,
    make_context,
    referenced_names,
)
from engine.templates.compile import lookup_chain, single_expression
from engine.templates.environment import make_environment, parse

NOW = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
PAYLOAD = {"userId": "u1", "traits": {"a": 1, "b": [1, 2]}, "n": None, "flag": True, "num": 10.0, "count": 3}
CTX = make_context(PAYLOAD, {"apiKey": "secret", "base": "https://x.test/"}, {"lookup": {"status": 200, "json": {"id": 7}}}, NOW)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ payload.traits }}", {"a": 1, "b": [1, 2]}),
        ("{{ payload.traits.b }}", [1, 2]),
        ("{{ payload.num }}", 10.0),
        ("{{ payload.flag }}", True),
        ("{{ payload.n }}", None),
        ("{{ payload.missing }}", UNDEFINED),
        ("{{ payload.missing.deeper }}", UNDEFINED),
        ("{{ steps.lookup.json.id }}", 7),
        ("{{ steps['lookup']['status'] }}", 200),
        ("{{ payload.traits.b[1] }}", 2),
        ("{{ payload.count + 1 }}", 4),
        ("{{ [payload.userId, payload.missing] }}", ["u1", UNDEFINED]),
        ("{{ now }}", NOW),
    ],
)
def test_single_expression_is_native(text: str, expected: object, fast: bool) -> None:
    result = compile_template(text, fast=fast)(CTX)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Basic {{ settings.apiKey }}", "Basic secret"),
        ("{{ payload.flag }}/{{ payload.num }}/{{ payload.n }}/{{ payload.missing }}.", "true/10/null/."),
        ("t={{ payload.traits }}", 't={"a":1,"b":[1,2]}'),
        ("at {{ now }}", "at 2024-05-01T12:30:00.000Z"),
        ("{{ payload.userId }} ", "u1 "),
        ("line\n", "line\n"),
        ("{% if payload.flag %}yes{% else %}no{% endif %}", "yes"),
        ("{{ 'a' ~ true ~ 1.5 ~ none ~ payload.missing }}", "atrue1.5null"),
    ],
)
def test_mixed_text_renders_js_style(text: str, expected: str, fast: bool) -> None:
    assert compile_template(text, fast=fast)(CTX) == expected


def test_plain_strings_are_constants() -> None:
    assert compile_template("no template { here }")(CTX) == "no template { here }"


def test_tree_omits_undefined_keys_keeps_null_and_drops_undefined_items() -> None:
    tree = {
        "id": "{{ payload.userId }}",
        "gone": "{{ payload.missing }}",
        "null": "{{ payload.n }}",
        "const": 5,
        "nested": {"deep": {"x": "{{ payload.missing }}", "y": "{{ payload.traits.a }}"}, "list": ["{{ payload.missing }}", None, "{{ payload.count }}", [1]]},
        "text": "id={{ payload.missing }}",
    }
    expected = {"id": "u1", "null": None, "const": 5, "nested": {"deep": {"y": 1}, "list": [None, 3, [1]]}, "text": "id="}
    for fast in (True, False):
        render = compile_value(tree, fast=fast)
        assert render(CTX) == expected


def test_rendered_trees_are_fresh_objects() -> None:
    render = compile_value({"a": {"b": [1]}})
    first = render(CTX)
    first["a"]["b"].append(2)
    assert render(CTX) == {"a": {"b": [1]}}


def test_scalar_roots() -> None:
    assert compile_value(3)(CTX) == 3
    assert compile_value("{{ payload.userId }}")(CTX) == "u1"


def test_compile_error_carries_path_and_line() -> None:
    with pytest.raises(TemplateCompileError) as info:
        compile_value({"json": {"items": ["ok", "{{ payload.x }}\n{{ payload.y | nope }}"]}})
    assert (info.value.path, info.value.line, info.value.message) == (("json", "items", 1), 2, "unknown filter 'nope'")


def test_render_error_carries_path() -> None:
    render = compile_value({"headers": {"X": "{{ payload.missing * 2 }}"}})
    with pytest.raises(TemplateRenderError) as info:
        render(CTX)
    assert info.value.path == ("headers", "X")


def test_when_condition_truthiness_uses_native_value() -> None:
    assert compile_template("{{ steps.lookup.status == 200 }}")(CTX) is True
    assert compile_template("{{ steps.other.status == 200 }}")(CTX) is False
    assert compile_template("{{ payload.missing is defined }}")(CTX) is False
    assert compile_template("{{ payload.n is defined and payload.n is none }}")(CTX) is True


def test_undefined_sentinel_in_data_counts_as_undefined() -> None:
    ctx = make_context({"u": UNDEFINED})
    for fast in (True, False):
        assert compile_template("{{ payload.u }}", fast=fast)(ctx) is UNDEFINED
        assert compile_template("[{{ payload.u }}]", fast=fast)(ctx) == "[]"
    assert compile_template("{{ payload.u is defined }}")(ctx) is False
    assert compile_template("{{ payload.u | default('d') }}")(ctx) == "d"


@pytest.mark.parametrize(
    "text, chain",
    [
        ("{{ payload.a.b }}", ("payload", ((True, "a"), (True, "b")))),
        ("{{ settings.x }}", ("settings", ((True, "x"),))),
        ("{{ steps.id.json[0] }}", ("steps", ((True, "id"), (True, "json"), (False, 0)))),
        ("{{ payload }}", ("payload", ())),
        ("{{ payload.a | string }}", None),
        ("{{ payload[settings.k] }}", None),
        ("{{ other.a }}", None),
    ],
)
def test_fast_path_detection(text: str, chain: object) -> None:
    expr = single_expression(parse(make_environment(), text))
    assert lookup_chain(expr) == chain


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=5))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "items", "_x", "0"]), c, max_size=3), max_leaves=12)
payloads = st.dictionaries(st.sampled_from(["a", "b", "items", "keys", "_x", "c"]), json_value, max_size=5)
TEMPLATES = [
    "{{ payload }}",
    "{{ payload.a }}",
    "{{ payload.a.b }}",
    "{{ payload.items }}",
    "{{ payload['keys'] }}",
    "{{ payload.a[0] }}",
    "{{ payload.a.b[1].a }}",
    "{{ payload._x.a }}",
    "{{ payload.c['0'] }}",
    "{{ settings.a.items }}",
    "x{{ payload.a }}-{{ payload.b.a }}y",
]


@settings(max_examples=150, deadline=None)
@given(payload=payloads, settings_=payloads)
def test_fast_path_matches_jinja(payload: dict, settings_: dict) -> None:
    ctx = make_context(payload, settings_, now=NOW)
    for text in TEMPLATES:
        outcomes = []
        for fast in (True, False):
            try:
                value = compile_template(text, fast=fast)(ctx)
                outcomes.append(("ok", callable(value) or value, type(value)))
            except TemplateRenderError as exc:
                outcomes.append(("error", exc.message, None))
        assert outcomes[0] == outcomes[1], text


def test_referenced_names() -> None:
    tree = {
        "url": "https://x.test/{{ payload.userId }}",
        "json": ["{{ payload.a.b[0] }}", "{{ steps.lookup.json[payload.k] }}", {"h": "{{ settings.apiKey | b64encode }}"}],
        "plain": "{{ loop_var }}",
    }
    assert referenced_names(tree) == {
        ("payload", "userId"),
        ("payload", "a", "b", 0),
        ("steps", "lookup", "json"),
        ("payload", "k"),
        ("settings", "apiKey"),
    }


def test_referenced_names_reports_path_of_bad_template() -> None:
    with pytest.raises(TemplateCompileError) as info:
        referenced_names({"a": [{"b": "{{ x | nope }}"}]})
    assert info.value.path == ("a", 0, "b")
