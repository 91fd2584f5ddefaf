"""Reading events from files or standard input: JSON lines, a JSON array, or a Segment batch object."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson


@dataclass(slots=True)
class InputItem:
    """One event read from input (`event`), or the reason a line could not be read (`error`)."""

    number: int  # 1-based position: line number for JSON lines, index+1 in an array or batch
    event: dict[str, Any] | None = None
    error: str | None = None


MAX_EVENT_DEPTH = 64  # objects and arrays nested in one event, the event itself counting as 1 (docs/serve.md)

_STDIN_BUFFER = 1 << 16  # standard input is read in up to 64 kB at a time (a pipe gives what it holds)


def too_deep(value: Any, limit: int = MAX_EVENT_DEPTH) -> bool:
    """Whether objects/arrays nest more than `limit` levels in `value` (stops at the first too-deep one)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        for child in children:
            if isinstance(child, (dict, list)):
                push((child, depth + 1))
    return False


def may_be_too_deep(raw: bytes, limit: int = MAX_EVENT_DEPTH) -> bool:
    """False when JSON text `raw` holds too few `{`/`[` to nest more than `limit` levels (a C-speed count, so
    the walk of `too_deep` runs only for documents that could fail it)."""
    return raw.count(b"{") + raw.count(b"[") > limit


def _checked(number: int, value: dict[str, Any], where: str, raw: bytes) -> InputItem:
    if may_be_too_deep(raw) and too_deep(value):
        return InputItem(number, error=f"{where}: the event nests objects/arrays more than {MAX_EVENT_DEPTH} levels deep")
    return InputItem(number, value)


def open_input(name: str | None) -> IO[bytes]:
    if name in (None, "-"):
        try:
            return open(sys.stdin.fileno(), "rb", buffering=_STDIN_BUFFER, closefd=False)  # noqa: SIM115
        except (OSError, ValueError, AttributeError):  # no descriptor (a test's stand-in): as it is
            return sys.stdin.buffer
    return Path(name).open("rb")


def count_events(name: str | None) -> int | None:
    """How many items `read_events` will give for the input file `name` (a progress bar's total); None for
    standard input or a file that cannot be read."""
    if name in (None, "-"):
        return None
    try:
        data = Path(name).read_bytes()
    except OSError:
        return None
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        try:
            values = orjson.loads(data)
        except orjson.JSONDecodeError:
            values = None  # JSON lines (or broken input): counted by line below
        else:
            if isinstance(values, dict) and isinstance(values.get("batch"), list):
                return len(values["batch"])
            return len(values) if isinstance(values, list) else 1
    return sum(1 for line in data.splitlines() if line.strip())


def _items(values: Any, where: str, raw: bytes) -> Iterator[InputItem]:
    if isinstance(values, dict) and isinstance(values.get("batch"), list):
        values = values["batch"]
    if not isinstance(values, list):
        values = [values]
    for i, value in enumerate(values, 1):
        if isinstance(value, dict):
            yield _checked(i, value, f"{where} item {i}", raw)
        else:
            yield InputItem(i, error=f"{where} item {i}: expected a JSON object, found {describe_json(value)}")


def read_events(stream: IO[bytes]) -> Iterator[InputItem]:
    """Events from JSON lines, or one JSON document (array, batch object, or a pretty-printed event)."""
    first = stream.readline()
    while first and not first.strip():
        first = stream.readline()
    if not first:
        return
    try:
        value = orjson.loads(first)
    except orjson.JSONDecodeError:
        value = None
        whole = first + stream.read()
        stripped = whole.lstrip()
        if stripped[:1] in (b"[", b"{"):
            try:
                value = orjson.loads(whole)
            except orjson.JSONDecodeError as exc:
                yield InputItem(1, error=f"line 1: invalid JSON: {exc}")
                # fall back to JSON lines for the rest
                yield from _lines(whole.splitlines(keepends=True)[1:], 2)
                return
            yield from _items(value, "input", whole)
            return
        yield InputItem(1, error="line 1: invalid JSON")
        yield from _lines(whole.splitlines(keepends=True)[1:], 2)
        return
    if isinstance(value, list) or (isinstance(value, dict) and isinstance(value.get("batch"), list)):
        yield from _items(value, "line 1:", first)
        # further lines may carry more arrays or events
        yield from _lines(stream, 2)
        return
    if isinstance(value, dict):
        yield _checked(1, value, "line 1", first)
    else:
        yield InputItem(1, error=f"line 1: expected a JSON object, found {describe_json(value)}")
    yield from _lines(stream, 2)


def _lines(lines: Any, start: int) -> Iterator[InputItem]:
    loads, error = orjson.loads, orjson.JSONDecodeError
    for number, line in enumerate(lines, start):
        try:
            value = loads(line)
        except error as exc:
            # a blank line is skipped (orjson refuses one: the check runs only when a line does not parse)
            if line.strip():
                yield InputItem(number, error=f"line {number}: invalid JSON: {exc}")
            continue
        if isinstance(value, dict):
            if isinstance(value.get("batch"), list):
                for item in _items(value, f"line {number}:", line):
                    yield InputItem(number, item.event, item.error)
            else:
                yield _checked(number, value, f"line {number}", line)
        else:
            yield InputItem(number, error=f"line {number}: expected a JSON object, found {describe_json(value)}")


def describe_json(value: Any) -> str:
    """A JSON value's kind as a sentence says it: "a list", "a string", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def parse_json_arg(text: str | None, what: str) -> Any:
    """A command-line JSON argument: literal JSON text, or @FILE holding it."""
    if text is None:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{what}: cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[", '"')) and (text.endswith((".json", ".jsonl")) or Path(text).is_file()):
            raise ValueError(f"{what}: '{text}' is not JSON text; to read the file, write @{text}") from None
        raise ValueError(f"{what}: invalid JSON: {exc}") from None
