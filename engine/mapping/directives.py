"""One validate and one compile function per directive, registered by name.

Compile functions get the directive's raw value and return a node (see `resolve.py`). Values
that validation would reject can still reach them (inside arrays in Segment mode), so each one
reproduces Segment's runtime checks and messages; checks that depend only on the mapping are
decided here, once, and become closures that raise when run.
"""

from __future__ import annotations

import re
from typing import Any

from engine.jsvalues import UNDEFINED, js_string, js_type, truthy
from engine.mapping import validate as v
from engine.mapping.errors import MappingError, MappingRuntimeError
from engine.mapping.jsjson import JSONParseError, parse, stringify
from engine.mapping.paths import getter_for, js_length, make_getter, split_path, strip_root
from engine.mapping.registry import register
from engine.mapping.resolve import Const, Node, as_fn, compile_value, raiser
from engine.mapping.template import compile_template, render

MAX_PATTERN_LENGTH = 10
MAX_REPLACEMENT_LENGTH = 10


def _opt(opts: dict, key: str) -> Any:
    return opts.get(key, UNDEFINED)


def _string_or_directive(name: str) -> Any:
    """Compile the value of a directive that resolves its value to a string first."""

    def compile_(value: Any, strict: bool) -> tuple[str | None, Any]:
        if isinstance(value, str):
            return value, None
        fn = as_fn(compile_value(value, strict))

        def resolve_string(payload: Any) -> str:
            text = fn(payload)
            if not isinstance(text, str):
                raise MappingRuntimeError(f"{name}: expected string, got {js_type(text)}")
            return text

        return None, resolve_string

    return compile_


# -- @path --------------------------------------------------------------------------------


def validate_path(value: Any, stack: tuple, strict: bool) -> None:
    v.validate_directive_or_string(value, stack, strict)


def compile_path(value: Any, strict: bool) -> Node:
    text, dynamic = _string_or_directive("@path")(value, strict)
    if text is not None:
        return make_getter(split_path(strip_root(text)))

    def path_dynamic(payload: Any) -> Any:
        return getter_for(strip_root(dynamic(payload)))(payload)

    return path_dynamic


# -- @template ----------------------------------------------------------------------------


def compile_template_directive(value: Any, strict: bool) -> Node:
    text, dynamic = _string_or_directive("@template")(value, strict)
    if text is not None:
        compiled = compile_template(text)
        return Const(compiled) if isinstance(compiled, str) else compiled

    def template_dynamic(payload: Any) -> Any:
        return render(dynamic(payload), payload)

    return template_dynamic


# -- @literal, @excludeWhenNull ------------------------------------------------------------


def compile_literal(value: Any, strict: bool) -> Node:
    return compile_value(value, strict)  # Segment resolves it: nested directives still run


def _drop_nulls(value: dict) -> dict:
    return {
        k: _drop_nulls(item) if isinstance(item, dict) else item
        for k, item in value.items()
        if item is not None
    }


def compile_exclude_when_null(value: Any, strict: bool) -> Node:
    fn = as_fn(compile_value(value, strict))

    def exclude_when_null(payload: Any) -> Any:
        resolved = fn(payload)
        if resolved is None:
            return UNDEFINED
        if isinstance(resolved, dict):
            return _drop_nulls(resolved)
        return resolved

    return exclude_when_null


# -- @if ----------------------------------------------------------------------------------


def validate_if(value: Any, stack: tuple, strict: bool) -> None:
    raw = v.validate_directive_or_raw
    v.validate_fields(
        value,
        stack,
        strict,
        optional={"exists": raw, "then": raw, "else": raw},
        order=("exists", "then", "else"),
    )


def _blank_is_set(value: Any) -> bool:
    """`value != ''` with JS loose equality (value not null/undefined)."""
    if isinstance(value, str):
        return value != ""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return js_string(value) != ""


