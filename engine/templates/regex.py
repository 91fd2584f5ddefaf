"""Regular-expression filters and tests on RE2, a linear-time engine (the `google-re2` bindings).

RE2 has no backtracking: matching takes time linear in the text for any pattern, so neither a spec's pattern nor
one taken from an event can make a render hang (there are no look-arounds or back-references, the constructs
that need backtracking). Each call also spends the render's work budget (one step plus one per
`SCAN_CHARS_PER_STEP` characters scanned, plus one per match made), so many calls over a large text fail the event
with a clear error instead of running long; what a call builds is measured against the output bound as it grows.

Patterns written literally in a template are compiled when the spec loads (`check_literal_args`, called by
`environment.check_ast`), so a pattern RE2 refuses is a validate-time error at its line and column; patterns read
from data compile on first use (a bounded cache) and a bad one fails that event.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import re2
from jinja2 import nodes

from engine.jsvalues import UNDEFINED
from engine.templates.environment import (
    _BUDGET,
    LITERAL_ARG_CHECKS,
    MAX_OUTPUT,
    MAX_STEPS,
    TemplateRenderError,
    _check_size,
    is_undefined,
    to_text,
)

MAX_PATTERN = 10_000
"""Longest pattern (characters) a regex filter or test accepts."""
SCAN_CHARS_PER_STEP = 100
"""Characters of text a regex call may scan per step of the render's work budget."""

MAX_PATTERN_MEMORY = 2 << 20
"""RE2's memory bound per compiled pattern (its program and DFA cache), in bytes: with the cache of
`PATTERNS_KEPT` patterns, what patterns read from events can hold is bounded."""
PATTERNS_KEPT = 256

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern on stderr
_OPTIONS.max_mem = MAX_PATTERN_MEMORY


class PatternError(ValueError):
    """A pattern RE2 does not accept; `.problem` is RE2's own description."""

    def __init__(self, pattern: str, problem: str):
        super().__init__(f"the regular expression {pattern!r} is not valid RE2 syntax: {problem}")
        self.problem = problem


