"""Action payload validation, as Segment's actions-core 3.170.0 does it.

`compile_fields(fields)` builds a `PayloadValidator` once per action: removeEmptyValues, arrifyFields,
ajv coercion and checks compiled to closures. Calling it returns the cleaned, coerced payload or raises
`PayloadError`, whose text is exactly Segment's `AggregateAjvError` message.
"""

from engine.payload._compile import PayloadValidator, compile_fields
from engine.payload._errors import PayloadError, PayloadIssue
from engine.payload._schema import describe_type, fields_to_json_schema

__all__ = [
    "PayloadError",
    "PayloadIssue",
    "PayloadValidator",
    "compile_fields",
    "describe_type",
    "fields_to_json_schema",
]
