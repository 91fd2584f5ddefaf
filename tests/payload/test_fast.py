"""The generated fast path (`engine/payload/_fast.py`) against the general path it stands in for.

Every answer of `validator(payload)` (fast first, general when it bails) must be exactly what
`validator.general(payload)` gives: the same value (types and key order included) or the same error text.
"""

from __future__ import annotations

import copy
import math
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.jsvalues import UNDEFINED
from engine.payload import PayloadError, PayloadValidator, compile_fields
from engine.payload._fast import Bail, compile_fast
from engine.runtime import load_destination

from .test_properties import _field

SLUGS = ["usermotion", "usermaven", "userpilot", "usercom"]

_ODD = st.sampled_from(
    ["", " ", "0", "1", "-1.5", "true", "false", "0x10", "2021-01-01", "2024-02-07T14:39:40.091Z",
     "2021-13-45", "a@b.co", "https://x.io/a", "user", "x", "foo 1", UNDEFINED, math.inf, -math.inf, 2**60, -0.0,
     1.0, 0, 3.5, True, False, None]
)
_SCALAR = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=6) | _ODD
_JSON = st.recursive(
    _SCALAR,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "x"]), children, max_size=3),
    max_leaves=8,
)


def _exact(value: Any) -> Any:
    """A comparable form that tells 1 from 1.0 from True and keeps the order of keys."""
    if isinstance(value, dict):
        return ("dict", type(value).__name__, [(k, _exact(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_exact(v) for v in value])
    return (type(value).__name__, repr(value))


def _answer(call: Any, payload: Any, batch: bool) -> Any:
    try:
        return ("ok", _exact(call(payload, batch=batch)))
    except PayloadError as error:
        return ("error", str(error), [(i.pointer, i.message, i.path) for i in error.errors])


def _assert_same(validator: Any, payload: Any, batch: bool) -> None:
    before = copy.deepcopy(payload)
    assert _answer(validator, payload, batch) == _answer(validator.general, payload, batch)
    assert _exact(payload) == _exact(before)  # neither path writes into the caller's payload


@cache
def _spec_actions() -> list[tuple[str, Any]]:
    out = []
    for slug in SLUGS:
        for key, action in load_destination(slug).actions.items():
            if action.validate.schema is not None:
                out.append((f"{slug}.{key}", action.validate))
    return out


def _value_for(field: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of the field's own type (mostly valid ones: the fast path only answers when all else is valid)."""
    kind = field.get("type")
    if kind == "object" and field.get("properties"):
        own: st.SearchStrategy[Any] = _payload_for(field["properties"])
    elif kind == "object":
        own = st.dictionaries(st.sampled_from(["a", "b"]), _SCALAR, max_size=2)
    elif kind in ("number", "integer"):
        own = st.integers(-100, 100) | st.floats(-1e3, 1e3)
    elif kind == "boolean":
        own = st.booleans()
    elif kind == "datetime":
        own = st.sampled_from(["2024-02-07T14:39:40.091Z", "2024-02-07", "1700000000", "Tue, 01 Nov 2022 10:00:00 GMT",
                               "2024-02-30T25:00:00Z", "nonsense"]) | st.integers(0, 2**31)
    else:
        choices = [c if isinstance(c, str) else c.get("value") for c in field.get("choices") or []]
        own = st.sampled_from(choices) if choices else st.text(max_size=8) | st.sampled_from(["a@b.co", "user"])
    if field.get("multiple"):
        own = st.lists(own, max_size=3) | own
    return own


def _perturbed(payload: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The payload as it is, or with one key (present or not) set to an odd value, in place."""
    odd = st.tuples(st.sampled_from([*payload, "extra", "a"]), _ODD | _JSON)
    return st.just(payload) | odd.map(lambda kv: {**payload, kv[0]: kv[1]})


def _payload_for(fields: dict[str, dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    keys = list(fields)
    return st.lists(st.sampled_from([*keys, "extra"]), unique=True, max_size=len(keys) + 1).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {k: (_value_for(fields[k]) if k in fields else _JSON) for k in chosen}
        )
    ).flatmap(_perturbed)


@pytest.mark.parametrize("batch", [False, True])
def test_every_spec_action_has_a_fast_function(batch: bool) -> None:
    for name, validator in _spec_actions():
        assert compile_fast(validator.schema, batch=batch) is not None, name


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batch=st.booleans())
def test_spec_actions_fast_equals_general(data: st.DataObject, batch: bool) -> None:
    name, validator = data.draw(st.sampled_from(_spec_actions()))
    payload = data.draw(_payload_for(validator.fields), label=name)
    _assert_same(validator, payload, batch)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(["a", "b", "c", "id", "kind"]), _field(), min_size=1, max_size=4),
       data=st.data(), batch=st.booleans())
def test_random_fields_fast_equals_general(fields: dict[str, Any], data: st.DataObject, batch: bool) -> None:
    validator = compile_fields(fields)
    payload = data.draw(_payload_for(fields) | _JSON)
    _assert_same(validator, payload, batch)


def test_the_fast_function_answers_valid_payloads_itself() -> None:
    # the parity tests above are only meaningful if the fast function answers (rather than bails) on the usual case
    fields = {
        "name": {"label": "Name", "type": "string", "required": True},
        "count": {"label": "Count", "type": "integer"},
        "when": {"label": "When", "type": "datetime"},
        "kind": {"label": "Kind", "type": "string", "choices": ["a", "b"]},
        "box": {"label": "Box", "type": "object", "properties": {"w": {"label": "W", "type": "number"}}},
        "anon": {"label": "Anon", "type": "string"},
        "user": {"label": "User", "type": "string",
                 "required": {"conditions": [{"field_key": "anon", "operator": "is"}]}},
    }
    validator = compile_fields(fields)
    fast = compile_fast(validator.schema, batch=False)
    assert fast is not None
    payload = {"name": "n", "count": 2, "when": "2024-02-07T14:39:40.091Z", "kind": "a", "box": {"w": 1.5, "z": 1},
               "anon": "x", "empty": ""}
    assert fast(payload) == validator.general(payload) == {
        "name": "n", "count": 2, "when": "2024-02-07T14:39:40.091Z", "kind": "a", "box": {"w": 1.5}, "anon": "x"}
    for invalid in ({"name": "n", "kind": "c"}, {"name": "n", "when": "nonsense"}, {"name": "n"}, {"count": 2.5}):
        with pytest.raises(Bail):
            fast(invalid)
        with pytest.raises(PayloadError):
            validator(invalid)


def test_missing_required_root_fields_are_reported_by_the_fast_function() -> None:
    fields = {
        "a": {"label": "A", "type": "string", "required": True},
        "b": {"label": "B", "type": "number"},
        "c": {"label": "C", "type": "string", "required": True},
    }
    validator = compile_fields(fields)
    fast = compile_fast(validator.schema, batch=False)
    assert fast is not None
    for payload in ({"b": 1}, {"a": "", "b": "2", "x": 1}, {"c": "x"}):
        with pytest.raises(PayloadError) as from_fast:
            fast(payload)
        with pytest.raises(PayloadError) as from_general:
            validator.general(payload)
        assert from_fast.value.errors == from_general.value.errors
    with pytest.raises(Bail):  # a second kind of issue: the general path reports them all
        fast({"b": "not a number"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ({"type": "string"}, 12),  # coerced to "12" by the property's general pipeline, no bail
        ({"type": "number"}, "7"),
        ({"type": "integer"}, 2.0),
        ({"type": "boolean"}, "true"),
        ({"type": "string", "multiple": True}, "one"),  # arrified
        ({"type": "string", "multiple": True}, ["a", None, ""]),
        ({"type": "number", "allow_null": True}, None),
        ({"type": "string"}, None),
        ({"type": "number"}, ""),
        ({"type": "integer"}, 2**60),
        ({"type": "number"}, math.inf),
    ],
)
def test_properties_the_fast_function_hands_to_the_general_pipeline(field: dict[str, Any], value: Any) -> None:
    validator = compile_fields({"f": {"label": "F", **field}, "g": {"label": "G", "type": "string"}})
    for batch in (False, True):
        _assert_same(validator, {"g": "x", "f": value}, batch)


def test_condition_that_coerces_leaves_it_to_the_general_path() -> None:
    # `anon is undefined` tests `anon` against {"type": "null"}: ajv coerces false to null while checking
    fields = {
        "anon": {"label": "Anon", "type": "boolean"},
        "user": {"label": "User", "type": "string",
                 "required": {"conditions": [{"field_key": "anon", "operator": "is"}]}},
    }
    validator = compile_fields(fields)
    fast = compile_fast(validator.schema, batch=False)
    assert fast is not None
    with pytest.raises(Bail):
        fast({"anon": False, "user": "u"})
    assert validator({"anon": False, "user": "u"}) == validator.general({"anon": False, "user": "u"}) == {
        "anon": None, "user": "u"}


_TWO = st.sampled_from(["00", "01", "09", "10", "12", "13", "19", "23", "24", "25", "29", "30", "31", "32", "59", "60", "99"])
_ODD_FIELD = _TWO | st.text("0123456789", max_size=3) | st.sampled_from(["+1", " 1", "1a", "٣٣", "1٣"])


@st.composite
def _timestamp_like(draw: st.DrawFn) -> str:
    """A canonical timestamp with a few of its parts changed: to limits and beyond, odd separators and zones."""
    parts = {"year": "2024", "month": "02", "day": "07", "sep": "T", "hour": "14", "minute": "39", "second": "40",
             "fraction": ".091", "zone": "Z"}
    odd = {
        "year": st.sampled_from(["1970", "0000", "9999", "202", "20245", "+002024"]),
        "sep": st.sampled_from(["t", " ", "-", "TT", ""]),
        "fraction": st.sampled_from(["", ".5", ".", ".1234567", ",5"]),
        "zone": st.sampled_from(["z", "", "+01:00", " Z", "Z ", "ZZ", "\n"]),
    }
    for name in draw(st.lists(st.sampled_from(list(parts)), min_size=1, max_size=3, unique=True)):
        parts[name] = draw(odd.get(name, _ODD_FIELD))
    p = parts
    return f"{p['year']}-{p['month']}-{p['day']}{p['sep']}{p['hour']}:{p['minute']}:{p['second']}{p['fraction']}{p['zone']}"


@settings(max_examples=1500, deadline=None)
@given(value=_timestamp_like() | st.text(max_size=30))
def test_date_like_shortcut_agrees_with_the_full_check(value: str) -> None:
    from engine.payload._dates import is_date_like, is_date_like_general

    assert is_date_like(value) == is_date_like_general(value)


_COND_KEYS = ["a", "b", "o", "o.x", "o.y", "a.b"]


@st.composite
def _condition(draw: st.DrawFn) -> dict[str, Any]:
    condition: dict[str, Any] = {"field_key": draw(st.sampled_from(_COND_KEYS)),
                                 "operator": draw(st.sampled_from(["is", "is_not"]))}
    if draw(st.integers(0, 3)):
        condition["value"] = draw(st.sampled_from(["x", "", 0, 1, True, False, None, [1], {"k": 1}]))
    return condition


@st.composite
def _conditional_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Fields whose requirement depends on others: plain, dotted (`o.x`) and nested sub-field conditions."""
    def required() -> Any:
        if draw(st.booleans()):
            return draw(st.booleans())
        return {"match": draw(st.sampled_from(["any", "all"])),
                "conditions": draw(st.lists(_condition(), min_size=1, max_size=3))}

    fields: dict[str, Any] = {
        "a": {"label": "A", "type": draw(st.sampled_from(["string", "boolean", "number"])), "required": required()},
        "b": {"label": draw(st.sampled_from(["", "B"])), "type": "string", "required": required()},
        "o": {"label": "O", "type": "object", "required": required(),
              "properties": {"x": {"label": "X", "type": "string", "required": required()},
                             "y": {"label": "Y", "type": "integer", "allow_null": draw(st.booleans())}}},
    }
    if draw(st.booleans()):
        fields["a.b"] = {"label": "AB", "type": "string", "required": required()}
    return fields


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=_conditional_fields(), data=st.data(), batch=st.booleans())
def test_conditionally_required_fast_equals_general(fields: dict[str, Any], data: st.DataObject, batch: bool) -> None:
    validator = compile_fields(fields)
    assert compile_fast(validator.schema, batch=batch) is not None
    payload = data.draw(_payload_for(fields) | _JSON)
    _assert_same(validator, payload, batch)


# Sub-schemas beyond what `fields_to_json_schema` writes: keywords the generator leaves to the general pipeline
# (const, not, anyOf on a property; enum of numbers), coercing `if` conditions (type string, enum) that go through
# the general predicate, else branches, nested objects keeping additional properties.
_PROPERTY_SCHEMAS = [
    {"type": "string"},
    {"type": "string", "minLength": 2, "maxLength": 4, "title": "S"},
    {"type": ["string", "null"], "enum": ["x", "user", None]},
    {"type": "number", "minimum": 0.5, "maximum": 10, "format": "int32"},
    {"type": "integer", "enum": [1, 2, 3.0]},
    {"type": ["number", "boolean"]},
    {"type": "boolean", "const": True},
    {"type": "string", "not": {"const": "x"}},
    {"anyOf": [{"type": "string"}, {"type": "number"}]},
    {"type": "array", "items": {"type": "string", "enum": ["x", "1"]}},
    {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]}},
    {"type": "object", "additionalProperties": True, "properties": {"k": {"type": "integer"}}, "required": ["k"]},
    {"type": "object", "additionalProperties": False, "properties": {"o": {"type": "object", "properties": {
        "z": {"type": "null"}}, "additionalProperties": False}}},
    {"type": "object", "additionalProperties": False},
    {"title": "no type"},
]
_CONDITIONS = [
    {"required": ["a"]},
    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
    {"properties": {"a": {"enum": ["x", 1]}}},
    {"properties": {"b": {"const": "x"}}},
    {"not": {"properties": {"a": {"type": "null"}}}},
    {"anyOf": [{"required": ["b"]}, {"properties": {"a": {"minimum": 3}}}]},
    {"allOf": [{"required": ["a"]}, {"properties": {"c": {"type": "null"}}}]},
]


@st.composite
def _schema(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    properties = {k: draw(st.sampled_from(_PROPERTY_SCHEMAS)) for k in keys}
    schema: dict[str, Any] = {"type": "object", "additionalProperties": draw(st.booleans()), "properties": properties,
                              "required": draw(st.lists(st.sampled_from(["a", "b", "c", "x"]), max_size=2, unique=True))}
    clauses = []
    for _ in range(draw(st.integers(0, 2))):
        clause: dict[str, Any] = {"if": draw(st.sampled_from(_CONDITIONS))}
        if draw(st.booleans()):
            clause["then"] = draw(st.sampled_from(_CONDITIONS))
        if draw(st.booleans()):
            clause["else"] = draw(st.sampled_from(_CONDITIONS))
        clauses.append(clause)
    if clauses:
        schema["allOf"] = clauses
    if draw(st.integers(0, 4)) == 0:
        schema["anyOf"] = [draw(st.sampled_from(_CONDITIONS)), draw(st.sampled_from(_CONDITIONS))]
    if draw(st.integers(0, 4)) == 0:
        schema["not"] = draw(st.sampled_from(_CONDITIONS))
    return schema


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_schema(), data=st.data(), batch=st.booleans())
def test_hand_written_schemas_fast_equals_general(schema: dict[str, Any], data: st.DataObject, batch: bool) -> None:
    validator = PayloadValidator.from_schema(schema)
    assert compile_fast(schema, batch=batch) is not None
    value = st.one_of(_JSON, st.sampled_from(["x", "user", 1, 2, 3.0, 7, "ab", {"k": 1}, {"k": "1"}, [{"k": "v"}],
                                             {"o": {"z": 0}}, ["x", None, ""], "", None]))
    payload = data.draw(st.dictionaries(st.sampled_from(["a", "b", "c", "x"]), value, max_size=4))
    _assert_same(validator, payload, batch)


_NEAR_MISS = st.sampled_from(["zzz", "xxxxxxxxxxxx", "", " ", "1", 11, -1, 0.5, 2.0, True, [], {}, ["x"], [None]])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=_field(), data=st.data(), batch=st.booleans(), before=st.booleans())
def test_one_field_with_every_kind_of_value(field: dict[str, Any], data: st.DataObject, batch: bool,
                                            before: bool) -> None:
    # one field next to a valid one: whatever the value, the fast function is what answers unless it bails
    value = data.draw(_value_for(field) | _NEAR_MISS | _ODD | _JSON)
    fields = {"k": field, "other": {"label": "O", "type": "string"}}
    payload = {"other": "o", "k": value} if before else {"k": value, "other": "o"}
    _assert_same(compile_fields(fields), payload, batch)