def _problem(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    if "invalid perl operator: (?=" in text or "invalid perl operator: (?!" in text or "(?<=" in text or "(?<!" in text:
        text += " (RE2 has no look-around)"
    elif "invalid escape sequence: \\" in text and text[-1:].isdigit():
        text += " (RE2 has no back-references)"
    return text


@functools.lru_cache(maxsize=PATTERNS_KEPT)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern; raises PatternError (cached: a spec's patterns compile once per process)."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(pattern[:40] + "...", f"longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternError(pattern, _problem(exc)) from None


def _pattern(name: str, pattern: Any) -> Any:
    if not isinstance(pattern, str):
        raise TemplateRenderError(f"{name} needs a pattern string, got {to_text(pattern)!r}")
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        raise TemplateRenderError(f"{name}: {exc}") from None


def _subject(name: str, value: Any) -> str | None:
    """The text a regex runs over: a string, a number's JS text; None for undefined and null."""
    if value is None or is_undefined(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        raise TemplateRenderError(f"{name} needs a string, got an object or array")
    return to_text(value)


def _spend(name: str, n: int) -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.left -= n
    if budget.left < 0:
        raise TemplateRenderError(
            f"{name}: the regular expressions of this render passed the work budget ({MAX_STEPS} steps;"
            f" a call costs one step per {SCAN_CHARS_PER_STEP} characters it scans and one per match)"
        )


def _scan_cost(text: str) -> int:
    return 1 + len(text) // SCAN_CHARS_PER_STEP


# Matching runs over the UTF-8 bytes of the text: the bindings' str mode converts offsets between bytes and
# characters at every match (about three times slower); RE2 matches whole UTF-8 characters either way.


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _decode(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "surrogatepass")


def _matches(regex: Any, data: bytes) -> Iterator[Any]:
    """Every match, left to right (JavaScript's `/g` order); after an empty match the search goes on from the
    next character, never from inside a multi-byte one."""
    pos, size = 0, len(data)
    while pos <= size:
        match = regex.search(data, pos)
        if match is None:
            return
        yield match
        start, end = match.span()
        if end == start:
            end += 1
            while end < size and data[end] & 0xC0 == 0x80:
                end += 1
        pos = end


# -- tests ----------------------------------------------------------------------------------------


def search_test(value: Any, pattern: Any) -> bool:
    """`x is search(p)`: the pattern matches somewhere in the text (JavaScript's `/p/.test(x)`)."""
    regex = _pattern("search", pattern)
    text = _subject("search", value)
    if text is None:
        return False
    _spend("search", _scan_cost(text))
    return regex.search(_encode(text)) is not None


def match_test(value: Any, pattern: Any) -> bool:
    """`x is match(p)`: the pattern matches the whole text (as `/^(?:p)$/.test(x)`)."""
    regex = _pattern("match", pattern)
    text = _subject("match", value)
    if text is None:
        return False
    _spend("match", _scan_cost(text))
    return regex.fullmatch(_encode(text)) is not None


# -- filters --------------------------------------------------------------------------------------


def _group_value(name: str, match: Any, group: Any) -> Any:
    try:
        found = match.group(group)
    except (IndexError, KeyError, TypeError, re2.error):
        raise TemplateRenderError(f"{name}: the pattern has no group {to_text(group)!r}") from None
    return UNDEFINED if found is None else _decode(found)


def regex_search(value: Any, pattern: Any, group: Any = 0) -> Any:
    """The text of the first match (or of its `group`, a number or a name); undefined when nothing matches."""
    regex = _pattern("regex_search", pattern)
    text = _subject("regex_search", value)
    if text is None:
        return UNDEFINED
    _spend("regex_search", _scan_cost(text))
    match = regex.search(_encode(text))
    return UNDEFINED if match is None else _group_value("regex_search", match, group)


def regex_match(value: Any, pattern: Any) -> Any:
    """JavaScript's `x.match(/p/)`: `[whole, group1, ...]` of the first match (a group that took no part is null),
    or null when nothing matches (undefined for undefined input)."""
    regex = _pattern("regex_match", pattern)
    text = _subject("regex_match", value)
    if text is None:
        return UNDEFINED
    _spend("regex_match", _scan_cost(text))
    match = regex.search(_encode(text))
    if match is None:
        return None
    return [_decode(match.group(0)), *(_decode(g) for g in match.groups())]


def regex_findall(value: Any, pattern: Any) -> Any:
    """JavaScript's `x.match(/p/g)`: every match's text, in order (`[]` when none; undefined for undefined)."""
    regex = _pattern("regex_findall", pattern)
    text = _subject("regex_findall", value)
    if text is None:
        return UNDEFINED
    _spend("regex_findall", _scan_cost(text))
    out: list[str] = []
    size = 0
    for match in _matches(regex, _encode(text)):
        _spend("regex_findall", 1)
        found = _decode(match.group(0)) or ""
        size += 1 + len(found)
        _check_size(size, "a list")
        out.append(found)
    return out


def _replacement(template: str, groups: int, names: dict[str, int]) -> Callable[[Any], bytes]:
    """JavaScript's replacement text: `$&` the match, `$1`..`$99` a group, `$<name>` a named group, `$$` a `$`;
    any other `$` is itself. Parsed once per call into parts."""
    parts: list[bytes | int] = []
    literal: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        nxt = template[i + 1] if i + 1 < len(template) else ""
        ref: int | None = None
        width = 0
        if ch == "$" and nxt == "$":
            literal.append("$")
            i += 2
            continue
        if ch == "$" and nxt == "&":
            ref, width = 0, 2
        elif ch == "$" and nxt.isdigit() and nxt.isascii():
            two = template[i + 1:i + 3]
            if len(two) == 2 and two.isdigit() and two.isascii() and 0 < int(two) <= groups:
                ref, width = int(two), 3
            elif 0 < int(nxt) <= groups:
                ref, width = int(nxt), 2
        elif ch == "$" and nxt == "<" and names:
            end = template.find(">", i + 2)
            if end > 0 and template[i + 2:end] in names:
                ref, width = names[template[i + 2:end]], end + 1 - i
        if ref is None:
            literal.append(ch)
            i += 1
            continue
        if literal:
            parts.append(_encode("".join(literal)))
            literal = []
        parts.append(ref)
        i += width
    if literal:
        parts.append(_encode("".join(literal)))
    if all(isinstance(p, bytes) for p in parts):
        constant = b"".join(parts)  # type: ignore[arg-type]
        return lambda _match: constant

    def expand(match: Any) -> bytes:
        return b"".join(p if isinstance(p, bytes) else (match.group(p) or b"") for p in parts)

    return expand


_UTF8_MOST = 4
"""Most bytes one character takes in UTF-8: what is built is bounded in bytes (MAX_OUTPUT characters' worth)
as it grows, then in characters once decoded."""


def regex_replace(value: Any, pattern: Any, replacement: Any = "", count: Any = 0) -> Any:
    """Every match (or the first `count`) replaced by `replacement`, written as in JavaScript (`$1`, `$<name>`,
    `$&`, `$$`); undefined and null pass through. The result is measured against the output bound as it grows."""
    regex = _pattern("regex_replace", pattern)
    text = _subject("regex_replace", value)
    if text is None:
        return value
    if not isinstance(replacement, str):
        replacement = to_text(replacement)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise TemplateRenderError(f"regex_replace: count must be a whole number >= 0, got {to_text(count)!r}")
    _spend("regex_replace", _scan_cost(text))
    expand = _replacement(replacement, regex.groups, dict(regex.groupindex))
    data = _encode(text)
    pieces: list[bytes] = []
    size = 0
    last = 0
    done = 0
    for match in _matches(regex, data):
        if count and done >= count:
            break
        _spend("regex_replace", 1)
        start, end = match.span()
        piece = expand(match)
        size += (start - last) + len(piece)
        if size > MAX_OUTPUT * _UTF8_MOST:
            _check_size(MAX_OUTPUT + 1, "a string")
        pieces.append(data[last:start])
        pieces.append(piece)
        last = end
        done += 1
    pieces.append(data[last:])
    result = _decode(b"".join(pieces)) or ""
    _check_size(len(result), "a string")
    return result


def regex_split(value: Any, pattern: Any, limit: Any = None) -> Any:
    """JavaScript's `x.split(/p/, limit)`: the pieces between matches, with the text of the pattern's groups
    between them (a group that took no part is null), at most `limit` items; undefined and null pass through."""
    regex = _pattern("regex_split", pattern)
    text = _subject("regex_split", value)
    if text is None:
        return value
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise TemplateRenderError(f"regex_split: limit must be a whole number >= 0, got {to_text(limit)!r}")
    _spend("regex_split", _scan_cost(text))
    most = MAX_OUTPUT if limit is None else min(limit, MAX_OUTPUT)
    out: list[Any] = []
    if most == 0:
        return out
    data = _encode(text)
    if not data:  # JS: "".split(/x/) is [""] unless the pattern matches the empty text
        return [] if regex.fullmatch(data) is not None else [""]
    last = 0
    size = 0
    for match in _matches(regex, data):
        start, end = match.span()
        if end == start and (start == 0 or start == len(data)):
            continue  # JS never splits off an empty piece at either end for an empty match
        if end == start and start == last and out:
            continue
        _spend("regex_split", 1)
        for item in (data[last:start], *match.groups()):
            if len(out) >= most:
                return out
            piece = _decode(item)
            size += 1 + (len(piece) if piece else 0)
            _check_size(size, "a list")
            out.append(piece)
        last = end
    if len(out) < most:
        out.append(_decode(data[last:]))
    return out


def regex_escape(value: Any) -> str:
    """The text with every character RE2 treats specially escaped, so it matches itself inside a pattern."""
    return re2.escape(to_text(value))


FILTERS: dict[str, Callable[..., Any]] = {
    "regex_search": regex_search,
    "regex_match": regex_match,
    "regex_findall": regex_findall,
    "regex_replace": regex_replace,
    "regex_split": regex_split,
    "regex_escape": regex_escape,
}

TESTS: dict[str, Callable[..., bool]] = {
    "search": search_test,
    "match": match_test,
}


# -- validate time ----------------------------------------------------------------------------------


def _literal_pattern(node: nodes.Filter | nodes.Test) -> str | None:
    """The pattern argument of a regex filter or test when it is written as a literal string."""
    arg: nodes.Node | None = node.args[0] if node.args else None
    for kw in node.kwargs:
        if kw.key == "pattern":
            arg = kw.value
    if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
        return arg.value
    return None


def check_literal_args(env: Any, node: nodes.Filter | nodes.Test) -> tuple[str, str] | None:
    """(message, pattern) when the node is a regex filter or test whose literal pattern RE2 refuses."""
    ours, table = (FILTERS, env.filters) if isinstance(node, nodes.Filter) else (TESTS, env.tests)
    if node.name not in ours or table.get(node.name) is not ours[node.name]:
        return None
    pattern = _literal_pattern(node)
    if pattern is None:
        return None
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return f"{node.name}: {exc}", pattern
    return None


LITERAL_ARG_CHECKS.append(check_literal_args)
