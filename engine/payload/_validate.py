"""Ajv 8 (coerceTypes "array", allErrors, removeAdditional) compiled from a JSON Schema to closures.

`compile_schema(schema)` walks the schema once and returns `node(value, path, issues) -> value`: the
coerced value (a new container wherever something changed; the input is never mutated) with every
failure appended to `issues`. Only the keywords `fields_to_json_schema` emits are supported; anything
else is rejected at compile time, never silently ignored.

Keyword order on one value: type (with coercion), const/enum, number keywords (maximum, minimum,
format), string keywords (maxLength, minLength, format), items, object keywords (required, removal of
additional properties, properties), then the applicators not/anyOf/allOf/if (so conditional
`then` errors come after the properties' errors, as Segment reports them).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from engine.jsvalues import UNDEFINED, number_to_string
from engine.payload import _messages as msg
from engine.payload._errors import PayloadIssue
from engine.payload._formats import NUMBER_FORMATS, STRING_FORMATS
from engine.payload._jsnum import as_number, integral, is_integer, is_number, string_to_number

Path = tuple[str | int, ...]
Node = Callable[[Any, Path, list[PayloadIssue]], Any]
Step = Callable[[Any, Path, list[PayloadIssue]], Any]

_FAIL = object()
_IGNORED = {"$schema", "title", "description", "default", "then", "else", "tsType"}
_KNOWN = _IGNORED | {
    "type", "enum", "const", "minimum", "maximum", "minLength", "maxLength", "format", "items",
    "required", "properties", "additionalProperties", "not", "anyOf", "allOf", "if",
}

TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": is_number,
    "integer": is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _is_js_number(value: Any) -> bool:  # typeof value == "number" (NaN and Infinity included)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_js_number(value):
        return number_to_string(value)
    return "" if value is None else _FAIL


def _to_number(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return 0
    if isinstance(value, str) and value:
        number = string_to_number(value)
        if number == number:  # not NaN
            return as_number(number)
    return _FAIL


def _to_integer(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if value is None:
        return 0
    if isinstance(value, str) and value:
        number = string_to_number(value)
        if number == number and integral(number):
            return as_number(number)
    return _FAIL


def _to_boolean(value: Any) -> Any:
    if value == "false" or value is None or (_is_js_number(value) and value == 0):
        return False
    if value == "true" or (_is_js_number(value) and value == 1):
        return True
    return _FAIL


def _to_null(value: Any) -> Any:
    if value == "" or value is False or (_is_js_number(value) and value == 0):
        return None
    return _FAIL


def _to_array(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return [value]
    return _FAIL


COERCERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_string,
    "number": _to_number,
    "integer": _to_integer,
    "boolean": _to_boolean,
    "null": _to_null,
    "array": _to_array,
}
_OBJECT_RULES = ("required", "properties", "additionalProperties")


def js_equal(a: Any, b: Any) -> bool:
    """fast-deep-equal: `===` for primitives (true is not 1), structural for arrays and objects."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_js_number(a) and _is_js_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(js_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and js_equal(v, b[k]) for k, v in a.items())
    if type(a) is not type(b):
        return False
    return a == b


def _make_issue(title: Any, path: Path, text: str) -> PayloadIssue:
    return PayloadIssue(msg.pointer(path), msg.finish(f"{msg.subject(title, path)} {text}"), msg.json_path(path))


# The same few issues come up again and again (an `if` condition that fails for most events, in a scratch list
# that is thrown away); building their messages is most of their cost, and issues are immutable.
_cached_issue = lru_cache(maxsize=4096)(_make_issue)


def _issue(title: Any, path: Path, text: str) -> PayloadIssue:
    try:
        return _cached_issue(title, path, text)
    except TypeError:  # an unhashable title
        return _make_issue(title, path, text)


def _types(schema: dict[str, Any]) -> list[str]:
    raw = schema.get("type")
    types = [] if raw is None else [raw] if isinstance(raw, str) else list(raw)
    for name in types:
        if name not in TYPE_CHECKS:
            raise ValueError(f"unknown JSON Schema type {name!r}")
    return types


def _number_limit(schema: dict[str, Any], key: str) -> Any:
    limit = schema[key]
    if not _is_js_number(limit):
        raise ValueError(f"{key} must be a number, got {limit!r}")
    return limit


