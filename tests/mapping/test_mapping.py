"""Behaviour beyond the recorded vectors: strict validation, paths, compiled constants, edge cases."""

from __future__ import annotations

import pytest

from engine.jsvalues import UNDEFINED
from engine.mapping import (
    MappingError,
    MappingIssue,
    MappingRuntimeError,
    compile_mapping,
    transform,
    validate_mapping,
)
from engine.mapping.paths import get, split_path


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("a.b", ("a", "b")),
        ('a["b c"]', ("a", "b c")),
        ("a['b c'].d", ("a", "b c", "d")),
        ("a[0].b", ("a", "0", "b")),
        ('a["b.c"]', ("a", "b", "c")),
        ("a[b]", ("a[b]",)),
        ("", None),
        (".", None),
    ],
)
def test_split_path(path: str, keys: tuple[str, ...] | None) -> None:
    assert split_path(path) == keys


def test_get_follows_js_semantics() -> None:
    data = {"s": "h😀", "n": 0, "t": True, "l": [1, 2], "o": {"01": "x"}}
    assert get(data, "s.length") == 3  # UTF-16 code units
    assert get(data, "s.0") == "h"
    assert get(data, "n.a.b") == 0
    assert get(data, "t.a") is UNDEFINED
    assert get(data, "l.01") is UNDEFINED  # not a canonical index
    assert get(data, "l.5") is UNDEFINED
    assert get(data, "o.01") == "x"


def test_strict_validates_inside_arrays_with_index_in_path() -> None:
    mapping = {"a": [1, {"@path": 5}, {"b": {"@nope": 1}}]}
    assert validate_mapping(mapping, strict=False) == []
    assert validate_mapping(mapping) == [
        MappingIssue(
            ("a", 1, "@path"), "/a/1/@path should be a string or a mapping directive but it is a number."
        ),
        MappingIssue(("a", 2, "b"), "/a/2/b has an invalid directive: @nope."),
    ]


def test_strict_gives_merge_entries_and_array_path_elements_their_path() -> None:
    merge = {"m": {"@merge": {"direction": "right", "objects": [{"a": 1}, "x", 3]}}}
    assert [i.message for i in validate_mapping(merge, strict=False)] == [
        "/ should be a object or a mapping directive but it is a string."
    ]
    assert validate_mapping(merge) == [
        MappingIssue(
            ("m", "@merge", "objects", 1),
            "/m/@merge/objects/1 should be a object or a mapping directive but it is a string.",
        ),
        MappingIssue(
            ("m", "@merge", "objects", 2),
            "/m/@merge/objects/2 should be a object or a mapping directive but it is a number.",
        ),
    ]
    array_path = {"x": {"@arrayPath": [5, {"k": {"@path": 1}}]}}
    assert [i.path for i in validate_mapping(array_path, strict=False)] == [("x", "@arrayPath")]
    assert [i.message for i in validate_mapping(array_path)] == [
        "/x/@arrayPath/0 should be a string or a mapping directive but it is a number."
    ]


def test_strict_looks_inside_literal_objects() -> None:
    mapping = {"x": {"@literal": {"k": {"@path": 1}}}}
    assert validate_mapping(mapping, strict=False) == []
    with pytest.raises(MappingRuntimeError, match="^@path: expected string, got number$"):
        compile_mapping(mapping, strict=False)({})
    assert [i.message for i in validate_mapping(mapping)] == [
        "/x/@literal/k/@path should be a string or a mapping directive but it is a number."
    ]


def test_directive_option_shape_errors() -> None:
    assert [i.message for i in validate_mapping({"a": {"@if": {"@path": "x"}}})] == [
        "/a/@if should be an object but it is a directive."
    ]
    assert [
        i.message for i in validate_mapping({"a": {"@replace": {"pattern": "", "value": "v", "global": 1}}})
    ] == [
        "/a/@replace/pattern should be a string of length 1 or greater.",
        "/a/@replace/global should be a boolean but it is a number.",
    ]
    assert [i.message for i in validate_mapping({"@json": {"value": 1}})] == [
        '/@json should have field "mode" but it doesn\'t.'
    ]


