"""JavaScript value semantics shared by the mapping, trigger and payload languages.

Segment's languages run on JavaScript values. Python has no `undefined`, so this module
defines the one sentinel every stage uses for it, plus the small JS rules (type names,
truthiness, `String(v)`) that the stages must agree on.
"""

from __future__ import annotations

import math
from typing import Any


class _Undefined:
    """JavaScript's `undefined`: a key that resolves to it disappears from objects."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


def is_plain_object(value: Any) -> bool:
    return isinstance(value, dict)


def js_type(value: Any) -> str:
    """Lower-case `Object.prototype.toString` tag: object, array, null, string, number, boolean, undefined."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def truthy(value: Any) -> bool:
    """JS truthiness: undefined, null, false, 0, NaN and "" are falsy; [] and {} are truthy."""
    if value is UNDEFINED or value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, str):
        return value != ""
    return True


def number_to_string(value: float | int) -> str:
    """JS `Number.prototype.toString()`: 10.0 -> "10", 1e21 -> "1e+21", 1e-7 -> "1e-7"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) < 10**21:
            return str(value)
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        from decimal import Decimal

        text = format(Decimal(repr(value)), "f")
        return text[:-2] if text.endswith(".0") else text
    text = repr(value)  # shortest round-trip digits, like JS
    if "e" in text or "E" in text:
        mantissa, _, exp = text.partition("e")
        exp_num = int(exp)
        if -7 < exp_num < 21:
            # JS uses positional notation in this range
            from decimal import Decimal

            text = format(Decimal(text), "f")
            return text
        if mantissa.endswith(".0"):
            mantissa = mantissa[:-2]
        return f"{mantissa}e{'+' if exp_num > 0 else '-'}{abs(exp_num)}"
    absval = abs(value)
    if absval < 1e-6:
        # repr gave positional but JS switches to exponent below 1e-6
        digits = f"{value:e}"
        mantissa, _, exp = digits.partition("e")
        mantissa = repr(float(mantissa)).rstrip("0").rstrip(".") if "." in mantissa else mantissa
        exp_num = int(exp)
        return f"{mantissa}e-{abs(exp_num)}"
    return text


def js_string(value: Any) -> str:
    """JS `String(value)`: arrays join with "," (null/undefined items empty), objects are "[object Object]"."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None or v is UNDEFINED else js_string(v) for v in value)
    return "[object Object]"


def remove_undefined(value: Any) -> Any:
    """Drop object keys whose value is undefined, recursively; undefined array items become null."""
    if isinstance(value, dict):
        return {k: remove_undefined(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [None if v is UNDEFINED else remove_undefined(v) for v in value]
    return value
