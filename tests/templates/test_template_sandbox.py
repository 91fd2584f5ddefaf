"""The sandbox: escapes, work and size bounds, compile-time checks, error types and messages."""

from __future__ import annotations

import pytest

from engine.templates import (
    MAX_OUTPUT,
    TemplateCompileError,
    TemplateRenderError,
    compile_template,
    make_context,
    make_environment,
)

CTX = make_context({"x": "a", "items": [1, 2]}, {"key": "k"})


def render(text: str):
    return compile_template(text)(CTX)


def compile_error(text: str) -> TemplateCompileError:
    with pytest.raises(TemplateCompileError) as info:
        compile_template(text)
    return info.value


def render_error(text: str) -> TemplateRenderError:
    with pytest.raises(TemplateRenderError) as info:
        render(text)
    return info.value


@pytest.mark.parametrize(
    "text, attr",
    [
        ("{{ ''.__class__ }}", "__class__"),
        ("{{ payload['__class__'] }}", "__class__"),
        ("{{ payload.x.upper.__globals__ }}", "__globals__"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ],
)
def test_dunder_access_is_refused_when_compiling(text: str, attr: str) -> None:
    assert compile_error(text).message == f"templates may not access '{attr}'"


def test_dynamic_dunder_access_is_refused_when_rendering() -> None:
    assert render_error("{{ payload.x | attr('__class__') }}").message == "templates may not access '__class__'"
    assert render_error("{{ payload.x['_' ~ '_class__'] }}").message == "templates may not access '__class__'"


def test_payload_cannot_be_mutated() -> None:
    assert render_error("{{ payload.update({'x': 1}) }}").message == "templates may not access 'update'"
    assert CTX["payload"]["x"] == "a"


def test_keys_win_over_dict_methods() -> None:
    ctx = make_context({"items": [1], "keys": "k"})
    assert compile_template("{{ payload.items }}")(ctx) == [1]
    assert compile_template("{{ payload.keys }}", fast=False)(ctx) == "k"
    assert compile_template("{{ payload.values() | list }}")(ctx) == [[1], "k"]


def test_nested_loops_run_out_of_budget() -> None:
    err = render_error("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}")
    assert err.message == "the template did too much work (more than 100000 loop iterations and calls in one render)"


def test_range_is_capped() -> None:
    err = render_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    assert err.message == "range() may make at most 10000 items, this one would make 100000"


def test_budget_is_per_render() -> None:
    render_once = compile_template("{% for i in range(9000) %}{% endfor %}done")
    for _ in range(20):
        assert render_once(CTX) == "done"


def test_loops_over_data_count_too() -> None:
    ctx = make_context({"big": list(range(400))})
    text = "{% for a in payload.big %}{% for b in payload.big %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateRenderError, match="too much work"):
        compile_template(text)(ctx)


def test_recursion_is_caught() -> None:
    err = render_error("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")
    assert err.message == "the template recursed too deeply"


def test_exponential_recursive_loop_is_stopped() -> None:
    err = render_error("{% for x in [1, 2] recursive %}{{ loop([1, 2]) }}{% endfor %}")
    assert err.message in ("the template recursed too deeply", "the template did too much work (more than 100000 loop iterations and calls in one render)")


def test_output_too_large() -> None:
    err = render_error("{% for i in range(2000) %}{{ 'a' * 999 }}{% endfor %}")
    assert err.message == f"the template's output is longer than {MAX_OUTPUT} characters"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ 'a' * 10000000 }}", "the template tried to build a string or list longer than 1000000 characters or items"),
        ("{{ range(10000) | list * 200 }}", "the template tried to build a string or list longer than 1000000 characters or items"),
        ("{{ 'x' | center(1000000000) }}", "size arguments may be at most 1000000, got 1000000000"),
        ("{{ [1] | batch(1000000000, 0) | list }}", "size arguments may be at most 1000000, got 1000000000"),
        ("{{ 'a'.ljust(1000000000) }}", "size arguments may be at most 1000000, got 1000000000"),
        ("{{ '%999999999d' % 1 }}", "format widths may be at most 1000000"),
        ("{{ '{:>999999999}'.format(1) }}", "format widths may be at most 1000000"),
        ("{{ 7 ** 100000 }}", "the template tried to compute a number larger than 2**100000"),
        (
            "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "the template tried to build a string longer than 1000000 characters or items",
        ),
        (
            "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ f('a', 40) }}",
            "the template tried to build a string longer than 1000000 characters or items",
        ),
    ],
)
def test_memory_bombs_are_refused(text: str, message: str) -> None:
    assert render_error(text).message == message


def test_unknown_filter_and_test_fail_at_compile_time_with_line() -> None:
    err = compile_error("line one\n{% if payload.x %}{{ payload.x | shout }}{% endif %}")
    assert (err.message, err.line) == ("unknown filter 'shout'", 2)
    err = compile_error("{{ payload.x is loud }}")
    assert (err.message, err.line) == ("unknown test 'loud'", 1)


def test_syntax_error_has_line() -> None:
    err = compile_error("a\nb\n{{ payload.x }")
    assert (err.message, err.line) == ("template syntax error: unexpected '}'", 3)


@pytest.mark.parametrize("tag, text", [("include", "{% include 'x' %}"), ("import", "{% import 'x' as y %}"), ("extends", "{% extends 'x' %}")])
def test_loader_tags_are_refused(tag: str, text: str) -> None:
    assert compile_error(text).message == f"templates may not use '{{% {tag} %}}' (there are no template files)"


def test_undefined_arithmetic_is_a_render_error() -> None:
    err = render_error("{{ payload.missing + 1 }}")
    assert err.message == "the template used an undefined value: 'dict object' has no attribute 'missing'"


def test_direct_jinja_render_is_bounded_too() -> None:
    template = make_environment().from_string("{% for i in range(10000) %}{% for j in range(20) %}{% endfor %}{% endfor %}")
    with pytest.raises(TemplateRenderError, match="too much work"):
        template.render()


def test_no_lipsum_or_loader() -> None:
    env = make_environment()
    assert "lipsum" not in env.globals
    assert env.loader is None
