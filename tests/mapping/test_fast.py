"""The generated code of `engine/mapping/fast.py` against the general closures (`compile_general`).

Random mappings of the shapes the generator writes code for (constants, `@path` with fixed strings, `@if`
with exists/blank/then/else, object literals, arrays), with other directives mixed in (they stay general
closures called from the generated code), over random events holding odd types at every path step.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.jsvalues import UNDEFINED
from engine.mapping import MappingError, MappingRuntimeError, compile_mapping, fast
from engine.mapping.compile import compile_general, strip_undefined
from engine.mapping.fast import compile_fast
from engine.mapping.resolve import Const, compile_value

KEYS = st.sampled_from(["a", "b", "0", "1", "length", "x y", "a.b", "é", ""])
PATH_PARTS = st.sampled_from(
    ["a", "b", "0", "1", "2", "01", "length", "['x y']", '["a.b"]', "[0]", "[1]", "é"]
)


def _join(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if part.startswith("[") or not out else "." + part
    return out


PATHS = st.one_of(
    st.sampled_from(["$.", "", ".", "$.a", "a.$.b", "$.a.$.b", "$$.a", "a..b", "a[b]", "$.l.length"]),
    st.builds(lambda root, parts: root + _join(parts), st.sampled_from(["$.", "", "$.$."]), st.lists(PATH_PARTS, min_size=1, max_size=4)),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0", "abc", "héllo", "😀x", "x" * 3]),
)  # fmt: skip
# events: at every step a dict, a list, a string (astral characters count as two indexes), null, a number, a bool
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=14,
)
EVENTS = st.one_of(st.dictionaries(KEYS, JSON, max_size=5), JSON)


def _fast_shapes(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    branch = st.one_of(inner, st.just(0), st.just(""), st.just(False), st.none())  # falsy `else` is dropped
    return st.one_of(
        st.builds(lambda e, t, f: {"@if": {"exists": e, "then": t, "else": f}}, inner, inner, branch),
        st.builds(lambda e, t: {"@if": {"exists": e, "then": t}}, inner, inner),
        st.builds(lambda e, f: {"@if": {"exists": e, "else": f}}, inner, branch),
        st.builds(lambda b, t, f: {"@if": {"blank": b, "then": t, "else": f}}, inner, inner, branch),
        st.builds(lambda e, b, t: {"@if": {"exists": e, "blank": b, "then": t}}, branch, inner, inner),
        st.dictionaries(KEYS, inner, max_size=4),
        st.lists(inner, max_size=3),
    )


FAST_LEAVES = st.one_of(
    SCALARS,
    st.builds(lambda p: {"@path": p}, PATHS),
    st.builds(lambda p: {"@path": p, "_metadata": {}}, PATHS),
)
FAST_MAPPINGS = st.recursive(FAST_LEAVES, _fast_shapes, max_leaves=14)

OTHER = st.one_of(
    st.builds(lambda p: {"@template": "{{" + p + "}}!"}, st.sampled_from(["a", "a.b", "0"])),
    st.builds(lambda v: {"@case": {"operator": "upper", "value": v}}, st.one_of(PATHS.map(lambda p: {"@path": p}), st.just(""))),
    st.builds(lambda v: {"@path": {"@template": v}}, st.sampled_from(["a", "$.a.b", "{{a}}"])),
    st.just({"@merge": {"direction": "left", "objects": [{"@path": "$.a"}, {"k": {"@path": "$.b"}}]}}),
    st.just({"@merge": {"direction": "right", "objects": {"@path": "$.a"}}}),  # fails at run time
    st.just({"@json": {"mode": "encode", "value": {"@path": "$.a"}}}),
    st.just({"@literal": {"k": {"@path": "$.missing"}, "j": 1}}),
    st.just({"@excludeWhenNull": {"@path": "$.a"}}),
)  # fmt: skip
MIXED_MAPPINGS = st.recursive(st.one_of(FAST_LEAVES, OTHER), _fast_shapes, max_leaves=14)


def _outcome(run: Any, event: Any) -> tuple[str, Any]:
    try:
        return "ok", run(event)
    except MappingRuntimeError as err:
        return "error", str(err)


def _same(fast: tuple[str, Any], general: tuple[str, Any]) -> None:
    assert fast[0] == general[0]
    if fast[0] == "error":
        assert fast[1] == general[1]
        return
    a, b = fast[1], general[1]
    assert (a is UNDEFINED) == (b is UNDEFINED)
    if a is not UNDEFINED:
        assert a == b
        assert type(a) is type(b)
        # key order, null vs missing, int vs float; json (not orjson) so that lone surrogates, which a JS
        # string index can produce, compare too
        assert json.dumps(a) == json.dumps(b)


def _check(mapping: Any, event: Any) -> None:
    for strict in (True, False):
        try:
            general = compile_general(mapping, strict=strict)
        except MappingError as err:
            with pytest.raises(MappingError) as info:
                compile_mapping(mapping, strict=strict)
            assert str(info.value) == str(err)
            continue
        _same(_outcome(compile_mapping(mapping, strict=strict), event), _outcome(general, event))


@settings(max_examples=600, deadline=None)
@given(FAST_MAPPINGS, EVENTS)
def test_generated_code_gives_what_the_general_path_gives(mapping: Any, event: Any) -> None:
    _check(mapping, event)


@settings(max_examples=400, deadline=None)
@given(MIXED_MAPPINGS, EVENTS)
def test_general_closures_inside_generated_code(mapping: Any, event: Any) -> None:
    _check(mapping, event)


CONDITIONS = st.one_of(st.builds(lambda p: {"@path": p}, PATHS), st.sampled_from([1, "x", True, [], {}]))
PURE_MAPPINGS = st.recursive(
    FAST_LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda c, t, f: {"@if": {"exists": c, "then": t, "else": f}}, CONDITIONS, inner, inner),
        st.builds(lambda c, t: {"@if": {"blank": c, "then": t}}, CONDITIONS, inner),
        st.dictionaries(KEYS, inner, max_size=4),
        st.lists(inner, max_size=3),
    ),
    max_leaves=14,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, PURE_MAPPINGS, min_size=1, max_size=4), EVENTS)
def test_fast_shapes_need_no_general_closure(mapping: dict, event: Any) -> None:
    """Mappings made of the fast shapes (`@if` conditions: a `@path` or a constant) are served by generated
    code alone: no general closure, no strip pass."""
    fast = compile_fast(mapping, False, strip_undefined)
    if fast is None:  # folds to a constant: compile_mapping serves it without generated code
        assert isinstance(compile_value(mapping, False), Const)
        return
    source = fast[1]
    assert not re.search(r"\bf[0-9]+\(", source)
    assert "_strip(" not in source
    _same(
        _outcome(compile_mapping(mapping, strict=False), event),
        _outcome(compile_general(mapping, strict=False), event),
    )


def test_seed_spec_style_mapping() -> None:
    mapping = {
        "email": {"@if": {"exists": {"@path": "$.properties.email"}, "then": {"@path": "$.properties.email"},
                          "else": {"@path": "$.context.traits.email"}}},
        "url": {"@path": "$.context.page.url"},
        "utm": {"source": {"@path": "$.context.campaign.source"}, "medium": {"@path": "$.context.campaign.medium"}},
        "first": {"@path": "$.properties.items[0].name"},
        "count": {"@path": "properties.items.length"},
        "kind": "track",
        "tags": ["a", {"@path": "$.missing"}, {"@path": "$.type"}],
    }  # fmt: skip
    event = {
        "type": "track",
        "properties": {"email": None, "items": [{"name": "x"}, {}]},
        "context": {
            "traits": {"email": "t@example.com"},
            "page": "not an object",
            "campaign": {"medium": "cpc"},
        },
    }
    run = compile_mapping(mapping)
    expected = {
        "utm": {"medium": "cpc"}, "first": "x", "count": 2, "kind": "track", "tags": ["a", None, "track"],
    }  # fmt: skip
    assert run(event) == {"email": "t@example.com", **expected}
    assert list(run(event)) == ["email", "utm", "first", "count", "kind", "tags"]
    assert _outcome(run, event) == _outcome(compile_general(mapping), event)


def test_constant_containers_are_copied_per_call() -> None:
    run = compile_mapping({"a": {"@path": "$.a"}, "fixed": {"k": [1, 2]}})
    first = run({"a": 1})
    first["fixed"]["k"].append(3)
    assert run({"a": 1}) == {"a": 1, "fixed": {"k": [1, 2]}}


def test_values_from_the_event_are_not_copied() -> None:
    event = {"properties": {"a": [1, {"b": 2}]}}
    assert compile_mapping({"p": {"@path": "$.properties"}})(event)["p"] is event["properties"]


def test_constants_folded_around_an_undefined() -> None:
    """`@case` without a value folds to undefined at compile time: the constant it sits in loses that member
    (an array item becomes null), as the general path's strip pass does."""
    undefined = {"@case": {"operator": "lower", "value": ""}}
    mapping = {"a": {"@path": "$.a"}, "fixed": {"x": undefined, "y": 1, "l": [undefined, 2]}, "u": undefined}
    event = {"a": 1}
    assert compile_mapping(mapping)(event) == {"a": 1, "fixed": {"y": 1, "l": [None, 2]}}
    _same(_outcome(compile_mapping(mapping), event), _outcome(compile_general(mapping), event))


@pytest.mark.parametrize("depth", [1, 3, 4, 5, 7])
def test_deeply_nested_if(depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`@if`s nested past MAX_IF_DEPTH keep their general closures (below it: nested `if` statements).
    MAX_IF_DEPTH is lowered to 4 here: validate_mapping takes time exponential in the nesting of `@if`."""
    monkeypatch.setattr(fast, "MAX_IF_DEPTH", 4)
    mapping: Any = {"@path": "$.a.b"}
    for level in range(depth):
        mapping = {"@if": {"exists": {"@path": f"$.l.{level % 3}"}, "then": mapping, "else": {"k": level}}}
    mapping = {"x": mapping}
    source = fast.compile_fast(mapping, True, strip_undefined)[1]  # type: ignore[index]
    assert ("_strip(" in source) == (depth > 4)
    for event in ({"a": {"b": 1}, "l": [0, None, 2]}, {"a": {"b": 1}, "l": [0, 1, 2]}, {"l": "ab"}, {}):
        _same(_outcome(compile_mapping(mapping), event), _outcome(compile_general(mapping), event))
