"""Every recorded mapping vector (Segment actions-core 3.170.0, recorded by tools/record_vectors.mjs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.jsvalues import UNDEFINED
from engine.mapping import MappingError, MappingRuntimeError, transform

VECTORS = Path(__file__).resolve().parent / "vectors_mapping.jsonl"


def _load() -> list[dict]:
    return [json.loads(line) for line in VECTORS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _revive(value: Any) -> Any:
    if isinstance(value, dict):
        if value == {"$undefined": True}:
            return UNDEFINED
        return {key: _revive(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revive(item) for item in value]
    return value


MAPPING_VECTORS = [v for v in _load() if "mapping" in v["input"]]


def test_vector_file_is_present() -> None:
    assert len(MAPPING_VECTORS) >= 90


def _expected_output(vector: dict) -> Any:
    expected = _revive(vector["output"])

    # removeUndefined keeps undefined array elements; JSON (and our engine) shows them as null
    def to_null(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: to_null(v) for k, v in value.items()}
        if isinstance(value, list):
            return [None if v is UNDEFINED else to_null(v) for v in value]
        return value

    return to_null(expected)


@pytest.mark.parametrize("vector", MAPPING_VECTORS, ids=[v["id"] for v in MAPPING_VECTORS])
def test_mapping_vector(vector: dict) -> None:
    mapping, data = vector["input"]["mapping"], vector["input"]["data"]
    if "output" in vector:
        result = transform(mapping, data, strict=False)
        assert result == _expected_output(vector)
        assert json.dumps(result, sort_keys=True) == json.dumps(_expected_output(vector), sort_keys=True)
    elif vector.get("error_class") == "AggregateError":
        with pytest.raises(MappingError) as info:
            transform(mapping, data, strict=False)
        assert [issue.message for issue in info.value.issues] == vector["errors"]
        assert str(info.value) == vector["error"]
    else:
        with pytest.raises(MappingRuntimeError) as info:
            transform(mapping, data, strict=False)
        assert str(info.value) == vector["error"]
