"""ajv-human-errors 2.16.0 wording: one function per ajv keyword, plus the subject ("preamble")."""

from __future__ import annotations

import json
from typing import Any

from engine.jsvalues import js_type, number_to_string
from engine.payload._formats import FORMAT_LABELS


def pointer(path: tuple[str | int, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def json_path(path: tuple[str | int, ...]) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def subject(title: Any, path: tuple[str | int, ...]) -> str:
    """The schema's title (a field label), else `the root value`, else `the value at /a/0`."""
    if isinstance(title, str) and title:
        return title
    return f"the value at {pointer(path)}" if path else "the root value"


def finish(message: str) -> str:
    return message[:1].upper() + message[1:] + "."


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def human_list(items: list[str], conjunction: str = "or") -> str:
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {conjunction} {items[1]}"
    return ", ".join(items[:-1]) + f", {conjunction} {items[-1]}"


def describe_value(value: Any) -> str:
    kind = js_type(value)
    return kind if kind in ("null", "undefined") else _article(kind)


def js_json(value: Any) -> str:
    """JSON.stringify for enum values."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return number_to_string(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def type_message(types: list[str], value: Any) -> str:
    wanted = human_list(types)
    return f"must be {_article(wanted)} but it was {describe_value(value)}"


def enum_message(allowed: list[Any]) -> str:
    return "must be one of: " + human_list([js_json(v) for v in allowed])


def _characters(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


def min_length_message(limit: int, actual: int) -> str:
    return f"must be {_characters(limit)} or more but it was {_characters(actual)}"


def max_length_message(limit: int, actual: int) -> str:
    return f"must be {_characters(limit)} or fewer but it was {_characters(actual)}"


def minimum_message(limit: Any) -> str:
    return f"must be equal to or greater than {js_json(limit)}"


def maximum_message(limit: Any) -> str:
    return f"must be equal to or less than {js_json(limit)}"


def format_message(name: str) -> str:
    return f"must be a valid {FORMAT_LABELS.get(name, name)} string but it was not"


def required_message(key: str) -> str:
    return f"is missing the required field '{key}'"


IF_MESSAGE = 'must match "then" schema'
ELSE_MESSAGE = 'must match "else" schema'