def compile_if(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@if requires an object with an "exists" key')
    exists, blank = _opt(opts, "exists"), _opt(opts, "blank")
    if not truthy(exists) and not truthy(blank):
        return raiser('@if requires an "exists" key or a "blank" key')
    use_exists = exists is not UNDEFINED
    cond_fn = as_fn(compile_value(exists if use_exists else blank, strict))
    then = _opt(opts, "then")
    then_fn = None if then is UNDEFINED else as_fn(compile_value(then, strict))
    otherwise = _opt(opts, "else")
    else_fn = as_fn(compile_value(otherwise, strict)) if truthy(otherwise) else None

    def if_(payload: Any) -> Any:
        value = cond_fn(payload)
        if use_exists:
            condition = value is not None and value is not UNDEFINED
        else:
            condition = value is not None and value is not UNDEFINED and _blank_is_set(value)
        if condition:
            return UNDEFINED if then_fn is None else then_fn(payload)
        return UNDEFINED if else_fn is None else else_fn(payload)

    return if_


# -- @case --------------------------------------------------------------------------------


def validate_case(value: Any, stack: tuple, strict: bool) -> None:
    optional = {"operator": v.validate_string, "value": v.validate_directive_or_string}
    v.validate_fields(value, stack, strict, optional=optional, order=("operator", "value"))


def compile_case(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@case requires an object with a "operator" key')
    operator = _opt(opts, "operator")
    if not truthy(operator):
        return raiser('@case requires a "operator" key')
    value = _opt(opts, "value")
    if not truthy(value):
        return Const(UNDEFINED)
    fn = as_fn(compile_value(value, strict))

    def case(payload: Any) -> Any:
        resolved = fn(payload)
        if isinstance(resolved, str):
            if operator == "lower":
                return resolved.lower()
            if operator == "upper":
                return resolved.upper()
            raise MappingRuntimeError('operator key should have a value of "lower" or "upper"')
        return resolved

    return case


# -- @replace -----------------------------------------------------------------------------


def validate_replace(value: Any, stack: tuple, strict: bool) -> None:
    required = {
        "pattern": v.chain(v.validate_string, v.string_length(1, MAX_PATTERN_LENGTH)),
        "value": v.validate_directive_or_string,
    }
    optional = {
        "replacement": v.chain(v.validate_string, v.string_length(0, MAX_REPLACEMENT_LENGTH)),
        "ignorecase": v.validate_boolean,
        "global": v.validate_boolean,
    }
    order = ("pattern", "replacement", "value", "ignorecase", "global")
    v.validate_fields(value, stack, strict, required=required, optional=optional, order=order)


_SPECIAL = re.compile(r"\$([$&`'])")


def _js_replacer(replacement: str) -> Any:
    """A `re.sub` callback applying JS `String.replace` specials ($$, $&, $`, $')."""
    if "$" not in replacement:
        return lambda match: replacement
    parts: list[str | int] = []  # str literal, 0 = match, 1 = before, 2 = after
    last = 0
    for special in _SPECIAL.finditer(replacement):
        parts.append(replacement[last : special.start()])
        parts.append({"$": "$", "&": 0, "`": 1, "'": 2}[special.group(1)])
        last = special.end()
    parts.append(replacement[last:])

    def expand(match: re.Match[str]) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif part == 0:
                out.append(match.group(0))
            elif part == 1:
                out.append(match.string[: match.start()])
            else:
                out.append(match.string[match.end() :])
        return "".join(out)

    return expand


def _replacer(pattern: str, replacement: str, ignorecase: bool, is_global: bool) -> Any:
    """Segment's performReplace, compiled; returns a function or a runtime error message."""
    if js_length(pattern) > MAX_PATTERN_LENGTH:
        return f'@replace requires a "pattern" less than {MAX_PATTERN_LENGTH} characters'
    if js_length(replacement) > MAX_REPLACEMENT_LENGTH:
        return f'@replace requires a "replacement" less than {MAX_REPLACEMENT_LENGTH} characters'
    regex = re.compile(re.escape(pattern), re.IGNORECASE if ignorecase else 0)
    callback = _js_replacer(replacement)
    count = 0 if is_global else 1
    return lambda text: regex.sub(callback, text, count=count)


def compile_replace(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@replace requires an object with a "pattern" key')
    pattern = _opt(opts, "pattern")
    if not truthy(pattern):
        return raiser('@replace requires a "pattern" key')
    replacement = _opt(opts, "replacement")
    replacement = "" if replacement is None or replacement is UNDEFINED else replacement
    pattern2, replacement2 = _opt(opts, "pattern2"), _opt(opts, "replacement2")
    if truthy(pattern2) and (replacement2 is None or replacement2 is UNDEFINED):
        replacement2 = ""
    ignorecase = _opt(opts, "ignorecase")
    ignorecase = False if ignorecase is None or ignorecase is UNDEFINED else ignorecase
    is_global = _opt(opts, "global")
    is_global = True if is_global is None or is_global is UNDEFINED else is_global
    value = _opt(opts, "value")
    if not truthy(value):
        return Const(UNDEFINED)
    fn = as_fn(compile_value(value, strict))
    usable = (
        isinstance(pattern, str)
        and isinstance(replacement, str)
        and isinstance(ignorecase, bool)
        and isinstance(is_global, bool)
    )
    steps: list[Any] = []
    if usable:
        steps.append(_replacer(pattern, replacement, ignorecase, is_global))
        if isinstance(pattern2, str) and pattern2 and isinstance(replacement2, str):
            steps.append(_replacer(pattern2, replacement2, ignorecase, is_global))

    def replace(payload: Any) -> Any:
        resolved = fn(payload)
        if isinstance(resolved, (bool, int, float)):
            resolved = js_string(resolved)
        if not isinstance(resolved, str) or not usable:
            return ""
        for step in steps:
            if isinstance(step, str):
                raise MappingRuntimeError(step)
            resolved = step(resolved)
        return resolved

    return replace


# -- @arrayPath ---------------------------------------------------------------------------


def validate_array_path(value: Any, stack: tuple, strict: bool) -> None:
    v.validate_array(value, stack, strict)
    first = value[0] if value else UNDEFINED
    second = value[1] if len(value) > 1 else UNDEFINED
    v.validate_directive_or_string(first, (*stack, 0) if strict else stack, strict)
    v.validate(second, (*stack, 1) if strict else stack, strict)


def compile_array_path(data: Any, strict: bool) -> Node:
    if not isinstance(data, list):
        return raiser(f"@arrayPath expected array, got {js_type(data)}")
    path = data[0] if data else UNDEFINED
    shape = data[1] if len(data) > 1 else UNDEFINED
    root_fn = (
        make_getter(split_path(strip_root(path)))
        if isinstance(path, str)
        else as_fn(compile_value(path, strict))
    )
    if not (isinstance(shape, dict) and shape):
        return root_fn
    item_fn = as_fn(compile_value(shape, strict))

    def array_path(payload: Any) -> Any:
        root = root_fn(payload)
        if isinstance(root, list):
            return [item_fn(item) for item in root]
        if isinstance(root, dict):
            return [item_fn(root)]
        return root

    return array_path


# -- @json --------------------------------------------------------------------------------


def validate_json(value: Any, stack: tuple, strict: bool) -> None:
    required = {"value": v.validate_directive_or_raw, "mode": v.allowed_strings("encode", "decode")}
    v.validate_fields(value, stack, strict, required=required, order=("value", "mode"))


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse(value)
        except JSONParseError:
            return value
    return value


def compile_json(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@json requires an object with a "value" key')
    mode = _opt(opts, "mode")
    if not truthy(mode):
        return raiser('@json requires a "mode" key')
    value = _opt(opts, "value")
    if not truthy(value):
        return raiser('@json requires a "value" key')
    fn = as_fn(compile_value(value, strict))
    if mode == "encode":
        return lambda payload: stringify(fn(payload))
    if mode == "decode":
        return lambda payload: _decode(fn(payload))

    def other_mode(payload: Any) -> Any:
        fn(payload)
        return UNDEFINED

    return other_mode


# -- @flatten -----------------------------------------------------------------------------


def validate_flatten(value: Any, stack: tuple, strict: bool) -> None:
    v.validate_fields(
        value, stack, strict,
        required={"value": v.validate_directive_or_raw}, optional={"separator": v.validate_string},
        order=("separator", "value"),
    )  # fmt: skip


def flatten(value: Any, prefix: str, separator: str, omit_arrays: bool, out: dict) -> dict:
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list) and not omit_arrays:
        items = ((str(i), item) for i, item in enumerate(value))
    else:
        out[prefix] = value
        return out
    for key, item in items:
        flatten(item, f"{prefix}{separator}{key}" if prefix else key, separator, omit_arrays, out)
    return out


def compile_flatten(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@flatten requires an object with a "separator" key')
    separator = _opt(opts, "separator")
    if not truthy(separator):
        return raiser('@flatten requires a "separator" key')
    separator_fn = as_fn(compile_value(separator, strict))
    value_fn = as_fn(compile_value(_opt(opts, "value"), strict))
    omit_arrays = truthy(_opt(opts, "omitArrays"))

    def flatten_(payload: Any) -> Any:
        sep = separator_fn(payload)
        if not isinstance(sep, str):
            raise MappingRuntimeError("@flatten requires a string separator")
        return flatten(value_fn(payload), "", sep, omit_arrays, {})

    return flatten_


# -- @merge -------------------------------------------------------------------------------


def validate_merge(value: Any, stack: tuple, strict: bool) -> None:
    v.validate_fields(
        value, stack, strict,
        required={"objects": v.validate_array}, optional={"direction": v.allowed_strings("left", "right")},
        order=("direction", "objects"),
    )  # fmt: skip
    if strict:
        objects = value["objects"]
        v.collect(
            [
                v._bind(v.validate_directive_or_object, item, (*stack, "objects", i), strict)
                for i, item in enumerate(objects)
            ]
        )
    else:
        for item in value["objects"]:
            v.validate_directive_or_object(item, (), strict)  # Segment: first error, empty stack


def _typeof(value: Any) -> str:
    kind = js_type(value)
    return "object" if kind in ("null", "array", "object") else kind


def _assign(target: dict, source: Any) -> None:
    if isinstance(source, dict):
        target.update(source)
    elif isinstance(source, list):
        for i, item in enumerate(source):
            target[str(i)] = item
    elif isinstance(source, str):
        for i in range(js_length(source)):
            target[str(i)] = source[i] if source.isascii() else _char(source, i)


def _char(text: str, index: int) -> str:
    from engine.mapping.paths import js_char_at

    return js_char_at(text, index)


def compile_merge(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@merge requires an object with an "objects" key and a "direction" key')
    direction = _opt(opts, "direction")
    if not truthy(direction):
        return raiser('@merge requires a "direction" key')
    direction_fn = as_fn(compile_value(direction, strict))
    objects = _opt(opts, "objects")
    if not truthy(objects):
        message = '@merge requires a "objects" key'
    elif not isinstance(objects, list):
        message = f"@merge: expected opts.array, got {_typeof(objects)}"
    else:
        message = ""
    if message:

        def merge_fail(payload: Any) -> Any:
            direction_fn(payload)
            raise MappingRuntimeError(message)

        return merge_fail
    fns = tuple(as_fn(compile_value(item, strict)) for item in objects)

    def merge(payload: Any) -> Any:
        left = direction_fn(payload) == "left"
        resolved = [fn(payload) for fn in fns]
        if left:
            resolved.reverse()
        out: dict = {}
        for source in resolved:
            _assign(out, source)
        return out

    return merge


# -- @transform ---------------------------------------------------------------------------


def validate_transform(value: Any, stack: tuple, strict: bool) -> None:
    required = {"apply": v.validate_directive_or_object, "mapping": v.validate_directive_or_object}
    v.validate_fields(value, stack, strict, required=required, order=("apply", "mapping"))


def compile_transform_directive(opts: Any, strict: bool) -> Node:
    if not isinstance(opts, dict):
        return raiser('@transform requires an object with an "apply" key and a "mapping" key')
    mapping, apply = _opt(opts, "mapping"), _opt(opts, "apply")
    if not truthy(mapping):
        return raiser('@transform requires a "mapping" key')
    if not truthy(apply):
        return raiser('@transform requires a "apply" key')
    if not isinstance(apply, dict):
        return raiser('@transform "apply" key should be an object')
    from engine.mapping.compile import compile_transform

    try:
        apply_fn = compile_transform(apply, strict=False)
    except MappingError as err:
        return raiser(str(err))
    mapping_fn = as_fn(compile_value(mapping, strict))
    return lambda payload: mapping_fn(apply_fn(payload))


# -- @liquid ------------------------------------------------------------------------------


def validate_liquid(value: Any, stack: tuple, strict: bool) -> None:
    v.validate_string(value, stack, strict)


def compile_liquid_directive(value: Any, strict: bool) -> Node:
    # python-liquid is loaded by the first @liquid compiled (~0.1 s of start-up that specs without one never pay)
    from engine.mapping.liquid import MAX_TEMPLATE_LENGTH, LiquidFailure, compile_liquid, render_liquid

    if not isinstance(value, str):
        return raiser("liquid template value must be a string")
    if value == "":
        return Const("")
    if js_length(value) > MAX_TEMPLATE_LENGTH:
        return raiser("liquid template values are limited to 1000 characters")
    try:
        template = compile_liquid(value)
    except LiquidFailure as err:
        return raiser(str(err))  # liquidjs parses per event: the error is a runtime one

    def liquid_(payload: Any) -> str:
        try:
            return render_liquid(template, payload)
        except LiquidFailure as err:
            raise MappingRuntimeError(str(err)) from None

    return liquid_


register("@if", validate_if, compile_if)
register("@case", validate_case, compile_case)
register("@replace", validate_replace, compile_replace)
register("@arrayPath", validate_array_path, compile_array_path)
register("@path", validate_path, compile_path)
register("@json", validate_json, compile_json)
register("@flatten", validate_flatten, compile_flatten)
register("@merge", validate_merge, compile_merge)
register("@template", v.validate_directive_or_string, compile_template_directive)
register("@literal", v.validate_directive_or_raw, compile_literal)
register("@transform", validate_transform, compile_transform_directive)
register("@excludeWhenNull", v.validate_directive_or_raw, compile_exclude_when_null)
register("@liquid", validate_liquid, compile_liquid_directive)
