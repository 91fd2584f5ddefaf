"""Public entry points: validate once, compile to closures, run per event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from engine.jsvalues import js_type, remove_undefined
from engine.mapping import directives as _directives  # noqa: F401  (fills the registry)
from engine.mapping.errors import MappingError, MappingIssue, MappingRuntimeError
from engine.mapping.paths import js_char_at, js_length
from engine.mapping.resolve import Const, compile_value, copy_json
from engine.mapping.validate import validate_mapping

ROOT_DIRECTIVE_KEY = "__segment_internal_directive"


def compile_mapping(value: Any, *, strict: bool = True) -> Callable[[Any], Any]:
    """Validate `value` (raising MappingError with every issue), then return `run(event)`.

    `run` resolves the mapping against the event and removes undefined object members
    (undefined array items become None); the result may be UNDEFINED (e.g. a missing `@path`).
    Runtime failures raise MappingRuntimeError with Segment's message.
    """
    issues = validate_mapping(value, strict=strict)
    if issues:
        raise MappingError(issues)
    node = compile_value(value, strict)
    if isinstance(node, Const):
        # directives folded at compile time may leave undefined members in a constant tree
        constant = remove_undefined(node.value)
        if isinstance(constant, (dict, list)):
            return lambda event: copy_json(constant)
        return lambda event: constant
    fn = node
    dumps, option = orjson.dumps, orjson.OPT_PASSTHROUGH_SUBCLASS

    def run(event: Any) -> Any:
        value = fn(event)
        if type(value) is dict or type(value) is list:
            # orjson refuses UNDEFINED (and anything that is not plain JSON): when it encodes the tree, there
            # is nothing to remove, and the Python walk (most of a mapping's cost) is skipped
            try:
                dumps(value, option=option)
            except TypeError:
                return remove_undefined(value)
            return value
        return remove_undefined(value)

    return run


def _spread(mapping: Any) -> dict:
    """JS `{...mapping}`."""
    if isinstance(mapping, dict):
        return dict(mapping)
    if isinstance(mapping, list):
        return {str(i): item for i, item in enumerate(mapping)}
    if isinstance(mapping, str):
        return {str(i): js_char_at(mapping, i) for i in range(js_length(mapping))}
    return {}


def _mapping_to_process(mapping: Any) -> Any:
    """Segment's getMappingToProcess: the `__segment_internal_directive` root rule."""
    if not (isinstance(mapping, dict) and ROOT_DIRECTIVE_KEY in mapping):
        return _spread(mapping)
    customer = {key: item for key, item in mapping.items() if key != ROOT_DIRECTIVE_KEY}
    root = mapping[ROOT_DIRECTIVE_KEY]
    keys = list(_spread(root)) if root is not None else []
    if len(keys) > 1:
        raise MappingError(
            [MappingIssue((ROOT_DIRECTIVE_KEY,), "The root mapping must only have a single directive object")]
        )
    directive = root[keys[0]] if keys and isinstance(root, dict) else None
    if not isinstance(directive, (dict, list)):
        raise MappingError([MappingIssue((ROOT_DIRECTIVE_KEY,), "The root directive must be an object")])
    if isinstance(directive, dict):
        directive = {**directive, "mapping": customer}
    return {keys[0]: directive}


def compile_transform(mapping: Any, *, strict: bool = False) -> Callable[[Any], Any]:
    """Compile Segment's `transform(mapping, data)`; the returned function checks `data`."""
    run = compile_mapping(_mapping_to_process(mapping), strict=strict)

    def transform_data(data: Any) -> Any:
        if not isinstance(data, dict):
            raise MappingRuntimeError(f"data must be an object, got {js_type(data)}")
        return run(data)

    return transform_data


def transform(mapping: Any, data: Any, *, strict: bool = False) -> Any:
    """Segment's `transform(mapping, data)` in one call (compiles every time: prefer
    `compile_transform` for repeated use)."""
    if not isinstance(data, dict):
        raise MappingRuntimeError(f"data must be an object, got {js_type(data)}")
    return compile_transform(mapping, strict=strict)(data)


__all__ = ["compile_mapping", "compile_transform", "transform"]
