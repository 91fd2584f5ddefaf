"""Segment's `get(obj, path)`: path splitting once at compile time, a tight JS-style walk per event.

Splitting: on `.`, on `[` followed by a quote or digit, and on runs of `]` preceded by a quote
or digit; empty segments dropped, quote characters deleted. So `a["b c"]`, `a['b c']`, `a[0]`
and `a.0` work, `a["b.c"]` is a, b, c and `a[b]` is the single key `"a[b]"`.

Walking: JS `cur = cur && cur[key]`: a falsy intermediate is returned as is; strings and
arrays expose `length` and their indexes (UTF-16 code units for strings, like JS).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from engine.jsvalues import UNDEFINED, truthy

_SPLIT = re.compile(r"""\.|\[(?=["'0-9])|(?<=["'0-9])\]+""")
_MAX_INDEX = 2**32 - 2


@lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...] | None:
    """The keys of `path`, or None for `""`/`"."` (the whole object)."""
    if path == "" or path == ".":
        return None
    return tuple(seg.replace('"', "").replace("'", "") for seg in _SPLIT.split(path) if seg)


def _array_index(key: str) -> int:
    """The array index a property key denotes in JS (canonical numeric string), else -1."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0"):
        number = int(key)
        if number <= _MAX_INDEX:
            return number
    return -1


def js_length(text: str) -> int:
    """JS `string.length` (UTF-16 code units)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def js_char_at(text: str, index: int) -> Any:
    """JS `string[index]`: one UTF-16 code unit, or undefined past the end."""
    if text.isascii() or max(text) <= "\uffff":
        return text[index] if index < len(text) else UNDEFINED
    data = text.encode("utf-16-le", "surrogatepass")
    if 2 * index + 2 > len(data):
        return UNDEFINED
    return data[2 * index : 2 * index + 2].decode("utf-16-le", "surrogatepass")


def _property(cur: Any, key: str, index: int) -> Any:
    """`cur[key]` for a truthy non-dict JS value."""
    if isinstance(cur, list):
        if index >= 0:
            return cur[index] if index < len(cur) else UNDEFINED
        return len(cur) if key == "length" else UNDEFINED
    if isinstance(cur, str):
        if index >= 0:
            return js_char_at(cur, index)
        return js_length(cur) if key == "length" else UNDEFINED
    if isinstance(cur, dict):
        return cur.get(key, UNDEFINED)
    return UNDEFINED  # numbers, true: no own properties


def _identity(obj: Any) -> Any:
    return obj


def make_getter(keys: tuple[str, ...] | None) -> Callable[[Any], Any]:
    """A closure doing `get(obj, path)` for pre-split `keys`."""
    if keys is None:
        return _identity
    steps = tuple((key, _array_index(key)) for key in keys)
    if len(steps) == 1:
        ((key0, index0),) = steps

        def get_one(obj: Any) -> Any:
            if type(obj) is dict:
                return obj.get(key0, UNDEFINED)
            if not truthy(obj):
                return obj
            return _property(obj, key0, index0)

        return get_one

    def get_path(obj: Any) -> Any:
        cur = obj
        for key, index in steps:
            if type(cur) is dict:
                cur = cur.get(key, UNDEFINED)
            elif not truthy(cur):
                return cur
            else:
                cur = _property(cur, key, index)
        return cur

    return get_path


@lru_cache(maxsize=4096)
def getter_for(path: str) -> Callable[[Any], Any]:
    """A cached getter for a path only known per event (e.g. `@path` of a directive)."""
    return make_getter(split_path(path))


def get(obj: Any, path: str) -> Any:
    """Segment's `get(obj, path)` (no `$.` handling; see `strip_root`)."""
    return getter_for(path)(obj)


def strip_root(path: str) -> str:
    """@path and @arrayPath delete the first occurrence of `$.` anywhere in the string."""
    return path.replace("$.", "", 1)
