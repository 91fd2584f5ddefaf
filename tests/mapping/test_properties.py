"""Property tests: well-formed mappings never fail unexpectedly; arbitrary JSON either compiles
or yields MappingError with located issues."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.jsvalues import UNDEFINED
from engine.mapping import MappingError, MappingRuntimeError, compile_mapping, transform
from engine.mapping.resolve import is_directive

KEYS = st.sampled_from(["a", "b", "n", "s", "l", "o", "0", "length", "x y"])
PATHS = st.one_of(
    st.sampled_from(["$.", "", "$.a", "a.b", "$.l[0]", "$.l.1", "o['x y']", "s.length", "$.n.a", "nope"]),
    st.lists(KEYS, min_size=1, max_size=3).map(".".join),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=10,
)
EVENTS = st.dictionaries(KEYS, JSON, max_size=5)
SHORT = st.text(min_size=1, max_size=10)


def _directives(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    string_or = st.one_of(PATHS, inner)
    obj_or = st.one_of(st.dictionaries(KEYS, inner, max_size=2), inner.filter(lambda v: isinstance(v, dict)))
    return st.one_of(
        st.builds(lambda p: {"@path": p}, string_or),
        st.builds(lambda t: {"@template": t}, st.one_of(st.text(max_size=12).map(lambda t: t + "{{a}}"), inner)),
        st.builds(lambda v: {"@literal": v}, inner),
        st.builds(lambda e, t, f: {"@if": {"exists": e, "then": t, "else": f}}, inner, inner, inner),
        st.builds(lambda b, t: {"@if": {"blank": b, "then": t}}, inner, inner),
        st.builds(lambda o, v: {"@case": {"operator": o, "value": v}}, st.sampled_from(["lower", "upper"]), string_or),
        st.builds(
            lambda p, r, g, i, v: {"@replace": {"pattern": p, "replacement": r, "global": g, "ignorecase": i, "value": v}},
            SHORT, st.text(max_size=10), st.booleans(), st.booleans(), string_or,
        ),
        st.builds(lambda p, s: {"@arrayPath": [p, s]}, string_or, st.one_of(st.dictionaries(KEYS, inner, max_size=2), inner)),
        st.builds(lambda m, v: {"@json": {"mode": m, "value": v}}, st.sampled_from(["encode", "decode"]), inner),
        st.builds(lambda s, v, o: {"@flatten": {"separator": s, "value": v, "omitArrays": o}}, SHORT, inner, st.booleans()),
        st.builds(lambda d, objs: {"@merge": {"direction": d, "objects": objs}}, st.sampled_from(["left", "right"]), st.lists(obj_or, max_size=3)),
        st.builds(lambda a, m: {"@transform": {"apply": a, "mapping": m}}, obj_or, obj_or),
        st.builds(lambda v: {"@excludeWhenNull": v}, inner),
        st.builds(lambda t: {"@liquid": t}, st.sampled_from(["", "{{ a }}", "{{ s | upcase }}", "{% if n %}y{% endif %}", "{{ l | sort }}"])),
    )  # fmt: skip


MAPPINGS = st.recursive(
    st.one_of(SCALARS, st.builds(lambda p: {"@path": p}, PATHS)),
    lambda inner: st.one_of(
        _directives(inner), st.dictionaries(KEYS, inner, max_size=3), st.lists(inner, max_size=2)
    ),
    max_leaves=12,
)


def _json_clean(value: Any) -> None:
    assert value is not UNDEFINED
    if isinstance(value, dict):
        for item in value.values():
            _json_clean(item)
    elif isinstance(value, list):
        for item in value:
            _json_clean(item)


@settings(max_examples=400, deadline=None)
@given(MAPPINGS, EVENTS)
def test_well_formed_mappings_only_raise_mapping_errors(mapping: Any, event: dict) -> None:
    for strict in (True, False):
        try:
            result = compile_mapping(mapping, strict=strict)(event)
        except (MappingError, MappingRuntimeError):
            continue
        if result is not UNDEFINED:
            _json_clean(result)
    try:
        result = transform(mapping, event)
    except (MappingError, MappingRuntimeError):
        return
    if not is_directive(mapping):  # anything else is spread into an object first
        assert isinstance(result, dict)
    if result is not UNDEFINED:
        _json_clean(result)


ANY_JSON = st.recursive(
    st.one_of(SCALARS, st.sampled_from(["@path", "@if", "$.a"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.one_of(KEYS, st.sampled_from(["@path", "@if", "@merge", "@x", "then", "value", "_metadata"])),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None)
@given(ANY_JSON, st.booleans())
def test_arbitrary_json_compiles_or_reports_located_issues(mapping: Any, strict: bool) -> None:
    try:
        compile_mapping(mapping, strict=strict)
    except MappingError as err:
        assert err.issues
        for issue in err.issues:
            assert isinstance(issue.path, tuple)
            assert all(isinstance(part, (str, int)) for part in issue.path)
            assert issue.message.startswith("/") and issue.message.endswith(".")
