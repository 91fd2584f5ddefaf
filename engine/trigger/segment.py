"""The Segment-exact layer: `parse_segment` is destination-subscriptions 3.37.0's `parseFql` and
`match_segment` its `validate`, ported step for step (misreads included) from the behaviour spec.

The engine does not run triggers through this layer; it is the reference the strict compiler
(`compile.py`) is checked against, and what `engine` uses to explain how Segment reads a trigger.
Errors come back as Segment returns them: `{"error": "TypeError: ..."}` / `{"error": "Error: ..."}`.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any

from engine.jsvalues import UNDEFINED, js_string, truthy
from engine.trigger.errors import TriggerError
from engine.trigger.lexer import (
    CONDITIONAL,
    EOS,
    IDENT,
    NUMBER,
    OPERATOR,
    PARENLEFT,
    PARENRIGHT,
    STRING,
    Token,
    normalize,
    tokenize,
)

READING_TYPE = "Cannot read properties of undefined (reading 'type')"

TYPE_OF_FIELD = {
    "type": "event-type",
    "event": "event",
    "name": "name",
    "userId": "userId",
    "context": "event-context",
    "properties": "event-property",
    "traits": "event-trait",
}
_PREFIX_OF_TYPE = {"event-property": "properties", "event-trait": "traits", "event-context": "context"}


class SegmentTypeError(TypeError):
    """What JavaScript throws where Segment's code reads a property of undefined."""


class _JSError(Exception):
    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")


# ---------------------------------------------------------------- JS values

_JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")


def js_number(value: Any) -> float:
    """JavaScript `Number(value)` for the values a trigger or an event can hold."""
    if value is UNDEFINED:
        return math.nan
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, (int, float)):
        return _to_float(value)
    if isinstance(value, str):
        s = value.strip(_JS_SPACE)
        if s == "":
            return 0.0
        if _DECIMAL.fullmatch(s):
            return float(s)
        if s in ("Infinity", "+Infinity"):
            return math.inf
        if s == "-Infinity":
            return -math.inf
        m = _RADIX.fullmatch(s)
        if m:
            return float(int(m.group(1)[1:], {"x": 16, "o": 8, "b": 2}[m.group(1)[0].lower()]))
        return math.nan
    return math.nan  # objects and arrays used here never convert to a finite number we rely on


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # a huge JSON integer: JavaScript already read it as Infinity
        return math.inf if value > 0 else -math.inf


def js_number_value(text: str) -> int | float:
    """`Number(text)` as a JSON-friendly value: integral results as int (10, not 10.0)."""
    f = js_number(text)
    if f.is_integer() and abs(f) < 2**53 and not (f == 0 and math.copysign(1.0, f) < 0):
        return int(f)
    return f


def is_js_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def js_member(obj: Any, key: str) -> Any:
    """`obj[key]` for a truthy JSON value that is not a dict (arrays, strings, numbers, true)."""
    if isinstance(obj, (list, tuple)):
        if key == "length":
            return len(obj)
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < len(obj):
            return obj[int(key)]
        return UNDEFINED
    if isinstance(obj, str):
        if key == "length":
            return len(obj.encode("utf-16-le")) // 2
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < len(obj):
            return obj[int(key)]
        return UNDEFINED
    if isinstance(obj, dict):
        return obj.get(key, UNDEFINED)
    return UNDEFINED


_PATH_PART = re.compile(r"[^[.\]]+")


def split_path(name: str) -> list[str]:
    """Segment's `get` path split: runs of characters other than `.`, `[` and `]`."""
    return _PATH_PART.findall(name)


def js_get(obj: Any, name: str) -> Any:
    """destination-subscriptions `get(obj, path)`: walk `cur && cur[key]` (a falsy value stops the walk)."""
    if not name:
        return UNDEFINED
    cur = obj
    for key in split_path(name):
        if not truthy(cur):
            return cur
        cur = js_member(cur, key)
    return cur


