"""Check a loaded document against the JSON Schema of the spec format, with located, readable messages.

jsonschema finds the problems; this module only turns each one into a sentence that says what
was found and what was expected, at the position of the offending key or value.
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.diagnostics import Diagnostic
from engine.spec.loader import Document

SCHEMA_PATHS = (
    Path(__file__).resolve().parent.parent.parent / "schemas" / "destination.schema.json",
    Path(__file__).resolve().parent.parent / "data" / "destination.schema.json",
)


def schema_path() -> Path:
    for path in SCHEMA_PATHS:
        if path.exists():
            return path
    raise FileNotFoundError("schemas/destination.schema.json is missing from this installation")


@functools.cache
def destination_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(destination_schema())


_TYPE_NAMES = {
    "string": "a string", "number": "a number", "integer": "an integer", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "null",
}


def describe(value: Any) -> str:
    """What a YAML value is, in words: 'a string', 'a list', 'null'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def suggest(word: str, options: list[str]) -> str:
    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _one_of(options: list[Any]) -> str:
    return ", ".join(str(o) for o in options)


def _messages(error: ValidationError, doc: Document, subject: str = "the spec") -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    kind = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if kind == "additionalProperties" and isinstance(value, dict):
        known = list(schema.get("properties", {}))
        out = []
        for key in value:
            if key not in known:
                hint = suggest(key, known)
                expected = f"; expected one of {_one_of(known)}" if known and not hint else ""
                out.append(doc.diagnostic(path + (key,), f"unknown key '{key}'{hint}{expected}", key=True))
        return out
    if kind == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        where = subject if not path else "this mapping"
        return [doc.diagnostic(path, f"missing required key '{k}' in {where}", key=bool(path)) for k in missing]
    if kind == "enum":
        options = [str(o) for o in error.validator_value]
        return [doc.diagnostic(path, f"{value!r} is not one of {_one_of(options)}{suggest(str(value), options)}")]
    if kind == "const":
        return [doc.diagnostic(path, f"expected {error.validator_value!r}, found {value!r}")]
    if kind == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        return [doc.diagnostic(path, f"expected {expected}, found {describe(value)}")]
    if kind == "pattern" and "propertyNames" in error.absolute_schema_path:
        return [_key_name(doc, path, str(value))]
    if kind == "pattern":
        return [doc.diagnostic(path, f"{value!r} does not match the pattern {error.validator_value}")]
    if kind in ("minLength", "minItems", "minProperties"):
        noun = {"minLength": "character", "minItems": "item", "minProperties": "entry"}[kind]
        count = error.validator_value
        plural = "" if count == 1 else ("ies" if noun == "entry" else "s")
        noun = noun[:-1] if plural == "ies" else noun
        return [doc.diagnostic(path, f"must have at least {count} {noun}{plural}")]
    if kind in ("minimum", "exclusiveMinimum", "maximum"):
        return [doc.diagnostic(path, f"{value!r} is out of range ({kind} {error.validator_value})")]
    if kind == "uniqueItems":
        return [doc.diagnostic(path, "items must be unique")]
    if kind == "anyOf":
        desc = schema.get("description", "a value of another shape")
        return [doc.diagnostic(path, f"found {describe(value)}; expected {desc[0].lower() + desc[1:]}")]
    return [doc.diagnostic(path, error.message)]


def _key_name(doc: Document, parent: tuple[Any, ...], key: str) -> Diagnostic:
    if parent[-1:] == ("errors",):
        text = f"'{key}' is not an HTTP status; use a number from 100 to 599"
    else:
        text = f"'{key}' is not a valid name here; use letters, digits and underscores, starting with a letter"
    return doc.diagnostic(parent + (key,), text, key=True)


def check_schema(doc: Document, validator: Draft202012Validator | None = None, *,
                 subject: str = "the spec") -> list[Diagnostic]:
    """Every schema problem of the document, located; `validator` defaults to the spec format's,
    `subject` names the whole document in messages ("missing required key 'x' in the spec")."""
    out: list[Diagnostic] = []
    for error in (validator or _validator()).iter_errors(doc.data):
        if error.validator == "propertyNames" and error.context:
            # the key itself is the instance of the nested error
            out.extend(_key_name(doc, tuple(error.absolute_path), str(sub.instance)) for sub in error.context)
            continue
        out.extend(_messages(error, doc, subject))
    return out
