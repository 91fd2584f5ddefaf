"""Segment's lexer and parser quirks beyond the recorded vectors, reproduced by the Segment-exact layer."""

from __future__ import annotations

import pytest

from engine.trigger import SegmentTypeError, TriggerError, match_segment, parse_segment
from engine.trigger.lexer import tokenize

READING = "TypeError: Cannot read properties of undefined (reading 'type')"


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.type, t.value) for t in tokenize(text)]


def test_keywords_need_a_terminator() -> None:
    assert kinds("and(") == [("ident", "and"), ("parenleft", "("), ("eos", "eos")]
    assert kinds("null)") == [("null", "null"), ("parenright", ")"), ("eos", "eos")]
    assert kinds("<=1") == [("operator", "<"), ("operator", "="), ("number", "1"), ("eos", "eos")]


def test_lookahead_at_end_swallows_letters() -> None:
    tokens = tokenize("x = an")
    assert (tokens[2].value, tokens[2].truncated) == ("a", True)
    assert parse_segment("properties.x = nul") == {"type": "group", "operator": "and", "children": [
        {"type": "event-property", "name": "x", "operator": "=", "value": "n"}]}


def test_glued_quote_starts_a_new_string() -> None:
    tokens = tokenize('"a"b"')
    assert [(t.value, t.glued) for t in tokens[:2]] == [('"a"', True), ('"b"', False)]


def test_number_then_letters_and_escapes() -> None:
    assert kinds("1.x") == [("number", "1."), ("ident", "x"), ("eos", "eos")]
    assert kinds("a\\ b") == [("ident", "a b"), ("eos", "eos")]
    with pytest.raises(TriggerError) as info:
        tokenize("1.2.3")
    assert str(info.value) == "col 4: a number cannot have two decimal points"


def test_functions_take_tokens_by_position() -> None:
    assert parse_segment("contains") == {"error": "Error: contains() is missing a 1st argument"}
    assert parse_segment("contains(type, \"x\")") == {"error": READING}  # no node at all
    assert parse_segment('match(properties.name, "a*b")')["children"][0] == {
        "type": "event-property", "name": "name", "operator": "ends_with", "value": "*b"}


def test_or_short_circuit_skips_a_null_child() -> None:
    ast = parse_segment('type = "track" or ()')
    assert ast["children"][1] is None
    assert match_segment(ast, {"type": "track"}) is True
    with pytest.raises(SegmentTypeError):
        match_segment(ast, {"type": "page"})


def test_stray_closing_parenthesis_and_bang_are_ignored() -> None:
    assert parse_segment('type = "x")') == parse_segment('!type = "x"') == parse_segment('type = "x"')