def compile_schema(schema: dict[str, Any]) -> Node:
    """Compile one (sub)schema into a closure; raises ValueError for schemas ajv would refuse."""
    unknown = set(schema) - _KNOWN
    if unknown:
        raise ValueError(f"unsupported schema keyword(s): {', '.join(sorted(unknown))}")
    title = schema.get("title")
    types = _types(schema)
    checks = [TYPE_CHECKS[t] for t in types]
    coerce_to = [COERCERS[t] for t in types if t in COERCERS]
    has_object_rules = any(k in schema for k in _OBJECT_RULES)
    # ajv checks a lone non-coercible type together with its keyword group instead of up front
    deferred_type = len(types) == 1 and not coerce_to and has_object_rules and types[0] == "object"
    type_text_types = types

    early: list[Step] = []
    if "const" in schema:
        expected = schema["const"]
        early.append(_const_step(title, expected))
    if "enum" in schema:
        early.append(_enum_step(title, list(schema["enum"])))

    number_steps: list[Step] = []
    if "maximum" in schema:
        number_steps.append(_maximum_step(title, _number_limit(schema, "maximum")))
    if "minimum" in schema:
        number_steps.append(_minimum_step(title, _number_limit(schema, "minimum")))
    string_steps: list[Step] = []
    if "maxLength" in schema:
        string_steps.append(_max_length_step(title, int(_number_limit(schema, "maxLength"))))
    if "minLength" in schema:
        string_steps.append(_min_length_step(title, int(_number_limit(schema, "minLength"))))
    if "format" in schema:
        name = schema["format"]
        if name in STRING_FORMATS:
            string_steps.append(_format_step(title, name, STRING_FORMATS[name]))
        elif name in NUMBER_FORMATS:
            number_steps.append(_format_step(title, name, NUMBER_FORMATS[name]))
        else:
            raise ValueError(f'unknown format "{name}"')

    items_node = compile_schema(schema["items"]) if isinstance(schema.get("items"), dict) else None
    object_step = _object_step(title, schema) if has_object_rules else None
    late = _applicator_steps(title, schema)

    def node(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        local = value
        coercion_failed = False
        if checks and not deferred_type and not any(check(local) for check in checks):
            local, ok = _coerce(local, checks, coerce_to)
            if not ok:
                coercion_failed = True
                issues.append(_issue(title, path, msg.type_message(type_text_types, local)))
        for step in early:
            local = step(local, path, issues)
        if number_steps and is_number(local):
            for step in number_steps:
                local = step(local, path, issues)
        if string_steps and isinstance(local, str):
            for step in string_steps:
                local = step(local, path, issues)
        if items_node is not None and isinstance(local, list):
            local = _run_items(items_node, local, path, issues)
        if object_step is not None:
            if isinstance(local, dict):
                local = object_step(local, path, issues)
            elif deferred_type:
                issues.append(_issue(title, path, msg.type_message(type_text_types, local)))
        for step in late:
            local = step(local, path, issues)
        return value if coercion_failed else local

    if early or late or items_node is not None or object_step is not None or deferred_type:
        return node
    if not checks and not number_steps and not string_steps:
        return _unchecked
    if len(checks) == 1 and not number_steps and not string_steps:
        # the common field `{"type": "string"}` / `{"type": "object"}`: a value of the type needs nothing else
        check = checks[0]

        def typed(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
            return value if check(value) else node(value, path, issues)

        return typed
    return node


def _unchecked(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
    return value


def _coerce(value: Any, checks: list[Callable[[Any], bool]], coercers: list[Callable[[Any], Any]]) -> tuple[Any, bool]:
    if not coercers:  # no coercible target type: ajv reports the value as it is
        return value, False
    data = value
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
        # ajv 8 keeps the element as it is only if it passes its type test, which for a list of types
        # joins the per-type tests with `&&` (checkDataTypes): with two or more types (allow_null,
        # datetime) no element passes it, and the element must be converted (`[None]` -> "", `["x"]` fails)
        if all(check(data) for check in checks):
            return data, True
    for coerce in coercers:
        result = coerce(data)
        if result is not _FAIL:
            return result, True
    return data, False


def _run_items(items_node: Node, value: list[Any], path: Path, issues: list[PayloadIssue]) -> list[Any]:
    out = value
    for index, item in enumerate(value):
        new = items_node(item, (*path, index), issues)
        if new is not item:
            if out is value:
                out = list(value)
            out[index] = new
    return out


def _const_step(title: Any, expected: Any) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        if not js_equal(value, expected):
            issues.append(_issue(title, path, "must be equal to constant"))
        return value

    return step


def _enum_step(title: Any, allowed: list[Any]) -> Step:
    text = msg.enum_message(allowed)

    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        if not any(js_equal(value, option) for option in allowed):
            issues.append(_issue(title, path, text))
        return value

    return step


def _maximum_step(title: Any, limit: Any) -> Step:
    text = msg.maximum_message(limit)

    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        if not value <= limit:
            issues.append(_issue(title, path, text))
        return value

    return step


def _minimum_step(title: Any, limit: Any) -> Step:
    text = msg.minimum_message(limit)

    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        if not value >= limit:
            issues.append(_issue(title, path, text))
        return value

    return step


def _js_length(text: str) -> int:
    return len(text)  # code points, like ajv's ucs2length


def _max_length_step(title: Any, limit: int) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        length = _js_length(value)
        if length > limit:
            issues.append(_issue(title, path, msg.max_length_message(limit, length)))
        return value

    return step


def _min_length_step(title: Any, limit: int) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        length = _js_length(value)
        if length < limit:
            issues.append(_issue(title, path, msg.min_length_message(limit, length)))
        return value

    return step


def _format_step(title: Any, name: str, predicate: Callable[[Any], bool]) -> Step:
    text = msg.format_message(name)

    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        if not predicate(value):
            issues.append(_issue(title, path, text))
        return value

    return step


def _object_step(title: Any, schema: dict[str, Any]) -> Step:
    required = [str(key) for key in schema.get("required", [])]
    properties = {key: compile_schema(sub) for key, sub in (schema.get("properties") or {}).items()}
    remove_additional = schema.get("additionalProperties") is False

    def step(value: dict[str, Any], path: Path, issues: list[PayloadIssue]) -> Any:
        for key in required:
            if value.get(key, UNDEFINED) is UNDEFINED:
                issues.append(_issue(title, path, msg.required_message(key)))
        out = value
        if remove_additional:
            extra = [key for key in value if key not in properties]
            if extra:
                out = {k: v for k, v in value.items() if k in properties}
        for key, child in properties.items():
            if key not in out or out[key] is UNDEFINED:
                continue
            current = out[key]
            new = child(current, (*path, key), issues)
            if new is not current:
                if out is value:
                    out = dict(value)
                out[key] = new
        return out

    return step


def _applicator_steps(title: Any, schema: dict[str, Any]) -> list[Step]:
    steps: list[Step] = []
    if "not" in schema:
        steps.append(_not_step(title, compile_schema(schema["not"])))
    if "anyOf" in schema:
        steps.append(_any_of_step(title, [compile_schema(s) for s in schema["anyOf"]]))
    if "allOf" in schema:
        steps.append(_all_of_step([compile_schema(s) for s in schema["allOf"]]))
    if "if" in schema:
        then = compile_schema(schema["then"]) if "then" in schema else None
        otherwise = compile_schema(schema["else"]) if "else" in schema else None
        if then is not None or otherwise is not None:
            steps.append(_if_step(title, compile_schema(schema["if"]), then, otherwise))
    return steps


def _not_step(title: Any, sub: Node) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        scratch: list[PayloadIssue] = []
        value = sub(value, path, scratch)
        if not scratch:
            issues.append(_issue(title, path, "must NOT be valid"))
        return value

    return step


def _any_of_step(title: Any, subs: list[Node]) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        collected: list[PayloadIssue] = []
        for sub in subs:
            scratch: list[PayloadIssue] = []
            value = sub(value, path, scratch)
            if not scratch:
                return value
            collected.extend(scratch)
        issues.extend(collected)
        issues.append(_issue(title, path, "must match a schema in anyOf"))
        return value

    return step


def _all_of_step(subs: list[Node]) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        for sub in subs:
            value = sub(value, path, issues)
        return value

    return step


def _if_step(title: Any, condition: Node, then: Node | None, otherwise: Node | None) -> Step:
    def step(value: Any, path: Path, issues: list[PayloadIssue]) -> Any:
        scratch: list[PayloadIssue] = []
        value = condition(value, path, scratch)  # errors of `if` are never reported
        branch, text = (then, msg.IF_MESSAGE) if not scratch else (otherwise, msg.ELSE_MESSAGE)
        if branch is None:
            return value
        found: list[PayloadIssue] = []
        value = branch(value, path, found)
        if found:
            issues.extend(found)
            issues.append(_issue(title, path, text))
        return value

    return step
