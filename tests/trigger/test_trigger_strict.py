"""The strict layer: exact refusal messages and columns, semantics that match Segment, the extension."""

from __future__ import annotations

import pytest

from engine.trigger import TriggerError, compile_trigger, match_segment, parse_segment

EVENT = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "properties": {"total": 10, "str": "10", "name": "Widget", "zero": 0, "nul": None, "off": False,
                   "arr": [5, 6], "nested": {"a": 1}, "or": "x"},
    "traits": {"plan": "pro"},
    "context": {"app": {"version": "1.2"}},
}


def refusal(text: str) -> str:
    with pytest.raises(TriggerError) as info:
        compile_trigger(text)
    return str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ("", 'col 1: empty trigger: write a condition such as type = "track"'),
    ("   ", 'col 1: empty trigger: write a condition such as type = "track"'),
    ("type = ", "col 8: expected a value after '='"),
    ('type = "track" and', 'col 19: expected a condition such as type = "track", found the end of the trigger'),
    ('event = "Order', "col 9: unterminated string"),
    ("properties.total>5", "col 17: unexpected character '>': put a space before '>'"),
    ("type = #", "col 8: unexpected character '#'"),
    ("properties.total <=10",
     "col 18: put a space after '<=': Segment reads '<=' followed by a value as '<' and '='"),
    ("type == \"x\"", "col 7: expected a value after '=', found '=' (use a single '=')"),
    ('type = "track" or Event = "x"', "col 19: unknown field 'Event': Segment skips conditions on it silently; "
     "use type, event, name, userId, properties.<name>, traits.<name> or context.<name> (did you mean 'event'?)"),
    ('type.x = "a"', "col 1: 'type' has no sub-fields: Segment reads 'type.x' as 'type'"),
    ('properties = "a"', "col 1: 'properties' needs a name: write properties.<name>"),
    ('type = "a" OR type = "b"', "col 12: 'OR' is not a keyword: Segment skips it silently and joins the "
     "conditions with the group's other operator ('and' by default); write 'or'"),
    ('(type = "a") and(type = "b")', "col 14: put a space after 'and': Segment reads 'and(' as an unknown "
     "word and skips it"),
    ('!type = "x"', "col 1: Segment ignores '!' unless it comes right before contains( or match(; use != to "
     "negate a comparison"),
    ('match(name, "*a*")', "col 13: match() supports one '*', at the start or at the end of the pattern "
     "(Segment reads any other '*' as a literal character); use contains() to search inside the text"),
    ('contains(type, "x")', "col 10: Segment's contains() cannot test type (it drops the condition); compare "
     'with type = "..." instead'),
    ("contains(properties.total, 1.50)", 'col 28: Segment searches for the text "1.5", not "1.50"; write "1.50"'),
    ('properties.total > "abc"', "col 20: '>' compares numbers and \"abc\" is not a number, so Segment never "
     "matches; write a number"),
    ("properties.total > true", "col 20: expected a number after '>', found 'true'"),
    ("name = true", 'col 8: Segment compares name with the text "true"; write name = "true"'),
    ("type = null", 'col 8: Segment compares type with the text "null" and cannot test whether type is missing; '
     'write type = "null" to compare the text'),
    ("properties.a = properties.b", "col 16: Segment compares with the text 'properties.b', not with that "
     'field; write "properties.b" if you mean the text'),
    ("type = an", 'col 8: Segment drops the last letters of \'an\' at the end of a trigger; write "an"'),
    ('type = "x")', "col 11: unmatched ')': Segment ignores it silently; remove it or add the missing '('"),
    ('() and type = "x"', "col 1: empty parentheses: Segment cannot evaluate ()"),
    ("properties.and = 1", "col 12: 'and' is a keyword, so Segment cannot read 'properties.and'; escape one "
     "letter to use it as a name: properties.an\\d"),
    ('event = "x" and\r\ntype = "y"', "col 16: carriage return (\\r): Segment does not treat it as whitespace "
     "and rejects the whole trigger; use \\n line endings"),
    ("properties.x\\", "col 13: '\\' at the end of the trigger escapes nothing"),
    ("event ! = 1", "col 7: '!' must be followed directly by contains( or match(, or be '!=' followed by a space"),
])
def test_refusal_messages(text: str, message: str) -> None:
    assert refusal(text) == message


