"""`compile_fields(fields)`: the whole payload pipeline of `Action.execute`, built once per action."""

from __future__ import annotations

from typing import Any

from engine.payload._clean import compile_arrify, compile_cleaner
from engine.payload._errors import PayloadError, PayloadIssue
from engine.payload._fast import Bail, FastValidator, compile_fast
from engine.payload._schema import fields_to_json_schema
from engine.payload._validate import compile_schema

_UNBUILT: Any = object()


class PayloadValidator:
    """Cleans, coerces and validates mapped payloads against one action's fields.

    Call it once per event: `validator(payload)` (single mode) or `validator(payload, batch=True)`.
    Returns a new, coerced payload; raises `PayloadError` with Segment's exact messages.

    A plain dict payload first goes through the generated fast function of the mode (`_fast.py`, built on
    first use); when it bails (an issue, or something it does not handle) the general path answers.
    """

    __slots__ = ("fields", "schema", "_root_cleaner", "_batch_cleaner", "_arrify", "_node", "_fast_single",
                 "_fast_batch")

    def __init__(self, fields: dict[str, dict[str, Any]]):
        self.fields = fields
        self.schema: dict[str, Any] | None = fields_to_json_schema(fields) if fields else None
        self._fast_single: FastValidator | None = _UNBUILT
        self._fast_batch: FastValidator | None = _UNBUILT
        if self.schema is not None:
            self._root_cleaner = compile_cleaner(self.schema, is_root=True)
            self._batch_cleaner = compile_cleaner(self.schema)
            self._arrify = compile_arrify(self.schema)
            self._node = compile_schema(self.schema)

    @classmethod
    def from_schema(cls, schema: dict[str, Any]) -> PayloadValidator:
        """A validator for a JSON Schema given as is (tests use it for schemas fields never produce)."""
        validator = cls({})
        validator.schema = schema
        validator._root_cleaner = compile_cleaner(schema, is_root=True)
        validator._batch_cleaner = compile_cleaner(schema)
        validator._arrify = compile_arrify(schema)
        validator._node = compile_schema(schema)
        return validator

    def __call__(self, payload: Any, *, batch: bool = False) -> Any:
        if self.schema is None:
            return payload
        if type(payload) is dict:
            fast = self._fast_batch if batch else self._fast_single
            if fast is _UNBUILT:
                fast = compile_fast(self.schema, batch=batch)
                if batch:
                    self._fast_batch = fast
                else:
                    self._fast_single = fast
            if fast is not None:
                try:
                    return fast(payload)
                except Bail:
                    pass
        return self.general(payload, batch=batch)

    def general(self, payload: Any, *, batch: bool = False) -> Any:
        """The reference path (clean, arrify, compiled schema) the fast function must agree with."""
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
