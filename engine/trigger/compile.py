"""Stage 3: the strict tree -> one predicate made of closures. Paths are split and values converted
here, once; running a trigger on an event is only dict lookups and comparisons.

Each Segment operator has one factory in OPERATORS: `factory(getter, value) -> predicate`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from engine.jsvalues import UNDEFINED, js_string, truthy
from engine.trigger.errors import TriggerError
from engine.trigger.parser import Condition, Node, parse_trigger, to_segment_ast
from engine.trigger.segment import js_member, js_number, parse_segment, split_path

Event = dict[str, Any]
Getter = Callable[[Event], Any]
Predicate = Callable[[Event], bool]


class Trigger:
    """A compiled trigger: call it with an event (a dict) to get True or False."""

    __slots__ = ("text", "segment_ast", "_predicate", "types")

    def __init__(self, text: str, segment_ast: dict[str, Any], predicate: Predicate,
                 types: frozenset[str] | None = None):
        self.text = text
        self.segment_ast = segment_ast  # the AST Segment builds (nested groups only with the extension)
        self._predicate = predicate
        # When the trigger is only `type = "a"` (or several joined by `or`): those types. For an event whose
        # `type` is a str, the trigger is then exactly `event["type"] in types` (a caller routing many events
        # may check that instead of calling); None for every other trigger.
        self.types = types

    def __call__(self, event: Event) -> bool:
        return self._predicate(event)

    def __repr__(self) -> str:
        return f"Trigger({self.text!r})"


# ---------------------------------------------------------------- getters


def _walk(cur: Any, keys: tuple[str, ...]) -> Any:
    """Segment's `get`: `cur && cur[key]` for each key; a falsy value ends the walk as itself."""
    for key in keys:
        if type(cur) is dict:
            cur = cur.get(key, UNDEFINED)
        elif not truthy(cur):
            return cur
        else:
            cur = js_member(cur, key)
    return cur


def _getter(condition: Condition) -> Getter:
    if condition.field not in ("properties", "traits", "context"):
        key = condition.field

        def top(event: Event) -> Any:
            return event.get(key, UNDEFINED)

        top.top_key = key  # type: ignore[attr-defined]  # lets = and != read the key directly
        return top
    root = condition.field
    keys = tuple(split_path(condition.name))
    if len(keys) == 1:
        (only,) = keys

        def one(event: Event) -> Any:
            cur = event.get(root, UNDEFINED)
            if type(cur) is dict:
                return cur.get(only, UNDEFINED)
            return _walk(cur, keys)

        return one

    def deep(event: Event) -> Any:
        return _walk(event.get(root, UNDEFINED), keys)

    return deep


# ---------------------------------------------------------------- operators


def _as_float(value: Any) -> float | None:
    """The number JavaScript sees, or None when `typeof value !== 'number'`."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return None


def _eq(get: Getter, value: Any) -> Predicate:
    text = js_string(value)  # only a str equals a str: `A === String(E)`
    key = getattr(get, "top_key", None)
    if key is not None:
        return lambda event: event.get(key) == text
    return lambda event: get(event) == text


def _ne(get: Getter, value: Any) -> Predicate:
    text = js_string(value)  # a missing value is not the text: true
    key = getattr(get, "top_key", None)
    if key is not None:
        return lambda event: event.get(key) != text
    return lambda event: get(event) != text


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[Getter, Any], Predicate]:
    def factory(get: Getter, value: Any) -> Predicate:
        expected = js_number(value)

        def predicate(event: Event) -> bool:
            actual = get(event)
            kind = type(actual)
            if kind is float:
                return compare(actual, expected)
            if kind is int:
                return compare(_as_float(actual), expected)
            return False  # `typeof A !== 'number'` (booleans included)

        return predicate

    return factory


def _text(test: Callable[[str, str], bool], negate: bool = False) -> Callable[[Getter, Any], Predicate]:
    def factory(get: Getter, value: Any) -> Predicate:
        expected = js_string(value)
        if negate:
            def predicate(event: Event) -> bool:
                actual = get(event)
                return type(actual) is str and not test(actual, expected)
        else:
            def predicate(event: Event) -> bool:
                actual = get(event)
                return type(actual) is str and test(actual, expected)

        return predicate

    return factory


def _exists(get: Getter, value: Any) -> Predicate:
    return lambda event: get(event) not in (None, UNDEFINED)


def _not_exists(get: Getter, value: Any) -> Predicate:
    return lambda event: get(event) in (None, UNDEFINED)


def _is(expected: bool) -> Callable[[Getter, Any], Predicate]:
    return lambda get, value: lambda event: get(event) is expected


OPERATORS: dict[str, Callable[[Getter, Any], Predicate]] = {
    "=": _eq,
    "!=": _ne,
    "number_equals": _numeric(operator.eq),
    "number_not_equals": _numeric(operator.ne),
    "<": _numeric(operator.lt),
    "<=": _numeric(operator.le),
    ">": _numeric(operator.gt),
    ">=": _numeric(operator.ge),
    "contains": _text(str.__contains__),
    "not_contains": _text(str.__contains__, negate=True),
    "starts_with": _text(str.startswith),
    "not_starts_with": _text(str.startswith, negate=True),
    "ends_with": _text(str.endswith),
    "not_ends_with": _text(str.endswith, negate=True),
    "exists": _exists,
    "not_exists": _not_exists,
    "is_true": _is(True),
    "is_false": _is(False),
}


def _compile(node: Node) -> Predicate:
    if isinstance(node, Condition):
        return OPERATORS[node.operator](_getter(node), node.value)
    parts = tuple(_compile(child) for child in node.children)
    if len(parts) == 2:
        first, second = parts
        if node.operator == "and":
            return lambda event: first(event) and second(event)
        return lambda event: first(event) or second(event)
    if node.operator == "and":
        def all_of(event: Event) -> bool:
            for part in parts:
                if not part(event):
                    return False
            return True

        return all_of

    def any_of(event: Event) -> bool:
        for part in parts:
            if part(event):
                return True
        return False

    return any_of


def _event_types(node: Node) -> frozenset[str] | None:
    """The types of `Trigger.types`: a `type = "..."` condition, or an `or` of such conditions; else None."""
    if isinstance(node, Condition):
        if node.field == "type" and node.operator == "=":
            return frozenset([js_string(node.value)])
        return None
    if node.operator != "or":
        return None
    found: set[str] = set()
    for child in node.children:
        types = _event_types(child)
        if types is None:
            return None
        found |= types
    return frozenset(found)


@lru_cache(maxsize=4096)
def compile_trigger(text: str) -> Trigger:
    """Compile a trigger (Segment FQL) into a predicate; raise TriggerError(message, column) for a trigger
    Segment would reject or silently read differently from how it is written."""
    parsed = parse_trigger(text)
    ast = to_segment_ast(parsed.node)
    if parsed.depth <= 1:
        segment = parse_segment(text)
        if segment != ast:
            if parsed.late_function_column is not None:
                raise TriggerError("Segment ends a parenthesized group at the first ')', here the one closing "
                                   "this function call, and misreads the rest of the group; put the function "
                                   "last inside the parentheses", parsed.late_function_column)
            raise TriggerError(f"Segment reads this trigger differently from how it is written (as {segment}); "
                               "rewrite it", 1)
    return Trigger(text, ast, _compile(parsed.node), _event_types(parsed.node))
