"""Segment's `fieldsToJsonSchema`: action fields (our snake_case keys) -> the JSON Schema ajv validates.

The result is exactly the schema actions-core 3.170.0 builds (vectors `schema-1`..`schema-5`); the
validator compiles that schema, so every quirk of the translation (minimum 0 ignored, allow_null lost
on multiple fields and on objects with properties, conditions hoisted to the parent) carries over.
"""

from __future__ import annotations

from typing import Any

from engine.jsvalues import truthy

SCHEMA_URI = "http://json-schema.org/schema#"

_TYPE_NAMES = {
    "string": "STRING",
    "text": "TEXT",
    "password": "PASSWORD",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "datetime": "DATETIME",
    "object": "OBJECT",
}


def describe_type(field: dict[str, Any]) -> str:
    """The field's type as generated docs print it: "STRING", "OBJECT", "NUMBER[]" when multiple."""
    name = _TYPE_NAMES.get(str(field.get("type")), str(field.get("type", "")).upper())
    return f"{name}[]" if field.get("multiple") else name


def json_schema_type(field_type: str) -> str | list[str]:
    if field_type in ("string", "text", "password"):
        return "string"
    if field_type == "datetime":
        return ["string", "number"]
    return field_type


def _concat(schema_type: str | list[str], extra: str) -> list[str]:
    return [*schema_type, extra] if isinstance(schema_type, list) else [schema_type, extra]


def _then(field_key: str) -> dict[str, Any]:
    if "." in field_key:
        parent, child = field_key.split(".")[:2]
        return {"required": [parent], "properties": {parent: {"required": [child]}}}
    return {"required": [field_key]}


def _value_test(operator: str, value: Any) -> dict[str, Any]:
    return {"const": value} if operator == "is" else {"not": {"const": value}}


def _check_operator(operator: Any) -> None:
    if operator not in ("is", "is_not"):
        raise ValueError(f"Unsupported conditionally required field operator: {operator}")


def _undefined_value(dependant: str, field_key: str, operator: str, multiple: bool) -> dict[str, Any]:
    _check_operator(operator)
    inside: dict[str, Any] = (
        {"not": {"required": [dependant]}} if operator == "is" else {"required": [dependant]}
    )
    if multiple:
        return inside
    if operator == "is":
        is_null = {"properties": {dependant: {"type": "null"}}}
        return {"if": {"anyOf": [inside, is_null]}, "then": _then(field_key)}
    not_null = {"not": {"properties": {dependant: {"type": "null"}}}}
    return {"if": {"allOf": [inside, not_null]}, "then": _then(field_key)}


def _simple(dependant: str, field_key: str, value: Any, operator: str, multiple: bool) -> dict[str, Any]:
    test = _value_test(operator, value)
    if multiple:
        return {"properties": {dependant: test}, "required": [dependant]}
    return {"if": {"required": [dependant], "properties": {dependant: test}}, "then": _then(field_key)}


def _object(parent: str, child: str, field_key: str, value: Any, operator: str, multiple: bool) -> dict[str, Any]:
    inner = {"properties": {parent: {"properties": {child: _value_test(operator, value)}, "required": [child]}},
             "required": [parent]}
    if multiple:
        return inner
    return {"if": inner, "then": _then(field_key)}


def _single_condition(condition: dict[str, Any], field_key: str) -> dict[str, Any]:
    dependant = str(condition.get("field_key", ""))
    operator = condition.get("operator")
    _check_operator(operator)
    if "." in dependant:
        parent, child = dependant.split(".")[:2]
        return _object(parent, child, field_key, condition.get("value"), operator, False)
    if "value" not in condition:
        return _undefined_value(dependant, field_key, operator, False)
    return _simple(dependant, field_key, condition["value"], operator, False)


def _field_conditions(field_key: str, required: dict[str, Any]) -> dict[str, Any]:
    conditions = list(required.get("conditions") or [])
    if len(conditions) == 1:
        return _single_condition(conditions[0], field_key)
    inner: list[dict[str, Any]] = []
    for condition in conditions:
        dependant = str(condition.get("field_key", ""))
        operator = condition.get("operator")
        _check_operator(operator)
        if "." in dependant:
            parent, child = dependant.split(".")[:2]
            inner.append(_object(parent, child, field_key, condition.get("value"), operator, True))
        elif "value" not in condition:
            inner.append(_undefined_value(dependant, field_key, operator, True))
        else:
            inner.append(_simple(dependant, field_key, condition["value"], operator, True))
    test = {"anyOf": inner} if required.get("match") == "any" else {"allOf": inner}
    # Segment uses a plain `required: [key]` here even for dotted keys (a root key named "a.b").
    return {"if": test, "then": {"required": [field_key]}}


def _is_conditional(field: dict[str, Any]) -> bool:
    return isinstance(field.get("required"), dict) and bool(field.get("required"))


def fields_to_json_schema(
    fields: dict[str, dict[str, Any]],
    *,
    additional_properties: bool = False,
    omit_required: bool = False,
) -> dict[str, Any]:
    """Segment's `fieldsToJsonSchema(fields)` for our snake_case field definitions."""
    required: list[str] = []
    properties: dict[str, Any] = {}
    conditions: dict[str, dict[str, Any]] = {}

    for key, field in fields.items():
        field_type = field.get("type")
        schema_type = json_schema_type(str(field_type))
        schema: dict[str, Any] = {}
        for name, value in (("title", field.get("label")), ("description", field.get("description")),
                            ("type", schema_type), ("format", field.get("format")),
                            ("default", field.get("default"))):
            if value is not None or (name == "default" and "default" in field):
                schema[name] = value
        if field_type == "datetime":
            schema["format"] = "date-like"
        elif field_type == "password":
            schema["format"] = "password"
        elif field_type == "text":
            schema["format"] = "text"
        elif field_type in ("string", "number"):
            low, high = ("minLength", "maxLength") if field_type == "string" else ("minimum", "maximum")
            if truthy(field.get("minimum")):
                schema[low] = field["minimum"]
            if truthy(field.get("maximum")):
                schema[high] = field["maximum"]

        if field.get("choices") is not None:
            schema["enum"] = [c if isinstance(c, str) else c.get("value") for c in field["choices"]]

        if field.get("allow_null"):
            schema["type"] = _concat(schema_type, "null")
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]

        multiple = bool(field.get("multiple"))
        if multiple:
            schema["items"] = {"type": schema_type}
            schema["type"] = "array"
            if "enum" in schema:
                schema["items"]["enum"] = schema.pop("enum")

        sub_fields = field.get("properties")
        if schema_type == "object" and sub_fields is not None:
            has_conditions = any(_is_conditional(sub) for sub in sub_fields.values())
            nested = fields_to_json_schema(
                sub_fields,
                additional_properties=bool(field.get("additional_properties")),
                omit_required=has_conditions,
            )
            if multiple:
                schema["items"] = nested
            else:
                schema = {**schema, **nested}
            for sub_key, sub in sub_fields.items():
                if _is_conditional(sub):
                    conditions[f"{key}.{sub_key}"] = sub["required"]

        properties[key] = schema
        if field.get("required") is True:
            required.append(key)
        elif _is_conditional(field):
            conditions[key] = field["required"]

    result: dict[str, Any] = {
        "$schema": SCHEMA_URI,
        "type": "object",
        "additionalProperties": additional_properties,
        "properties": properties,
    }
    if omit_required:
        return result
    result["required"] = required
    clauses = [_field_conditions(key, cond) for key, cond in conditions.items()]
    if clauses:
        result["allOf"] = clauses
    return result
