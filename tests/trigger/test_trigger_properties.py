"""Property tests: any text either compiles or is refused with a column inside the text, and whatever
compiles agrees with Segment's own reading (parse_segment + match_segment) on random events."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.trigger import TriggerError, compile_trigger, match_segment, parse_segment

PIECES = [
    "type", "event", "name", "userId", "properties.total", "properties.a.b", "traits.plan", "context.app",
    "properties", "Type", "AND", "OR", "not", "and", "or", "null", "true", "false", "contains", "match",
    "=", "!=", "<", "<=", ">", ">=", "!", "(", ")", ",", ".", "[", "]", '"', "'", '"x"', '"*a"', '"a*"',
    "'x'", "10", "-", "+1", "1.5", "1.", "1e1", "\\", "\r", "\n", "\t", "an", "nu", "#", "-1",
    'type = "track"', "properties.total > 5", 'contains(event, "O")', '!match(name, "*e")', "traits.plan = null",
]
SEPARATORS = st.sampled_from(["", " ", " ", "  ", "\n"])


@st.composite
def junk_triggers(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=12))
    out = ""
    for part in parts:
        out += draw(SEPARATORS) + part
    return out


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(junk_triggers())
def test_any_text_compiles_or_is_refused_inside_the_text(text: str) -> None:
    try:
        trigger = compile_trigger(text)
    except TriggerError as err:
        assert 1 <= err.column <= len(text) + 1
        assert err.message and str(err) == f"col {err.column}: {err.message}"
        assert not err.message.startswith("Segment reads this trigger differently")
    else:
        assert trigger({"type": "track", "properties": {"total": 10}}) in (True, False)
    assert isinstance(parse_segment(text), dict)  # the Segment layer never raises while parsing


FIELDS = ["type", "event", "name", "userId", "properties.total", "properties.a.b", "properties.arr.length",
          "traits.plan", "context.app.version", "properties.name"]
VALUES = ['"track"', '"10"', '"x"', '"Widget"', '""', "10", "-5", "1.5", "+2", "0", "true", "false", "null",
          "track", '"1e3"', '" 7"', "'x'"]
PATTERNS = ['"Wid*"', '"*get"', '"*"', '"Widget"', '"W"', '"*a*"', "5"]
EVENT_VALUES = st.one_of(
    st.sampled_from(["track", "identify", "10", "x", "Widget", "", "true", "null", " 7", "1e3", "u1"]),
    st.sampled_from([10, -5, 0, 1.5, 2, 1000, True, False, None]),
    st.lists(st.integers(-2, 2), max_size=3),
)


@st.composite
def conditions(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        fn = draw(st.sampled_from(["contains", "match", "!contains", "!match"]))
        value = draw(st.sampled_from(PATTERNS + VALUES))
        return f"{fn}({draw(st.sampled_from(FIELDS))}, {value})"
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    return f"{draw(st.sampled_from(FIELDS))} {op} {draw(st.sampled_from(VALUES))}"


@st.composite
def well_formed(draw: st.DrawFn, depth: int = 0) -> str:
    count = draw(st.integers(1, 3))
    terms = []
    for _ in range(count):
        if depth < 1 and draw(st.integers(0, 3)) == 0:
            terms.append(f"({draw(well_formed(depth + 1))})")
        else:
            terms.append(draw(conditions()))
    joiner = draw(st.sampled_from([" and ", " or "]))
    if draw(st.integers(0, 5)) == 0 and count > 2:  # sometimes mix, which must be refused
        return terms[0] + " and " + terms[1] + " or " + " or ".join(terms[2:])
    return joiner.join(terms)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for key in ["type", "event", "name", "userId"]:
        if draw(st.booleans()):
            event[key] = draw(EVENT_VALUES)
    for key, names in (("properties", ["total", "name", "a", "arr"]), ("traits", ["plan"]),
                       ("context", ["app"])):
        if draw(st.integers(0, 4)) == 0:
            event[key] = draw(EVENT_VALUES)
            continue
        inner: dict[str, Any] = {}
        for name in names:
            if draw(st.booleans()):
                inner[name] = draw(st.one_of(EVENT_VALUES, st.fixed_dictionaries(
                    {}, optional={"b": EVENT_VALUES, "version": EVENT_VALUES})))
        event[key] = inner
    return event


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(well_formed(), st.lists(events(), min_size=1, max_size=4))
def test_accepted_triggers_agree_with_segment(text: str, sample: list[dict[str, Any]]) -> None:
    try:
        trigger = compile_trigger(text)
    except TriggerError as err:
        assert not err.message.startswith("Segment reads this trigger differently"), (text, str(err))
        return
    ast = parse_segment(text)
    assert trigger.segment_ast == ast
    for event in sample:
        assert trigger(event) is match_segment(ast, event), (text, event)
