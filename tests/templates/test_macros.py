"""engine.templates.macros: a spec's macros compiled into its own environment, called from every kind of template,
checked where they are called, bounded (budget, nesting, size) and named in errors."""

from __future__ import annotations

from typing import Any

import pytest

from engine.templates import (
    MAX_OUTPUT,
    EventRejected,
    TemplateCompileError,
    TemplateRenderError,
    compile_template,
    compile_url,
    compile_value,
    make_context,
)
from engine.templates.macros import MAX_MACRO_DEPTH, MacroLibrary, compile_macros, using_macros

SECTION = {
    "full": {"params": ["first", "last"], "defaults": {"last": ""},
             "body": "{{- first -}}{% if last %} {{ last }}{% endif %}\n"},
    "shout": {"params": ["text"], "body": "{{ full(text, last='X') | upper }}"},
    "work": {"params": ["n"], "body": "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}ok"},
    "apply": {"params": ["f", "x"], "body": "{{ f(x) }}"},
    "wide": {"params": ["n"], "body": "{{ 'x' * n }}{{ 'y' * n }}"},
    "add_one": {"params": ["x"], "body": "{{ x + 1 }}"},
    "refuse": {"params": ["why"], "body": "{{ fail('no: ' ~ why) }}"},
    "echo": {"params": ["value"], "body": "{{ value }}"},
}
CTX = make_context(payload={"a": "Ann", "b": "Lee", "n": 3}, settings={"key": "k1"})


@pytest.fixture(scope="module")
def library() -> MacroLibrary:
    lib = compile_macros(SECTION)
    assert lib.problems == []
    return lib


def compiled(library: MacroLibrary, tree: Any, **kwargs: Any) -> Any:
    with using_macros(library):
        return compile_value(tree, **kwargs)


@pytest.mark.parametrize("fast", [True, False])
def test_macros_are_called_from_values_with_defaults_and_keywords(library: MacroLibrary, fast: bool) -> None:
    render = compiled(library, {
        "both": "{{ full(payload.a, payload.b) }}",
        "one": "{{ full(payload.a) }}",  # `last` takes its default; the body's final newline is dropped
        "named": "{{ full(last=payload.b, first=payload.a) }}",
        "text": "Hi {{ shout(payload.a) }}!",  # a macro calling a macro
        "statements": "{% set who = full(payload.a) %}{{ who ~ '.' }}",
    }, fast=fast)
    assert render(CTX) == {"both": "Ann Lee", "one": "Ann", "named": "Ann Lee", "text": "Hi ANN X!",
                           "statements": "Ann."}


def test_macros_are_called_from_urls_and_conditions(library: MacroLibrary) -> None:
    with using_macros(library):
        url = compile_url("https://api.example.com/{{ full(payload.a, payload.b) }}?k={{ echo(settings.key) }}")
        when = compile_template("{{ full(payload.a) == 'Ann' }}")
    assert url(CTX) == "https://api.example.com/Ann%20Lee?k=k1"
    assert when(CTX) is True


def test_outside_the_spec_the_names_are_unknown(library: MacroLibrary) -> None:
    with pytest.raises(TemplateCompileError, match="unknown macro or function 'full'"):
        compile_value("{{ full(payload.a) }}")
    compiled(library, "{{ full(payload.a) }}")  # while its spec compiles, it is known


@pytest.mark.parametrize(("text", "message"), [
    ("{{ ful(payload.a) }}", "unknown macro or function 'ful' (did you mean 'full'?)"),
    ("{{ full() }}", "macro full(first, last=…) is missing the argument 'first'"),
    ("{{ full(1, 2, 3) }}", "macro full(first, last=…) takes at most 2 arguments, got 3"),
    ("{{ full(1, lst=2) }}", "macro full(first, last=…) has no parameter 'lst' (did you mean 'last'?)"),
    ("{{ full(1, first=2) }}", "macro full(first, last=…) got 'first' twice"),
    ("{{ full(*payload.list) }}", "macro full(first, last=…) must be called with its arguments written out"),
    ("{{ payload.list | map(full) | list }}", "macro 'full' must be called, as full(first, last=…)"),
    ("line one\n{{ full() }}", "macro full(first, last=…) is missing the argument 'first'"),
    ("{% call full(1) %}x{% endcall %}", "macro 'full' cannot be used with {% call %}"),
])
def test_calls_are_checked_where_they_are_written(library: MacroLibrary, text: str, message: str) -> None:
    with pytest.raises(TemplateCompileError) as caught:
        compiled(library, {"x": text})
    assert caught.value.message.startswith(message)
    assert caught.value.path == ("x",)
    assert caught.value.line == text.count("\n") + 1


