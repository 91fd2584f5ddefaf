"""`@liquid`: python-liquid configured like Segment's liquidjs engine.

Disabled tags (case, for, include, layout, render, tablerow) fail at parse time and disabled
filters at render time, with liquidjs' messages (`tag "for" is disabled, line:1, col:1`). Output
statements print values the JS way (`10.0` -> `10`, objects -> `[object Object]`). Templates are
limited to 1000 characters (liquidjs parseLimit); memoryLimit maps onto python-liquid's output
and namespace limits. liquidjs' renderLimit (500 ms) has no python-liquid equivalent; with loops
disabled, render time is bounded by the template size.
"""

from __future__ import annotations

import functools
from typing import Any, TextIO

import liquid
from liquid.builtin.output import Output, OutputNode
from liquid.exceptions import LiquidError
from liquid.tag import Tag

from engine.jsvalues import js_string

MAX_TEMPLATE_LENGTH = 1000
DISABLED_TAGS = ("case", "for", "include", "layout", "render", "tablerow")
DISABLED_FILTERS = (
    "array_to_sentence_string", "concat", "find", "find_exp", "find_index", "find_index_exp",
    "group_by", "group_by_exp", "has", "has_exp", "map", "newline_to_br", "reject", "reject_exp",
    "reverse", "sort", "sort_natural", "uniq", "where_exp", "type",
)  # fmt: skip


class LiquidFailure(Exception):
    """A parse or render error with liquidjs' message."""


def _position(source: str, index: int) -> str:
    line = source.count("\n", 0, index) + 1
    col = index - (source.rfind("\n", 0, index) + 1) + 1
    return f"line:{line}, col:{col}"


class _DisabledFilterCalled(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _disabled_filter(name: str) -> Any:
    def filter_(*args: Any, **kwargs: Any) -> Any:
        raise _DisabledFilterCalled(name)

    return filter_


def _make_disabled_tag(tag_name: str) -> type[Tag]:
    class DisabledTag(Tag):
        name = tag_name
        block = False

        def parse(self, stream: Any) -> Any:
            token = stream.current
            source, index = token.source, token.start_index
            start = source.rfind("{%", 0, index)
            if start >= 0 and source[start + 2 : index].strip(" \t\r\n-") == "":
                index = start  # liquidjs reports where the tag markup begins
            raise LiquidFailure(f'tag "{tag_name}" is disabled, {_position(source, index)}')

    return DisabledTag


def _liquid_string(value: Any) -> str:
    """liquidjs' output stringification: arrays joined with "", others JS String()."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(_liquid_string(item) for item in value)
    if isinstance(value, (bool, int, float, dict)):
        return js_string(value)
    return str(value)


class _JSOutputNode(OutputNode):
    def render_to_output(self, context: Any, buffer: TextIO) -> int:
        try:
            value = self.expression.evaluate(context)
        except _DisabledFilterCalled as err:
            raise LiquidFailure(
                f'filter "{err.name}" is disabled, {_position(self.token.source, self.token.start_index)}'
            ) from None
        except _TooLarge as err:
            raise _too_large(err) from None
        return buffer.write(_liquid_string(value))


class _JSOutput(Output):
    node_class = _JSOutputNode


MAX_VALUE = 1_000_000
"""Most characters (or items) one filter may build: checked before building where the result can grow."""


class _TooLarge(Exception):
    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _liquid_string(value)


def _predicted_size(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The size a growing filter's result would have, computed from its inputs (0: not a growing filter)."""
    if not args:
        return 0
    if name in ("replace", "replace_first", "replace_last") and len(args) >= 2:
        text, old = _text(args[0]), _text(args[1])
        new = _text(args[2]) if len(args) > 2 else _text(kwargs.get("sub", ""))
        if len(new) <= len(old):
            return 0
        found = (text.count(old) if old else len(text) + 1) if name == "replace" else 1
        return len(text) + found * (len(new) - len(old))
    if name in ("append", "prepend") and len(args) >= 2:
        return len(_text(args[0])) + len(_text(args[1]))
    if name == "join" and isinstance(args[0], (list, tuple)):
        items = args[0]
        sep = _text(args[1]) if len(args) > 1 else _text(kwargs.get("separator", " "))
        total = len(sep) * max(len(items) - 1, 0)
        for item in items:
            if total > MAX_VALUE:
                break
            total += len(_text(item)) if isinstance(item, (str, int, float, bool)) or item is None else MAX_VALUE + 1
        return total
    return 0


def _bounded(name: str, func: Any) -> Any:
    """A filter whose result is at most MAX_VALUE characters or items: growing filters (replace, append, prepend,
    join) are checked before they build, every other one on what it returns."""

    @functools.wraps(func)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        size = _predicted_size(name, args, kwargs)
        if size > MAX_VALUE:
            raise _TooLarge(name, size)
        result = func(*args, **kwargs)
        if isinstance(result, (str, list)) and len(result) > MAX_VALUE:
            raise _TooLarge(name, len(result))
        return result

    return filter_


def _too_large(err: _TooLarge) -> LiquidFailure:
    return LiquidFailure(
        f'filter "{err.name}" would build a value of {err.size} characters or items, more than {MAX_VALUE}'
    )


class SegmentLiquidEnvironment(liquid.Environment):
    output_stream_limit = 10**8
    local_namespace_limit = 10**8

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(_JSOutput)
        for name in DISABLED_TAGS:
            self.add_tag(_make_disabled_tag(name))
        for name, func in list(self.filters.items()):
            self.filters[name] = _bounded(name, func)
        for name in DISABLED_FILTERS:
            self.add_filter(name, _disabled_filter(name))


ENV = SegmentLiquidEnvironment()


def compile_liquid(source: str) -> Any:
    """Parse once; raises LiquidFailure with liquidjs' message for disabled tags."""
    try:
        return ENV.from_string(source)
    except LiquidError as err:
        if isinstance(err.__cause__, LiquidFailure):
            raise err.__cause__ from None
        raise LiquidFailure(str(err.message)) from None


def render_liquid(template: Any, payload: Any) -> str:
    try:
        return template.render(payload if isinstance(payload, dict) else {})
    except _DisabledFilterCalled as err:  # used outside an output statement ({% assign %}, {% if %})
        raise LiquidFailure(f'filter "{err.name}" is disabled') from None
    except _TooLarge as err:
        raise _too_large(err) from None
    except LiquidError as err:
        if isinstance(err.__cause__, _TooLarge):
            raise _too_large(err.__cause__) from None
        raise LiquidFailure(str(err.message)) from None