# ---------------------------------------------------------------- parseFql


def _token_value(token: Token) -> str | int | float | bool:
    if token.type == STRING:
        value = token.value
        value = value[1:] if value.startswith('"') else value
        return value[:-1] if value.endswith('"') else value
    if token.type == NUMBER:
        return js_number_value(token.value)
    if token.type == IDENT and token.value in ("true", "false"):
        return token.value == "true"
    return token.value


def _strip_prefix(prefix: str, name: str) -> str:
    return name[len(prefix) + 1:] if name.startswith(prefix + ".") else name


def _function(name: str, nodes: list[Any], tokens: deque[Token], negate: bool) -> None:
    def shift() -> Token | None:
        return tokens.popleft() if tokens else None

    shift()  # "("
    field = shift()
    if field is None:
        raise _JSError("Error", f"{name}() is missing a 1st argument")
    shift()  # ","
    value_token = shift()
    if value_token is None:
        raise _JSError("Error", f"{name}() is missing a 2nd argument")
    shift()  # ")"
    value = js_string(_token_value(value_token))
    if name == "contains":
        operator = "not_contains" if negate else "contains"
    elif value_token.value.endswith('*"'):
        operator = "not_starts_with" if negate else "starts_with"
        value = value[:-1]
    else:
        operator = "not_ends_with" if negate else "ends_with"
        value = value[1:]
    f = field.value
    if f in ("event", "name", "userId"):
        nodes.append({"type": f, "operator": operator, "value": value})
    for prefix, kind in (("properties", "event-property"), ("traits", "event-trait"), ("context", "event-context")):
        if f.startswith(prefix):
            nodes.append({"type": kind, "name": _strip_prefix(prefix, f), "operator": operator, "value": value})


def _condition(kind: str, ident: str, op: Token, val: Token) -> dict[str, Any]:
    o, v = op.value, val.value
    is_true = o == "=" and v == "true"
    is_false = o == "=" and v == "false"
    exists = o == "!=" and v == "null"
    not_exists = o == "=" and v == "null"
    if kind in ("event", "event-type"):
        return {"type": kind, "operator": o, "value": js_string(_token_value(val))}
    if kind == "name" or kind == "userId":
        special = {"exists": exists, "not_exists": not_exists}
        if kind == "userId":
            special.update(is_true=is_true, is_false=is_false)
        for operator, hit in special.items():
            if hit:
                return {"type": kind, "operator": operator}
        return {"type": kind, "operator": o, "value": js_string(_token_value(val))}
    name = _strip_prefix(_PREFIX_OF_TYPE[kind], ident)
    for operator, hit in (("exists", exists), ("not_exists", not_exists), ("is_true", is_true),
                          ("is_false", is_false)):
        if hit:
            return {"type": kind, "name": name, "operator": operator}
    if val.type == NUMBER and o in ("=", "!="):
        operator = "number_equals" if o == "=" else "number_not_equals"
        return {"type": kind, "name": name, "operator": operator, "value": _token_value(val)}
    return {"type": kind, "name": name, "operator": o, "value": _token_value(val)}


def _parse(tokens: deque[Token]) -> Any:
    nodes: list[Any] = []
    operator = "and"

    def shift() -> Token | None:
        return tokens.popleft() if tokens else None

    token = shift()
    while token is not None and token.type != EOS:
        if token.type == IDENT:
            kind = TYPE_OF_FIELD.get(token.value.split(".")[0])
            if kind:
                op = shift()
                if op is None:
                    raise _JSError("Error", "Operator token is missing")
                val = shift()
                if val is None:
                    raise _JSError("Error", "Value token is missing")
                nodes.append(_condition(kind, token.value, op, val))
            if token.value in ("contains", "match"):
                _function(token.value, nodes, tokens, negate=False)
        if token.type == OPERATOR and token.value == "!":
            if not tokens:
                raise _JSError("TypeError", READING_TYPE)
            if tokens[0].type == IDENT and tokens[0].value in ("contains", "match"):
                name = tokens.popleft().value
                _function(name, nodes, tokens, negate=True)
        if token.type == PARENLEFT:
            group: deque[Token] = deque()
            inner = shift()
            while True:
                if inner is None:
                    raise _JSError("TypeError", READING_TYPE)
                if inner.type == PARENRIGHT:
                    break
                group.append(inner)
                inner = shift()
            group.append(Token(EOS, "eos", 0, 0))
            nodes.append(_parse(group))
        if token.type == CONDITIONAL:
            operator = token.value
        token = shift()
    if len(nodes) > 1:
        return {"type": "group", "operator": operator, "children": nodes}
    return nodes[0] if nodes else None


