"""Every string and container is bounded as it is made (issue 18 defect 4): a hostile template over a 30 KB event
that would build hundreds of megabytes fails that event with a clear error, on the generated (`fastexpr`) path,
on Jinja's and in Liquid alike, and nothing large is built on the way (tracemalloc's peak stays small)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from engine.mapping.liquid import LiquidFailure, compile_liquid, render_liquid
from engine.templates import TemplateRenderError, compile_template, compile_value, make_context

TEXT = "a" * 30_000
CTX = make_context({"text": TEXT, "words": ["a"] * 30_000}, {})
PEAK = 20_000_000  # bytes: a few copies of a 1 MB bound, far below the hundreds of MB these would build


def peak_of(func: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            outcome: Any = ("ok", func())
        except (TemplateRenderError, LiquidFailure) as exc:
            outcome = ("error", str(exc))
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HOSTILE = [
    "{{ payload.text | replace('a', payload.text) }}",
    "{{ payload.text.replace('a', payload.text) }}",
    "{{ payload.text.replace('', payload.text) }}",
    "{{ payload.words | join(payload.text) }}",
    "{{ payload.text.join(payload.words) }}",
    "{{ (payload.text | replace('a', 'aaaa') | replace('a', 'aaaa') | replace('a', 'aaaa')) | length }}",
    "{{ payload.text | list | join(payload.text) }}",
    "{{ ('\t' * 30000).expandtabs(1000000) }}",
    "{{ payload.text.translate({97: payload.text}) }}",
    "{{ ('{0}' * 30000).format(payload.text) }}",
    "{{ ('%s' * 30000) % payload.text }}",
    "{{ ('%s' * 30000) | format(payload.text) }}",
    "{{ ('\n' * 30000) | indent(100000) }}",
    "{{ payload.text | wordwrap(1, true, payload.text) }}",
    # aliasing: a list holding the same value many times is as large as writing it out
    "{{ [payload.text] * 1000 }}",
    "{% set a = [payload.text] * 30 %}{% set b = [a] * 30 %}{% set c = [b] * 30 %}{{ c | tojson }}",
    "{% set a = [payload.text] * 30 %}{% set b = [a] * 30 %}{% set c = [b] * 30 %}{{ c | join(',') }}",
    "{% set ns = namespace(x=[payload.text]) %}{% for i in range(40) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}"
    "{{ ns.x | length }}{{ ns.x }}",
    "{{ [[[payload.text] * 40] * 40] * 40 }}",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("fast", [True, False])
def test_hostile_templates_fail_without_building_much(text: str, fast: bool) -> None:
    render = compile_template(text, fast=fast)
    outcome, peak = peak_of(lambda: render(CTX))
    assert outcome[0] == "error", outcome
    assert "larger than 1000000" in outcome[1] or "longer than 1000000" in outcome[1]
    assert peak < PEAK


@pytest.mark.parametrize("fast", [True, False])
def test_a_native_value_made_by_aliasing_is_refused(fast: bool) -> None:
    many = ", ".join(["payload.words"] * 40)  # forty references to one 30,000-item list, made by no operator
    tree = {"items": "{{ [" + many + "] }}", "n": "{{ payload.text | length }}"}
    render = compile_value(tree, fast=fast)
    outcome, peak = peak_of(lambda: render(CTX))
    assert outcome == ("error", "the template tried to build a value larger than 1000000 characters or items "
                                "(values held several times count each time)")
    assert peak < PEAK


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ payload.text[:3] | replace('a', 'bb') }}", "bbbbbb"),
        ("{{ ['x', 'y', 1] | join('-') }}", "x-y-1"),
        ("{{ '-'.join(['x', 'y']) }}", "x-y"),
        ("{{ 'a\tb'.expandtabs(4) }}", "a   b"),
        ("{{ '{0}{0}'.format('ab') }}", "abab"),
        ("{{ '%s-%s' % ('a', 'b') }}", "a-b"),
        ("{{ 'a\nb' | indent(2, true) }}", "  a\n  b"),
        ("{{ [payload.text[:2]] * 3 }}", ["aa", "aa", "aa"]),
        ("{{ payload.words[:2] + payload.words[:1] }}", ["a", "a", "a"]),
    ],
)
def test_ordinary_uses_still_work(text: str, expected: Any) -> None:
    assert compile_template(text)(CTX) == expected
    assert compile_template(text, fast=False)(CTX) == expected


@pytest.mark.parametrize(
    "text, name",
    [
        ('{{ text | replace: "a", text }}', "replace"),
        ('{% assign x = text | split: "" | join: text %}{{ x }}', "join"),
        ('{{ text | split: "" | join: text }}', "join"),
        ('{% assign a = text | append: text %}{% assign a = a | append: a %}{% assign a = a | append: a %}'
         '{% assign a = a | append: a %}{% assign a = a | append: a %}{% assign a = a | append: a %}{{ a }}', "append"),
    ],
)
def test_liquid_filters_are_bounded(text: str, name: str) -> None:
    template = compile_liquid(text)
    outcome, peak = peak_of(lambda: render_liquid(template, {"text": TEXT}))
    assert outcome[0] == "error"
    assert outcome[1].startswith(f'filter "{name}" would build a value of ')
    assert peak < PEAK


def test_liquid_ordinary_uses_still_work() -> None:
    template = compile_liquid('{{ "a,b" | split: "," | join: "-" | replace: "-", "+" | append: "!" }}')
    assert render_liquid(template, {}) == "a+b!"


@pytest.mark.parametrize("text", ["{{ 9**9**9 }}", "{{ (9**9**9) if payload.text else 0 }}"])
@pytest.mark.parametrize("fast", [True, False])
def test_big_integers_are_a_verdict_not_a_crash(text: str, fast: bool) -> None:
    """`9**9**9` ((9**9)**9 in Jinja, 257 bits) crashed `engine plan` when its body was written as JSON."""
    with pytest.raises(TemplateRenderError) as info:
        compile_value({"v": text}, fast=fast)(CTX)  # a body field: its value is written as JSON
    assert info.value.message == ("the template made an integer too large for JSON (more than 64 bits); "
                                  "use a float or a string")
    assert compile_template("{{ 9**9**9 ~ '' }}", fast=fast)(CTX) == "1.9662705047555292e+77"


@pytest.mark.parametrize("fast", [True, False])
def test_products_of_big_integers_are_bounded(fast: bool) -> None:
    ctx = make_context({"n": 2**60_000}, {})
    with pytest.raises(TemplateRenderError) as info:
        compile_template("{{ (payload.n * payload.n) ~ '' }}", fast=fast)(ctx)
    assert info.value.message == "the template tried to compute a number larger than 2**100000"
    loop = "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x }}"
    with pytest.raises(TemplateRenderError):
        compile_template(loop, fast=fast)(ctx)
