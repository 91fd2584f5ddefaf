"""`@template`: Segment's `{{path}}` placeholders, compiled once.

Two passes like Segment: `{{{x}}}` first, then `{{x}}` over the result. The inner text is
trimmed and looked up with `get` (no `$.` handling); null/undefined render as "", anything else
as JS `String(value)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from engine.jsvalues import UNDEFINED, js_string
from engine.mapping.paths import getter_for, make_getter, split_path

_TRIPLE = re.compile(r"\{\{\{([^}]+)\}\}\}")
_DOUBLE = re.compile(r"\{\{([^}]+)\}\}")


def _text(value: Any) -> str:
    if value is None or value is UNDEFINED:
        return ""
    if isinstance(value, str):
        return value
    return js_string(value)


def _pieces(template: str, pattern: re.Pattern[str]) -> list[str | Callable[[Any], Any]]:
    pieces: list[str | Callable[[Any], Any]] = []
    last = 0
    for match in pattern.finditer(template):
        if match.start() > last:
            pieces.append(template[last : match.start()])
        pieces.append(make_getter(split_path(match.group(1).strip())))
        last = match.end()
    if last < len(template):
        pieces.append(template[last:])
    return pieces


def _second_pass(text: str, payload: Any) -> str:
    if "{{" not in text:
        return text
    return _DOUBLE.sub(lambda m: _text(getter_for(m.group(1).strip())(payload)), text)


def compile_template(template: str) -> str | Callable[[Any], str]:
    """A constant string when the template has no placeholder, else `payload -> str`."""
    if not _TRIPLE.search(template):
        if not _DOUBLE.search(template):
            return template
        pieces = tuple(_pieces(template, _DOUBLE))

        def render(payload: Any) -> str:
            return "".join(piece if piece.__class__ is str else _text(piece(payload)) for piece in pieces)  # type: ignore[operator]

        return render
    first = tuple(_pieces(template, _TRIPLE))

    def render_two_pass(payload: Any) -> str:
        text = "".join(piece if piece.__class__ is str else _text(piece(payload)) for piece in first)  # type: ignore[operator]
        return _second_pass(text, payload)

    return render_two_pass


@lru_cache(maxsize=1024)
def cached_template(template: str) -> str | Callable[[Any], str]:
    return compile_template(template)


def render(template: str, payload: Any) -> str:
    """Render a template only known per event (the value of `@template` was a directive)."""
    compiled = cached_template(template)
    return compiled if isinstance(compiled, str) else compiled(payload)