def test_compile_mapping_raises_mapping_error_with_issues() -> None:
    with pytest.raises(MappingError) as info:
        compile_mapping({"a": {"@path": 1}, "b": {"@x": 1}})
    assert [issue.path for issue in info.value.issues] == [("a", "@path"), ("b",)]


def test_constant_results_are_fresh_copies() -> None:
    run = compile_mapping({"a": {"b": [1]}})
    first = run({})
    first["a"]["b"].append(2)
    assert run({}) == {"a": {"b": [1]}}


def test_value_mapping_returns_undefined_for_missing_path() -> None:
    assert compile_mapping({"@path": "$.nope"})({}) is UNDEFINED
    assert compile_mapping("$.literal")({}) == "$.literal"


def test_template_second_pass_sees_first_pass_output() -> None:
    run = compile_mapping({"@template": "{{{a}}}"})
    assert run({"a": "{{b}}", "b": "B"}) == "B"


def test_replace_js_specials_and_non_global() -> None:
    run = compile_mapping(
        {"@replace": {"pattern": "b", "replacement": "$`$'$$", "value": "abc", "global": False}}
    )
    assert run({}) == "aac$c"


def test_replace_pattern2_length_is_checked_at_runtime() -> None:
    run = compile_mapping({"@replace": {"pattern": "a", "pattern2": "abcdefghijk", "value": "a"}})
    with pytest.raises(MappingRuntimeError, match='^@replace requires a "pattern" less than 10 characters$'):
        run({})


def test_merge_typeof_message_and_runtime_errors_inside_arrays() -> None:
    with pytest.raises(MappingRuntimeError, match="^@merge: expected opts.array, got string$"):
        transform({"x": [{"@merge": {"direction": "right", "objects": "s"}}]}, {})
    with pytest.raises(MappingRuntimeError, match='^@if requires an object with an "exists" key$'):
        transform({"x": [{"@if": 1}]}, {})


def test_transform_inside_array_path_over_primitives() -> None:
    mapping = {
        "x": {"@arrayPath": ["$.tags", {"t": {"@transform": {"apply": {"a": 1}, "mapping": {"b": 2}}}}]}
    }
    with pytest.raises(MappingRuntimeError, match="^data must be an object, got string$"):
        transform(mapping, {"tags": ["a"]})


def test_root_directive_rule_errors() -> None:
    with pytest.raises(MappingError) as info:
        transform({"__segment_internal_directive": {"@a": {}, "@b": {}}}, {})
    assert info.value.issues == [
        MappingIssue(
            ("__segment_internal_directive",), "The root mapping must only have a single directive object"
        )
    ]
    with pytest.raises(MappingError, match="^The root directive must be an object$"):
        transform({"__segment_internal_directive": {"@path": "x"}}, {})


def test_flatten_and_json_encode_undefined() -> None:
    run = compile_mapping({"f": {"@flatten": {"separator": "-", "value": {"a": {"b": [1, {"c": None}]}}}}})
    assert run({}) == {"f": {"a-b-0": 1, "a-b-1-c": None}}
    encode = compile_mapping(
        {"@json": {"mode": "encode", "value": {"a": {"@path": "$.x"}, "l": [{"@path": "$.x"}], "f": 2.0}}}
    )
    assert encode({}) == '{"l":[null],"f":2}'


def test_liquid_parse_error_is_raised_per_event_not_at_compile() -> None:
    run = compile_mapping(
        {"@if": {"exists": {"@path": "$.go"}, "then": {"@liquid": "{% for x in y %}{% endfor %}"}}}
    )
    assert run({}) is UNDEFINED
    with pytest.raises(MappingRuntimeError, match='^tag "for" is disabled, line:1, col:1$'):
        run({"go": 1})


def test_liquid_limits_and_js_output() -> None:
    with pytest.raises(MappingRuntimeError, match="^liquid template values are limited to 1000 characters$"):
        compile_mapping({"@liquid": "x" * 1001})({})
    assert compile_mapping({"@liquid": "{{ a }}/{{ b }}"})({"a": 10.0, "b": {"k": 1}}) == "10/[object Object]"
