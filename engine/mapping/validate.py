"""Mapping validation with Segment's exact messages (actions-core 3.170.0 `validate.ts`).

Validators raise `Invalid(issues)`; the places where Segment aggregates errors (the keys of
one object, the fields of a directive's options) catch and concatenate them, the others stop at
the first problem exactly where Segment throws. Each issue's `path` is the stack Segment prints.

`strict=False` reproduces Segment: array elements are never inspected. `strict=True` (what
`engine validate` uses) also validates inside arrays (the index joins the path), inside the raw
objects of `@literal`/`@excludeWhenNull`/`@if`..., and gives `@merge` entries and `@arrayPath`
elements their real path instead of Segment's empty/indexless one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.jsvalues import js_type
from engine.mapping.errors import MappingIssue
from engine.mapping.registry import DIRECTIVES

Stack = tuple  # tuple[str | int, ...]
Validator = Callable[[Any, Stack, bool], None]


class Invalid(Exception):
    """Internal: carries the issues found below one point of the walk."""

    def __init__(self, issues: list[MappingIssue]) -> None:
        self.issues = issues
        super().__init__(issues)


def fail(text: str, stack: Stack) -> Invalid:
    joined = "/".join(str(part) for part in stack)
    return Invalid([MappingIssue(tuple(stack), f"/{joined} {text}.")])


def article(type_name: str) -> str:
    return "an" if type_name[:1] in ("a", "e", "i", "o", "u") else "a"


def type_or_directive(value: Any) -> str:
    if isinstance(value, dict) and any(key.startswith("@") for key in value):
        return "directive"
    return js_type(value)


def _is(type_name: str) -> str:
    return f"{article(type_name)} {type_name}"


def collect(checks: list[Callable[[], None]]) -> None:
    """Run every check, raising one Invalid with all their issues (Segment's AggregateError)."""
    issues: list[MappingIssue] = []
    for check in checks:
        try:
            check()
        except Invalid as err:
            issues.extend(err.issues)
    if issues:
        raise Invalid(issues)


# -- the generic walk ---------------------------------------------------------------------


def validate(mapping: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(mapping)
    if kind == "directive":
        validate_directive(mapping, stack, strict)
    elif kind == "object":
        validate_object(mapping, stack, strict)
    elif kind == "array":
        validate_array(mapping, stack, strict)
        if strict:
            collect([_bind(validate, item, (*stack, i), strict) for i, item in enumerate(mapping)])


def _bind(fn: Validator, value: Any, stack: Stack, strict: bool) -> Callable[[], None]:
    return lambda: fn(value, stack, strict)


def validate_directive(obj: Any, stack: Stack, strict: bool) -> None:
    if not isinstance(obj, dict):
        kind = js_type(obj)
        raise fail(f"should be a directive object but it is {_is(kind)}", stack)
    keys = list(obj)
    directive_keys = [key for key in keys if key.startswith("@")]
    if len(directive_keys) > 1:
        raise fail(f"should only have one @-prefixed key but it has {len(directive_keys)} keys", stack)
    if any(not key.startswith("@") and key != "_metadata" for key in keys):
        raise fail(f"should only have one @-prefixed key but it has {len(keys)} keys", stack)
    name = directive_keys[0]
    directive = DIRECTIVES.get(name)
    if directive is None:
        raise fail(f"has an invalid directive: {name}", stack)
    directive.validate(obj[name], (*stack, name), strict)


def validate_object(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind != "object":
        raise fail(f"should be an object but it is {_is(kind)}", stack)
    collect([_bind(validate, item, (*stack, key), strict) for key, item in value.items()])


def validate_array(value: Any, stack: Stack, strict: bool) -> None:
    kind = js_type(value)
    if kind != "array":
        raise fail(f"should be an array but it is {_is(kind)}", stack)


# -- shape checks used by the directives --------------------------------------------------


def validate_directive_or_raw(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind == "directive":
        validate_directive(value, stack, strict)
    elif kind in ("object", "array"):
        if strict:
            validate(value, stack, strict)
    elif kind not in ("boolean", "string", "number", "null"):
        raise fail(f"should be a mapping directive or a JSON value but it is {_is(kind)}", stack)


def validate_directive_or_string(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind == "directive":
        validate_directive(value, stack, strict)
    elif kind != "string":
        raise fail(f"should be a string or a mapping directive but it is {_is(kind)}", stack)


def validate_directive_or_object(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind == "directive":
        validate_directive(value, stack, strict)
    elif kind == "object":
        validate_object(value, stack, strict)
    else:
        raise fail(f"should be a object or a mapping directive but it is {_is(kind)}", stack)


def validate_string(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind != "string":
        raise fail(f"should be a string but it is {_is(kind)}", stack)


def validate_boolean(value: Any, stack: Stack, strict: bool) -> None:
    kind = type_or_directive(value)
    if kind != "boolean":
        raise fail(f"should be a boolean but it is {_is(kind)}", stack)


def string_length(minimum: int, maximum: int) -> Validator:
    from engine.mapping.paths import js_length

    def check(value: Any, stack: Stack, strict: bool) -> None:
        if isinstance(value, str):
            length = js_length(value)
            if length < minimum:
                raise fail(f"should be a string of length {minimum} or greater", stack)
            if length > maximum:
                raise fail(f"should be a string of length {maximum} or less", stack)

    return check


def allowed_strings(*allowed: str) -> Validator:
    def check(value: Any, stack: Stack, strict: bool) -> None:
        validate_string(value, stack, strict)
        if value.lower() not in allowed:
            from engine.mapping.jsjson import stringify

            raise fail(f"should be one of {', '.join(allowed)} but it is {stringify(value)}", stack)

    return check


def chain(*validators: Validator) -> Validator:
    def check(value: Any, stack: Stack, strict: bool) -> None:
        for validator in validators:
            validator(value, stack, strict)

    return check


def validate_fields(
    value: Any,
    stack: Stack,
    strict: bool,
    required: dict[str, Validator] | None = None,
    optional: dict[str, Validator] | None = None,
    order: tuple[str, ...] = (),
) -> None:
    """Segment's validateObjectWithFields: an object whose values validate as mappings, then
    each listed field in `order` (required fields must be present)."""
    validate_object(value, stack, strict)
    required = required or {}
    optional = optional or {}
    checks: list[Callable[[], None]] = []
    for prop in order:
        field = value.get(prop)
        if prop in required:
            if prop not in value:
                checks.append(_raiser(fail(f'should have field "{prop}" but it doesn\'t', stack)))
            else:
                checks.append(_bind(required[prop], field, (*stack, prop), strict))
        elif prop in value:
            checks.append(_bind(optional[prop], field, (*stack, prop), strict))
    collect(checks)


def _raiser(error: Invalid) -> Callable[[], None]:
    def check() -> None:
        raise error

    return check


def validate_mapping(value: Any, *, strict: bool = True) -> list[MappingIssue]:
    """Every validation problem of a mapping value (empty list when it is valid)."""
    try:
        validate(value, (), strict)
    except Invalid as err:
        return err.issues
    return []
