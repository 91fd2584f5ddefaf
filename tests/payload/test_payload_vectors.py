"""Every recorded validation vector (Segment actions-core 3.170.0), run through our validator."""

from __future__ import annotations

from typing import Any

import pytest

from engine.jsvalues import remove_undefined
from engine.payload import PayloadError, compile_fields, fields_to_json_schema

from ._adapter import load_vectors, to_spec_fields

VECTORS = load_vectors()
PIPELINE = [v for v in VECTORS if v["id"].startswith("val-")]
SCHEMAS = [v for v in VECTORS if v["id"].startswith("schema-")]

# Vectors where Segment accepts nonsense and we deliberately do not (docs/payload-validation.md,
# "Divergences"): id -> the error we raise instead.
DIVERGENCES = {
    # V8's legacy Date parser accepts "foo 1" (it ignores unknown words before a number); we reject it.
    "val-020": "Timestamp must be a valid date-like string but it was not.",
}


def _has_directive(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k.startswith("@") for k in value) or any(_has_directive(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_directive(v) for v in value)
    return False


def _mapped(vector: dict[str, Any]) -> Any:
    given = vector["input"]
    mapping = given["mapping"]
    if not _has_directive(mapping):
        return remove_undefined(mapping)
    try:
        from engine.mapping import transform
    except ImportError:
        pytest.skip("engine.mapping not available yet")
    return transform(mapping, given["data"])


@pytest.mark.parametrize("vector", PIPELINE, ids=[v["id"] for v in PIPELINE])
def test_validation_vector(vector: dict[str, Any]) -> None:
    given = vector["input"]
    validator = compile_fields(to_spec_fields(given["fields"]))
    batch = given["mode"] == "batch"

    if vector.get("error_class") == "AggregateError":
        # the mapping itself is invalid: mapping-kit raises before validation runs
        from engine.mapping import MappingError

        with pytest.raises(MappingError) as raised:
            _mapped(vector)
        assert [issue.message for issue in raised.value.issues] == vector["errors"]
        return

    payload = _mapped(vector)
    before = repr(payload)

    if vector["id"] in DIVERGENCES:
        assert "output" in vector, "a divergence is only recorded where Segment accepts the payload"
        with pytest.raises(PayloadError) as raised:
            validator(payload, batch=batch)
        assert str(raised.value) == DIVERGENCES[vector["id"]]
        return

    if "output" in vector:
        result = validator(payload, batch=batch)
        assert result == vector["output"]
        assert [type(v) for v in result.values()] == [type(v) for v in vector["output"].values()]
    else:
        with pytest.raises(PayloadError) as raised:
            validator(payload, batch=batch)
        assert str(raised.value) == vector["error"]
        if batch:
            assert vector["error_class"] == raised.value.error_type == "PAYLOAD_VALIDATION_FAILED"
            assert raised.value.status == 400
        else:
            expected = [(e["pointer"], e["message"], e["path"]) for e in vector["errors"]]
            assert [(i.pointer, i.message, i.path) for i in raised.value.errors] == expected
    assert repr(payload) == before, "the validator must not mutate its input"


@pytest.mark.parametrize("vector", SCHEMAS, ids=[v["id"] for v in SCHEMAS])
def test_fields_to_json_schema_vector(vector: dict[str, Any]) -> None:
    assert fields_to_json_schema(to_spec_fields(vector["input"]["fields"])) == vector["output"]
