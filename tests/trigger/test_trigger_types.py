"""`Trigger.types`: the event types of a trigger that only tests `type` (`type = "a"`, or such conditions joined by
`or`). A router may check `event["type"] in trigger.types` instead of calling the trigger, so for every event whose
type is a str the two must agree; every other trigger has no types."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.trigger import compile_trigger

TYPES = ["track", "page", "identify", "group", "Track", "track ", "", "1", "é"]

type_only = st.lists(st.sampled_from(TYPES), min_size=1, max_size=4).map(
    lambda kinds: " or ".join(f'type = "{k}"' for k in kinds))
# triggers that test something else, or the type another way: they must have no types
others = st.sampled_from([
    'type != "track"', 'type = "track" and userId = "u"', 'event = "track"', 'name = "track"',
    'type = "track" or event = "x"', 'type != "page" or type = "track"', 'userId = "track"',
    'type = "track" and type = "track"', 'properties.type = "track"', 'contains(event, "track")',
    'type = "track" or (type = "page" and event = "x")', 'type = "track" and (event = "x" or event = "track")',
])
event_type = st.one_of(st.sampled_from(TYPES), st.none(), st.integers(0, 2), st.booleans(),
                       st.lists(st.just("track"), max_size=1), st.text(max_size=3))
events = st.builds(lambda kind, has, rest: ({"type": kind} if has else {}) | rest, event_type, st.booleans(),
                   st.fixed_dictionaries({}, optional={"event": st.sampled_from(["x", "track"]),
                                                       "userId": st.sampled_from(["u", "track"]),
                                                       "name": st.sampled_from(["track"])}))


@settings(max_examples=400, deadline=None)
@given(text=type_only, event=events)
def test_types_decide_for_a_str_type(text: str, event: dict[str, Any]) -> None:
    trigger = compile_trigger(text)
    assert trigger.types is not None
    assert trigger.types == frozenset(part.split('"')[1] for part in text.split(" or "))
    if type(event.get("type")) is str:
        assert (event["type"] in trigger.types) is trigger(event)


@settings(max_examples=100, deadline=None)
@given(text=others)
def test_other_triggers_have_no_types(text: str) -> None:
    assert compile_trigger(text).types is None


def test_the_events_reach_both_answers() -> None:
    trigger = compile_trigger('type = "track" or type = "page"')
    assert trigger.types == {"track", "page"}
    assert trigger({"type": "page"}) and not trigger({"type": "Page"}) and not trigger({"type": ["page"]})
