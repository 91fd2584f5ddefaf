"""A template of statements followed by one `{{ expr }}` gives the expression's native value (issue 13 item 5):
a `json:` value that began with `{% set %}` silently became a JSON string body."""

from __future__ import annotations

from typing import Any

import pytest

from engine.templates import compile_value, make_context

CTX = make_context({"n": 3, "tags": ["a", "b"]}, {})


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
