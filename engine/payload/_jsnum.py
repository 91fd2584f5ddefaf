"""JavaScript number rules the coercions need: `Number(string)`, `String(number)`, `x % 1`."""

from __future__ import annotations

import math
import re
from typing import Any

# ECMAScript StrWhiteSpaceChar: WhiteSpace and LineTerminator code points.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)
_PREFIXED = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")
_BASES = {"x": 16, "o": 8, "b": 2}

NAN = float("nan")


def string_to_number(text: str) -> float:
    """JS `Number(text)`: trims JS white space; "" -> 0; hex/octal/binary; NaN when not numeric."""
    body = text.strip(_JS_SPACE)
    if body == "":
        return 0.0
    if _DECIMAL.match(body):
        return float(body)
    if body in ("Infinity", "+Infinity"):
        return math.inf
    if body == "-Infinity":
        return -math.inf
    match = _PREFIXED.match(body)
    if match:
        digits = match.group(1)
        return float(int(digits[1:], _BASES[digits[0].lower()]))
    return NAN


def as_number(value: float) -> int | float:
    """A float result of JS arithmetic as the Python number JSON would give back (3.0 -> 3)."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def is_number(value: Any) -> bool:
    """Ajv's number check with strictNumbers: a finite JS number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    return is_number(value) and float(value).is_integer()


def integral(value: float) -> bool:
    """JS `!(value % 1)`: true for whole numbers and for +-Infinity (Infinity % 1 is NaN)."""
    if math.isinf(value):
        return True
    return value.is_integer()