def parse_segment(text: str) -> dict[str, Any]:
    """Segment's `parseFql(text)`: its AST as JSON-like dicts (a missing node is None), or
    `{"error": "<Class>: <message>"}`. NaN values stay float('nan') (JSON would show null)."""
    try:
        tokens = tokenize(text)
    except TriggerError:
        tokens = []
    try:
        ast = _parse(deque(normalize(tokens)))
        if ast is None:
            raise _JSError("TypeError", READING_TYPE)
        if ast.get("type") != "group":
            return {"type": "group", "operator": "and", "children": [ast]}
        return ast
    except _JSError as exc:
        return {"error": str(exc)}


# ---------------------------------------------------------------- validate


def _actual(condition: dict[str, Any], event: Any) -> Any:
    kind = condition["type"]
    if event is None:
        raise SegmentTypeError(f"Cannot read properties of null (reading '{'type' if kind == 'event-type' else kind}')")
    if kind == "event-type":
        return js_member(event, "type")
    if kind in ("event", "name", "userId"):
        return js_member(event, kind)
    top = {"event-property": "properties", "event-trait": "traits", "event-context": "context"}[kind]
    return js_get(js_member(event, top), condition["name"])


def _value(actual: Any, operator: str, expected: Any) -> bool:
    if operator == "=":
        return type(actual) is str and actual == js_string(expected)
    if operator == "!=":
        return not (type(actual) is str and actual == js_string(expected))
    if operator in ("number_equals", "number_not_equals", "<", "<=", ">", ">="):
        if not is_js_number(actual):
            return False
        a, e = _to_float(actual), js_number(expected)
        return {
            "number_equals": a == e, "number_not_equals": a != e,
            "<": a < e, "<=": a <= e, ">": a > e, ">=": a >= e,
        }[operator]
    if operator in ("contains", "not_contains", "starts_with", "not_starts_with", "ends_with", "not_ends_with"):
        if type(actual) is not str:
            return False
        e = js_string(expected)
        hit = {"contains": e in actual, "starts_with": actual.startswith(e),
               "ends_with": actual.endswith(e)}[operator.removeprefix("not_")]
        return not hit if operator.startswith("not_") else hit
    if operator == "exists":
        return actual is not None and actual is not UNDEFINED
    if operator == "not_exists":
        return actual is None or actual is UNDEFINED
    if operator == "is_true":
        return actual is True
    if operator == "is_false":
        return actual is False
    return False


def _validate(condition: Any, event: Any) -> bool:
    if condition is None:
        raise SegmentTypeError(READING_TYPE)
    if condition.get("type") == "group":
        children = condition["children"]
        if condition["operator"] == "and":
            return all(_validate(child, event) for child in children)
        if condition["operator"] == "or":
            return any(_validate(child, event) for child in children)
        return False
    return _value(_actual(condition, event), condition["operator"], condition.get("value", UNDEFINED))


def match_segment(ast: dict[str, Any], event: Any) -> bool:
    """Segment's `validate(ast, event)`. Raises SegmentTypeError where Segment throws (a group that
    parsed to nothing, reached during evaluation)."""
    if ast.get("error") or event is UNDEFINED:
        return False
    return _validate(ast, event)
