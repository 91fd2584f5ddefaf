"""Segment's mapping language (mapping-kit, actions-core 3.170.0), compiled to closures.

run = compile_mapping({"email": {"@path": "$.traits.email"}})
run(event)  # -> {"email": ...}
"""

from engine.mapping.compile import compile_mapping, compile_transform, transform
from engine.mapping.errors import MappingError, MappingIssue, MappingRuntimeError
from engine.mapping.validate import validate_mapping

__all__ = [
    "MappingError",
    "MappingIssue",
    "MappingRuntimeError",
    "compile_mapping",
    "compile_transform",
    "transform",
    "validate_mapping",
]
