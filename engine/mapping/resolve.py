"""Compiling Segment's `resolve(mapping, payload)` into closures.

A compiled node is either a `Const` (a sub-tree with no directive, known at compile time) or a
function `payload -> value`. Objects and arrays whose children are all constants fold into one
constant; mutable constants are copied per call so callers may modify results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.mapping.errors import MappingRuntimeError
from engine.mapping.registry import DIRECTIVES

Fn = Callable[[Any], Any]


class Const:
    """A compiled sub-tree whose value does not depend on the payload."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Const({self.value!r})"


Node = Const | Fn


def copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def as_fn(node: Node) -> Fn:
    """The node as a `payload -> value` function."""
    if not isinstance(node, Const):
        return node
    value = node.value
    if isinstance(value, (dict, list)):
        return lambda payload: copy_json(value)
    return lambda payload: value


def is_directive(value: Any) -> bool:
    """A plain object with at least one `@` key whose other keys are all `_metadata`."""
    if not isinstance(value, dict) or not value:
        return False
    found = False
    for key in value:
        if key.startswith("@"):
            found = True
        elif key != "_metadata":
            return False
    return found


def raiser(message: str) -> Fn:
    def fail(payload: Any) -> Any:
        raise MappingRuntimeError(message)

    return fail


def compile_value(mapping: Any, strict: bool = False) -> Node:
    """Compile `resolve(mapping, payload)`."""
    if isinstance(mapping, dict):
        if is_directive(mapping):
            name = next(key for key in mapping if key.startswith("@"))
            directive = DIRECTIVES.get(name)
            if directive is None:
                return raiser(f"{name} is not a valid directive, got undefined")
            return directive.compile(mapping[name], strict)
        return _compile_object(mapping, strict)
    if isinstance(mapping, list):
        return _compile_array(mapping, strict)
    return Const(mapping)


def _compile_object(mapping: dict, strict: bool) -> Node:
    children = [(key, compile_value(item, strict)) for key, item in mapping.items()]
    if all(isinstance(node, Const) for _, node in children):
        return Const({key: node.value for key, node in children})  # type: ignore[union-attr]
    fixed = {key: node.value for key, node in children if isinstance(node, Const)}
    if any(isinstance(value, (dict, list)) for value in fixed.values()):
        items = tuple((key, as_fn(node)) for key, node in children)

        def resolve_object(payload: Any) -> dict:
            return {key: fn(payload) for key, fn in items}

        return resolve_object
    # keep key order: constants inline, functions called
    plan = tuple(
        (key, None, node.value) if isinstance(node, Const) else (key, node, None) for key, node in children
    )

    def resolve_mixed(payload: Any) -> dict:
        out = {}
        for key, fn, value in plan:
            out[key] = value if fn is None else fn(payload)
        return out

    return resolve_mixed


def _compile_array(mapping: list, strict: bool) -> Node:
    nodes = [compile_value(item, strict) for item in mapping]
    if all(isinstance(node, Const) for node in nodes):
        return Const([node.value for node in nodes])  # type: ignore[union-attr]
    fns = tuple(as_fn(node) for node in nodes)

    def resolve_array(payload: Any) -> list:
        return [fn(payload) for fn in fns]

    return resolve_array
