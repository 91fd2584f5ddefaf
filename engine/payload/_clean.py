"""Segment's `removeEmptyValues(payload, schema, isRoot)` and `arrifyFields`, compiled per schema.

Cleaning runs before ajv: a `null` the schema does not allow and a `""` the schema does not type as a
string disappear (so an optional field mapped to nothing is simply absent). In single mode every
root-level `""` is dropped as well; batch mode keeps `""` on string fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.jsvalues import UNDEFINED

Cleaner = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def compile_cleaner(schema: dict[str, Any], *, is_root: bool = False) -> Cleaner:
    """A closure: value -> cleaned value, or UNDEFINED when the value must be dropped."""
    if "type" not in schema and "enum" not in schema:
        return _identity
    raw = schema.get("type")
    types = set() if raw is None else {raw} if isinstance(raw, str) else set(raw)
    allows_null = "null" in types
    allows_string = "string" in types
    items_schema = schema.get("items")
    items = compile_cleaner(items_schema) if isinstance(items_schema, dict) else None
    props_schema = schema.get("properties")
    props = (
        {key: compile_cleaner(sub) for key, sub in props_schema.items()} if isinstance(props_schema, dict) else None
    )

    def clean(value: Any) -> Any:
        if isinstance(value, list):
            if items is None:
                return value
            # Segment filters the array but keeps the original items (nested objects stay uncleaned)
            return [item for item in value if items(item) is not UNDEFINED]
        if isinstance(value, dict):
            if props is None:
                return value
            out: dict[str, Any] = {}
            for key, item in value.items():
                cleaner = props.get(key, _identity)
                new = cleaner(item)
                if new is UNDEFINED or (is_root and new == "" and isinstance(new, str)):
                    continue
                out[key] = new
            return out
        if value is None and not allows_null:
            return UNDEFINED
        if value == "" and isinstance(value, str) and not allows_string:
            return UNDEFINED
        return value

    return clean


def compile_arrify(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """`arrifyFields`: a scalar at a top-level `multiple` field becomes a one-item array (in place)."""
    keys = [key for key, sub in (schema.get("properties") or {}).items() if sub.get("type") == "array"]

    def arrify(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key in keys:
            if key in value:
                item = value[key]
                if item is not None and item is not UNDEFINED and not isinstance(item, list):
                    value[key] = [item]
        return value

    return arrify
