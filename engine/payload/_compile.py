"""`compile_fields(fields)`: the whole payload pipeline of `Action.execute`, built once per action."""

from __future__ import annotations

from typing import Any

from engine.payload._clean import compile_arrify, compile_cleaner
from engine.payload._errors import PayloadError, PayloadIssue
from engine.payload._schema import fields_to_json_schema
from engine.payload._validate import compile_schema


class PayloadValidator:
    """Cleans, coerces and validates mapped payloads against one action's fields.

    Call it once per event: `validator(payload)` (single mode) or `validator(payload, batch=True)`.
    Returns a new, coerced payload; raises `PayloadError` with Segment's exact messages.
    """

    __slots__ = ("fields", "schema", "_root_cleaner", "_batch_cleaner", "_arrify", "_node")

    def __init__(self, fields: dict[str, dict[str, Any]]):
        self.fields = fields
        self.schema: dict[str, Any] | None = fields_to_json_schema(fields) if fields else None
        if self.schema is not None:
            self._root_cleaner = compile_cleaner(self.schema, is_root=True)
            self._batch_cleaner = compile_cleaner(self.schema)
            self._arrify = compile_arrify(self.schema)
            self._node = compile_schema(self.schema)

    def __call__(self, payload: Any, *, batch: bool = False) -> Any:
        if self.schema is None:
            return payload
        cleaned = (self._batch_cleaner if batch else self._root_cleaner)(payload)
        if cleaned is payload and isinstance(payload, dict):
            cleaned = dict(payload)  # arrify writes in place; never into the caller's object
        value = self._arrify(cleaned)
        issues: list[PayloadIssue] = []
        result = self._node(value, (), issues)
        if issues:
            raise PayloadError(issues)
        return result


def compile_fields(fields: dict[str, dict[str, Any]]) -> PayloadValidator:
    """Build the validator for an action's `fields` (snake_case spec keys). ValueError if unusable."""
    return PayloadValidator(fields)



