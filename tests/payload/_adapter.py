"""Helpers shared by the payload tests: the recorded vectors and the camelCase -> snake_case adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors_validation.jsonl"  # tools/record_vectors.mjs

_RENAMES = {"allowNull": "allow_null", "additionalProperties": "additional_properties", "fieldKey": "field_key"}


def load_vectors() -> list[dict[str, Any]]:
    with VECTORS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def to_spec_condition(required: Any) -> Any:
    if not isinstance(required, dict):
        return required
    out = {k: v for k, v in required.items() if k != "conditions"}
    out["conditions"] = [{_RENAMES.get(k, k): v for k, v in c.items()} for c in required.get("conditions", [])]
    return out


def to_spec_fields(fields: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Segment's camelCase field definitions -> our spec's snake_case keys."""
    out: dict[str, dict[str, Any]] = {}
    for key, field in fields.items():
        spec: dict[str, Any] = {}
        for name, value in field.items():
            if name == "properties":
                value = to_spec_fields(value)
            elif name == "required":
                value = to_spec_condition(value)
            spec[_RENAMES.get(name, name)] = value
        out[key] = spec
    return out