def test_a_template_may_shadow_a_macro_with_its_own(library: MacroLibrary) -> None:
    render = compiled(library, "{% macro full(x) %}<{{ x }}>{% endmacro %}{{ full(payload.a) }}")
    assert render(CTX) == "<Ann>"


def test_a_macro_spends_the_budget_of_the_render_that_calls_it(library: MacroLibrary) -> None:
    assert compiled(library, "{{ work(10) }}")(CTX) == "ok"
    with pytest.raises(TemplateRenderError, match=r"^macro 'work': the template did too much work"):
        compiled(library, "{{ work(1000) }}")(CTX)
    # two calls that each fit share one budget
    with pytest.raises(TemplateRenderError, match=r"^macro 'work': the template did too much work"):
        compiled(library, "{{ work(250) }}{{ work(250) }}")(CTX)


def test_errors_inside_a_macro_name_it_and_its_callers(library: MacroLibrary) -> None:
    with pytest.raises(TemplateRenderError, match=r"^macro 'add_one': the template failed: "):
        compiled(library, "{{ add_one(payload.a) }}")(CTX)
    text = "{% macro call_add(x) %}{{ add_one(x) }}{% endmacro %}{{ apply(call_add, payload.a) }}"
    with pytest.raises(TemplateRenderError, match=r"^macro 'apply' → 'add_one': the template failed: "):
        compiled(library, text)(CTX)


def test_a_macro_that_fails_the_event_keeps_its_message(library: MacroLibrary) -> None:
    with pytest.raises(EventRejected) as caught:
        compiled(library, "{{ refuse(payload.a) }}")(CTX)
    assert caught.value.message == "no: Ann"


