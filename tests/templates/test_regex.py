"""Regular-expression filters and tests on RE2: results, compile-time pattern errors with their position,
patterns from data that fail one event, the work budget and the output bound (JavaScript agreement is in
test_js_vectors.py)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.jsvalues import UNDEFINED
from engine.templates import (
    TemplateCompileError,
    TemplateRenderError,
    compile_template,
    compile_value,
    make_context,
    regex,
)


def render(text: str, **payload: Any) -> Any:
    return compile_template(text)(make_context(payload, {}))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ payload.e is search('@') }}", True),
        ("{{ payload.e is match('[a-z]+') }}", False),  # the whole text must match
        ("{{ payload.e is match('[a-z]+@[a-z]+[.]com') }}", True),
        ("{{ payload.e is match('(?i)BOB@.*') }}", True),
        ("{{ payload.missing is search('.*') }}", False),
        ("{{ payload.e | regex_search('@(?P<host>[a-z]+)', 'host') }}", "example"),
        ("{{ payload.e | regex_search('@([a-z]+)', 1) }}", "example"),
        ("{{ payload.e | regex_search('z') }}", UNDEFINED),
        ("{{ payload.e | regex_search('(z)?b', 1) }}", UNDEFINED),  # the group took no part
        ("{{ payload.e | regex_match('(z)?(b)') }}", ["b", None, "b"]),
        ("{{ payload.e | regex_match('z') }}", None),
        ("{{ payload.missing | regex_match('z') }}", UNDEFINED),
        ("{{ payload.n | regex_replace('0', '-') }}", "1-2-"),  # a number matches its JS text
        ("{{ payload.missing | regex_replace('a', 'b') }}", UNDEFINED),
        ("{{ payload.e | regex_replace('(?P<user>[a-z]+)@', '$<user> at ') }}", "bob at example.com"),
        ("{{ payload.e | regex_split('[@.]') }}", ["bob", "example", "com"]),
        ("{{ payload.e | regex_split('[@.]', 0) }}", []),
        ("{{ 'ü-ß' | regex_split('-') }}", ["ü", "ß"]),
        ("{{ payload.e | regex_findall('[aeiou]') }}", ["o", "e", "a", "e", "o"]),
        ("{{ ('a.b' | regex_escape) ~ '|x' }}", "a\\.b|x"),
        ("{{ 'a.b' is match('a.b' | regex_escape) and not ('axb' is match('a.b' | regex_escape)) }}", True),
    ],
)
def test_regex_results(text: str, expected: Any) -> None:
    assert render(text, e="bob@example.com", n=1020) == expected


def test_a_pattern_that_would_backtrack_exponentially_is_linear_in_re2() -> None:
    # (a*)*b against a long run of a's takes exponential time on a backtracking engine; RE2 answers
    assert render("{{ payload.t is search('(a*)*b') }}", t="a" * 100_000) is False
    assert render("{{ payload.t | regex_replace('(a|aa)+$', 'x') }}", t="a" * 5_000 + "!") == "a" * 5_000 + "!"


@pytest.mark.parametrize(
    "template, line, column, problem",
    [
        ("{{ payload.x | regex_replace('(a', '') }}", 1, 30, "missing ): (a"),
        ("{{ payload.x is match(\"[z-a]\") }}", 1, 23, "invalid character class range: z-a"),
        ("{% set y = 1 %}\n  {{ payload.x | regex_search(pattern='(?=x)') }}", 2, 39, "(RE2 has no look-around)"),
        ("{{ payload.x is search('a{1001}') }}", 1, 24, "invalid repetition size"),
        # the same text earlier on the line is not the pattern: the argument of the regex filter is
        ("{{ '(' ~ 'x' ~ (payload.x | regex_search('(')) }}", 1, 42, "missing )"),
    ],
)
def test_a_literal_pattern_re2_refuses_is_a_compile_error_with_its_position(template: str, line: int, column: int,
                                                                             problem: str) -> None:
    with pytest.raises(TemplateCompileError) as info:
        compile_template(template)
    assert (info.value.line, info.value.column) == (line, column)
    assert "is not valid RE2 syntax" in info.value.message and problem in info.value.message


def test_the_position_survives_compile_value() -> None:
    with pytest.raises(TemplateCompileError) as info:
        compile_value({"a": ["ok", "{{ payload.x | regex_split('(') }}"]})
    assert (info.value.path, info.value.line, info.value.column) == (("a", 1), 1, 28)


def test_a_valid_literal_pattern_compiles_and_a_non_literal_one_is_left_to_run_time() -> None:
    compile_template("{{ payload.x | regex_search('[0-9]+') }}")
    compile_template("{{ payload.x | regex_search(payload.p) }}")


def test_a_bad_pattern_from_data_fails_that_event_only() -> None:
    renderer = compile_template("{{ payload.x | regex_search(payload.p) }}")
    assert renderer(make_context({"x": "a1", "p": "[0-9]"}, {})) == "1"
    with pytest.raises(TemplateRenderError, match=r"regex_search: the regular expression '\(x' is not valid RE2"):
        renderer(make_context({"x": "a1", "p": "(x"}, {}))
    with pytest.raises(TemplateRenderError, match="regex_search needs a pattern string"):
        renderer(make_context({"x": "a1", "p": None}, {}))
    with pytest.raises(TemplateRenderError, match="longer than 10000 characters"):
        renderer(make_context({"x": "a1", "p": "a" * 10_001}, {}))


def test_objects_are_not_text() -> None:
    with pytest.raises(TemplateRenderError, match="regex_search needs a string"):
        render("{{ payload.o | regex_search('a') }}", o={"a": 1})


def test_an_unknown_group_is_an_error() -> None:
    with pytest.raises(TemplateRenderError, match="the pattern has no group 'nope'"):
        render("{{ 'ab' | regex_search('(a)', 'nope') }}")


def test_regex_calls_past_the_work_budget_fail_the_event_with_a_clear_error() -> None:
    big = "x" * 500_000  # 5 001 steps a scan: twenty scans pass the 100 000-step budget
    template = "{% for i in range(30) %}{{ payload.t is search('y') }}{% endfor %}"
    with pytest.raises(TemplateRenderError, match="the regular expressions of this render passed the work budget"):
        render(template, t=big)
    assert render("{% for i in range(10) %}{{ payload.t is search('y') }}{% endfor %}", t=big) == "false" * 10


def test_each_match_costs_a_step() -> None:
    # 60 000 matches each cost a step; twice that passes the budget
    with pytest.raises(TemplateRenderError, match="passed the work budget"):
        render("{% for i in range(2) %}{{ payload.t | regex_findall('a') | length }}{% endfor %}", t="a" * 60_000)


def test_what_replace_builds_is_bounded_as_it_grows() -> None:
    with pytest.raises(TemplateRenderError, match="longer than 1000000 characters"):
        render("{{ payload.t | regex_replace('', payload.t) }}", t="a" * 30_000)
    with pytest.raises(TemplateRenderError, match="longer than 1000000 characters"):
        render("{{ payload.t | regex_replace('a', '$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&$&') }}",
               t="a" * 30_000)


def test_patterns_compile_once() -> None:
    regex.compile_pattern.cache_clear()
    renderer = compile_template("{{ payload.x | regex_replace('[0-9]', '#') }}")
    for _ in range(3):
        assert renderer(make_context({"x": "a1b2"}, {})) == "a#b#"
    assert regex.compile_pattern.cache_info().misses == 1


SPEC = """\
spec_version: 1
name: Rx
slug: rx
actions:
  track:
    title: Track
    fields:
      text: {label: Text, type: string, default: {"@path": "$.properties.text"}}
      pattern: {label: Pattern, type: string, default: {"@path": "$.properties.pattern"}}
    request:
      method: POST
      url: https://api.example.com/track
      json:
        found: "{{ payload.text | regex_search(payload.pattern) }}"
        digits: "{% for i in range(30) %}{{ payload.text | regex_replace('[^0-9]', '') }}{% endfor %}"
