"""JavaScript `JSON.stringify` (compact) and `JSON.parse` over engine values."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from engine.jsvalues import UNDEFINED, number_to_string

_quote = json.JSONEncoder(ensure_ascii=False).encode  # same escapes as JS for well-formed text


def stringify(value: Any) -> Any:
    """`JSON.stringify(value)`: a string, or UNDEFINED for undefined.

    Integral floats print without `.0`, non-ASCII and `/` are not escaped, undefined object
    members are dropped and undefined array items become `null`.
    """
    if value is UNDEFINED:
        return UNDEFINED
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None or value is UNDEFINED:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(number_to_string(value))
    elif isinstance(value, float):
        out.append(number_to_string(value) if math.isfinite(value) else "null")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if item is UNDEFINED:
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_quote(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    else:
        out.append("null")


class JSONParseError(ValueError):
    """The text is not JSON."""


def parse(text: str) -> Any:
    """`JSON.parse(text)` (strict JSON: no NaN/Infinity)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        raise JSONParseError(str(err)) from err