def test_mixed_operators_message_suggests_parentheses_with_and_binding_tighter() -> None:
    text = 'type = "a" or event = "b" and name = "c" or userId = "d"'
    assert refusal(text) == (
        "col 27: 'and' and 'or' mixed without parentheses: Segment applies the last one ('or') to every "
        'condition in the group; add parentheses, e.g. type = "a" or (event = "b" and name = "c") or userId = "d"')


def test_function_before_the_end_of_a_group_is_refused_only_when_segment_misreads_it() -> None:
    misread = '(contains(event, "Order") and type = "identify") or name = "z"'
    assert match_segment(parse_segment(misread), EVENT) is True  # Segment: or(contains, type, name)
    assert refusal(misread).startswith("col 2: Segment ends a parenthesized group at the first ')'")
    fine = '(type = "identify" and contains(event, "Order")) or name = "z"'
    assert compile_trigger(fine)(EVENT) is False
    assert compile_trigger(fine).segment_ast == parse_segment(fine)


@pytest.mark.parametrize(("text", "expected"), [
    ("properties.total = 10", True),
    ('properties.total = "10"', False),  # type-strict like Segment
    ("properties.str = 10", False),
    ('properties.str = "10"', True),
    ('properties.missing != "x"', True),  # a missing value is not the text
    ("properties.missing != 5", False),  # number_not_equals needs a number
    ('properties.total < "11"', True),
    ("properties.zero != null", True),
    ("properties.nul = null", True),
    ("properties.off = false", True),
    ("properties.zero.deeper != null", True),  # Segment's get stops at a falsy value and returns it
    ("properties.nested.a = 1", True),
    ("properties.arr.length = 2", True),
    ("properties.arr\\.1 = 6", True),
    ("properties.o\\r = \"x\"", True),
    ("properties.name.length > 5", True),
    ('context.app.version = "1.2"', True),
    ("context.app.version = 1.2", False),
    ('traits.plan = pro', True),
    ('match(event, "Order*") and !match(event, "*Started")', True),
    ('match(name, "*")', False),  # starts with "" but name is missing: not a string
    ('contains(event, "der Com")', True),
    ('!contains(properties.missing, "x")', False),
    ("userId = true", False),
    ('(type = "page" or type = "track") and (event = "Order Completed" or event = "x")', True),
])
def test_semantics_agree_with_segment(text: str, expected: bool) -> None:
    trigger = compile_trigger(text)
    assert trigger(EVENT) is expected
    assert match_segment(parse_segment(text), EVENT) is expected


def test_nested_parentheses_are_an_extension() -> None:
    text = '((type = "track" and properties.total > 5) or (type = "identify")) and userId != null'
    assert parse_segment(text) == {"error": "TypeError: Cannot read properties of undefined (reading 'type')"}
    trigger = compile_trigger(text)
    assert trigger(EVENT) is True
    assert trigger({**EVENT, "userId": None}) is False
    assert trigger({"type": "identify", "userId": "x"}) is True
    assert trigger.segment_ast["children"][0]["operator"] == "or"


def test_events_without_the_fields() -> None:
    trigger = compile_trigger('properties.total > 5 or traits.plan = "pro" or context.app.version != null')
    assert trigger({}) is False
    assert trigger({"properties": None, "traits": [], "context": "x"}) is False
    assert compile_trigger("properties.total = null")({"properties": None}) is True


def test_huge_integers_compare_like_javascript_numbers() -> None:
    assert compile_trigger("properties.n > 5")({"properties": {"n": 10**400}}) is True
    assert compile_trigger("properties.n = 9007199254740992")({"properties": {"n": 9007199254740993}}) is True


def test_trigger_error_carries_message_and_column() -> None:
    with pytest.raises(TriggerError) as info:
        compile_trigger("type = ")
    assert (info.value.message, info.value.column) == ("expected a value after '='", 8)
    assert repr(compile_trigger('type = "x"')) == "Trigger('type = \"x\"')"
