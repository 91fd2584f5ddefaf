"""Public entry points: validate once, compile to closures, run per event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from engine.jsvalues import UNDEFINED, js_type, remove_undefined
from engine.mapping import directives as _directives  # noqa: F401  (fills the registry)
from engine.mapping.errors import MappingError, MappingIssue, MappingRuntimeError
from engine.mapping.fast import compile_fast
from engine.mapping.paths import js_char_at, js_length
from engine.mapping.resolve import Const, compile_value, copy_json
from engine.mapping.validate import validate_mapping

ROOT_DIRECTIVE_KEY = "__segment_internal_directive"


def compile_mapping(value: Any, *, strict: bool = True) -> Callable[[Any], Any]:
    """Validate `value` (raising MappingError with every issue), then return `run(event)`.

    `run` resolves the mapping against the event and removes undefined object members
    (undefined array items become None); the result may be UNDEFINED (e.g. a missing `@path`).
    Runtime failures raise MappingRuntimeError with Segment's message. The mapping becomes one generated
    function (`fast.py`) calling the closures of `resolve.compile_value` only for shapes it does not write.
    """
    issues = validate_mapping(value, strict=strict)
    if issues:
        raise MappingError(issues)
    fast = compile_fast(value, strict, strip_undefined)
    if fast is not None:
        return fast[0]
    return _constant(compile_value(value, strict))  # type: ignore[arg-type]  (folds: a Const)


def _constant(node: Const) -> Callable[[Any], Any]:
    # directives folded at compile time may leave undefined members in a constant tree
    constant = remove_undefined(node.value)
    if isinstance(constant, (dict, list)):
        return lambda event: copy_json(constant)
    return lambda event: constant


def compile_general(value: Any, *, strict: bool = True) -> Callable[[Any], Any]:
    """`compile_mapping` through the closures of `resolve.compile_value` only, then one `strip_undefined`
    pass over the result: the reference the generated code of `fast.py` is tested against."""
    issues = validate_mapping(value, strict=strict)
    if issues:
        raise MappingError(issues)
    node = compile_value(value, strict)
    if isinstance(node, Const):
        return _constant(node)
    fn = node

    def run(event: Any) -> Any:
        return strip_undefined(fn(event))

    return run


_dumps, _PLAIN = orjson.dumps, orjson.OPT_PASSTHROUGH_SUBCLASS


def strip_undefined(value: Any) -> Any:
    """`remove_undefined(value)`, copying only the containers on the way to an undefined.

    orjson refuses UNDEFINED (and anything that is not plain JSON): a subtree it encodes holds nothing to
    remove and is kept as it is (large objects copied from the event are checked in C, not walked in Python).
    """
    kind = type(value)
    if kind is dict:
        try:
            _dumps(value, option=_PLAIN)
            return value
        except TypeError:
            return {k: strip_undefined(v) if isinstance(v, _CONTAINERS) else v
                    for k, v in value.items() if v is not UNDEFINED}
    if kind is list:
        try:
            _dumps(value, option=_PLAIN)
            return value
        except TypeError:
            return [None if v is UNDEFINED else strip_undefined(v) if isinstance(v, _CONTAINERS) else v for v in value]
    return remove_undefined(value)


_CONTAINERS = (dict, list)


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
