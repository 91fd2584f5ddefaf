"""Every recorded Segment vector against both layers: the Segment-exact layer reproduces Segment's AST,
errors and matches; the strict layer agrees wherever Segment reads the trigger as written and refuses
the misreads."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from engine.trigger import SegmentTypeError, TriggerError, compile_trigger, match_segment, parse_segment

VECTORS_FILE = Path(__file__).resolve().parent / "vectors_fql.jsonl"  # tools/record_vectors.mjs
VECTORS = [json.loads(line) for line in VECTORS_FILE.read_text().splitlines() if line.strip()]
BY_ID = {v["id"]: v for v in VECTORS}

# Triggers Segment rejects or silently reads differently from how they are written: the strict layer
# refuses each, at this column.
REFUSED = {
    "fql-009": 16, "fql-010": 19, "fql-011": 35, "fql-012": 45, "fql-031": 20, "fql-050": 24,
    "fql-052": 1, "fql-053": 1, "fql-054": 1, "fql-055": 9, "fql-056": 12, "fql-057": 16, "fql-058": 15,
    "fql-059": 17, "fql-060": 9, "fql-061": 22, "fql-062": 7, "fql-063": 5, "fql-064": 1, "fql-065": 12,
    "fql-067": 9, "fql-069": 10, "fql-071": 1, "fql-072": 1, "fql-073": 21, "fql-075": 23, "fql-078": 18,
    "fql-079": 6, "fql-080": 21, "fql-081": 16, "fql-082": 15, "fql-083": 20, "fql-084": 22,
}
# The documented extension: nested parentheses (Segment rejects them; the engine evaluates them).
EXTENDED = {"fql-014": True}


def _json_like(value: Any) -> Any:
    """NaN as JSON shows it (null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_like(v) for v in value]
    return value


def test_vector_file_is_complete() -> None:
    assert len(VECTORS) == 86
    assert set(REFUSED) | set(EXTENDED) <= set(BY_ID)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_segment_layer_ast(vector: dict[str, Any]) -> None:
    ast = parse_segment(vector["input"]["fql"])
    if vector.get("error_stage") == "parse":
        assert ast == {"error": vector["error"]}
    else:
        assert _json_like(ast) == vector["output"]["ast"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_segment_layer_match(vector: dict[str, Any]) -> None:
    ast = parse_segment(vector["input"]["fql"])
    if vector.get("error_stage") == "validate":
        with pytest.raises(SegmentTypeError) as info:
            match_segment(ast, vector["input"]["event"])
        assert f"TypeError: {info.value}" == vector["error"]
    else:
        assert match_segment(ast, vector["input"]["event"]) is vector["output"]["match"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_strict_layer(vector: dict[str, Any]) -> None:
    fql, event = vector["input"]["fql"], vector["input"]["event"]
    if vector["id"] in REFUSED:
        with pytest.raises(TriggerError) as info:
            compile_trigger(fql)
        assert info.value.column == REFUSED[vector["id"]]
        assert str(info.value) == f"col {info.value.column}: {info.value.message}"
    elif vector["id"] in EXTENDED:
        assert compile_trigger(fql)(event) is EXTENDED[vector["id"]]
    else:
        trigger = compile_trigger(fql)
        assert trigger.text == fql
        assert trigger(event) is vector["output"]["match"]
        assert trigger.segment_ast == _json_like(vector["output"]["ast"])