def test_a_macros_text_is_bounded(library: MacroLibrary) -> None:
    assert compiled(library, "{{ wide(3) }}")(CTX) == "xxxyyy"
    with pytest.raises(TemplateRenderError, match=f"^the template tried to build a text in macro 'wide' longer than "
                                                  f"{MAX_OUTPUT}"):
        compiled(library, "{{ wide(payload.n) }}")(make_context(payload={"n": MAX_OUTPUT // 2 + 1}))


def test_nesting_is_bounded_at_run_time(library: MacroLibrary) -> None:
    """Static recursion is refused when the spec loads; a template's own macro passed as an argument can still call
    back into the macro that got it, which the depth count stops."""
    text = "{% macro again(x) %}{{ apply(again, x) }}{% endmacro %}{{ apply(again, 1) }}"
    with pytest.raises(TemplateRenderError, match=f"macro calls nested more than {MAX_MACRO_DEPTH} deep"):
        compiled(library, text)(CTX)
    ok = "{% macro once(x) %}{{ x }}!{% endmacro %}{{ apply(once, payload.a) }}"
    assert compiled(library, ok)(CTX) == "Ann!"


def test_static_nesting_deeper_than_the_bound_is_refused() -> None:
    depth = MAX_MACRO_DEPTH + 1
    section = {f"m{i}": {"body": f"{{{{ m{i + 1}() }}}}" if i + 1 < depth else "end"} for i in range(depth)}
    problems = compile_macros(section).problems
    assert [(p.name, p.key, p.message) for p in problems] == [
        ("m0", "body", f"macro 'm0' nests macro calls {depth} deep; at most {MAX_MACRO_DEPTH}")]
    del section[f"m{depth - 1}"]
    section[f"m{depth - 2}"]["body"] = "end"
    assert compile_macros(section).problems == []


@pytest.mark.parametrize(("section", "expected"), [
    ({"a": {"body": "{{ b() }}"}, "b": {"body": "x\n{{ a() }}"}},
     [("a", "body", 1, "macro 'a' calls itself (a → b → a); macros may not recurse")]),
    ({"a": {"params": ["n"], "body": "{{ n }}\n{{ a(n) if n }}"}},
     [("a", "body", 2, "macro 'a' calls itself (a → a); macros may not recurse")]),
    ({"a": {"body": "{{ settings.key }}"}},
     [("a", "body", 1, "reads 'settings', but a macro sees only its parameters; pass what it needs as an argument "
                       "(parameters: none)")]),
    ({"a": {"params": ["text"], "body": "\n{{ txt }}"}},
     [("a", "body", 2, "reads 'txt', which is not a parameter of macro 'a' (did you mean 'text'?)")]),
    ({"a": {"body": "{{ x | nofilter }}"}}, [("a", "body", 1, "unknown filter 'nofilter'")]),
    ({"a": {"body": "{% for %}"}}, [("a", "body", 1, "template syntax error: Expected an expression, got 'end of statement block'")]),
    ({"a": {"body": "{% include 'x' %}"}}, [("a", "body", 1, "templates may not use '{% include %}' (there are no template files)")]),
    ({"a": {"body": "{{ nope() }}"}}, [("a", "body", 1, "unknown macro or function 'nope'")]),
    ({"a": {"params": ["x"], "body": "{{ b(x, x) }}"}, "b": {"params": ["y"], "body": "{{ y }}"}},
     [("a", "body", 1, "macro b(y) takes at most 1 argument, got 2")]),
    ({"upper": {"body": "x"}}, [("upper", None, None, "macro 'upper' has the name of a template filter; choose another name")]),
    ({"fail": {"body": "x"}}, [("fail", None, None, "macro 'fail' has the name of a template function; choose another name")]),
    ({"payload": {"body": "x"}}, [("payload", None, None, "'payload' cannot be a macro name: use letters, digits and _ "
                                  "(not first), and none of auth, caller, kwargs, loop, now, payload, payloads, response, "
                                  "result, self, settings, steps, super, varargs")]),
    ({"a": {"params": ["x", "x"], "body": "x"}}, [("a", "params", None, "parameter 'x' is listed twice")]),
])
def test_section_problems(section: dict[str, Any], expected: list[tuple[Any, ...]]) -> None:
    problems = compile_macros(section).problems
    assert [(p.name, p.key, p.line, p.message) for p in problems] == expected


def test_a_body_may_call_a_parameter_and_bind_its_own_names() -> None:
    section = {"each": {"params": ["items", "f"],
                        "body": "{% for item in items %}{% set shown = f(item) %}{{ shown }};{% endfor %}"},
               "twice": {"params": ["x"], "body": "{{ x }}{{ x }}"}}
    lib = compile_macros(section)
    assert lib.problems == []
    render = compiled(lib, "{% macro t(x) %}{{ twice(x) }}{% endmacro %}{{ each(payload.list, t) }}")
    assert render(make_context(payload={"list": ["a", "b"]})) == "aa;bb;"


def test_the_example_of_docs_templates_md_gives_what_it_says() -> None:
    import re
    from pathlib import Path

    from ruamel.yaml import YAML

    doc = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Shared templates"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    data = YAML(typ="safe").load(block.group(1))
    lib = compile_macros(data["macros"])
    assert lib.problems == []
    request = data["actions"]["identify"]["request"]
    with using_macros(lib):
        url = compile_url(request["url"])
        body = compile_value(request["json"])
    ctx = make_context(payload={"userId": "u1", "first": "Ann", "last": "Van Dyke"})
    assert url(ctx) == "https://api.example.com/people/ann-van-dyke%3Au1"
    assert body(ctx) == {"name": "Ann Van Dyke"}
    assert "url .../people/ann-van-dyke%3Au1, json {\"name\": \"Ann Van Dyke\"}" in block.group(1)
