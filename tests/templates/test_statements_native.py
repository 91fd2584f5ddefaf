"""A template of statements followed by one `{{ expr }}` gives the expression's native value (issue 13 item 5):
a `json:` value that began with `{% set %}` silently became a JSON string body."""

from __future__ import annotations

from typing import Any

import pytest

from engine.templates import compile_value, make_context

CTX = make_context({"n": 3, "tags": ["a", "b"], "big": "1" * 1_000_001}, {})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{% set user = {'id': payload.n, 'tags': payload.tags} %}{{ user }}", {"id": 3, "tags": ["a", "b"]}),
        ("{% set a = 1 %}\n{{ a + payload.n }}\n", 4),
        ("{% set ns = namespace(total=0) %}{% for t in payload.tags %}{% set ns.total = ns.total + 1 %}{% endfor %}"
         "{{ ns.total }}", 2),
        ("{% macro pair(k, v) %}{{ k }}={{ v }}{% endmacro %}{% set s = pair('a', 1) %}{{ [s] }}", ["a=1"]),
        ("{% set x = payload.missing %}{{ x }}", None),  # undefined: the key is left out
        # statements that print text keep the template a text template
        ("x{% set a = 1 %}{{ a }}", "x1"),
        ("{% if payload.n %}y{% endif %}{{ 1 }}", "y1"),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_statements_then_one_expression_is_native(text: str, expected: Any, fast: bool) -> None:
    body = compile_value({"json": {"v": text}}, fast=fast)(CTX)
    assert body["json"].get("v") == expected
    assert ("v" in body["json"]) == (expected is not None)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ 'ab' | spread }}", {"0": "a", "1": "b"}),
        ("{{ ['x', {'y': 1}] | spread }}", {"0": "x", "1": {"y": 1}}),
        ("{{ {'a': 1} | spread | merge({'b': 2}) }}", {"a": 1, "b": 2}),
        ("{{ [payload.missing | spread, none | spread, 5 | spread, true | spread] }}", [{}, {}, {}, {}]),
        ("{{ [['a', 1], [2, 'b'], ['a', 3]] | from_pairs }}", {"a": 3, "2": "b"}),
        ("{{ '{\"a\": [1, 2.5, null, true]}' | parse_json }}", {"a": [1, 2.5, None, True]}),
        ("{% set pairs = [] %}{% set ns = namespace(p=[]) %}{% for t in payload.tags %}"
         "{% set ns.p = ns.p + [[t, loop.index]] %}{% endfor %}{{ ns.p | from_pairs }}", {"a": 1, "b": 2}),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_native_value_filters(text: str, expected: Any, fast: bool) -> None:
    assert compile_value({"v": text}, fast=fast)(CTX) == {"v": expected}


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ 'nope' | parse_json }}", "parse_json: the text is not JSON"),
        ("{{ ('[' * 10 ~ '1' ~ ']' * 10) | parse_json | length }}", None),
        ("{{ payload.big | parse_json }}", "parse_json: the text is longer than 1000000 characters"),
        ("{{ 5 | parse_json }}", "parse_json needs a string, got a number"),
        ("{{ [1, 2] | from_pairs }}", "from_pairs needs an array of [key, value] pairs"),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_native_value_filter_errors(text: str, message: str | None, fast: bool) -> None:
    from engine.templates import TemplateRenderError

    render = compile_value({"v": text}, fast=fast)
    if message is None:
        assert render(CTX) == {"v": 1}
        return
    with pytest.raises(TemplateRenderError) as info:
        render(CTX)
    assert info.value.message.startswith(message)