"""


def test_engine_plan_gives_each_event_its_own_verdict(tmp_path, capsys) -> None:
    import json

    from engine.cli import main

    spec = tmp_path / "rx.yaml"
    spec.write_text(SPEC)
    events = [{"text": "ab12", "pattern": "[0-9]+"}, {"text": "ab12", "pattern": "(x"},
              {"text": "x" * 400_000, "pattern": "y"}]
    source = tmp_path / "events.jsonl"
    source.write_text("".join(json.dumps({"type": "track", "event": "e", "properties": p}) + "\n" for p in events))
    assert main(["plan", "--action", "track", str(spec), str(source)]) == 0
    lines = [json.loads(line)["results"][0] for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "error", "error"]
    assert lines[0]["requests"][0]["body"] == {"found": "12", "digits": "12" * 30}
    assert "regex_search: the regular expression '(x' is not valid RE2 syntax" in lines[1]["error"]
    assert "regex_replace: the regular expressions of this render passed the work budget" in lines[2]["error"]


@pytest.mark.parametrize(
    "call, expected",  # node 20's answers for the same calls
    [
        (lambda: regex.regex_replace("üa", "", "-"), "-ü-a-"),
        (lambda: regex.regex_split("ü€", ""), ["ü", "€"]),
        (lambda: regex.regex_findall("ü€", ""), ["", "", ""]),
        (lambda: regex.regex_replace("aüb", "ü", "$&$&"), "aüüb"),
        (lambda: regex.regex_search("ü€x", "€(.)", 1), "x"),
    ],
)
def test_empty_matches_never_split_a_character(call: Any, expected: Any) -> None:
    assert call() == expected


def test_a_pattern_past_re2s_memory_bound_is_refused() -> None:
    with pytest.raises(TemplateCompileError, match="pattern too large"):
        compile_template("{{ payload.x is search('\\\\pL{1000}') }}")
